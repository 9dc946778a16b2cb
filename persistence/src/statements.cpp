#include <persistence/statements.hpp>
#include <persistence/stream_statements.hpp>

#include <array>
#include <charconv>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>

namespace livemart::persistence {
namespace {

#define LM_USER_COLUMNS \
  "id, email, display_name, bio, avatar_url, role, " \
  "(extract(epoch from created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms, version"

#define LM_ADDRESS_COLUMNS \
  "id, user_id, name, line1, line2, city, region, postal_code, country, phone, is_default, " \
  "(extract(epoch from created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms, version"

#define LM_SELLER_COLUMNS \
  "id, user_id, shop_name, slug, description, contact_email, country, business_type, status, status_reason, " \
  "follower_count, active_product_count, rating_sum, rating_count, (extract(epoch from created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms, version"

#define LM_REVOCATION_COLUMNS \
  "id, user_id, session_id, cutoff, (extract(epoch from forget_at))::bigint AS forget_at_s"

#define LM_ORDER_COLUMNS \
  "o.id, o.checkout_id, o.buyer_id, o.seller_id, s.user_id AS seller_user_id, o.status, o.currency, " \
  "o.subtotal_minor, o.shipping_minor, o.total_minor, o.shipping_address::text AS shipping_address, " \
  "(SELECT json_agg(json_build_object('product_id', i.product_id::text, 'title', i.title, 'unit_price_minor', " \
  "i.unit_price_minor, 'quantity', i.quantity) ORDER BY i.line)::text FROM order_items i WHERE i.order_id = o.id) " \
  "AS items, o.carrier, o.tracking_number, o.refunded_minor, " \
  "(extract(epoch from o.payment_due_at) * 1000)::bigint AS payment_due_ms, (extract(epoch from o.created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from o.updated_at) * 1000)::bigint AS updated_at_ms, o.version"

#define LM_CATEGORY_COLUMNS "id, parent_id, name, slug, position, active, version"

#define LM_PRODUCT_COLUMNS \
  "id, seller_id, category_id, title, description, price_minor, currency, stock, reserved, sold, status, " \
  "image_urls::text AS image_urls, rating_sum, rating_count, stock_version, (extract(epoch from created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms, version"

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
  {"ping", "SELECT 1"},
  {"user_insert",
   "INSERT INTO users (id, email, password_hash, display_name, role) VALUES ($1, $2, $3, $4, $5) "
   "RETURNING " LM_USER_COLUMNS},
  {"user_by_id", "SELECT " LM_USER_COLUMNS " FROM users WHERE id = $1"},
  {"user_credentials",
   "SELECT " LM_USER_COLUMNS ", password_hash, suspended_at IS NOT NULL AS suspended FROM users WHERE email = $1"},
  {"user_password_hash", "SELECT password_hash FROM users WHERE id = $1"},
  {"user_change_password",
   "UPDATE users SET password_hash = $2, updated_at = now(), version = version + 1 WHERE id = $1 RETURNING id"},
  {"user_set_suspended",
   "UPDATE users SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END, suspended_reason = $3, "
   "updated_at = now(), version = version + 1 WHERE id = $1 RETURNING " LM_USER_COLUMNS},
  {"user_update_profile",
   "UPDATE users SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio), "
   "avatar_url = COALESCE($4, avatar_url), updated_at = now(), version = version + 1 "
   "WHERE id = $1 RETURNING " LM_USER_COLUMNS},
  {"user_set_password_hash", "UPDATE users SET password_hash = $2 WHERE id = $1"},
  {"user_upsert_admin",
   "INSERT INTO users (id, email, password_hash, display_name, role) VALUES ($1, $2, $3, $4, 'admin') "
   "ON CONFLICT (email) DO UPDATE SET role = 'admin', password_hash = EXCLUDED.password_hash, "
   "updated_at = now(), version = users.version + 1 RETURNING " LM_USER_COLUMNS},
  {"refresh_insert",
   "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) "
   "VALUES ($1, $2, $3, decode($4, 'hex'), now() + make_interval(secs => $5::integer))"},
  {"refresh_rotate",
   "SELECT outcome, user_id, family_id FROM rotate_refresh_token(decode($1, 'hex'), $2, decode($3, 'hex'), $4, $5, $6)"},
  {"session_end",
   "WITH family AS (SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = decode($2, 'hex')), "
   "ended AS (UPDATE refresh_tokens r SET revoked_at = now() FROM family f "
   "WHERE r.family_id = f.family_id AND r.revoked_at IS NULL RETURNING r.id) "
   "INSERT INTO revoked_sessions (id, user_id, session_id, reason, forget_at) "
   "SELECT $1, user_id, family_id, $3, now() + make_interval(secs => $4) FROM family "
   "RETURNING " LM_REVOCATION_COLUMNS},
  {"sessions_end_all",
   "WITH ended AS (UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $2 AND revoked_at IS NULL RETURNING id) "
   "INSERT INTO revoked_sessions (id, user_id, cutoff, reason, forget_at) "
   "SELECT $1, u.id, $3, $4, now() + make_interval(secs => $5) FROM users u WHERE u.id = $2 "
   "RETURNING " LM_REVOCATION_COLUMNS},
  {"revocations_since",
   "SELECT " LM_REVOCATION_COLUMNS " FROM revoked_sessions WHERE id > $1 AND forget_at > now() ORDER BY id LIMIT $2"},
  {"revocations_forget", "DELETE FROM revoked_sessions WHERE forget_at <= now()"},
  {"refresh_revoke_family",
   "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = "
   "(SELECT family_id FROM refresh_tokens WHERE token_hash = decode($1, 'hex')) RETURNING id"},
  {"address_list", "SELECT " LM_ADDRESS_COLUMNS " FROM addresses WHERE user_id = $1 ORDER BY is_default DESC, id"},
  {"address_get", "SELECT " LM_ADDRESS_COLUMNS " FROM addresses WHERE id = $1 AND user_id = $2"},
  {"address_create",
   "SELECT " LM_ADDRESS_COLUMNS " FROM address_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"},
  {"address_update",
   "SELECT " LM_ADDRESS_COLUMNS " FROM address_update($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"},
  {"address_delete", "SELECT address_delete AS id FROM address_delete($1, $2)"},
  {"seller_apply", "SELECT " LM_SELLER_COLUMNS " FROM seller_apply($1, $2, $3, $4, $5, $6, $7, $8, $9)"},
  {"seller_decide", "SELECT " LM_SELLER_COLUMNS " FROM seller_decide($1, $2, $3, $4, $5)"},
  {"seller_by_id", "SELECT " LM_SELLER_COLUMNS " FROM sellers WHERE id = $1"},
  {"seller_by_user", "SELECT " LM_SELLER_COLUMNS " FROM sellers WHERE user_id = $1"},
  {"sellers_by_status", "SELECT " LM_SELLER_COLUMNS " FROM sellers WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"},
  {"seller_follow", "SELECT seller_follow AS follower_count FROM seller_follow($1, $2)"},
  {"seller_unfollow", "SELECT seller_unfollow AS follower_count FROM seller_unfollow($1, $2)"},
  {"sellers_followed",
   "SELECT " LM_SELLER_COLUMNS " FROM sellers WHERE id IN (SELECT seller_id FROM follows WHERE user_id = $1) "
   "AND id > $2 ORDER BY id LIMIT $3"},
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
   "SELECT " LM_PRODUCT_COLUMNS " FROM products WHERE status = 'active' AND id > $1 ORDER BY id LIMIT $2"},
  {"product_set_price",
   "UPDATE products SET price_minor = $2, updated_at = now(), version = version + 1 WHERE id = $1 "
   "RETURNING " LM_PRODUCT_COLUMNS},
  {"stock_move", "SELECT stock, reserved, sold, stock_version FROM stock_move($1, $2, $3, $4, $5, $6, $7)"},
  {"checkout_open", "SELECT id, expires_at_ms FROM checkout_open($1, $2, $3, $4, $5, $6, $7)"},
  {"checkout_line_insert",
   "INSERT INTO checkout_lines (checkout_id, line, product_id, seller_id, title, unit_price_minor, quantity) "
   "VALUES ($1, $2, $3, $4, $5, $6, $7)"},
  {"order_get",
   "SELECT " LM_ORDER_COLUMNS ", (SELECT json_agg(json_build_object('from', t.from_status, 'to', t.to_status, "
   "'reason', t.reason, 'at_ms', (extract(epoch from t.at) * 1000)::bigint) ORDER BY t.at, t.id)::text "
   "FROM order_transitions t WHERE t.order_id = o.id) AS history, "
   "(SELECT json_agg(json_build_object('id', p.id::text, 'gateway', p.gateway, 'gateway_ref', p.gateway_ref, "
   "'method', p.method, 'amount_minor', p.amount_minor, 'currency', p.currency, 'status', p.status, "
   "'failure_reason', p.failure_reason, 'next_action_url', p.next_action_url, 'refunded_minor', p.refunded_minor, "
   "'created_at_ms', (extract(epoch from p.created_at) * 1000)::bigint, "
   "'pending_refund', (SELECT json_build_object('id', r.id::text, 'amount_minor', r.amount_minor) FROM refunds r "
   "WHERE r.payment_id = p.id AND r.status = 'pending' ORDER BY r.id DESC LIMIT 1)) ORDER BY p.id)::text "
   "FROM payments p WHERE p.order_id = o.id) AS payments "
   "FROM orders o JOIN sellers s ON s.id = o.seller_id WHERE o.id = $1"},
  {"order_move", "SELECT version, updated_at_ms FROM order_move($1, $2, $3, $4, $5, $6)"},
  {"order_set_shipping", "UPDATE orders SET carrier = $2, tracking_number = $3 WHERE id = $1"},
  {"order_add_refunded", "UPDATE orders SET refunded_minor = refunded_minor + $2 WHERE id = $1"},
  {"order_return_stock",
   "SELECT product_id, quantity, stock_version FROM order_return_stock($1, $2::bigint[], $3)"},
  {"orders_due",
   "SELECT o.id FROM orders o WHERE o.status = 'pending' AND o.payment_due_at <= now() "
   "ORDER BY o.payment_due_at LIMIT $1"},
  {"product_sell",
   "SELECT idx, outcome, stock_version FROM product_sell($1, $2, $3, $4, $5::bigint[], $6::bigint[], $7::bigint[], "
   "$8::integer[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::text[], "
   "$16::text[], $17::bigint[])"},
  {"payment_insert",
   "INSERT INTO payments (id, order_id, gateway, method, amount_minor, currency, status) "
   "VALUES ($1, $2, $3, $4, $5, $6, 'created')"},
  {"payment_update",
   "UPDATE payments SET status = $2, gateway_ref = COALESCE(NULLIF($3, ''), gateway_ref), failure_reason = $4, "
   "next_action_url = NULLIF($5, ''), updated_at = now() WHERE id = $1"},
  {"payment_add_refunded", "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = now() WHERE id = $1"},
  {"payment_by_ref", "SELECT id, order_id FROM payments WHERE gateway = $1 AND gateway_ref = $2"},
  {"payment_event_insert", "INSERT INTO payment_events (event_id, type, payment_id) VALUES ($1, $2, $3)"},
  {"refund_insert",
   "INSERT INTO refunds (id, payment_id, amount_minor, reason, status) VALUES ($1, $2, $3, $4, 'pending')"},
  {"refund_settle", "UPDATE refunds SET status = $2, gateway_ref = NULLIF($3, '') WHERE id = $1"},
  {"payments_between",
   "SELECT p.id, p.order_id, p.gateway_ref, p.status, p.amount_minor, p.currency, p.refunded_minor, o.status AS order_status, "
   "(SELECT count(*) FROM payments q WHERE q.order_id = p.order_id AND q.status = 'succeeded' AND q.id < p.id) "
   "AS earlier_paid, (extract(epoch from now() - p.created_at))::bigint AS age_s "
   "FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.gateway = $1 "
   "AND p.created_at >= to_timestamp($2) AND p.created_at < to_timestamp($3) ORDER BY p.id"},
  {"orders_of_buyer",
   "SELECT " LM_ORDER_COLUMNS " FROM orders o JOIN sellers s ON s.id = o.seller_id "
   "WHERE o.buyer_id = $1 AND ($2::bigint = 0 OR o.id < $2::bigint) ORDER BY o.id DESC LIMIT $3"},
  {"orders_of_seller_user",
   "SELECT " LM_ORDER_COLUMNS " FROM orders o JOIN sellers s ON s.id = o.seller_id "
   "WHERE s.user_id = $1 AND ($2::bigint = 0 OR o.id < $2::bigint) ORDER BY o.id DESC LIMIT $3"},
  {"checkout_place",
   "SELECT product_id, quantity, stock_version FROM checkout_place($1, $2, $3::bigint[], $4::bigint[], $5::bigint[])"},
  {"checkout_parts",
   "SELECT c.status, c.currency, l.seller_id, s.subtotal_minor, s.shipping_minor, l.product_id, l.title, "
   "l.unit_price_minor, l.quantity FROM checkouts c JOIN checkout_lines l ON l.checkout_id = c.id "
   "JOIN checkout_sellers s ON s.checkout_id = c.id AND s.seller_id = l.seller_id "
   "WHERE c.id = $1 AND c.buyer_id = $2 ORDER BY l.seller_id, l.line"},
  {"idempotency_get", "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2"},
  {"idempotency_insert",
   "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body) VALUES ($1, $2, $3, $4, $5)"},
  {"review_create",
   "SELECT rc.id, rc.seller_id, rc.order_id, rc.created_at_ms, rc.rating_sum, rc.rating_count, u.display_name "
   "FROM review_create($1, $2, $3, $4, $5, $6) rc JOIN users u ON u.id = $3"},
  {"reviews_of",
   "SELECT r.id, r.product_id, r.seller_id, r.buyer_id, u.display_name, r.rating, r.title, r.body, "
   "(extract(epoch from r.created_at) * 1000)::bigint AS created_at_ms FROM product_reviews r "
   "JOIN users u ON u.id = r.buyer_id WHERE r.product_id = $1 AND ($2::bigint = 0 OR r.id < $2::bigint) "
   "ORDER BY r.id DESC LIMIT $3"},
  {"idempotency_update", "UPDATE idempotency_keys SET status = $3, body = $4 WHERE user_id = $1 AND key = $2"},
  {"idempotency_expire",
   "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
   "WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)"},
  {"checkout_seller_insert",
   "INSERT INTO checkout_sellers (checkout_id, seller_id, subtotal_minor, shipping_minor) VALUES ($1, $2, $3, $4)"},
  {"checkout_release", "SELECT product_id, quantity, stock_version FROM checkout_release($1, $2, $3, $4::bigint[])"},
  {"checkout_tag", "UPDATE checkouts SET idempotency_key = $2, request_hash = $3 WHERE id = $1"},
  {"checkout_by_key",
   "SELECT c.id, c.status, c.request_hash, (SELECT count(*) FROM checkout_lines l WHERE l.checkout_id = c.id) AS lines "
   "FROM checkouts c WHERE c.buyer_id = $1 AND c.idempotency_key = $2"},
  {"checkouts_due",
   "SELECT c.id, (SELECT count(*) FROM checkout_lines l WHERE l.checkout_id = c.id) AS lines FROM checkouts c "
   "WHERE c.status = 'open' AND c.expires_at <= now() ORDER BY c.expires_at LIMIT $1"},
  {"product_update",
   "UPDATE products SET title = $2, description = $3, status = $4, category_id = $5, image_urls = $6::jsonb, "
   "updated_at = now(), version = version + 1 WHERE id = $1 AND version = $7 RETURNING " LM_PRODUCT_COLUMNS},
});

