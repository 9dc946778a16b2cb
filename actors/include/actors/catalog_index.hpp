#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <protocol/catalog.hpp>
#include <protocol/search.hpp>

/// The in-memory product search index: an inverted index over the titles
/// and descriptions of active products, with the fields search filters and
/// sorts on. A plain value owned by the search actor (one writer, no locks);
/// kept here, apart from the actor, so its rules can be tested directly.
namespace livemart {

struct search_tuning {
  std::size_t fuzzy_below = 5;        ///< fewer exact matches than this: also try similar words
  std::size_t prefix_terms_max = 64;  ///< words one query word may match as a prefix
  std::size_t facets_max = 50;
};

/// Lower-cases ASCII, splits on anything that is not a letter, digit or
/// non-ASCII byte, drops a few stop words and strips English plurals
/// ("boxes" -> "box"), so that queries and documents meet on one form.
std::vector<std::string> search_words(std::string_view text);

class catalog_index {
public:
  explicit catalog_index(search_tuning tuning = {}) : tuning_(tuning) {}

  /// Indexes an active product, or drops one that is no longer active.
  void put(const product& p);
  /// A stock or price change: no words change.
  void put(const stock_update& u);
  void remove(std::uint64_t product_id);

  search_result search(const search_query& q, const category_scope& scope) const;

  std::size_t size() const { return slots_.size(); }
  std::size_t words() const { return term_ids_.size(); }

private:
  /// What filters and sorts read, packed so that a scan over every
  /// product stays in as few cache lines as possible.
  struct hot_fields {
    std::uint64_t id = 0;
    std::uint64_t seller_id = 0;
    std::int64_t price_minor = 0;
    std::int64_t stock = 0;
    std::int64_t created_at_ms = 0;
    std::int32_t rating_x100 = 0;
    std::uint32_t category_slot = 0; ///< dense number of the category, for per-query tables
    bool live = false;
  };
  /// What only a hit shows.
  struct doc {
    std::int64_t version = 0; ///< of the change shown (stock_update::version)
    std::uint64_t category_id = 0;
    std::string currency;
    rating_summary rating;
    std::string title;
    std::string image_url;
    std::vector<std::uint32_t> terms; ///< posted under these
  };
  struct posting {
    std::uint32_t doc;
    std::uint16_t weight; ///< 3 per title occurrence, 1 per description occurrence
  };
  struct match {
    std::uint32_t doc;
    float score;
  };

  /// True when `version` of product `id` is older than what the index shows.
  bool stale(std::uint64_t id, std::int64_t version) const;
  std::uint32_t term_id(const std::string& word);
  void unpost(std::uint32_t slot);
  /// Terms a query word stands for, with the quality of each match.
  std::vector<std::pair<std::uint32_t, float>> expand(const std::string& word, bool prefix, bool fuzzy) const;
  std::vector<match> run(const std::vector<std::string>& words, bool fuzzy) const;

  search_tuning tuning_;
  std::vector<hot_fields> hot_; ///< by slot, like docs_
  std::vector<doc> docs_;
  std::vector<std::uint32_t> free_;
  std::unordered_map<std::uint64_t, std::uint32_t> slots_;
  std::unordered_map<std::uint64_t, std::int64_t> removed_; ///< products taken out, at their version
  std::unordered_map<std::string, std::uint32_t> term_ids_;
  std::vector<std::string> terms_;
  std::vector<std::vector<posting>> postings_; ///< per term, ordered by doc slot
  std::map<std::string, std::uint32_t, std::less<>> ordered_; ///< for prefixes
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> trigram_terms_;
  std::vector<std::uint32_t> trigram_counts_; ///< per term
  std::unordered_map<std::uint64_t, std::uint32_t> category_slots_;
  std::vector<std::uint64_t> category_ids_; ///< by slot
  std::vector<std::vector<std::uint32_t>> category_docs_; ///< per category slot: its products' slots, ordered
};

} // namespace livemart
