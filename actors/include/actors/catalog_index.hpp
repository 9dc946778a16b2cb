#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <protocol/catalog.hpp>
#include <protocol/search.hpp>

/// The in-memory product search index: an inverted index over the titles
/// and descriptions of active products, with the fields search filters and
/// sorts on. A plain value owned by the search actor (one writer, no locks);
/// kept here, apart from the actor, so its rules can be tested directly.
///
/// Its layout is chosen for a catalog of millions on a small node (see
/// docs/architecture.md, "Search"): 40 packed bytes per product for what
/// filters and sorts read, postings of 5 bytes, a product's title, image and
/// posted words in one record of a chunked arena, live counts per category
/// (a page without words counts nothing), and per block of products the
/// best sort keys (a page of the whole catalog reads few blocks).
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

/// One index's answer to a search, for merging with others (the shards of
/// a node's index): its best `limit + 1` after the cursor with each one's
/// sort key, its total, and every facet, none cut.
struct search_page {
  search_result result;
  std::vector<std::int64_t> keys; ///< per item
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_page& x) {
  return f(caf::meta::type_name("search_page"), x.result, x.keys);
}

/// The answer over all `pages` of one query: the best `limit` of their
/// items with the cursor after them, totals and facets added up (the
/// largest `facets_max` kept), fuzzy when any page was.
search_result merge_search_pages(const search_query& q, std::vector<search_page>& pages, std::size_t facets_max);

class catalog_index {
public:
  explicit catalog_index(search_tuning tuning = {});
  ~catalog_index();
  catalog_index(catalog_index&&) noexcept;
  catalog_index& operator=(catalog_index&&) noexcept;

  /// Indexes an active product, or drops one that is no longer active.
  void put(const product& p);
  /// A stock or price change: no words change.
  void put(const stock_update& u);
  void remove(std::uint64_t product_id);
  /// After a bulk load: gives back the spare capacity growth left behind.
  void shrink();

  /// One pass over this index: the exact words, or (`fuzzy`) similar
  /// words too.
  search_page page(const search_query& q, const category_scope& scope, bool fuzzy) const;
  /// The whole search over this index alone: similar words too when fewer
  /// than `fuzzy_below` products match exactly.
  search_result search(const search_query& q, const category_scope& scope) const;

  std::size_t size() const { return live_; }
  std::size_t words() const { return terms_.size(); }
  /// Bytes the index holds on the heap (capacities, not sizes): what a
  /// product costs in memory, for the bench and /metrics.
  std::size_t memory_bytes() const;

private:
  static constexpr std::uint8_t live_flag = 1;
  static constexpr std::uint8_t in_stock_flag = 2;
  static constexpr std::uint32_t block_bits = 6; ///< 64 slots per block of sort bounds

  /// What filters and sorts read (the id breaks ties), packed.
  struct hot_fields {
    std::uint64_t id = 0; ///< 0: a free slot
    std::int64_t price_minor = 0;
    std::int64_t created_at_ms = 0;
    std::uint32_t seller = 0;        ///< dense number of the seller (seller_ids_)
    std::uint32_t category_slot = 0; ///< dense number of the category (category_ids_)
    std::int16_t rating_x100 = 0;
    std::uint8_t flags = 0;          ///< live_flag, in_stock_flag
  };
  /// What only a hit shows, and where the product's record is.
  struct doc {
    std::int64_t version = 0; ///< of the change shown (stock_update::version)
    std::int64_t stock = 0;
    std::int64_t rating_sum = 0;
    std::uint64_t record = 0; ///< in arena_: title, image suffix, posted terms
    std::int32_t rating_count = 0;
    std::uint32_t terms_bytes = 0;
    std::uint16_t title_bytes = 0;
    std::uint16_t image_bytes = 0;
    std::uint16_t image_prefix = 0; ///< into image_prefixes_ (0: none)
    std::uint16_t currency = 0;     ///< into currencies_
  };
  /// A term's postings, ordered by slot; the weight is 3 per title
  /// occurrence and 1 per description occurrence, at most 255.
  struct posting_list {
    std::vector<std::uint32_t> slots;
    std::vector<std::uint8_t> weights;
  };
  /// Per 64 slots, bounds of the sort keys of the products ever put there
  /// (loose after changes, never wrong): a page without words skips the
  /// blocks that cannot reach it.
  struct block_bounds {
    std::int64_t newest = INT64_MIN;
    std::int64_t price_max = INT64_MIN;
    std::int64_t price_min = INT64_MAX;
    std::int32_t rating_max = INT32_MIN;
  };
  class arena;
  class slot_table;
  struct word_list;
  struct query_run;

  /// True when `version` of product `id` is older than what the index shows.
  bool stale(std::uint64_t id, std::int64_t version) const;
  std::uint32_t term_id(std::string_view word);
  std::uint32_t seller_slot(std::uint64_t seller_id);
  std::uint32_t category_slot(std::uint64_t category_id);
  std::uint16_t intern(std::vector<std::string>& table, std::unordered_map<std::string, std::uint16_t>& ids,
                       std::string_view value);
  /// Copies the live records into a fresh arena (the old one is mostly
  /// records of products changed since).
  void compact_arena();
  void post(std::uint32_t slot, const product& p);
  void unpost(std::uint32_t slot);
  void count(std::uint32_t slot, int delta);
  void bound(std::uint32_t slot);
  std::string_view title_of(const doc& d) const;
  std::string image_of(const doc& d) const;
  /// Terms a query word stands for, with the quality of each match.
  std::vector<std::pair<std::uint32_t, float>> expand(const std::string& word, bool prefix, bool fuzzy) const;
  void match_words(query_run& run, const std::vector<std::string>& words, bool fuzzy) const;
  void browse(query_run& run, const category_scope& scope, bool counted) const;

  search_tuning tuning_;
  std::vector<hot_fields> hot_; ///< by slot, like docs_
  std::vector<doc> docs_;
  std::vector<block_bounds> blocks_;
  std::vector<std::uint32_t> free_;
  std::size_t live_ = 0;
  std::unique_ptr<arena> arena_;
  std::unique_ptr<slot_table> slots_;
  std::unordered_map<std::uint64_t, std::int64_t> removed_; ///< products taken out, at their version
  std::deque<std::string> terms_; ///< by term id; a deque, so the views below stay valid
  std::unordered_map<std::string_view, std::uint32_t> term_ids_;
  std::map<std::string_view, std::uint32_t> ordered_; ///< for prefixes
  std::vector<posting_list> postings_; ///< by term id
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> trigram_terms_;
  std::vector<std::uint32_t> trigram_counts_; ///< per term
  std::unordered_map<std::uint64_t, std::uint32_t> seller_slots_;
  std::vector<std::uint64_t> seller_ids_;
  std::unordered_map<std::uint64_t, std::uint32_t> category_slots_;
  std::vector<std::uint64_t> category_ids_;               ///< by slot
  std::vector<std::vector<std::uint32_t>> category_docs_; ///< per category slot: its products' slots, ordered
  std::vector<std::uint32_t> category_live_;     ///< per category slot: products indexed
  std::vector<std::uint32_t> category_in_stock_; ///< per category slot: of those, in stock
  std::vector<std::string> currencies_;
  std::unordered_map<std::string, std::uint16_t> currency_ids_;
  std::vector<std::string> image_prefixes_; ///< [0] is ""
  std::unordered_map<std::string, std::uint16_t> image_prefix_ids_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> scratch_terms_; ///< put's (term, weight) pairs
};

} // namespace livemart
