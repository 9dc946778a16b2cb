#include <persistence/statements.hpp>

#include <array>
#include <string>
#include <vector>

#include <protocol/json.hpp>

#include "columns.hpp"
#include "statement_lists.hpp"

namespace livemart::persistence {
namespace {

#define LM_CATEGORY_COLUMNS "id, parent_id, name, slug, position, active, version"

#define LM_PRODUCT_COLUMNS \
  "id, seller_id, category_id, title, description, price_minor, currency, stock, reserved, sold, status, " \
  "image_urls::text AS image_urls, rating_sum, rating_count, stock_version, (extract(epoch from created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms, version"

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
  {"category_all", "SELECT " LM_CATEGORY_COLUMNS " FROM categories"},
  {"category_insert",
   "INSERT INTO categories (id, parent_id, name, slug, position) VALUES ($1, $2, $3, $4, $5) "
   "RETURNING " LM_CATEGORY_COLUMNS},
  {"category_update",
   "UPDATE categories SET parent_id = $2, name = $3, slug = $4, position = $5, active = $6, updated_at = now(), "
   "version = version + 1 WHERE id = $1 AND version = $7 RETURNING " LM_CATEGORY_COLUMNS},
  {"category_delete",
   "DELETE FROM categories WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM categories c WHERE c.parent_id = $1) "
   "AND NOT EXISTS (SELECT 1 FROM products p WHERE p.category_id = $1) RETURNING id"},
  {"product_insert",
   "INSERT INTO products (id, seller_id, category_id, title, description, price_minor, currency, status, image_urls) "
   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) RETURNING " LM_PRODUCT_COLUMNS},
  {"product_by_id", "SELECT " LM_PRODUCT_COLUMNS " FROM products WHERE id = $1"},
  {"products_active_page",
   "SELECT " LM_PRODUCT_COLUMNS " FROM products WHERE status = 'active' AND (category_id, id) > ($1, $2) "
   "ORDER BY category_id, id LIMIT $3"},
  // Every product whose listing, stock or rating changed since $1 (ms since
  // the epoch), archived ones included: a node's index catching up.
  {"products_changed_page",
   "SELECT " LM_PRODUCT_COLUMNS " FROM products WHERE id > $2 AND id IN ("
   "SELECT id FROM products WHERE updated_at >= to_timestamp($1 / 1000.0) "
   "UNION SELECT product_id FROM stock_ledger WHERE at >= to_timestamp($1 / 1000.0) "
   "UNION SELECT product_id FROM product_reviews WHERE created_at >= to_timestamp($1 / 1000.0)) "
   "ORDER BY id LIMIT $3"},
  {"product_set_price",
   "UPDATE products SET price_minor = $2, updated_at = now(), version = version + 1 WHERE id = $1 "
   "RETURNING " LM_PRODUCT_COLUMNS},
  {"product_update",
   "UPDATE products SET title = $2, description = $3, status = $4, category_id = $5, image_urls = $6::jsonb, "
   "updated_at = now(), version = version + 1 WHERE id = $1 AND version = $7 RETURNING " LM_PRODUCT_COLUMNS},
  {"stock_move", "SELECT stock, reserved, sold, stock_version FROM stock_move($1, $2, $3, $4, $5, $6, $7)"},
  {"review_create",
   "SELECT rc.id, rc.seller_id, rc.order_id, rc.created_at_ms, rc.rating_sum, rc.rating_count, u.display_name "
   "FROM review_create($1, $2, $3, $4, $5, $6) rc JOIN users u ON u.id = $3"},
  {"reviews_of",
   "SELECT r.id, r.product_id, r.seller_id, r.buyer_id, u.display_name, r.rating, r.title, r.body, "
   "(extract(epoch from r.created_at) * 1000)::bigint AS created_at_ms FROM product_reviews r "
   "JOIN users u ON u.id = r.buyer_id WHERE r.product_id = $1 AND ($2::bigint = 0 OR r.id < $2::bigint) "
   "ORDER BY r.id DESC LIMIT $3"},
});

#undef LM_CATEGORY_COLUMNS
#undef LM_PRODUCT_COLUMNS

std::string images_json(const std::vector<std::string>& urls) {
  json::writer images;
  images.begin_array();
  for (const auto& url : urls)
    images.string(url);
  images.end_array();
  return images.take();
}

} // namespace

std::span<const named_statement> catalog_statements() {
  return catalog;
}

db_statement category_all() {
  return {"category_all", {}};
}

namespace {
db_value parent_value(std::uint64_t parent_id) {
  return parent_id == 0 ? db_null() : db_uint(parent_id);
}
} // namespace

db_statement category_insert(const category& c) {
  return {"category_insert", {db_uint(c.id), parent_value(c.parent_id), db_text(c.name), db_text(c.slug), db_int(c.position)}};
}

db_statement category_update(const category& c) {
  return {"category_update",
          {db_uint(c.id), parent_value(c.parent_id), db_text(c.name), db_text(c.slug), db_int(c.position),
           db_bool(c.active), db_int(c.version)}};
}

db_statement category_delete(std::uint64_t id) {
  return {"category_delete", {db_uint(id)}};
}

std::vector<category> decode_categories(const db_rows& rows) {
  std::vector<category> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), parent = idx("parent_id"), name = idx("name"), slug = idx("slug"), position = idx("position"),
       active = idx("active"), version = idx("version");
  for (const auto& row : rows.rows) {
    category c;
    c.id = to_uint(row[id]);
    c.parent_id = row[parent].is_null ? 0 : to_uint(row[parent]);
    c.name = row[name].text;
    c.slug = row[slug].text;
    c.position = static_cast<std::int32_t>(to_int(row[position]));
    c.active = row[active].text == "t";
    c.version = static_cast<std::int32_t>(to_int(row[version]));
    out.push_back(std::move(c));
  }
  return out;
}

