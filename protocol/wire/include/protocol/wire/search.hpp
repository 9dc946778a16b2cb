#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <conf/settings.hpp>
#include <protocol/search.hpp>
#include <protocol/wire/decoded.hpp>

/// Product search on the wire: the query string of `GET /products`, the
/// opaque cursor and the JSON of the answer.
namespace livemart {

/// The cursor as clients see it: opaque text.
std::string encode_cursor(const search_cursor& c);
std::optional<search_cursor> decode_cursor(std::string_view text);

/// Reads q, category, seller, min_price, max_price, in_stock, sort, limit and
/// cursor through `param` (nullopt: absent); a bad one is a 400 naming it.
using query_lookup = std::function<std::optional<std::string>(std::string_view)>;
decoded<search_query> decode_search_query(const query_lookup& param, const conf::settings& cfg);

std::string encode(const search_result& r);

} // namespace livemart