#undef LM_USER_COLUMNS
#undef LM_REVOCATION_COLUMNS
#undef LM_ADDRESS_COLUMNS
#undef LM_SELLER_COLUMNS
#undef LM_CATEGORY_COLUMNS
#undef LM_PRODUCT_COLUMNS

db_value optional_text(bool present, const std::string& text) {
  return present ? db_text(text) : db_null();
}

std::int64_t to_int(const db_value& v) {
  std::int64_t out = 0;
  std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

std::string images_json(const std::vector<std::string>& urls) {
  json::writer images;
  images.begin_array();
  for (const auto& url : urls)
    images.string(url);
  images.end_array();
  return images.take();
}

std::uint64_t to_uint(const db_value& v) {
  std::uint64_t out = 0;
  std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

} // namespace

std::span<const named_statement> statement_catalog() {
  static const std::vector<named_statement> all = [] {
    std::vector<named_statement> v{catalog.begin(), catalog.end()};
    auto streams = stream_statement_catalog();
    v.insert(v.end(), streams.begin(), streams.end());
    return v;
  }();
  return all;
}

db_statement ping() {
  return {"ping", {}};
}

db_statement user_insert(std::uint64_t id, const std::string& email, const std::string& password_hash,
                         const std::string& display_name, role r) {
  return {"user_insert",
          {db_uint(id), db_text(email), db_text(password_hash), db_text(display_name), db_text(std::string{to_string(r)})}};
}

db_statement user_by_id(std::uint64_t id) {
  return {"user_by_id", {db_uint(id)}};
}

db_statement user_credentials(const std::string& email) {
  return {"user_credentials", {db_text(email)}};
}

db_statement user_update_profile(std::uint64_t id, const profile_patch& patch) {
  return {"user_update_profile",
          {db_uint(id), optional_text(patch.has_display_name, patch.display_name), optional_text(patch.has_bio, patch.bio),
           optional_text(patch.has_avatar_url, patch.avatar_url)}};
}

db_statement user_set_password_hash(std::uint64_t id, const std::string& password_hash) {
  return {"user_set_password_hash", {db_uint(id), db_text(password_hash)}};
}

db_statement user_upsert_admin(std::uint64_t id, const std::string& email, const std::string& password_hash,
                               const std::string& display_name) {
  return {"user_upsert_admin", {db_uint(id), db_text(email), db_text(password_hash), db_text(display_name)}};
}

std::optional<user_profile> decode_user(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  const auto& row = rows.rows.front();
  auto col = [&](std::string_view name) -> const db_value& { return row.at(static_cast<std::size_t>(rows.column(name))); };
  user_profile u;
  u.id = to_uint(col("id"));
  u.email = col("email").text;
  u.display_name = col("display_name").text;
  u.bio = col("bio").text;
  u.avatar_url = col("avatar_url").text;
  from_string(col("role").text, u.role);
  u.created_at_ms = to_int(col("created_at_ms"));
  u.updated_at_ms = to_int(col("updated_at_ms"));
  u.version = static_cast<std::int32_t>(to_int(col("version")));
  return u;
}

db_statement refresh_insert(std::uint64_t id, std::uint64_t user_id, std::uint64_t family_id,
                            const std::string& token_hash_hex, std::uint32_t ttl_s) {
  return {"refresh_insert", {db_uint(id), db_uint(user_id), db_uint(family_id), db_text(token_hash_hex), db_uint(ttl_s)}};
}

db_statement refresh_rotate(const std::string& old_hash_hex, std::uint64_t new_id, const std::string& new_hash_hex,
                            std::uint32_t ttl_s, std::uint64_t revocation_id, std::uint32_t keep_s) {
  return {"refresh_rotate", {db_text(old_hash_hex), db_uint(new_id), db_text(new_hash_hex), db_uint(ttl_s),
                             db_uint(revocation_id), db_uint(keep_s)}};
}

db_statement user_password_hash(std::uint64_t id) {
  return {"user_password_hash", {db_uint(id)}};
}

db_statement user_change_password(std::uint64_t id, const std::string& password_hash) {
  return {"user_change_password", {db_uint(id), db_text(password_hash)}};
}

db_statement user_set_suspended(std::uint64_t id, bool suspended, const std::string& reason) {
  return {"user_set_suspended", {db_uint(id), db_bool(suspended), db_text(reason)}};
}

db_statement session_end(std::uint64_t revocation_id, const std::string& refresh_hash_hex, std::string_view reason,
                         std::uint32_t keep_s) {
  return {"session_end", {db_uint(revocation_id), db_text(refresh_hash_hex), db_text(std::string{reason}), db_uint(keep_s)}};
}

db_statement sessions_end_all(std::uint64_t revocation_id, std::uint64_t user_id, std::uint64_t cutoff,
                              std::string_view reason, std::uint32_t keep_s) {
  return {"sessions_end_all",
          {db_uint(revocation_id), db_uint(user_id), db_uint(cutoff), db_text(std::string{reason}), db_uint(keep_s)}};
}

db_statement revocations_since(std::uint64_t after_id, std::size_t limit) {
  return {"revocations_since", {db_uint(after_id), db_uint(limit)}};
}

db_statement revocations_forget() {
  return {"revocations_forget", {}};
}

std::vector<revocation> decode_revocations(const db_rows& rows) {
  std::vector<revocation> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
  auto id = idx("id"), user = idx("user_id"), session = idx("session_id"), cutoff = idx("cutoff"),
       forget = idx("forget_at_s");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[id]), to_uint(row[user]), to_uint(row[session]), to_uint(row[cutoff]), to_int(row[forget])});
  return out;
}

