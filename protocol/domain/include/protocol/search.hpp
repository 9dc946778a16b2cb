#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/catalog.hpp>

/// Product search: the query of `GET /products` (and of a shop's inventory),
/// its keyset cursor, and the answer with its category facets.
namespace livemart {

enum class search_sort : std::uint8_t { relevance = 0, price_asc = 1, price_desc = 2, newest = 3, rating = 4 };
/// The names of the sorts, in the order of the enum (to_string, from_string,
/// and the number of sorts a cursor may name).
inline constexpr std::string_view search_sort_names[] = {"relevance", "price_asc", "price_desc", "newest", "rating"};
std::string_view to_string(search_sort s);
bool from_string(std::string_view text, search_sort& out);

/// Where the previous page ended: the last hit's sort key and id. Opaque to
/// clients; it names its sort, so a cursor cannot be replayed with another.
struct search_cursor {
  bool present = false;
  search_sort sort = search_sort::relevance;
  std::int64_t key = 0;
  std::uint64_t id = 0;
};

struct search_query {
  std::string q;                 ///< words; empty lists everything that matches the filters
  std::uint64_t category = 0;    ///< 0: any; otherwise it and all its subcategories
  std::uint64_t seller = 0;      ///< 0: any
  std::int64_t min_price = -1;   ///< minor units; -1: no bound
  std::int64_t max_price = -1;
  bool in_stock = false;
  search_sort sort = search_sort::relevance; ///< relevance without words means newest
  std::uint32_t limit = 20;
  search_cursor cursor;
};

/// The categories a search may return and how facets group them: every
/// active category of the asked subtree (all of them without a category
/// filter), each mapped to its bucket, the child of the asked category that
/// contains it (a root without a filter; the asked category itself for its
/// own products).
struct category_scope {
  std::vector<std::uint64_t> members;   ///< sorted
  std::vector<std::uint32_t> bucket_of; ///< per member: an index into buckets
  std::vector<category> buckets;
};

struct search_hit {
  std::uint64_t id = 0;
  std::uint64_t seller_id = 0;
  std::uint64_t category_id = 0;
  std::string title;
  std::int64_t price_minor = 0;
  std::string currency;
  std::int64_t stock = 0;
  std::string image_url; ///< the first image, or empty
  rating_summary rating;
  std::int64_t created_at_ms = 0;
};

struct category_facet {
  std::uint64_t id = 0;
  std::string name;
  std::string slug;
  std::uint64_t count = 0;
};

struct search_result {
  std::vector<search_hit> items;
  std::uint64_t total = 0;  ///< matches over all pages
  bool fuzzy = false;       ///< similar words were searched too (few exact matches)
  std::vector<category_facet> facets;
  search_cursor next;       ///< present when there is a next page
};

} // namespace livemart
