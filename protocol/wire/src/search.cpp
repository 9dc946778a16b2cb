#include <protocol/wire/search.hpp>

#include <charconv>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/problem.hpp>
#include <protocol/validation.hpp>
#include <protocol/wire/catalog.hpp>

namespace livemart {
namespace {

constexpr auto& sort_names = search_sort_names;

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

problem bad_param(std::string name, std::string message) {
  auto p = make_problem(errc::bad_request, "query parameter \"" + name + "\" " + message);
  p.fields.push_back({std::move(name), std::move(message)});
  return p;
}

} // namespace

std::string encode_cursor(const search_cursor& c) {
  auto plain = "1." + std::to_string(static_cast<int>(c.sort)) + "." + std::to_string(c.key) + "." + std::to_string(c.id);
  return crypto::base64url_encode(plain);
}

std::optional<search_cursor> decode_cursor(std::string_view text) {
  auto plain = crypto::base64url_decode(text);
  if (!plain)
    return std::nullopt;
  std::string_view rest = *plain;
  auto next = [&rest]() -> std::string_view {
    auto dot = rest.find('.');
    auto part = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    return part;
  };
  if (next() != "1")
    return std::nullopt;
  search_cursor c;
  int sort = 0;
  if (!parse_number(next(), sort) || sort < 0 || sort >= static_cast<int>(std::size(sort_names)))
    return std::nullopt;
  c.sort = static_cast<search_sort>(sort);
  if (!parse_number(next(), c.key) || !parse_number(rest, c.id))
    return std::nullopt;
  c.present = true;
  return c;
}

decoded<search_query> decode_search_query(const query_lookup& param, const conf::settings& cfg) {
  search_query out;
  if (auto q = param("q")) {
    if (validation::utf8_length(*q) > cfg.catalog.search_query_length_max)
      return bad_param("q", "must be at most " + std::to_string(cfg.catalog.search_query_length_max) + " characters");
    out.q = std::move(*q);
  }
  auto id_param = [&](std::string_view name, std::uint64_t& target) -> std::optional<problem> {
    auto text = param(name);
    if (!text || text->empty())
      return std::nullopt;
    auto id = ids::parse(*text);
    if (!id)
      return bad_param(std::string{name}, "is not an id");
    target = *id;
    return std::nullopt;
  };
  if (auto p = id_param("category", out.category))
    return std::move(*p);
  if (auto p = id_param("seller", out.seller))
    return std::move(*p);
  auto price_param = [&](std::string_view name, std::int64_t& target) -> std::optional<problem> {
    auto text = param(name);
    if (!text || text->empty())
      return std::nullopt;
    if (!parse_number(*text, target) || target < 0)
      return bad_param(std::string{name}, "must be a whole number of minor units, 0 or more");
    return std::nullopt;
  };
  if (auto p = price_param("min_price", out.min_price))
    return std::move(*p);
  if (auto p = price_param("max_price", out.max_price))
    return std::move(*p);
  if (out.min_price >= 0 && out.max_price >= 0 && out.max_price < out.min_price)
    return bad_param("max_price", "must not be below min_price");
  if (auto text = param("in_stock"); text && !text->empty()) {
    if (*text == "true" || *text == "1")
      out.in_stock = true;
    else if (*text == "false" || *text == "0")
      out.in_stock = false;
    else
      return bad_param("in_stock", "must be true or false");
  }
  out.sort = out.q.empty() ? search_sort::newest : search_sort::relevance;
  if (auto text = param("sort"); text && !text->empty()) {
    if (!from_string(*text, out.sort))
      return bad_param("sort", "must be relevance, price_asc, price_desc, newest or rating");
  }
  if (auto text = param("limit")) {
    std::uint32_t n = 0;
    if (!parse_number(*text, n) || n < 1 || n > cfg.users.page_size_max)
      return bad_param("limit", "must be a whole number from 1 to " + std::to_string(cfg.users.page_size_max));
    out.limit = n;
  }
  if (auto text = param("cursor"); text && !text->empty()) {
    auto c = decode_cursor(*text);
    if (!c)
      return bad_param("cursor", "is not a cursor this server issued");
    if (c->sort != out.sort)
      return bad_param("cursor", "belongs to sort " + std::string{to_string(c->sort)} + ", not "
                                   + std::string{to_string(out.sort)});
    out.cursor = *c;
  }
  return out;
}

std::string encode(const search_result& r) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& h : r.items) {
    w.begin_object()
      .field("id", ids::format(h.id))
      .field("seller_id", ids::format(h.seller_id))
      .field("category_id", ids::format(h.category_id))
      .field("title", h.title)
      .field("price_minor", h.price_minor)
      .field("currency", h.currency)
      .field("stock", h.stock)
      .key("image_url");
    if (h.image_url.empty())
      w.null();
    else
      w.string(h.image_url);
    w.key("rating");
    write_rating(w, h.rating);
    w.field("created_at_ms", h.created_at_ms).end_object();
  }
  w.end_array().field("total", r.total).field("fuzzy", r.fuzzy).key("facets").begin_object().key("categories").begin_array();
  for (const auto& f : r.facets)
    w.begin_object().field("id", ids::format(f.id)).field("name", f.name).field("slug", f.slug).field("count", f.count).end_object();
  w.end_array().end_object().key("next_cursor");
  if (r.next.present)
    w.string(encode_cursor(r.next));
  else
    w.null();
  w.end_object();
  return w.take();
}

} // namespace livemart