db_statement refresh_revoke_family(const std::string& token_hash_hex) {
  return {"refresh_revoke_family", {db_text(token_hash_hex)}};
}

db_statement address_list(std::uint64_t user_id) {
  return {"address_list", {db_uint(user_id)}};
}

db_statement address_get(std::uint64_t id, std::uint64_t user_id) {
  return {"address_get", {db_uint(id), db_uint(user_id)}};
}

db_statement address_create(const address& a, std::size_t per_user_max) {
  return {"address_create",
          {db_uint(a.id), db_uint(a.user_id), db_text(a.name), db_text(a.line1), db_text(a.line2), db_text(a.city),
           db_text(a.region), db_text(a.postal_code), db_text(a.country), db_text(a.phone), db_bool(a.is_default),
           db_uint(per_user_max)}};
}

db_statement address_update(const address& a) {
  return {"address_update",
          {db_uint(a.id), db_uint(a.user_id), db_text(a.name), db_text(a.line1), db_text(a.line2), db_text(a.city),
           db_text(a.region), db_text(a.postal_code), db_text(a.country), db_text(a.phone), db_bool(a.is_default),
           db_int(a.version)}};
}

db_statement address_delete(std::uint64_t id, std::uint64_t user_id) {
  return {"address_delete", {db_uint(id), db_uint(user_id)}};
}

