#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/catalog.hpp>
#include <protocol/wire/decoded.hpp>

/// The Catalog service's JSON wire format: request bodies in, replies out.
namespace livemart {

decoded<category_patch> decode_category_create(std::string_view body, const conf::settings& cfg);
decoded<category_patch> decode_category_patch(std::string_view body, const conf::settings& cfg);

namespace json {
class writer;
}

/// {"average": 4.25 (two decimals; null without reviews), "count": n}
void write_rating(json::writer& w, const rating_summary& r);

/// {"rating": 1..5, "title"?, "body"?} (bounded by catalog.review_*_length_max).
decoded<review_draft> decode_review(std::string_view body, const conf::settings& cfg);

std::string encode(const review& r);
/// {"items": [...], "rating": {...}, "next_cursor"}: a full page has a cursor.
std::string encode(const review_page& page, std::size_t limit);

/// `GET /products/:id`: the product with its seller and its breadcrumb.
std::string encode(const product_detail& d);

/// A new product: category, title, description?, price_minor, currency,
/// stock? (initial units), status? (draft or active), image_urls?.
decoded<product_draft> decode_product_create(std::string_view body, const conf::settings& cfg);
decoded<product_patch> decode_product_patch(std::string_view body, const conf::settings& cfg);

/// {"delta": n, "reason": "..."}: a restock (n > 0) or an adjustment (n < 0).
decoded<std::pair<std::int64_t, std::string>> decode_restock(std::string_view body, const conf::settings& cfg);
/// {"price_minor": n}
decoded<std::int64_t> decode_price(std::string_view body, const conf::settings& cfg);

std::string encode(const category& c);
std::string encode(const product& p);
std::string encode(const stock_update& u);
/// The nested tree of `all`: roots and children ordered by position, then
/// name. With `active_only`, inactive categories and everything below them
/// are left out.
std::string encode_tree(const std::vector<category>& all, bool active_only);

} // namespace livemart
