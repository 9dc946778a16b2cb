// Search parameters and cursors: the query string of GET /products (and a
// shop's inventory, GET /sellers/:id/products) read through
// request_context::query's percent-decoding into decode_search_query with
// the settings the server runs with; the search cursor on its own
// (decode_cursor, and encode_cursor's round trip); and the other lists'
// cursors and limits (request_context::read_page: an id; GET /streams/live:
// "<viewers>.<id>").
//
// Input: a query string (what follows '?'), also read whole as a cursor.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/search.hpp>
#include <protocol/wire/search.hpp>

#include "common.hpp"

namespace {

using namespace livemart;
namespace fuzz = livemart::fuzz;


void check_cursor(std::string_view text) {
  auto c = decode_cursor(text);
  if (!c)
    return;
  fuzz::require(c->present, "a decoded cursor is present");
  auto again = decode_cursor(encode_cursor(*c));
  fuzz::require(again && again->present && again->sort == c->sort && again->key == c->key && again->id == c->id,
                "a cursor survives encode_cursor and decode_cursor");
}

void check_query(std::string_view query) {
  const auto& cfg = fuzz::settings();
  auto decoded = decode_search_query([query](std::string_view name) { return crypto::query_param(query, name); }, cfg);
  if (auto* p = std::get_if<problem>(&decoded)) {
    fuzz::require_renderable(*p, "/products");
    return;
  }
  const auto& q = std::get<search_query>(decoded);
  fuzz::require(q.limit >= 1 && q.limit <= cfg.users.page_size_max, "limit within 1..users.page_size_max");
  fuzz::require(q.min_price >= -1 && q.max_price >= -1, "price bounds are absent or not negative");
  fuzz::require(!q.cursor.present || q.cursor.sort == q.sort, "a cursor belongs to the query's sort");
  search_sort parsed{};
  fuzz::require(from_string(to_string(q.sort), parsed) && parsed == q.sort, "a sort's name reads back");
}

/// read_page's cursor and GET /streams/live's "<viewers>.<id>".
void check_list_cursors(std::string_view text) {
  if (auto id = ids::parse(text)) {
    fuzz::require(*id != 0, "an id is not 0");
    fuzz::require(ids::parse(ids::format(*id)) == id, "an id survives format and parse");
  }
  auto dot = text.find('.');
  std::int64_t after_viewers = 0;
  auto id = dot == std::string_view::npos ? std::nullopt : ids::parse(text.substr(dot + 1));
  (void)std::from_chars(text.data(), text.data() + (dot == std::string_view::npos ? 0 : dot), after_viewers);
  (void)id;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  check_query(text);
  check_cursor(text);
  if (auto cursor = crypto::query_param(text, "cursor"))
    check_cursor(*cursor);
  check_list_cursors(text);
  return 0;
}