db_statement seller_apply(std::uint64_t id, std::uint64_t user_id, const seller_application& a,
                          std::uint64_t transition_id) {
  return {"seller_apply",
          {db_uint(id), db_uint(user_id), db_text(a.shop_name), db_text(a.slug), db_text(a.description),
           db_text(a.contact_email), db_text(a.country), db_text(a.business_type), db_uint(transition_id)}};
}

db_statement seller_decide(std::uint64_t seller_id, seller_status to, std::uint64_t actor_id, const std::string& reason,
                           std::uint64_t transition_id) {
  return {"seller_decide",
          {db_uint(seller_id), db_text(std::string{to_string(to)}), db_uint(actor_id), db_text(reason),
           db_uint(transition_id)}};
}

db_statement seller_by_id(std::uint64_t id) {
  return {"seller_by_id", {db_uint(id)}};
}

db_statement seller_by_user(std::uint64_t user_id) {
  return {"seller_by_user", {db_uint(user_id)}};
}

db_statement sellers_by_status(seller_status status, std::uint64_t after_id, std::size_t limit) {
  return {"sellers_by_status", {db_text(std::string{to_string(status)}), db_uint(after_id), db_uint(limit)}};
}

db_statement seller_follow(std::uint64_t user_id, std::uint64_t seller_id, bool follow) {
  return {follow ? "seller_follow" : "seller_unfollow", {db_uint(user_id), db_uint(seller_id)}};
}

