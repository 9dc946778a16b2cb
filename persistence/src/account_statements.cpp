#include <persistence/statements.hpp>

#include <array>
#include <string>
#include <vector>

#include <protocol/ids.hpp>

#include "columns.hpp"
#include "statement_lists.hpp"

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

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
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
});

#undef LM_USER_COLUMNS
#undef LM_REVOCATION_COLUMNS
#undef LM_ADDRESS_COLUMNS
#undef LM_SELLER_COLUMNS

db_value optional_text(bool present, const std::string& text) {
  return present ? db_text(text) : db_null();
}

} // namespace

std::span<const named_statement> account_statements() {
  return catalog;
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
  auto col = [&](std::string_view name) -> const db_value& { return row[column_index(rows, name)]; };
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

std::optional<stored_credentials> decode_credentials(const db_rows& rows) {
  auto user = decode_user(rows);
  if (!user)
    return std::nullopt;
  const auto& row = rows.rows.front();
  stored_credentials out;
  out.user = std::move(*user);
  out.password_hash = row[column_index(rows, "password_hash")].text;
  out.suspended = row[column_index(rows, "suspended")].text == "t";
  return out;
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

refresh_rotation decode_refresh_rotation(const db_rows& rows) {
  refresh_rotation out;
  if (rows.rows.empty())
    return out;
  const auto& row = rows.rows.front();
  out.outcome = row[column_index(rows, "outcome")].text;
  out.user_id = ids::parse(row[column_index(rows, "user_id")].text).value_or(0);
  out.family_id = ids::parse(row[column_index(rows, "family_id")].text).value_or(0);
  return out;
}

db_statement user_password_hash(std::uint64_t id) {
  return {"user_password_hash", {db_uint(id)}};
}

std::optional<std::string> decode_password_hash(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  return rows.rows.front()[column_index(rows, "password_hash")].text;
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
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
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

std::vector<address> decode_addresses(const db_rows& rows) {
  std::vector<address> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
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

std::optional<std::int64_t> decode_follower_count(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  return to_int(rows.rows.front()[column_index(rows, "follower_count")]);
}

db_statement sellers_followed(std::uint64_t user_id, std::uint64_t after_id, std::size_t limit) {
  return {"sellers_followed", {db_uint(user_id), db_uint(after_id), db_uint(limit)}};
}

std::vector<seller> decode_sellers(const db_rows& rows) {
  std::vector<seller> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
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

} // namespace livemart::persistence
