#pragma once

// What catalog_index.cpp (the index's layout and changes) and
// catalog_query.cpp (searching it) share.

#include <cstdint>
#include <string_view>
#include <vector>

#include <protocol/search.hpp>

namespace livemart::index_detail {

/// pg_trgm's trigrams: the word padded with two spaces in front, one behind.
std::vector<std::uint32_t> trigrams(std::string_view word);

/// Whether (ka, ia) comes before (kb, ib) in `sort`'s order.
inline bool before(search_sort sort, std::int64_t ka, std::uint64_t ia, std::int64_t kb, std::uint64_t ib) {
  if (sort == search_sort::price_asc)
    return ka != kb ? ka < kb : ia < ib;
  return ka != kb ? ka > kb : ia > ib;
}

/// Whether key `a` comes strictly before key `b` in `sort`'s order.
inline bool key_before(search_sort sort, std::int64_t a, std::int64_t b) {
  return sort == search_sort::price_asc ? a < b : a > b;
}

} // namespace livemart::index_detail