db_statement sellers_followed(std::uint64_t user_id, std::uint64_t after_id, std::size_t limit) {
  return {"sellers_followed", {db_uint(user_id), db_uint(after_id), db_uint(limit)}};
}

std::vector<seller> decode_sellers(const db_rows& rows) {
  std::vector<seller> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
  auto id = idx("id"), user_id = idx("user_id"), shop_name = idx("shop_name"), slug = idx("slug"),
       description = idx("description"), contact = idx("contact_email"), country = idx("country"),
       business = idx("business_type"), status = idx("status"), reason = idx("status_reason"),
       followers = idx("follower_count"), created = idx("created_at_ms"), updated = idx("updated_at_ms"),
       version = idx("version"), active = idx("active_product_count"), rating_sum = idx("rating_sum"),
       rating_count = idx("rating_count");
  for (const auto& row : rows.rows) {
    seller s;
    s.active_product_count = to_int(row[active]);
    s.rating.sum = to_int(row[rating_sum]);
    s.rating.count = static_cast<std::int32_t>(to_int(row[rating_count]));
    s.id = to_uint(row[id]);
    s.user_id = to_uint(row[user_id]);
    s.shop_name = row[shop_name].text;
    s.slug = row[slug].text;
    s.description = row[description].text;
    s.contact_email = row[contact].text;
    s.country = row[country].text;
    s.business_type = row[business].text;
    from_string(row[status].text, s.status);
    s.status_reason = row[reason].text;
    s.follower_count = to_int(row[followers]);
    s.created_at_ms = to_int(row[created]);
    s.updated_at_ms = to_int(row[updated]);
    s.version = static_cast<std::int32_t>(to_int(row[version]));
    out.push_back(std::move(s));
  }
  return out;
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
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
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

db_statement products_active_page(std::uint64_t after_id, std::size_t limit) {
  return {"products_active_page", {db_uint(after_id), db_uint(limit)}};
}

db_statement product_set_price(std::uint64_t id, std::int64_t price_minor) {
  return {"product_set_price", {db_uint(id), db_int(price_minor)}};
}

db_statement stock_move(std::uint64_t ledger_id, std::uint64_t product_id, stock_kind kind, std::int64_t quantity,
                        const std::string& reason, std::uint64_t actor_id, std::uint64_t checkout_id) {
  static constexpr std::string_view kinds[] = {"restock", "reserve", "release", "commit", "return", "sale"};
  return {"stock_move",
          {db_uint(ledger_id), db_uint(product_id), db_text(std::string{kinds[static_cast<int>(kind)]}), db_int(quantity),
           db_text(reason), actor_id == 0 ? db_null() : db_uint(actor_id),
           checkout_id == 0 ? db_null() : db_uint(checkout_id)}};
}

namespace {
/// A PostgreSQL array literal of numbers.
template <class T>
std::string bigint_array(const std::vector<T>& values) {
  std::string out = "{";
  for (auto v : values) {
    if (out.size() > 1)
      out += ',';
    out += std::to_string(v);
  }
  return out + "}";
}
} // namespace

db_statement checkout_open(const checkout& c, std::uint32_t ttl_s) {
  return {"checkout_open",
          {db_uint(c.id), db_uint(c.buyer_id), db_uint(c.address_id), db_text(c.currency), db_int(c.subtotal_minor),
           db_int(c.shipping_minor), db_uint(ttl_s)}};
}

db_statement checkout_line_insert(std::uint64_t checkout_id, std::size_t line, const checkout_line& l) {
  return {"checkout_line_insert",
          {db_uint(checkout_id), db_uint(line), db_uint(l.product_id), db_uint(l.seller_id), db_text(l.title),
           db_int(l.unit_price_minor), db_int(l.quantity)}};
}

db_statement checkout_seller_insert(std::uint64_t checkout_id, const seller_share& share) {
  return {"checkout_seller_insert",
          {db_uint(checkout_id), db_uint(share.seller_id), db_int(share.subtotal_minor), db_int(share.shipping_minor)}};
}

db_statement checkout_release(std::uint64_t checkout_id, checkout_status to, bool due_only,
                              const std::vector<std::uint64_t>& ledger_ids) {
  return {"checkout_release",
          {db_uint(checkout_id), db_text(std::string{to_string(to)}), db_bool(due_only), db_text(bigint_array(ledger_ids))}};
}

db_statement checkout_tag(std::uint64_t checkout_id, const std::string& key, const std::string& request_hash) {
  return {"checkout_tag", {db_uint(checkout_id), db_text(key), db_text(request_hash)}};
}

db_statement checkout_by_key(std::uint64_t buyer_id, const std::string& key) {
  return {"checkout_by_key", {db_uint(buyer_id), db_text(key)}};
}

std::optional<keyed_checkout> decode_keyed_checkout(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
  const auto& row = rows.rows.front();
  keyed_checkout out;
  out.id = to_uint(row[idx("id")]);
  out.status = row[idx("status")].text;
  out.request_hash = row[idx("request_hash")].text;
  out.lines = static_cast<std::size_t>(to_uint(row[idx("lines")]));
  return out;
}

db_statement checkout_place(std::uint64_t checkout_id, std::uint64_t buyer_id, const std::vector<std::uint64_t>& order_ids,
                            const std::vector<std::uint64_t>& transition_ids,
                            const std::vector<std::uint64_t>& ledger_ids) {
  return {"checkout_place",
          {db_uint(checkout_id), db_uint(buyer_id), db_text(bigint_array(order_ids)), db_text(bigint_array(transition_ids)),
           db_text(bigint_array(ledger_ids))}};
}

db_statement checkout_parts(std::uint64_t checkout_id, std::uint64_t buyer_id) {
  return {"checkout_parts", {db_uint(checkout_id), db_uint(buyer_id)}};
}

db_statement order_get(std::uint64_t id) {
  return {"order_get", {db_uint(id)}};
}

db_statement orders_of(std::uint64_t user_id, bool as_seller, std::uint64_t before_id, std::size_t limit) {
  return {as_seller ? "orders_of_seller_user" : "orders_of_buyer", {db_uint(user_id), db_uint(before_id), db_uint(limit)}};
}

std::vector<order> decode_orders(const db_rows& rows) {
  std::vector<order> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return rows.column(name); };
  auto id = idx("id"), checkout = idx("checkout_id"), buyer = idx("buyer_id"), seller = idx("seller_id"),
       seller_user = idx("seller_user_id"), status = idx("status"), currency = idx("currency"),
       subtotal = idx("subtotal_minor"), shipping = idx("shipping_minor"), total = idx("total_minor"),
       address = idx("shipping_address"), items = idx("items"), created = idx("created_at_ms"),
       updated = idx("updated_at_ms"), version = idx("version"), history = idx("history"), carrier = idx("carrier"),
       tracking = idx("tracking_number"), refunded = idx("refunded_minor"), due = idx("payment_due_ms"),
       payments = idx("payments");
  auto at = [](const std::vector<db_value>& row, int i) -> const db_value& { return row[static_cast<std::size_t>(i)]; };
  for (const auto& row : rows.rows) {
    order o;
    o.id = to_uint(at(row, id));
    o.checkout_id = at(row, checkout).is_null ? 0 : to_uint(at(row, checkout));
    o.buyer_id = to_uint(at(row, buyer));
    o.seller_id = to_uint(at(row, seller));
    o.seller_user_id = to_uint(at(row, seller_user));
    from_string(at(row, status).text, o.status);
    o.currency = at(row, currency).text;
    o.subtotal_minor = to_int(at(row, subtotal));
    o.shipping_minor = to_int(at(row, shipping));
    o.total_minor = to_int(at(row, total));
    o.shipping_address_json = at(row, address).text;
    if (auto parsed = json::parse(at(row, items).text); std::holds_alternative<json::value>(parsed)) {
      const auto& list = std::get<json::value>(parsed);
      if (list.is_array())
        for (const auto& i : list.as_array())
          o.items.push_back({ids::parse(i.string_or("product_id")).value_or(0), i.string_or("title"),
                             i.find("unit_price_minor")->as_integer(), i.find("quantity")->as_integer()});
    }
    if (history >= 0) {
      if (auto parsed = json::parse(at(row, history).text); std::holds_alternative<json::value>(parsed)) {
        const auto& list = std::get<json::value>(parsed);
        if (list.is_array())
          for (const auto& t : list.as_array())
            o.history.push_back({t.string_or("from"), t.string_or("to"), t.string_or("reason"),
                                 t.find("at_ms")->as_integer()});
      }
    }
    o.carrier = at(row, carrier).text;
    o.tracking_number = at(row, tracking).text;
    o.refunded_minor = to_int(at(row, refunded));
    o.payment_due_ms = at(row, due).is_null ? 0 : to_int(at(row, due));
    if (payments >= 0) {
      if (auto parsed = json::parse(at(row, payments).text); std::holds_alternative<json::value>(parsed)) {
        const auto& list = std::get<json::value>(parsed);
        if (list.is_array())
          for (const auto& p : list.as_array()) {
            payment pay;
            pay.id = ids::parse(p.string_or("id")).value_or(0);
            pay.order_id = o.id;
            pay.gateway = p.string_or("gateway");
            pay.gateway_ref = p.string_or("gateway_ref");
            pay.method = p.string_or("method");
            pay.amount_minor = p.find("amount_minor")->as_integer();
            pay.currency = p.string_or("currency");
            from_string(p.string_or("status"), pay.status);
            pay.failure_reason = p.string_or("failure_reason");
            pay.next_action_url = p.string_or("next_action_url");
            pay.refunded_minor = p.find("refunded_minor")->as_integer();
            pay.created_at_ms = p.find("created_at_ms")->as_integer();
            if (const auto* pending = p.find("pending_refund"); pending != nullptr && pending->is_object()) {
              pay.pending_refund_id = ids::parse(pending->string_or("id")).value_or(0);
              pay.pending_refund_minor = pending->find("amount_minor")->as_integer();
            }
            o.payments.push_back(std::move(pay));
          }
      }
    }
    o.created_at_ms = to_int(at(row, created));
    o.updated_at_ms = to_int(at(row, updated));
    o.version = static_cast<std::int32_t>(to_int(at(row, version)));
    out.push_back(std::move(o));
  }
  return out;
}