db_statement product_insert(const product& p) {
  return {"product_insert",
          {db_uint(p.id), db_uint(p.seller_id), db_uint(p.category_id), db_text(p.title), db_text(p.description),
           db_int(p.price_minor), db_text(p.currency), db_text(std::string{to_string(p.status)}),
           db_text(images_json(p.image_urls))}};
}

db_statement product_update(const product& p) {
  return {"product_update",
          {db_uint(p.id), db_text(p.title), db_text(p.description), db_text(std::string{to_string(p.status)}),
           db_uint(p.category_id), db_text(images_json(p.image_urls)), db_int(p.version)}};
}

db_statement product_by_id(std::uint64_t id) {
  return {"product_by_id", {db_uint(id)}};
}

db_statement products_active_page(std::uint64_t after_category, std::uint64_t after_id, std::size_t limit) {
  return {"products_active_page", {db_uint(after_category), db_uint(after_id), db_uint(limit)}};
}

db_statement products_changed_page(std::int64_t since_ms, std::uint64_t after_id, std::size_t limit) {
  return {"products_changed_page", {db_int(since_ms), db_uint(after_id), db_uint(limit)}};
}

db_statement product_set_price(std::uint64_t id, std::int64_t price_minor) {
  return {"product_set_price", {db_uint(id), db_int(price_minor)}};
}

std::vector<product> decode_products(const db_rows& rows) {
  std::vector<product> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), seller = idx("seller_id"), category = idx("category_id"), title = idx("title"),
       description = idx("description"), price = idx("price_minor"), currency = idx("currency"), stock = idx("stock"),
       reserved = idx("reserved"), sold = idx("sold"), status = idx("status"), images = idx("image_urls"),
       created = idx("created_at_ms"), updated = idx("updated_at_ms"), version = idx("version"),
       rating_sum = idx("rating_sum"), rating_count = idx("rating_count"), stock_version = idx("stock_version");
  for (const auto& row : rows.rows) {
    product p;
    p.rating.sum = to_int(row[rating_sum]);
    p.rating.count = static_cast<std::int32_t>(to_int(row[rating_count]));
    p.stock_version = to_int(row[stock_version]);
    p.id = to_uint(row[id]);
    p.seller_id = to_uint(row[seller]);
    p.category_id = to_uint(row[category]);
    p.title = row[title].text;
    p.description = row[description].text;
    p.price_minor = to_int(row[price]);
    p.currency = row[currency].text;
    p.stock = to_int(row[stock]);
    p.reserved = to_int(row[reserved]);
    p.sold = to_int(row[sold]);
    from_string(row[status].text, p.status);
    if (auto parsed = json::parse(row[images].text); std::holds_alternative<json::value>(parsed)) {
      const auto& list = std::get<json::value>(parsed);
      if (list.is_array())
        for (const auto& url : list.as_array())
          if (url.is_string())
            p.image_urls.push_back(url.as_string());
    }
    p.created_at_ms = to_int(row[created]);
    p.updated_at_ms = to_int(row[updated]);
    p.version = static_cast<std::int32_t>(to_int(row[version]));
    out.push_back(std::move(p));
  }
  return out;
}

db_statement stock_move(std::uint64_t ledger_id, std::uint64_t product_id, stock_kind kind, std::int64_t quantity,
                        const std::string& reason, std::uint64_t actor_id, std::uint64_t checkout_id) {
  static constexpr std::string_view kinds[] = {"restock", "reserve", "release", "commit", "return", "sale"};
  return {"stock_move",
          {db_uint(ledger_id), db_uint(product_id), db_text(std::string{kinds[static_cast<int>(kind)]}), db_int(quantity),
           db_text(reason), actor_id == 0 ? db_null() : db_uint(actor_id),
           checkout_id == 0 ? db_null() : db_uint(checkout_id)}};
}

std::int64_t decode_stock_version(const db_rows& rows) {
  return to_int(rows.rows.at(0)[column_index(rows, "stock_version")]);
}

db_statement review_create(std::uint64_t id, std::uint64_t product_id, std::uint64_t buyer_id, const review_draft& d) {
  return {"review_create",
          {db_uint(id), db_uint(product_id), db_uint(buyer_id), db_int(d.rating), db_text(d.title), db_text(d.body)}};
}

created_review decode_created_review(const db_rows& rows) {
  const auto& row = rows.rows.at(0);
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  created_review out;
  out.id = to_uint(row[idx("id")]);
  out.seller_id = to_uint(row[idx("seller_id")]);
  out.created_at_ms = to_int(row[idx("created_at_ms")]);
  out.buyer_name = row[idx("display_name")].text;
  out.product_rating.sum = to_int(row[idx("rating_sum")]);
  out.product_rating.count = static_cast<std::int32_t>(to_int(row[idx("rating_count")]));
  return out;
}

db_statement reviews_of(std::uint64_t product_id, std::uint64_t before_id, std::size_t limit) {
  return {"reviews_of", {db_uint(product_id), db_uint(before_id), db_uint(limit)}};
}

std::vector<review> decode_reviews(const db_rows& rows) {
  std::vector<review> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), product = idx("product_id"), seller = idx("seller_id"), buyer = idx("buyer_id"),
       name = idx("display_name"), rating = idx("rating"), title = idx("title"), body = idx("body"),
       created = idx("created_at_ms");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[id]), to_uint(row[product]), to_uint(row[seller]), to_uint(row[buyer]),
                   row[name].text, static_cast<std::int32_t>(to_int(row[rating])), row[title].text, row[body].text,
                   to_int(row[created])});
  return out;
}

} // namespace livemart::persistence