db_statement order_move(std::uint64_t id, std::int32_t version, order_status to, std::uint64_t transition_id,
                        std::uint64_t actor_id, const std::string& reason) {
  return {"order_move",
          {db_uint(id), db_int(version), db_text(std::string{to_string(to)}), db_uint(transition_id), db_uint(actor_id),
           db_text(reason)}};
}

db_statement order_set_shipping(std::uint64_t id, const std::string& carrier, const std::string& tracking_number) {
  return {"order_set_shipping", {db_uint(id), db_text(carrier), db_text(tracking_number)}};
}

db_statement order_add_refunded(std::uint64_t id, std::int64_t amount_minor) {
  return {"order_add_refunded", {db_uint(id), db_int(amount_minor)}};
}

db_statement order_return_stock(std::uint64_t id, const std::vector<std::uint64_t>& ledger_ids, std::uint64_t actor_id) {
  return {"order_return_stock", {db_uint(id), db_text(bigint_array(ledger_ids)), db_uint(actor_id)}};
}

namespace {
/// A PostgreSQL array literal of text values, each quoted and escaped.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char ch : values[i]) {
      if (ch == '"' || ch == '\\')
        out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}
} // namespace

db_statement product_sell(const sale_batch& b) {
  return {"product_sell",
          {db_uint(b.product_id), db_uint(b.seller_id), db_text(b.currency), db_uint(b.payment_due_s),
           db_text(bigint_array(b.order_ids)), db_text(bigint_array(b.buyers)), db_text(bigint_array(b.addresses)),
           db_text(bigint_array(b.quantities)), db_text(bigint_array(b.unit_prices)), db_text(text_array(b.titles)),
           db_text(bigint_array(b.shipping)),
           db_text(bigint_array(b.transition_ids)), db_text(bigint_array(b.ledger_ids)), db_text(text_array(b.keys)),
           db_text(text_array(b.hashes)), db_text(text_array(b.bodies)), db_text(bigint_array(b.drops))}};
}

db_statement orders_due(std::size_t limit) {
  return {"orders_due", {db_uint(limit)}};
}

db_statement payment_insert(const payment& p) {
  return {"payment_insert",
          {db_uint(p.id), db_uint(p.order_id), db_text(p.gateway), db_text(p.method), db_int(p.amount_minor),
           db_text(p.currency)}};
}

db_statement payment_update(std::uint64_t id, payment_status status, const std::string& gateway_ref,
                            const std::string& failure_reason, const std::string& next_action_url) {
  return {"payment_update",
          {db_uint(id), db_text(std::string{to_string(status)}), db_text(gateway_ref), db_text(failure_reason),
           db_text(next_action_url)}};
}

db_statement payment_add_refunded(std::uint64_t id, std::int64_t amount_minor) {
  return {"payment_add_refunded", {db_uint(id), db_int(amount_minor)}};
}

db_statement payment_by_ref(const std::string& gateway, const std::string& ref) {
  return {"payment_by_ref", {db_text(gateway), db_text(ref)}};
}

db_statement payment_event_insert(const std::string& event_id, const std::string& type, std::uint64_t payment_id) {
  return {"payment_event_insert", {db_text(event_id), db_text(type), db_uint(payment_id)}};
}

db_statement refund_insert(std::uint64_t id, std::uint64_t payment_id, std::int64_t amount_minor,
                           const std::string& reason) {
  return {"refund_insert", {db_uint(id), db_uint(payment_id), db_int(amount_minor), db_text(reason)}};
}

db_statement refund_settle(std::uint64_t id, bool succeeded, const std::string& gateway_ref) {
  return {"refund_settle", {db_uint(id), db_text(succeeded ? "succeeded" : "failed"), db_text(gateway_ref)}};
}

db_statement payments_between(const std::string& gateway, std::int64_t from_s, std::int64_t to_s) {
  return {"payments_between", {db_text(gateway), db_int(from_s), db_int(to_s)}};
}

db_statement idempotency_get(std::uint64_t user_id, const std::string& key) {
  return {"idempotency_get", {db_uint(user_id), db_text(key)}};
}

db_statement idempotency_insert(std::uint64_t user_id, const std::string& key, const std::string& request_hash,
                                const stored_reply& reply) {
  return {"idempotency_insert",
          {db_uint(user_id), db_text(key), db_text(request_hash), db_int(reply.status), db_text(reply.body)}};
}

db_statement review_create(std::uint64_t id, std::uint64_t product_id, std::uint64_t buyer_id, const review_draft& d) {
  return {"review_create",
          {db_uint(id), db_uint(product_id), db_uint(buyer_id), db_int(d.rating), db_text(d.title), db_text(d.body)}};
}

db_statement reviews_of(std::uint64_t product_id, std::uint64_t before_id, std::size_t limit) {
  return {"reviews_of", {db_uint(product_id), db_uint(before_id), db_uint(limit)}};
}

std::vector<review> decode_reviews(const db_rows& rows) {
  std::vector<review> out;
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[0]), to_uint(row[1]), to_uint(row[2]), to_uint(row[3]), row[4].text,
                   static_cast<std::int32_t>(to_int(row[5])), row[6].text, row[7].text, to_int(row[8])});
  return out;
}

db_statement idempotency_update(std::uint64_t user_id, const std::string& key, const stored_reply& reply) {
  return {"idempotency_update", {db_uint(user_id), db_text(key), db_int(reply.status), db_text(reply.body)}};
}

db_statement idempotency_expire(std::uint32_t retention_h, std::size_t limit) {
  return {"idempotency_expire", {db_uint(retention_h), db_uint(limit)}};
}

db_statement checkouts_due(std::size_t limit) {
  return {"checkouts_due", {db_uint(limit)}};
}

std::vector<product> decode_products(const db_rows& rows) {
  std::vector<product> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
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

std::vector<address> decode_addresses(const db_rows& rows) {
  std::vector<address> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return static_cast<std::size_t>(rows.column(name)); };
  auto id = idx("id"), user_id = idx("user_id"), name = idx("name"), line1 = idx("line1"), line2 = idx("line2"),
       city = idx("city"), region = idx("region"), postal = idx("postal_code"), country = idx("country"),
       phone = idx("phone"), is_default = idx("is_default"), created = idx("created_at_ms"),
       updated = idx("updated_at_ms"), version = idx("version");
  for (const auto& row : rows.rows) {
    address a;
    a.id = to_uint(row[id]);
    a.user_id = to_uint(row[user_id]);
    a.name = row[name].text;
    a.line1 = row[line1].text;
    a.line2 = row[line2].text;
    a.city = row[city].text;
    a.region = row[region].text;
    a.postal_code = row[postal].text;
    a.country = row[country].text;
    a.phone = row[phone].text;
    a.is_default = row[is_default].text == "t";
    a.created_at_ms = to_int(row[created]);
    a.updated_at_ms = to_int(row[updated]);
    a.version = static_cast<std::int32_t>(to_int(row[version]));
    out.push_back(std::move(a));
  }
  return out;
}

} // namespace livemart::persistence
