// Security regression suite, against the real livemart binary and a real
// PostgreSQL database over loopback HTTP:
//
//  - forged, tampered and replayed access tokens (RFC 8725 cases that apply
//    to our HS256 "at+jwt" tokens) on a buyer's, a seller's and an admin's
//    route, where a token that is accepted would read or change something;
//  - the authorisation matrix of every route that takes an id, across two
//    buyers, two sellers and an admin: the wrong party gets the documented
//    403 or 404 and the database is exactly as it was;
//  - mass assignment: fields the server sets itself are refused by every
//    create and update body (400 unknown-field naming them), and what the
//    server sets (owners, prices, totals) never comes from the client;
//  - brute-force limits that tests/e2e/auth_test.cpp does not cover yet.
//
// "Nothing changed" is checked on the database as a whole: a digest of
// every table that holds marketplace state (database_state()), taken
// before and after each refused request.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <protocol/crypto.hpp>
#include <protocol/json.hpp>

#include "api.hpp"
#include "http_client.hpp"
#include "pg_harness.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

// -- requests -----------------------------------------------------------------

using headers = http_client::header_list;

/// A request with a JSON body (when it has one, or is a POST/PUT/PATCH) and
/// a bearer token (when given).
http_reply send(http_client& c, const std::string& method, const std::string& path, const std::string& body,
                const std::string& token, headers extra = {}) {
  headers h;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    h.emplace_back("Content-Type", "application/json");
  if (!token.empty())
    h.emplace_back("Authorization", "Bearer " + token);
  for (auto& e : extra)
    h.push_back(std::move(e));
  return c.request(method, path, body, h);
}

headers fresh_idempotency_key() {
  return {{"Idempotency-Key", "sec-" + unique_suffix()}};
}

void check_unauthenticated(const http_reply& r) {
  check_problem(r, 401, "unauthenticated");
  CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
}

void check_retry_after(const http_reply& r, long window_s) {
  auto value = r.header("retry-after");
  REQUIRE_FALSE(value.empty());
  REQUIRE(value.find_first_not_of("0123456789") == std::string::npos);
  CHECK(std::stol(value) > 0);
  CHECK(std::stol(value) <= window_s + 1);
}

struct session {
  std::string access;
  std::string refresh;
};

std::string login_body(const std::string& email, const std::string& password) {
  return "{\"email\":" + quote(email) + ",\"password\":" + quote(password) + "}";
}

/// A new session of the account (sign_up() keeps only the access token).
session login(http_client& c, const std::string& email, const std::string& password) {
  auto r = c.post("/auth/login", login_body(email, password));
  INFO(r.body);
  REQUIRE(r.status == 200);
  return {r.json().string_or("access_token"), r.json().string_or("refresh_token")};
}

std::string register_body(const std::string& email) {
  return "{\"email\":" + quote(email) + ",\"password\":\"correct horse battery staple\",\"display_name\":\"Eve\"}";
}

std::string refresh_body(const std::string& token) {
  return "{\"refresh_token\":" + quote(token) + "}";
}

// -- the database as a whole ----------------------------------------------------

/// Every table that holds marketplace state. idempotency_keys is left out on
/// purpose: a refused POST /orders or drop buy is stored there as that key's
/// outcome, by design.
const char* const state_tables[] = {
  "users",           "refresh_tokens", "revoked_sessions", "addresses",   "sellers",          "seller_transitions",
  "follows",         "categories",     "products",         "stock_ledger", "checkouts",       "checkout_lines",
  "checkout_sellers", "orders",        "order_items",      "order_transitions", "payments",   "refunds",
  "payment_events",  "product_reviews", "streams",         "stream_drops", "auctions",         "auction_bids",
};

/// "table=md5 ..." over every row of every state table.
std::string database_state(const std::string& url) {
  std::string query = "SELECT concat_ws(' '";
  for (const char* table : state_tables)
    query += std::string{", '"} + table + "=' || (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM "
             + table + " x)";
  query += ")";
  auto rows = sql(url, query);
  REQUIRE(rows.rows.size() == 1);
  return rows.rows[0][0].text;
}

std::string scalar(const std::string& url, const std::string& query) {
  auto rows = sql(url, query);
  REQUIRE(rows.rows.size() == 1);
  return rows.rows[0][0].text;
}

// -- tokens --------------------------------------------------------------------

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  static const char no_key[1] = {0};
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(md, key.empty() ? no_key : key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

/// JSON object members, each a name and a raw JSON value, in order.
using members = std::vector<std::pair<std::string, std::string>>;

std::string object(const members& m) {
  std::string out = "{";
  for (std::size_t i = 0; i < m.size(); ++i)
    out.append(i ? "," : "").append(quote(m[i].first)).append(":").append(m[i].second);
  return out + "}";
}

members with(members m, const std::string& name, const std::string& raw) {
  for (auto& [k, v] : m)
    if (k == name) {
      v = raw;
      return m;
    }
  m.emplace_back(name, raw);
  return m;
}

members without(members m, const std::string& name) {
  std::erase_if(m, [&](const auto& member) { return member.first == name; });
  return m;
}

/// The header the server issues: HS256, at+jwt, the test key's kid.
members good_header() {
  return {{"alg", quote("HS256")}, {"typ", quote("at+jwt")}, {"kid", quote("test")}};
}

/// Claims as the server issues them (a five-minute lifetime), for `sub`.
members good_claims(const std::string& sub, const std::string& sid = "1") {
  auto now = now_s();
  return {{"iss", quote("livemart")},       {"aud", quote("livemart-api")},     {"sub", quote(sub)},
          {"sid", quote(sid)},              {"iat", std::to_string(now)},       {"nbf", std::to_string(now)},
          {"exp", std::to_string(now + 300)}, {"jti", quote("f" + unique_suffix())}};
}

/// A compact JWS: the header and claims as given, the HMAC under `key` with `md`.
std::string jws(const members& header, const members& claims, std::string_view key, const EVP_MD* md = EVP_sha256()) {
  auto input = b64(object(header)) + "." + b64(object(claims));
  return input + "." + b64(hmac(md, key, input));
}

/// The secret of the server's only key ("test:<hex>").
std::string server_key(const server_process& srv) {
  const auto& keys = srv.jwt_keys();
  REQUIRE(keys.rfind("test:", 0) == 0);
  auto secret = crypto::from_hex(keys.substr(5));
  REQUIRE(secret.has_value());
  return *secret;
}

struct token_split {
  std::string header; ///< base64url
  std::string payload; ///< decoded JSON text
  std::string signature; ///< base64url
};

token_split split(const std::string& token) {
  auto d1 = token.find('.');
  REQUIRE(d1 != std::string::npos);
  auto d2 = token.find('.', d1 + 1);
  REQUIRE(d2 != std::string::npos);
  auto payload = crypto::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  REQUIRE(payload.has_value());
  return {token.substr(0, d1), *payload, token.substr(d2 + 1)};
}

json::value claims_of(const std::string& token) {
  auto parsed = json::parse(split(token).payload);
  REQUIRE(std::holds_alternative<json::value>(parsed));
  return std::get<json::value>(parsed);
}

/// `token` with claim `name` set to `raw` in its payload, and its original
/// header and signature: what an attacker holding a real token can make.
std::string tamper(const std::string& token, const std::string& name, const std::string& raw) {
  auto parts = split(token);
  auto needle = "\"" + name + "\":";
  auto at = parts.payload.find(needle);
  REQUIRE(at != std::string::npos);
  auto value_at = at + needle.size();
  auto end = parts.payload.find_first_of(",}", value_at);
  REQUIRE(end != std::string::npos);
  parts.payload.replace(value_at, end - value_at, raw);
  return parts.header + "." + b64(parts.payload) + "." + parts.signature;
}

// -- the authorisation matrix ---------------------------------------------------

struct party {
  std::string name;
  std::string token;
};

party as_party(const std::string& name, const api_user& u) {
  return {name, u.token};
}

struct refusal {
  const party* who;
  int status; ///< 403 forbidden or 404 not-found
};

/// A route that takes an id, and who must be refused on it.
struct guarded_route {
  std::string method;
  std::string path;
  std::string body;
  std::vector<refusal> refused;
  bool keyed = false; ///< sends a fresh Idempotency-Key
};

/// Every party of every row is refused as the row says, and the database
/// is unchanged after each attempt.
void expect_refused(marketplace& m, const std::vector<guarded_route>& table) {
  for (const auto& row : table) {
    auto before = database_state(m.db.url());
    for (const auto& [who, status] : row.refused) {
      INFO(row.method << " " << row.path << " " << row.body << " as " << who->name);
      auto r = send(m.c, row.method, row.path, row.body, who->token, row.keyed ? fresh_idempotency_key() : headers{});
      check_problem(r, status, status == 403 ? "forbidden" : "not-found");
      CHECK(database_state(m.db.url()) == before);
    }
  }
}

std::string placed_order_id(const http_reply& r) {
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto doc = r.json();
  const auto* orders = doc.find("orders");
  REQUIRE(orders != nullptr);
  REQUIRE(orders->as_array().size() == 1);
  return orders->as_array().at(0).string_or("id");
}

std::string order_status(marketplace& m, const api_user& buyer, const std::string& order) {
  auto r = m.c.get("/orders/" + order, buyer.token);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return r.json().string_or("status");
}

struct new_stream {
  std::string id;
  std::string key;
};

new_stream schedule_stream(marketplace& m, const shop& s, const std::string& featured, bool start_now) {
  auto r = m.c.post("/streams",
                    "{\"title\":\"Camera night\",\"featured\":[" + quote(featured) + "],\"start_now\":" +
                      (start_now ? "true" : "false") + "}",
                    s.owner.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return {r.json().find("stream")->string_or("id"), r.json().string_or("stream_key")};
}

http_reply ingest(marketplace& m, const std::string& key) {
  return m.c.request("POST", "/ingest/auth", "app=live&name=" + key + "&call=publish",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
}

// -- mass assignment -------------------------------------------------------------

/// `base` (a JSON object) with one more member.
std::string with_field(const std::string& base, const std::string& name, const std::string& raw) {
  REQUIRE(base.size() >= 2);
  REQUIRE(base.back() == '}');
  auto body = base;
  body.insert(body.size() - 1, (base == "{}" ? "" : ",") + quote(name) + ":" + raw);
  return body;
}

/// A body carrying a field the server must set itself, and the name the
/// refusal must give it.
struct smuggled {
  std::string field;
  std::string body;
};

std::vector<smuggled> smuggle_each(const std::string& base, const members& fields) {
  std::vector<smuggled> out;
  for (const auto& [name, raw] : fields)
    out.push_back({name, with_field(base, name, raw)});
  return out;
}

/// Each smuggled body is refused with 400 unknown-field naming exactly its
/// field, and changes nothing; then `base` itself is sent (unless
/// `send_base` is false) and its reply returned, to show the same request
/// without the smuggled field is accepted.
http_reply refuses_smuggled(marketplace& m, const std::string& method, const std::string& path, const std::string& token,
                            const std::string& base, const std::vector<smuggled>& attempts, bool keyed = false,
                            bool send_base = true) {
  auto before = database_state(m.db.url());
  for (const auto& attempt : attempts) {
    INFO(method << " " << path << " smuggling " << attempt.field << ": " << attempt.body);
    auto r = send(m.c, method, path, attempt.body, token, keyed ? fresh_idempotency_key() : headers{});
    check_problem(r, 400, "unknown-field");
    CHECK(r.error_fields() == std::vector<std::string>{attempt.field});
    CHECK(r.json().string_or("detail").find(attempt.field) != std::string::npos);
    CHECK(database_state(m.db.url()) == before);
  }
  if (!send_base)
    return {};
  return send(m.c, method, path, base, token, keyed ? fresh_idempotency_key() : headers{});
}

std::string created_id(const http_reply& r) {
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

} // namespace

// =============================================================================
// 1. Forged, tampered and replayed tokens
// =============================================================================

TEST_CASE("security: forged and tampered access tokens are refused on buyer, seller and admin routes",
          "[e2e][security]") {
  marketplace m;
  auto s = open_shop(m);
  auto product = listing(m, s, "Leica M6", 2000, 5);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto attacker = sign_up(m.c, "attacker"); // holds a real token of their own
  auto key = server_key(m.srv);
  const auto other_key = crypto::random_bytes(32);

  // Three routes where an accepted token reads or changes something that is
  // not the attacker's: a buyer's addresses, a seller's price, an admin's
  // category list. `sub` is the account each would need.
  struct target {
    const char* what;
    std::string method;
    std::string path;
    std::string body;
    std::string sub;
  };
  const std::vector<target> targets{
    {"a buyer's addresses", "GET", "/users/addresses", "", buyer.id},
    {"a seller's price", "PUT", "/products/" + product + "/price", R"({"price_minor":1})", s.owner.id},
    {"an admin's categories", "POST", "/admin/categories", R"({"name":"Planted by a forger"})", m.admin.id},
  };

  // Control: tokens made the way the server makes them are accepted on all
  // three, so every refusal below is down to the one thing each case changes.
  {
    auto mine = m.c.get("/users/addresses", jws(good_header(), good_claims(buyer.id), key));
    INFO(mine.body);
    REQUIRE(mine.status == 200);
    CHECK(mine.body.find(address) != std::string::npos);
    auto priced = send(m.c, "PUT", "/products/" + product + "/price", R"({"price_minor":2500})",
                       jws(good_header(), good_claims(s.owner.id), key));
    INFO(priced.body);
    REQUIRE(priced.status == 200);
    auto category = m.c.post("/admin/categories", R"({"name":"Made by the control token"})",
                             jws(good_header(), good_claims(m.admin.id), key));
    INFO(category.body);
    REQUIRE(category.status == 201);
  }

  auto now = now_s();
  using make_token = std::function<std::string(const std::string& sub)>;
  struct token_case {
    const char* what;
    make_token make;
  };
  auto unsigned_token = [](const members& header, const members& claims) {
    return b64(object(header)) + "." + b64(object(claims)) + ".";
  };
  const std::vector<token_case> cases{
    // RFC 8725 §2.1/§3.1: "none" and algorithm confusion.
    {"alg none, no signature", [&](auto sub) { return unsigned_token(with(good_header(), "alg", quote("none")), good_claims(sub)); }},
    {"alg None, no signature", [&](auto sub) { return unsigned_token(with(good_header(), "alg", quote("None")), good_claims(sub)); }},
    {"alg NONE, no signature", [&](auto sub) { return unsigned_token(with(good_header(), "alg", quote("NONE")), good_claims(sub)); }},
    {"alg none with a valid HS256 signature",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("none")), good_claims(sub), key); }},
    {"alg missing", [&](auto sub) { return jws(without(good_header(), "alg"), good_claims(sub), key); }},
    {"alg RS256, HMAC-signed with the server's key",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("RS256")), good_claims(sub), key); }},
    {"alg ES256, HMAC-signed with the server's key",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("ES256")), good_claims(sub), key); }},
    {"alg PS256, HMAC-signed with the server's key",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("PS256")), good_claims(sub), key); }},
    {"alg HS384 with a genuine HMAC-SHA384 under the server's key",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("HS384")), good_claims(sub), key, EVP_sha384()); }},
    {"alg HS512 with a genuine HMAC-SHA512 under the server's key",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("HS512")), good_claims(sub), key, EVP_sha512()); }},
    {"alg hs256 (case matters, RFC 7515 §4.1.1)",
     [&](auto sub) { return jws(with(good_header(), "alg", quote("hs256")), good_claims(sub), key); }},
    {"alg Hs256", [&](auto sub) { return jws(with(good_header(), "alg", quote("Hs256")), good_claims(sub), key); }},
    {"alg as an array", [&](auto sub) { return jws(with(good_header(), "alg", "[\"HS256\"]"), good_claims(sub), key); }},
    // Keys: kid and embedded keys (RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.5).
    {"kid missing", [&](auto sub) { return jws(without(good_header(), "kid"), good_claims(sub), key); }},
    {"kid unknown", [&](auto sub) { return jws(with(good_header(), "kid", quote("other")), good_claims(sub), key); }},
    {"kid in another case", [&](auto sub) { return jws(with(good_header(), "kid", quote("TEST")), good_claims(sub), key); }},
    {"kid empty", [&](auto sub) { return jws(with(good_header(), "kid", quote("")), good_claims(sub), key); }},
    {"kid a number", [&](auto sub) { return jws(with(good_header(), "kid", "1"), good_claims(sub), key); }},
    {"kid a path, signed with an empty key",
     [&](auto sub) { return jws(with(good_header(), "kid", quote("../../../../dev/null")), good_claims(sub), ""); }},
    {"signed with another key", [&](auto sub) { return jws(good_header(), good_claims(sub), other_key); }},
    {"signed with an empty key", [&](auto sub) { return jws(good_header(), good_claims(sub), ""); }},
    {"signed with the kid as the key", [&](auto sub) { return jws(good_header(), good_claims(sub), "test"); }},
    {"signed with the key's hex text instead of its bytes",
     [&](auto sub) { return jws(good_header(), good_claims(sub), crypto::to_hex(key)); }},
    {"an embedded jwk holding the forger's key",
     [&](auto sub) {
       auto header = with(good_header(), "jwk", "{\"kty\":\"oct\",\"k\":" + quote(b64(other_key)) + "}");
       return jws(header, good_claims(sub), other_key);
     }},
    {"a jku pointing at the forger's key set",
     [&](auto sub) {
       return jws(with(good_header(), "jku", quote("https://attacker.example/jwks.json")), good_claims(sub), other_key);
     }},
    {"a crit header (unencoded payload, RFC 7797)",
     [&](auto sub) { return jws(with(with(good_header(), "b64", "false"), "crit", "[\"b64\"]"), good_claims(sub), key); }},
    // Explicit typing (RFC 8725 §3.11): only at+jwt is an access token.
    {"typ JWT", [&](auto sub) { return jws(with(good_header(), "typ", quote("JWT")), good_claims(sub), key); }},
    {"typ missing", [&](auto sub) { return jws(without(good_header(), "typ"), good_claims(sub), key); }},
    {"typ of a refresh token (rt+jwt)", [&](auto sub) { return jws(with(good_header(), "typ", quote("rt+jwt")), good_claims(sub), key); }},
    // Issuer and audience (RFC 8725 §3.8, §3.9).
    {"another issuer", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "iss", quote("evil-idp")), key); }},
    {"issuer missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "iss"), key); }},
    {"another audience", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "aud", quote("livemart-admin")), key); }},
    {"an audience list without ours",
     [&](auto sub) { return jws(good_header(), with(good_claims(sub), "aud", "[\"a\",\"b\"]"), key); }},
    {"audience missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "aud"), key); }},
    // Lifetimes.
    {"expired beyond the clock skew",
     [&](auto sub) {
       auto c = with(with(with(good_claims(sub), "iat", std::to_string(now - 600)), "nbf", std::to_string(now - 600)),
                     "exp", std::to_string(now - 120));
       return jws(good_header(), c, key);
     }},
    {"exp missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "exp"), key); }},
    {"exp a string", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "exp", quote(std::to_string(now + 300))), key); }},
    {"not valid before two minutes from now",
     [&](auto sub) {
       return jws(good_header(), with(with(good_claims(sub), "nbf", std::to_string(now + 120)), "exp", std::to_string(now + 600)), key);
     }},
    {"issued two minutes from now",
     [&](auto sub) {
       auto c = with(with(with(good_claims(sub), "iat", std::to_string(now + 120)), "nbf", std::to_string(now)), "exp",
                     std::to_string(now + 600));
       return jws(good_header(), c, key);
     }},
    {"iat missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "iat"), key); }},
    {"lives longer than the access-token ttl (900 s)",
     [&](auto sub) { return jws(good_header(), with(good_claims(sub), "exp", std::to_string(now + 1'000)), key); }},
    {"lives a day", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "exp", std::to_string(now + 86'400)), key); }},
    // Subject and session.
    {"sub missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "sub"), key); }},
    {"sub a number", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "sub", sub), key); }},
    {"sub with a sign", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "sub", quote("+" + sub)), key); }},
    {"sid missing", [&](auto sub) { return jws(good_header(), without(good_claims(sub), "sid"), key); }},
    {"sid 0", [&](auto sub) { return jws(good_header(), good_claims(sub, "0"), key); }},
    {"sid not decimal", [&](auto sub) { return jws(good_header(), good_claims(sub, "abc"), key); }},
    {"sid a number", [&](auto sub) { return jws(good_header(), with(good_claims(sub), "sid", "1"), key); }},
    // An attacker's real token, changed after signing (RFC 8725 §3.1).
    {"the attacker's token with sub changed", [&](auto sub) { return tamper(attacker.token, "sub", quote(sub)); }},
    {"the attacker's token with sub changed and sid removed",
     [&](auto sub) { return tamper(tamper(attacker.token, "sub", quote(sub)), "sid", quote("")); }},
    {"the attacker's token with exp changed", [&](auto) { return tamper(attacker.token, "exp", std::to_string(now + 600)); }},
    {"the attacker's token with its header's alg set to none",
     [&](auto) {
       auto parts = split(attacker.token);
       return b64(object(with(good_header(), "alg", quote("none")))) + "." + b64(parts.payload) + ".";
     }},
    {"claims made for the target with the attacker's signature",
     [&](auto sub) {
       auto forged = jws(good_header(), good_claims(sub), other_key);
       return forged.substr(0, forged.rfind('.') + 1) + split(attacker.token).signature;
     }},
    {"the attacker's token with its signature removed",
     [&](auto) { return attacker.token.substr(0, attacker.token.rfind('.') + 1); }},
    {"a JWE (five parts)",
     [&](auto) {
       return b64(R"({"alg":"dir","enc":"A256GCM","kid":"test"})") + ".." + b64("iv-iv-iv-iv") + "." + b64("cipher") + "." +
              b64("tag-tag-tag-tag");
     }},
  };

  auto buyer_session = login(m.c, buyer.email, buyer.password);
  auto before = database_state(m.db.url());
  for (const auto& tc : cases) {
    for (const auto& t : targets) {
      INFO(tc.what << " -> " << t.what << " (" << t.method << " " << t.path << ")");
      check_unauthenticated(send(m.c, t.method, t.path, t.body, tc.make(t.sub)));
    }
  }
  // The real refresh token is no access token, and no access token travels in the URL.
  for (const auto& t : targets) {
    INFO(t.what);
    check_unauthenticated(send(m.c, t.method, t.path, t.body, buyer_session.refresh));
    auto sep = t.path.find('?') == std::string::npos ? "?" : "&";
    check_unauthenticated(send(m.c, t.method, t.path + sep + "access_token=" + buyer_session.access, t.body, ""));
  }
  // Nor does a WebSocket take its token from the URL: the hello must carry it.
  for (const char* name : {"token", "access_token"}) {
    INFO(name);
    ws_client channel{m.srv.port(), "/users/me/ws?" + std::string{name} + "=" + buyer_session.access};
    if (channel.status() == 101) {
      channel.send(R"({"type":"hello"})");
      auto reply = channel.read(std::chrono::seconds{5});
      INFO("reply: " << reply.value_or("(closed)"));
      CHECK_FALSE(reply.has_value());
      CHECK(channel.close_code() == 4401);
    } else {
      CHECK(channel.status() == 401);
    }
  }
  CHECK(database_state(m.db.url()) == before);
  CHECK(stock_of(m, product) == 5);
  CHECK(integer_field(m.c.get("/products/" + product).json(), "price_minor") == 2500);
  CHECK(scalar(m.db.url(), "SELECT count(*) FROM categories WHERE name = 'Planted by a forger'") == "0");

  // Every token that was refused left the attacker's own token working.
  CHECK(m.c.get("/auth/me", attacker.token).status == 200);
}

TEST_CASE("security: ended sessions and spent refresh tokens cannot be replayed", "[e2e][security]") {
  marketplace m;
  auto s = open_shop(m);
  auto product = listing(m, s, "Leica M6", 2000, 5);
  auto buyer = sign_up(m.c, "buyer");
  add_address(m.c, buyer);
  auto key = server_key(m.srv);

  // One session of each party, logged out; its access token is then replayed
  // on that party's routes.
  struct replay {
    const char* what;
    const api_user* user;
    std::string method;
    std::string path;
    std::string body;
  };
  const std::vector<replay> replays{
    {"buyer: addresses", &buyer, "GET", "/users/addresses", ""},
    {"buyer: new address", &buyer, "POST", "/users/addresses",
     R"({"name":"Mallory","line1":"Somewhere 1","city":"Berlin","postal_code":"10115","country":"DE"})"},
    {"seller: price", &s.owner, "PUT", "/products/" + product + "/price", R"({"price_minor":1})"},
    {"seller: restock", &s.owner, "POST", "/products/" + product + "/restock", R"({"delta":100,"reason":"replay"})"},
    {"admin: category", &m.admin, "POST", "/admin/categories", R"({"name":"Replayed"})"},
    {"admin: suspend", &m.admin, "POST", "/admin/users/" + buyer.id + "/suspend", R"({"reason":"replayed"})"},
  };
  std::vector<std::pair<const replay*, session>> ended;
  for (const auto& r : replays) {
    auto one = login(m.c, r.user->email, r.user->password);
    // The session works until it ends...
    REQUIRE(m.c.get("/auth/me", one.access).status == 200);
    REQUIRE(m.c.post("/auth/logout", refresh_body(one.refresh)).status == 204);
    ended.emplace_back(&r, one);
  }
  auto before = database_state(m.db.url());
  for (const auto& [r, one] : ended) {
    INFO("replaying a logged-out access token: " << r->what);
    check_unauthenticated(send(m.c, r->method, r->path, r->body, one.access));
    CHECK(send(m.c, r->method, r->path, r->body, one.access).json().string_or("detail").find("session has ended") !=
          std::string::npos);
    // ...and its refresh token is spent, so no new access token comes of it
    // (the replay is a reuse: it records the session's end once more, the
    // only change a replay may make).
    check_problem(m.c.post("/auth/refresh", refresh_body(one.refresh)), 401, "invalid-refresh-token");
    // A correctly signed token naming the ended session is refused too: the
    // session ends, not a list of token ids.
    auto sid = claims_of(one.access).string_or("sid");
    REQUIRE_FALSE(sid.empty());
    check_unauthenticated(send(m.c, r->method, r->path, r->body, jws(good_header(), good_claims(r->user->id, sid), key)));
  }
  sql(m.db.url(), "DELETE FROM revoked_sessions WHERE reason = 'reused'");
  CHECK(database_state(m.db.url()) == before);

  // A refresh token replayed after its rotation revokes its family: the
  // thief's and the owner's successors alike.
  auto first = login(m.c, buyer.email, buyer.password);
  auto rotated = m.c.post("/auth/refresh", refresh_body(first.refresh));
  INFO(rotated.body);
  REQUIRE(rotated.status == 200);
  auto successor = rotated.json().string_or("refresh_token");
  check_problem(m.c.post("/auth/refresh", refresh_body(first.refresh)), 401, "invalid-refresh-token");
  check_problem(m.c.post("/auth/refresh", refresh_body(successor)), 401, "invalid-refresh-token");
  check_problem(m.c.post("/auth/refresh", refresh_body(first.refresh)), 401, "invalid-refresh-token");
  CHECK(scalar(m.db.url(), "SELECT count(*) FROM refresh_tokens WHERE family_id = " + claims_of(first.access).string_or("sid") +
                             " AND revoked_at IS NULL") == "0");

  // An access token is no refresh token: it neither refreshes nor logs out.
  auto other = login(m.c, buyer.email, buyer.password);
  for (const char* route : {"/auth/refresh", "/auth/logout"}) {
    INFO(route);
    auto r = m.c.post(route, refresh_body(other.access));
    CHECK((r.status == 401 || r.status == 422));
    CHECK(r.body.find("access_token") == std::string::npos);
  }
  CHECK(m.c.get("/auth/me", other.access).status == 200);
  CHECK(m.c.post("/auth/refresh", refresh_body(other.refresh)).status == 200);
}

// A refresh token replayed after rotation is the sign of a stolen token
// (RFC 9700 §4.14.2): the family's refresh tokens are revoked, and the
// session ends, its access tokens with it.
TEST_CASE("security: replaying a rotated refresh token ends the session's access tokens too",
          "[e2e][security]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto victim = sign_up(c, "victim");
  auto stolen = login(c, victim.email, victim.password);
  // The thief refreshes first and gets an access token of the victim's session.
  auto thief = c.post("/auth/refresh", refresh_body(stolen.refresh));
  REQUIRE(thief.status == 200);
  auto thief_access = thief.json().string_or("access_token");
  REQUIRE(c.get("/users/addresses", thief_access).status == 200);
  // The victim's client replays the rotated token: reuse detected, family revoked.
  check_problem(c.post("/auth/refresh", refresh_body(stolen.refresh)), 401, "invalid-refresh-token");
  check_problem(c.post("/auth/refresh", refresh_body(thief.json().string_or("refresh_token"))), 401, "invalid-refresh-token");
  // The session has ended: neither access token of it may still be used.
  auto thief_after = c.get("/users/addresses", thief_access);
  INFO("the thief's access token after the reuse: " << thief_after.status << " " << thief_after.body);
  CHECK(thief_after.status == 401);
  CHECK(c.get("/users/addresses", stolen.access).status == 401);
  // Both replays were reuses of the same session.
  CHECK(scalar(db.url(), "SELECT count(DISTINCT session_id) FROM revoked_sessions WHERE reason = 'reused'") == "1");
}

// =============================================================================
// 2. The authorisation matrix
// =============================================================================

TEST_CASE("security: addresses, checkouts, orders, products, reviews, sellers and admin routes refuse the wrong party",
          "[e2e][security]") {
  marketplace m;
  auto s1 = open_shop(m);
  auto s2 = open_shop(m);
  auto p1 = listing(m, s1, "Leica M6", 2000, 10);
  auto q1 = listing(m, s2, "Nikon F3", 1500, 10);
  auto b1 = sign_up(m.c, "buyer1");
  auto b2 = sign_up(m.c, "buyer2");
  auto a1 = add_address(m.c, b1);
  add_address(m.c, b2);
  auto bystander = sign_up(m.c, "bystander");

  const party buyer1 = as_party("buyer 1", b1), buyer2 = as_party("buyer 2", b2), seller1 = as_party("seller 1", s1.owner),
              seller2 = as_party("seller 2", s2.owner), admin = as_party("admin", m.admin);
  auto not_found = [](const party& p) { return refusal{&p, 404}; };
  auto forbidden = [](const party& p) { return refusal{&p, 403}; };

  { // addresses are their owner's alone: 404 for everyone else, admins included
    expect_refused(m, {
      {"PATCH", "/users/addresses/" + a1, R"({"city":"Hamburg"})",
       {not_found(buyer2), not_found(seller1), not_found(seller2), not_found(admin)}},
      {"PATCH", "/users/addresses/" + a1, R"({"is_default":true})",
       {not_found(buyer2), not_found(seller1), not_found(admin)}},
      {"DELETE", "/users/addresses/" + a1, "", {not_found(buyer2), not_found(seller1), not_found(seller2), not_found(admin)}},
    });
    auto mine = m.c.get("/users/addresses", b1.token);
    REQUIRE(mine.status == 200);
    CHECK(mine.body.find(a1) != std::string::npos);
    CHECK(mine.body.find("Berlin") != std::string::npos);
    CHECK(m.c.get("/users/addresses", b2.token).body.find(a1) == std::string::npos);

    // Another buyer's address never ships an order: 422 naming address_id.
    auto before = database_state(m.db.url());
    auto checkout = m.c.post("/orders/checkout", checkout_body({{p1, 1}}, a1), b2.token);
    check_problem(checkout, 422, "validation-failed");
    CHECK(checkout.error_fields() == std::vector<std::string>{"address_id"});
    auto buy_now = send(m.c, "POST", "/orders", checkout_body({{p1, 1}}, a1), b2.token, fresh_idempotency_key());
    check_problem(buy_now, 422, "validation-failed");
    CHECK(buy_now.error_fields() == std::vector<std::string>{"address_id"});
    auto two_sellers = send(m.c, "POST", "/orders", checkout_body({{p1, 1}, {q1, 1}}, a1), b2.token, fresh_idempotency_key());
    check_problem(two_sellers, 422, "validation-failed");
    CHECK(two_sellers.error_fields() == std::vector<std::string>{"address_id"});
    CHECK(database_state(m.db.url()) == before);
    CHECK(stock_of(m, p1) == 10);
  }

  { // checkouts and orders: 404 for anyone without a part in them, 403 for a party that may not act
    // A checkout is placed by its buyer only (404 for everyone else, admins included).
    auto checkout = m.c.post("/orders/checkout", checkout_body({{p1, 1}}, a1), b1.token);
    REQUIRE(checkout.status == 201);
    auto checkout_id = checkout.json().string_or("id");
    auto place = "{\"checkout_id\":" + quote(checkout_id) + "}";
    expect_refused(m, {
      {"POST", "/orders", place, {not_found(buyer2), not_found(seller1), not_found(seller2), not_found(admin)}, true},
    });
    CHECK(scalar(m.db.url(), "SELECT status FROM checkouts WHERE id = " + checkout_id) == "open");
    const headers key{{"Idempotency-Key", "sec-" + unique_suffix()}};
    auto placed = send(m.c, "POST", "/orders", place, b1.token, key);
    auto order = placed_order_id(placed);
    auto path = "/orders/" + order;
    // Replies are kept per buyer and key: another buyer sending the same key
    // and body gets no replay of the first buyer's receipt.
    auto before_replay = database_state(m.db.url());
    check_problem(send(m.c, "POST", "/orders", place, b2.token, key), 404, "not-found");
    CHECK(database_state(m.db.url()) == before_replay);
    auto replayed = send(m.c, "POST", "/orders", place, b1.token, key);
    CHECK(replayed.status == 201);
    CHECK(replayed.body == placed.body);

    // Reading: the buyer, the order's seller and an admin.
    for (const auto* who : {&buyer1, &seller1, &admin}) {
      INFO(who->name);
      CHECK(m.c.get(path, who->token).status == 200);
    }
    expect_refused(m, {{"GET", path, "", {not_found(buyer2), not_found(seller2)}}});
    CHECK(m.c.get("/orders", b2.token).body.find(order) == std::string::npos);
    CHECK(m.c.get("/sellers/me/orders", s2.owner.token).body.find(order) == std::string::npos);
    CHECK(m.c.get("/sellers/me/orders", s1.owner.token).body.find(order) != std::string::npos);
    expect_refused(m, {{"GET", "/sellers/me/orders", "", {forbidden(buyer1), forbidden(buyer2)}}});

    const std::string pay = R"({"payment_method":"pm_card_visa"})";
    const std::string ship = R"({"carrier":"DHL","tracking_number":"JJD0001"})";
    // pending
    expect_refused(m, {
      {"POST", path + "/pay", pay, {not_found(buyer2), not_found(seller2), forbidden(seller1), forbidden(admin)}},
      {"POST", path + "/cancel", "", {not_found(buyer2), not_found(seller2)}},
      {"POST", path + "/ship", ship, {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/deliver", "", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/refund", "", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
    });
    CHECK(order_status(m, b1, order) == "pending");
    REQUIRE(m.c.post(path + "/pay", pay, b1.token).status == 200);
    // confirmed
    expect_refused(m, {
      {"POST", path + "/ship", ship, {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/cancel", "", {not_found(buyer2), not_found(seller2)}},
      {"POST", path + "/refund", R"({"amount_minor":100})", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/pay", pay, {not_found(buyer2), not_found(seller2), forbidden(seller1)}},
    });
    CHECK(order_status(m, b1, order) == "confirmed");
    REQUIRE(m.c.post(path + "/ship", ship, s1.owner.token).status == 200);
    // shipped
    expect_refused(m, {
      {"POST", path + "/deliver", "", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/cancel", "", {not_found(buyer2), not_found(seller2)}},
    });
    CHECK(order_status(m, b1, order) == "shipped");
    REQUIRE(m.c.post(path + "/deliver", "", s1.owner.token).status == 200);
    // delivered
    expect_refused(m, {
      {"POST", path + "/refund", "", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
      {"POST", path + "/refund", R"({"amount_minor":2000})", {not_found(buyer2), not_found(seller2), forbidden(buyer1)}},
    });
    auto receipt = m.c.get(path, b1.token).json();
    CHECK(receipt.string_or("status") == "delivered");
    CHECK(integer_field(receipt, "refunded_minor") == 0);

    // Reviews: only a buyer with a delivered order of that very product.
    expect_refused(m, {
      {"POST", "/products/" + p1 + "/reviews", R"({"rating":1,"title":"Fake"})",
       {forbidden(buyer2), forbidden(seller1), forbidden(seller2), forbidden(admin)}},
      {"POST", "/products/" + q1 + "/reviews", R"({"rating":1,"title":"Never bought it"})", {forbidden(buyer1)}},
    });
    auto review = m.c.post("/products/" + p1 + "/reviews", R"({"rating":5,"title":"Real"})", b1.token);
    INFO(review.body);
    CHECK(review.status == 201);
    // Control: the parties allowed do act (the refusals above were about the party).
    auto refunded = m.c.post(path + "/refund", R"({"amount_minor":100})", s1.owner.token);
    INFO(refunded.body);
    CHECK(refunded.status == 200);
  }

  { // products: only the owning seller or an admin changes one (403)
    auto product = "/products/" + p1;
    auto page_before = m.c.get(product).json();
    const std::vector<refusal> others{forbidden(buyer1), forbidden(buyer2), forbidden(seller2)};
    expect_refused(m, {
      {"PATCH", product, R"({"title":"Hijacked"})", others},
      {"PATCH", product, R"({"status":"archived"})", others},
      {"PATCH", product, "{\"category_id\":" + quote(s2.category) + "}", others},
      {"POST", product + "/restock", R"({"delta":5,"reason":"more"})", others},
      {"POST", product + "/restock", R"({"delta":-10,"reason":"gone"})", others},
      {"PUT", product + "/price", R"({"price_minor":1})", others},
    });
    auto page = m.c.get(product).json();
    CHECK(page.string_or("title") == "Leica M6");
    CHECK(integer_field(page, "price_minor") == 2000);
    CHECK(integer_field(page, "stock") == integer_field(page_before, "stock"));
    CHECK(page.string_or("category_id") == s1.category);
    CHECK(page.string_or("status") == "active");
    // A draft is its seller's alone: nobody sees it, other sellers cannot change it.
    auto draft = created_id(m.c.post("/products", product_body(s1.category, 3, "draft", "Unreleased"), s1.owner.token));
    check_problem(m.c.get("/products/" + draft, b1.token), 404, "not-found");
    CHECK(m.c.get("/products?q=Unreleased").body.find(draft) == std::string::npos);
    expect_refused(m, {
      {"PATCH", "/products/" + draft, R"({"status":"active"})", others},
      {"PUT", "/products/" + draft + "/price", R"({"price_minor":1})", others},
    });
    // Control: the owner and an admin may (and the digest sees their changes).
    auto before_control = database_state(m.db.url());
    CHECK(send(m.c, "PUT", product + "/price", R"({"price_minor":2100})", s1.owner.token).status == 200);
    CHECK(database_state(m.db.url()) != before_control);
    CHECK(m.c.patch(product, R"({"title":"Leica M6, moderated"})", m.admin.token).status == 200);
  }

  { // seller decisions, suspensions and categories are for admins (403)
    auto applied = m.c.post("/sellers/apply",
                            "{\"shop_name\":" + quote("Pending " + unique_suffix()) +
                              ",\"contact_email\":\"p@example.com\",\"country\":\"DE\",\"business_type\":\"individual\"}",
                            b2.token);
    REQUIRE(applied.status == 201);
    auto application = applied.json().string_or("id");
    auto suspended = sign_up(m.c, "suspended");
    REQUIRE(m.c.post("/admin/users/" + suspended.id + "/suspend", R"({"reason":"fraud"})", m.admin.token).status == 200);
    const std::vector<refusal> everyone{forbidden(buyer1), forbidden(buyer2), forbidden(seller1), forbidden(seller2)};
    expect_refused(m, {
      {"POST", "/admin/sellers/" + application + "/approve", "", everyone},
      {"POST", "/admin/sellers/" + application + "/reject", R"({"reason":"no"})", everyone},
      {"POST", "/admin/sellers/" + s2.seller_id + "/reject", R"({"reason":"no"})", everyone},
      {"GET", "/admin/sellers?status=pending", "", everyone},
      {"POST", "/admin/users/" + bystander.id + "/suspend", R"({"reason":"no"})", everyone},
      {"POST", "/admin/users/" + m.admin.id + "/suspend", R"({"reason":"no"})", everyone},
      {"POST", "/admin/users/" + suspended.id + "/unsuspend", "", everyone},
      {"POST", "/admin/categories", R"({"name":"Planted"})", everyone},
      {"PATCH", "/admin/categories/" + s1.category, R"({"name":"Hijacked"})", everyone},
      {"PATCH", "/admin/categories/" + s1.category, R"({"active":false})", everyone},
      {"DELETE", "/admin/categories/" + s1.category, "", everyone},
      {"POST", "/admin/payments/reconcile?repair=true", "", everyone},
    });
    CHECK(m.c.get("/sellers/me", b2.token).json().string_or("status") == "pending");
    // A shop that is not approved has no public page, nor a private field on one.
    auto hidden = m.c.get("/sellers/" + application);
    check_problem(hidden, 404, "not-found");
    CHECK(hidden.body.find("p@example.com") == std::string::npos);
    check_problem(m.c.get("/sellers/" + application + "/products"), 404, "not-found");
    CHECK(m.c.get("/sellers/" + s1.seller_id).body.find("contact_email") == std::string::npos);
    CHECK(m.c.get("/auth/me", bystander.token).status == 200);
    CHECK(m.c.post("/auth/login", login_body(suspended.email, suspended.password)).status == 403);
    CHECK(m.c.get("/categories").body.find(s1.category) != std::string::npos);
    // Control: an admin may.
    CHECK(m.c.post("/admin/sellers/" + application + "/approve", "", m.admin.token).status == 200);
  }
}

TEST_CASE("security: stream routes refuse everyone but the stream's seller", "[e2e][security]") {
  marketplace m;
  auto s1 = open_shop(m);
  auto s2 = open_shop(m);
  auto p1 = listing(m, s1, "Leica M6", 2000, 10);
  auto p2 = listing(m, s1, "Leica M3", 3000, 3);
  auto q1 = listing(m, s2, "Nikon F3", 1500, 10);
  auto b1 = sign_up(m.c, "buyer1");
  auto b2 = sign_up(m.c, "buyer2");
  auto a1 = add_address(m.c, b1);
  add_address(m.c, b2);

  const party buyer1 = as_party("buyer 1", b1), seller1 = as_party("seller 1", s1.owner),
              seller2 = as_party("seller 2", s2.owner), admin = as_party("admin", m.admin);
  const std::vector<refusal> others{{&buyer1, 403}, {&seller2, 403}, {&admin, 403}};

  auto st1 = schedule_stream(m, s1, p1, false);
  auto st2 = schedule_stream(m, s2, q1, true);
  auto stream = "/streams/" + st1.id;
  auto key_version = [&] { return integer_field(m.c.get(stream, s1.owner.token).json(), "key_version"); };
  auto version_before = key_version();

  // While scheduled.
  expect_refused(m, {
    {"PATCH", stream, R"({"title":"Hijacked"})", others},
    {"PATCH", stream, R"({"allow_anonymous":true})", others},
    {"POST", stream + "/key", "", others},
    {"GET", stream + "/stats", "", others},
    {"POST", stream + "/pin", "{\"product_id\":" + quote(p1) + "}", others},
    {"DELETE", stream + "/pin", "", others},
    {"POST", stream + "/start", "", others},
    {"POST", stream + "/end", "", others},
  });
  auto scheduled = m.c.get(stream, s1.owner.token).json();
  CHECK(scheduled.string_or("status") == "scheduled");
  CHECK(scheduled.string_or("title") == "Camera night");
  CHECK(key_version() == version_before);
  // Only the owner sees the key's version and the ingest state.
  for (const auto* who : {&buyer1, &seller2, &admin}) {
    INFO(who->name);
    auto seen = m.c.get(stream, who->token);
    REQUIRE(seen.status == 200);
    CHECK(seen.json().find("key_version") == nullptr);
    CHECK(seen.json().find("ingest_connected") == nullptr);
  }
  // A key names its stream, and only that stream's own key publishes to it.
  auto secret_of = [](const new_stream& st) { return st.key.substr(("lm_" + st.id + "_").size()); };
  CHECK(ingest(m, "lm_" + st1.id + "_" + secret_of(st2)).status == 403);
  CHECK(ingest(m, "lm_" + st2.id + "_" + secret_of(st1)).status == 403);
  CHECK(m.c.get(stream).json().string_or("status") == "scheduled");
  // Control: its own key does (and a scheduled stream goes live when its encoder connects).
  REQUIRE(ingest(m, st1.key).status == 204);
  REQUIRE(m.c.get(stream).json().string_or("status") == "live");

  // While live.
  expect_refused(m, {
    {"POST", stream + "/drops", "{\"product_id\":" + quote(p1) + ",\"quantity\":1,\"duration_s\":600}", others},
    {"POST", stream + "/auctions", "{\"product_id\":" + quote(p2) + ",\"starting_price_minor\":100,\"duration_s\":600}",
     others},
  });
  auto drop = created_id(m.c.post(stream + "/drops", "{\"product_id\":" + quote(p1) + ",\"quantity\":3,\"duration_s\":600}",
                                  s1.owner.token));
  auto auction = created_id(m.c.post(
    stream + "/auctions", "{\"product_id\":" + quote(p2) + ",\"starting_price_minor\":1000,\"duration_s\":600}", s1.owner.token));
  expect_refused(m, {
    {"POST", stream + "/drops/" + drop + "/end", "", others},
    {"POST", stream + "/auctions/" + auction + "/offer", "", others},
    {"POST", stream + "/auctions/" + auction + "/bids", R"({"amount_minor":1000})", {{&seller1, 403}}},
    {"POST", stream + "/end", "", others},
  });

  // Ids of one stream's drop or auction used under another stream: 404,
  // also for that other stream's owner.
  auto other = "/streams/" + st2.id;
  expect_refused(m, {
    {"POST", other + "/drops/" + drop + "/end", "", {{&seller2, 404}}},
    {"POST", other + "/auctions/" + auction + "/offer", "", {{&seller2, 404}}},
    {"POST", other + "/auctions/" + auction + "/bids", R"({"amount_minor":1000})", {{&buyer1, 404}}},
    {"POST", other + "/drops/" + drop + "/buy", "{\"address_id\":" + quote(a1) + "}", {{&buyer1, 404}}, true},
  });

  // Another shop's products: never featured, pinned, dropped or auctioned (422 naming them).
  struct borrowing {
    std::string method, path, body, field;
  };
  const std::vector<borrowing> borrowings{
    {"POST", other + "/drops", "{\"product_id\":" + quote(p1) + ",\"quantity\":1,\"price_minor\":1,\"duration_s\":600}",
     "product_id"},
    {"POST", other + "/auctions", "{\"product_id\":" + quote(p1) + ",\"starting_price_minor\":1,\"duration_s\":600}",
     "product_id"},
    {"POST", other + "/pin", "{\"product_id\":" + quote(p1) + "}", "product_id"},
    {"PATCH", other, "{\"featured\":[" + quote(q1) + "," + quote(p1) + "]}", "featured"},
    {"POST", "/streams", "{\"title\":\"Borrowed\",\"featured\":[" + quote(p1) + "]}", "featured"},
  };
  auto before = database_state(m.db.url());
  for (const auto& b : borrowings) {
    INFO(b.method << " " << b.path << " " << b.body);
    auto r = send(m.c, b.method, b.path, b.body, s2.owner.token);
    check_problem(r, 422, "validation-failed");
    CHECK(contains(r.error_fields(), b.field));
    CHECK(database_state(m.db.url()) == before);
  }

  // A drop ships only to the buyer's own address.
  auto foreign = send(m.c, "POST", stream + "/drops/" + drop + "/buy", "{\"address_id\":" + quote(a1) + "}", b2.token,
                      fresh_idempotency_key());
  check_problem(foreign, 422, "validation-failed");
  CHECK(foreign.error_fields() == std::vector<std::string>{"address_id"});
  CHECK(database_state(m.db.url()) == before);

  auto live = m.c.get(stream, s1.owner.token).json();
  CHECK(live.string_or("status") == "live");
  CHECK(key_version() == version_before);
  const auto* pinned = live.find("pinned_product_id");
  CHECK((pinned == nullptr || pinned->is_null()));
  CHECK(scalar(m.db.url(), "SELECT status || ':' || (SELECT count(*) FROM orders WHERE drop_id = " + drop +
                             ") FROM stream_drops WHERE id = " + drop) == "active:0");
  CHECK(scalar(m.db.url(), "SELECT count(*) FROM auction_bids WHERE auction_id = " + auction) == "0");
  // Control: the owner passes the same checks (an offer needs a closed auction).
  check_problem(m.c.post(stream + "/auctions/" + auction + "/offer", "", s1.owner.token), 409, "conflict");
  auto ended = m.c.post(stream + "/drops/" + drop + "/end", "", s1.owner.token);
  INFO(ended.body);
  REQUIRE(ended.status == 200);
  CHECK(integer_field(ended.json(), "remaining") == 3); // the refused buy took no unit
  CHECK(m.c.get(stream + "/stats", s1.owner.token).status == 200);
}

// =============================================================================
// 3. Mass assignment
// =============================================================================

TEST_CASE("security: create and update bodies refuse fields the server sets, and prices, totals and owners come from the server",
          "[e2e][security]") {
  marketplace m;
  auto s1 = open_shop(m);
  auto s2 = open_shop(m);
  auto p1 = listing(m, s1, "Leica M6", 2000, 20);
  auto p2 = listing(m, s1, "Leica M3", 3000, 3);
  auto b1 = sign_up(m.c, "buyer1");
  auto b2 = sign_up(m.c, "buyer2");
  auto a1 = add_address(m.c, b1);
  auto victim = sign_up(m.c, "victim");
  const auto url = m.db.url();

  { // accounts, addresses, shops and categories
    auto email = "fresh." + unique_suffix() + "@example.com";
    auto registered = refuses_smuggled(
      m, "POST", "/auth/register", "", register_body(email),
      smuggle_each(register_body(email), {{"id", quote("1")}, {"role", quote("admin")}, {"version", "9"},
                                          {"created_at_ms", "0"}, {"updated_at_ms", "0"}, {"password_hash", quote("$argon2id$x")},
                                          {"suspended_at", "null"}, {"email_verified", "true"}}));
    INFO(registered.body);
    REQUIRE(registered.status == 201);
    CHECK(registered.json().string_or("role") == "buyer");
    CHECK(integer_field(registered.json(), "version") == 1);

    const std::string profile = R"({"display_name":"Ada"})";
    auto updated = refuses_smuggled(
      m, "PATCH", "/auth/profile", b1.token, profile,
      smuggle_each(profile, {{"id", quote(victim.id)}, {"email", quote(victim.email)}, {"role", quote("admin")},
                             {"version", "1"}, {"created_at_ms", "0"}, {"updated_at_ms", "0"}, {"password_hash", quote("x")}}));
    REQUIRE(updated.status == 200);
    CHECK(updated.json().string_or("role") == "buyer");
    CHECK(updated.json().string_or("email") == b1.email);
    CHECK(updated.json().string_or("id") == b1.id);

    const std::string address =
      R"({"name":"Ada Lovelace","line1":"Unter den Linden 2","city":"Berlin","postal_code":"10117","country":"DE"})";
    auto added = refuses_smuggled(
      m, "POST", "/users/addresses", b1.token, address,
      smuggle_each(address, {{"id", quote(a1)}, {"user_id", quote(victim.id)}, {"version", "1"}, {"created_at_ms", "0"},
                             {"updated_at_ms", "0"}}));
    auto added_id = created_id(added);
    CHECK(scalar(url, "SELECT user_id FROM addresses WHERE id = " + added_id) == b1.id);

    const std::string line2 = R"({"line2":"Hinterhaus"})";
    auto patched = refuses_smuggled(m, "PATCH", "/users/addresses/" + a1, b1.token, line2,
                                    smuggle_each(line2, {{"id", quote(added_id)}, {"user_id", quote(victim.id)},
                                                         {"version", "7"}, {"created_at_ms", "0"}}));
    REQUIRE(patched.status == 200);
    CHECK(scalar(url, "SELECT user_id FROM addresses WHERE id = " + a1) == b1.id);

    auto application = "{\"shop_name\":" + quote("Honest " + unique_suffix()) +
                       ",\"contact_email\":\"h@example.com\",\"country\":\"DE\",\"business_type\":\"individual\"}";
    auto applied = refuses_smuggled(
      m, "POST", "/sellers/apply", b2.token, application,
      smuggle_each(application, {{"id", quote(s1.seller_id)}, {"user_id", quote(victim.id)}, {"owner_id", quote(victim.id)},
                                 {"status", quote("approved")}, {"slug", quote("official-store")}, {"follower_count", "100000"},
                                 {"active_product_count", "5"}, {"rating", R"({"average":5,"count":900})"},
                                 {"rating_sum", "4500"}, {"created_at_ms", "0"}}));
    auto application_id = created_id(applied);
    CHECK(applied.json().string_or("status") == "pending");
    CHECK(scalar(url, "SELECT user_id || ':' || status FROM sellers WHERE id = " + application_id) == b2.id + ":pending");

    const std::string reason = R"({"reason":"incomplete"})";
    auto rejected = refuses_smuggled(
      m, "POST", "/admin/sellers/" + application_id + "/reject", m.admin.token, reason,
      smuggle_each(reason, {{"status", quote("approved")}, {"user_id", quote(victim.id)}, {"decided_by", quote(b2.id)}}));
    REQUIRE(rejected.status == 200);
    CHECK(rejected.json().string_or("status") == "rejected");

    const std::string category = R"({"name":"Lenses","position":2})";
    auto made = refuses_smuggled(
      m, "POST", "/admin/categories", m.admin.token, category,
      smuggle_each(category, {{"id", quote(s1.category)}, {"slug", quote("cameras")}, {"active", "false"},
                              {"children", "[]"}, {"created_at_ms", "0"}}));
    auto category_id = created_id(made);
    const std::string position = R"({"position":3})";
    auto moved = refuses_smuggled(m, "PATCH", "/admin/categories/" + category_id, m.admin.token, position,
                                  smuggle_each(position, {{"id", quote(s1.category)}, {"slug", quote("x")}, {"children", "[]"}}));
    CHECK(moved.status == 200);

    const std::string suspension = R"({"reason":"chargebacks"})";
    auto suspended = refuses_smuggled(
      m, "POST", "/admin/users/" + victim.id + "/suspend", m.admin.token, suspension,
      smuggle_each(suspension, {{"user_id", quote(m.admin.id)}, {"role", quote("buyer")}, {"suspended_at", "0"}}));
    CHECK(suspended.status == 200);

    // A password change with a smuggled field changes nothing (its base is not sent: it would end b1's sessions).
    auto change = "{\"current_password\":" + quote(b1.password) + ",\"new_password\":\"another long passphrase\"}";
    refuses_smuggled(m, "POST", "/auth/password", b1.token, change,
                     smuggle_each(change, {{"user_id", quote(victim.id)}, {"role", quote("admin")}}), false, false);
    CHECK(m.c.get("/auth/me", b1.token).status == 200);
  }

  { // products: owners, stock, prices and ratings are the server's
    auto product = product_body(s1.category, 5, "active", "Leica M2", 4000);
    auto created = refuses_smuggled(
      m, "POST", "/products", s1.owner.token, product,
      smuggle_each(product, {{"id", quote(p1)}, {"seller_id", quote(s2.seller_id)}, {"owner_id", quote(s2.owner.id)},
                             {"rating", R"({"average":5,"count":900})"}, {"rating_sum", "4500"}, {"rating_count", "900"},
                             {"reserved", "0"}, {"sold", "1000"}, {"version", "5"}, {"created_at_ms", "0"},
                             {"updated_at_ms", "0"}}));
    auto created_product = created_id(created);
    CHECK(created.json().string_or("seller_id") == s1.seller_id);
    CHECK(integer_field(created.json(), "stock") == 5);
    CHECK(integer_field(created.json(), "version") == 1);
    CHECK(integer_field(*created.json().find("rating"), "count") == 0);
    // "draft or active": a new product cannot start out archived.
    auto archived = m.c.post("/products", product_body(s1.category, 5, "archived"), s1.owner.token);
    check_problem(archived, 422, "validation-failed");
    CHECK(archived.error_fields() == std::vector<std::string>{"status"});

    const std::string title = R"({"title":"Leica M6 TTL"})";
    auto edits = smuggle_each(title, {{"price_minor", "1"}, {"stock", "1000000"}, {"currency", quote("JPY")},
                                      {"seller_id", quote(s2.seller_id)}, {"id", quote(created_product)}, {"version", "1"},
                                      {"rating", R"({"average":5,"count":900})"}, {"reserved", "0"}, {"sold", "0"}});
    // A member name is matched after JSON unescaping: \u0070 is "p".
    edits.push_back({"price_minor", R"({"title":"Leica M6 TTL","\u0070rice_minor":1})"});
    auto edited = refuses_smuggled(m, "PATCH", "/products/" + p1, s1.owner.token, title, edits);
    REQUIRE(edited.status == 200);
    CHECK(integer_field(edited.json(), "price_minor") == 2000);
    CHECK(integer_field(edited.json(), "stock") == 20);
    CHECK(edited.json().string_or("seller_id") == s1.seller_id);

    const std::string restock = R"({"delta":1,"reason":"found one"})";
    auto restocked = refuses_smuggled(
      m, "POST", "/products/" + p1 + "/restock", s1.owner.token, restock,
      smuggle_each(restock, {{"stock", "1000"}, {"price_minor", "1"}, {"product_id", quote(p2)}, {"user_id", quote(s2.owner.id)},
                             {"sequence", "1"}}));
    REQUIRE(restocked.status == 200);
    CHECK(integer_field(restocked.json(), "stock") == 21);
    CHECK(integer_field(restocked.json(), "price_minor") == 2000);

    const std::string price = R"({"price_minor":2100})";
    auto repriced = refuses_smuggled(
      m, "PUT", "/products/" + p1 + "/price", s1.owner.token, price,
      smuggle_each(price, {{"stock", "1000"}, {"currency", quote("JPY")}, {"product_id", quote(p2)}, {"sequence", "1"},
                           {"version", "1"}}));
    REQUIRE(repriced.status == 200);
    CHECK(integer_field(repriced.json(), "stock") == 21);
    CHECK(integer_field(repriced.json(), "price_minor") == 2100);
    // A repeated member is not a way around the check either.
    auto before = database_state(url);
    check_problem(send(m.c, "PUT", "/products/" + p1 + "/price", R"({"price_minor":2200,"price_minor":1})", s1.owner.token), 400,
                  "malformed-json");
    CHECK(database_state(url) == before);
    CHECK(integer_field(m.c.get("/products/" + p1).json(), "price_minor") == 2100);
  }

  { // checkouts, orders, payments and reviews: prices and totals are the server's
    auto price = integer_field(m.c.get("/products/" + p1).json(), "price_minor");
    auto base = checkout_body({{p1, 2}}, a1);
    auto attempts =
      smuggle_each(base, {{"total_minor", "1"}, {"subtotal_minor", "1"}, {"shipping_minor", "0"}, {"currency", quote("JPY")},
                          {"buyer_id", quote(victim.id)}, {"status", quote("placed")}, {"expires_at_ms", "99999999999999"},
                          {"id", quote("1")}, {"lines", "[]"}});
    for (const auto& [field, raw] :
         members{{"unit_price_minor", "1"}, {"price_minor", "1"}, {"line_total_minor", "2"}, {"seller_id", quote(s2.seller_id)},
                 {"title", quote("Cheap thing")}, {"currency", quote("JPY")}})
      attempts.push_back({"items[0]." + field, "{\"items\":[{\"product_id\":" + quote(p1) + ",\"quantity\":2," + quote(field) +
                                                 ":" + raw + "}],\"address_id\":" + quote(a1) + "}"});
    auto checkout = refuses_smuggled(m, "POST", "/orders/checkout", b1.token, base, attempts);
    auto checkout_id = created_id(checkout);
    auto c = checkout.json();
    const auto& line = c.find("lines")->as_array().at(0);
    CHECK(integer_field(line, "unit_price_minor") == price);
    CHECK(integer_field(line, "line_total_minor") == 2 * price);
    CHECK(line.string_or("seller_id") == s1.seller_id);
    CHECK(integer_field(c, "subtotal_minor") == 2 * price);
    CHECK(integer_field(c, "total_minor") == integer_field(c, "subtotal_minor") + integer_field(c, "shipping_minor"));

    auto place = "{\"checkout_id\":" + quote(checkout_id) + "}";
    auto place_attempts =
      smuggle_each(place, {{"total_minor", "1"}, {"subtotal_minor", "1"}, {"shipping_minor", "0"}, {"buyer_id", quote(victim.id)},
                           {"seller_id", quote(s2.seller_id)}, {"status", quote("confirmed")}, {"amount_minor", "1"},
                           {"currency", quote("JPY")}});
    place_attempts.push_back({"items[0].unit_price_minor", "{\"items\":[{\"product_id\":" + quote(p1) +
                                                             ",\"quantity\":1,\"unit_price_minor\":1}],\"address_id\":" +
                                                             quote(a1) + "}"});
    auto placed = refuses_smuggled(m, "POST", "/orders", b1.token, place, place_attempts, true);
    auto order = placed_order_id(placed);
    auto placed_doc = placed.json();
    const auto& o = placed_doc.find("orders")->as_array().at(0);
    CHECK(integer_field(o, "total_minor") == integer_field(c, "total_minor"));
    CHECK(integer_field(o.find("items")->as_array().at(0), "unit_price_minor") == price);
    CHECK(scalar(url, "SELECT buyer_id || ':' || total_minor FROM orders WHERE id = " + order) ==
          b1.id + ":" + std::to_string(integer_field(c, "total_minor")));
    auto path = "/orders/" + order;

    const std::string pay = R"({"payment_method":"pm_card_visa"})";
    auto paid = refuses_smuggled(m, "POST", path + "/pay", b1.token, pay,
                                 smuggle_each(pay, {{"amount_minor", "1"}, {"currency", quote("JPY")}, {"status", quote("confirmed")},
                                                    {"buyer_id", quote(victim.id)}, {"order_id", quote("1")}}));
    REQUIRE(paid.status == 200);
    CHECK(paid.json().string_or("status") == "confirmed");
    auto paid_doc = paid.json();
    const auto& payments = paid_doc.find("payments")->as_array();
    REQUIRE(payments.size() == 1);
    CHECK(integer_field(payments.at(0), "amount_minor") == integer_field(c, "total_minor"));

    const std::string ship = R"({"carrier":"DHL","tracking_number":"JJD0001"})";
    CHECK(refuses_smuggled(m, "POST", path + "/ship", s1.owner.token, ship,
                           smuggle_each(ship, {{"status", quote("delivered")}, {"shipped_at_ms", "0"}, {"seller_id", quote(s2.seller_id)}}))
            .status == 200);
    const std::string deliver = R"({"reason":"signed for"})";
    CHECK(refuses_smuggled(m, "POST", path + "/deliver", s1.owner.token, deliver,
                           smuggle_each(deliver, {{"status", quote("refunded")}, {"delivered_at_ms", "0"}}))
            .status == 200);

    const std::string review = R"({"rating":5,"title":"Sharp"})";
    auto reviewed = refuses_smuggled(
      m, "POST", "/products/" + p1 + "/reviews", b1.token, review,
      smuggle_each(review, {{"verified_purchase", "true"}, {"buyer_id", quote(victim.id)}, {"buyer_name", quote("Someone else")},
                            {"seller_id", quote(s2.seller_id)}, {"product_id", quote(p2)}, {"order_id", quote(order)},
                            {"created_at_ms", "0"}, {"id", quote("1")}}));
    created_id(reviewed);
    CHECK(reviewed.json().string_or("product_id") == p1);
    CHECK(reviewed.json().string_or("seller_id") == s1.seller_id);
    CHECK(scalar(url, "SELECT buyer_id || ':' || order_id FROM product_reviews WHERE product_id = " + p1) == b1.id + ":" + order);

    const std::string refund = R"({"amount_minor":100,"reason":"scratch"})";
    auto refunded = refuses_smuggled(m, "POST", path + "/refund", s1.owner.token, refund,
                                     smuggle_each(refund, {{"status", quote("refunded")}, {"refunded_minor", "4000"},
                                                           {"currency", quote("JPY")}}));
    REQUIRE(refunded.status == 200);
    CHECK(integer_field(refunded.json(), "refunded_minor") == 100);

    auto second = placed_order_id(send(m.c, "POST", "/orders", checkout_body({{p1, 1}}, a1), b1.token, fresh_idempotency_key()));
    const std::string cancel = R"({"reason":"changed my mind"})";
    auto cancelled = refuses_smuggled(m, "POST", "/orders/" + second + "/cancel", b1.token, cancel,
                                      smuggle_each(cancel, {{"status", quote("refunded")}, {"refunded_minor", "99999"}}));
    REQUIRE(cancelled.status == 200);
    CHECK(cancelled.json().string_or("status") == "cancelled");
  }

  { // streams, drops, auctions and bids
    const std::string stream = R"({"title":"Camera night","start_now":true})";
    auto created = refuses_smuggled(
      m, "POST", "/streams", s1.owner.token, stream,
      smuggle_each(stream, {{"id", quote("1")}, {"seller_id", quote(s2.seller_id)}, {"owner_id", quote(s2.owner.id)},
                            {"shop_name", quote("Official")}, {"status", quote("ended")}, {"viewers", "100000"},
                            {"peak_viewers", "100000"}, {"stream_key", quote("lm_1_x")}, {"key_version", "0"},
                            {"started_at_ms", "0"}, {"pinned_product_id", quote(p1)}}));
    INFO(created.body);
    REQUIRE(created.status == 201);
    auto created_doc = created.json();
    const auto& info = *created_doc.find("stream");
    auto id = info.string_or("id");
    CHECK(info.string_or("seller_id") == s1.seller_id);
    CHECK(info.string_or("status") == "live");
    auto path = "/streams/" + id;

    const std::string title = R"({"title":"Camera night, part two"})";
    auto patched = refuses_smuggled(
      m, "PATCH", path, s1.owner.token, title,
      smuggle_each(title, {{"status", quote("ended")}, {"seller_id", quote(s2.seller_id)}, {"owner_id", quote(s2.owner.id)},
                           {"viewers", "5"}, {"unique_viewers", "5"}, {"key_version", "9"}, {"pinned_product_id", quote(p1)},
                           {"started_at_ms", "0"}, {"ended_at_ms", "0"}, {"id", quote("1")}}));
    REQUIRE(patched.status == 200);
    CHECK(patched.json().string_or("status") == "live");

    const std::string pin = "{\"product_id\":" + quote(p1) + "}";
    CHECK(refuses_smuggled(m, "POST", path + "/pin", s1.owner.token, pin,
                           smuggle_each(pin, {{"seller_id", quote(s2.seller_id)}, {"stream_id", quote("1")}, {"price_minor", "1"}}))
            .status == 200);

    const std::string drop = "{\"product_id\":" + quote(p1) + ",\"quantity\":2,\"duration_s\":600,\"price_minor\":1500}";
    auto dropped = refuses_smuggled(
      m, "POST", path + "/drops", s1.owner.token, drop,
      smuggle_each(drop, {{"remaining", "100"}, {"active", "true"}, {"id", quote("1")}, {"seller_id", quote(s2.seller_id)},
                          {"started_at_ms", "0"}, {"ends_at_ms", "99999999999999"}, {"sold", "0"}}));
    auto drop_id = created_id(dropped);
    CHECK(integer_field(dropped.json(), "remaining") == 2);

    auto buy = "{\"address_id\":" + quote(a1) + "}";
    auto bought = refuses_smuggled(
      m, "POST", path + "/drops/" + drop_id + "/buy", b1.token, buy,
      smuggle_each(buy, {{"price_minor", "1"}, {"unit_price_minor", "1"}, {"total_minor", "1"}, {"product_id", quote(p2)},
                         {"buyer_id", quote(victim.id)}, {"drop_id", quote("1")}}),
      true);
    placed_order_id(bought);
    auto bought_doc = bought.json();
    const auto& sale = bought_doc.find("orders")->as_array().at(0);
    CHECK(integer_field(sale.find("items")->as_array().at(0), "unit_price_minor") == 1500);
    CHECK(sale.find("items")->as_array().at(0).string_or("product_id") == p1);

    const std::string auction = "{\"product_id\":" + quote(p2) + ",\"starting_price_minor\":1000,\"duration_s\":600}";
    auto opened = refuses_smuggled(
      m, "POST", path + "/auctions", s1.owner.token, auction,
      smuggle_each(auction, {{"price_minor", "1"}, {"next_minimum_minor", "1"}, {"leader_id", quote(b1.id)},
                             {"winner_id", quote(b1.id)}, {"bid_count", "3"}, {"open", "false"}, {"result", quote("sold")},
                             {"id", quote("1")}, {"ends_at_ms", "0"}, {"currency", quote("JPY")}}));
    auto auction_id = created_id(opened);
    CHECK(opened.json().string_or("currency") == "EUR");

    const std::string bid = R"({"amount_minor":1000})";
    auto bidded = refuses_smuggled(
      m, "POST", path + "/auctions/" + auction_id + "/bids", b1.token, bid,
      smuggle_each(bid, {{"bidder_id", quote(victim.id)}, {"user_id", quote(victim.id)}, {"leader_id", quote(victim.id)},
                         {"leader_name", quote("Someone")}, {"price_minor", "1"}, {"auction_id", quote("1")}}));
    INFO(bidded.body);
    REQUIRE(bidded.status == 201);
    CHECK(bidded.json().string_or("leader_id") == b1.id);
    CHECK(integer_field(bidded.json(), "price_minor") == 1000);
  }
}

// =============================================================================
// 4. Brute-force limits (auth_test.cpp covers the basic per-account,
//    per-address, trusted-proxy and registration limits)
// =============================================================================

TEST_CASE("security: every spelling of one e-mail draws on one login budget", "[e2e][security]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_account_max=3"}};
  http_client c{srv.port()};
  auto suffix = unique_suffix();
  auto email = "brute." + suffix + "@example.com";
  REQUIRE(c.post("/auth/register", register_body(email)).status == 201);
  auto other = "other." + suffix + "@example.com";
  REQUIRE(c.post("/auth/register", register_body(other)).status == 201);

  // Three wrong guesses, each spelled differently.
  for (const auto& spelling : {"BRUTE." + suffix + "@EXAMPLE.COM", "Brute." + suffix + "@Example.Com",
                               "  brute." + suffix + "@example.COM "}) {
    INFO(spelling);
    check_problem(c.post("/auth/login", login_body(spelling, "not the password")), 401, "invalid-credentials");
  }
  for (const auto& spelling : {email, "bRuTe." + suffix + "@eXaMpLe.cOm"}) {
    INFO(spelling);
    auto limited = c.post("/auth/login", login_body(spelling, "correct horse battery staple"));
    check_problem(limited, 429, "rate-limited");
    check_retry_after(limited, 300);
    CHECK(limited.body.find("access_token") == std::string::npos);
  }
  CHECK(c.post("/auth/login", login_body(other, "correct horse battery staple")).status == 200);
}

TEST_CASE("security: rotating addresses behind a trusted proxy resets neither an account's login budget nor the registration limit",
          "[e2e][security]") {
  temp_database db;
  server_process srv{db.url(), {"--http.trust_forwarded_for=true", "--auth.login_attempts_per_account_max=3",
                                "--auth.registrations_per_address_max=2"}};
  http_client c{srv.port()};
  auto from = [&](const std::string& forwarded_for, const std::string& path, const std::string& body) {
    return c.request("POST", path, body, {{"Content-Type", "application/json"}, {"X-Forwarded-For", forwarded_for}});
  };
  auto email = "target." + unique_suffix() + "@example.com";
  REQUIRE(from("203.0.113.50", "/auth/register", register_body(email)).status == 201);

  // One account guessed at from many client addresses.
  for (const char* address : {"198.51.100.1", "198.51.100.2", "2001:db8:aaaa::1"}) {
    INFO(address);
    check_problem(from(address, "/auth/login", login_body(email, "not the password")), 401, "invalid-credentials");
  }
  auto limited = from("198.51.100.4", "/auth/login", login_body(email, "correct horse battery staple"));
  check_problem(limited, 429, "rate-limited");
  check_retry_after(limited, 300);

  // Registrations: the client writes the left part of the header, the proxy appends what it saw.
  CHECK(from("10.0.0.1, 203.0.113.7", "/auth/register", register_body("r1." + unique_suffix() + "@example.com")).status == 201);
  CHECK(from("10.0.0.2, 203.0.113.7", "/auth/register", register_body("r2." + unique_suffix() + "@example.com")).status == 201);
  auto refused = from("10.0.0.3, 203.0.113.7", "/auth/register", register_body("r3." + unique_suffix() + "@example.com"));
  check_problem(refused, 429, "rate-limited");
  check_retry_after(refused, 300);
  // One IPv6 /64 is one client.
  CHECK(from("2001:db8:1:2::1", "/auth/register", register_body("r4." + unique_suffix() + "@example.com")).status == 201);
  CHECK(from("2001:db8:1:2::2", "/auth/register", register_body("r5." + unique_suffix() + "@example.com")).status == 201);
  check_problem(from("2001:db8:1:2:ffff::3", "/auth/register", register_body("r6." + unique_suffix() + "@example.com")), 429,
                "rate-limited");
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "5");
}

TEST_CASE("security: without a trusted proxy, forwarding headers do not reset the address limits", "[e2e][security]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_address_max=3", "--auth.registrations_per_address_max=2"}};
  http_client c{srv.port()};
  const std::vector<headers> disguises{
    {{"X-Forwarded-For", "198.51.100.1"}},
    {{"X-Forwarded-For", "198.51.100.2, 198.51.100.3"}, {"X-Real-IP", "198.51.100.4"}},
    {{"Forwarded", "for=198.51.100.5"}, {"X-Client-IP", "198.51.100.6"}},
    {{"X-Forwarded-For", "2001:db8::7"}, {"True-Client-IP", "198.51.100.8"}},
  };
  auto with_json = [](headers h) {
    h.emplace_back("Content-Type", "application/json");
    return h;
  };
  for (std::size_t i = 0; i < disguises.size(); ++i) {
    INFO("login attempt " << i + 1);
    auto r = c.request("POST", "/auth/login", login_body("spray." + unique_suffix() + "@example.com", "not the password"),
                       with_json(disguises[i]));
    if (i < 3) {
      check_problem(r, 401, "invalid-credentials");
    } else {
      check_problem(r, 429, "rate-limited");
      check_retry_after(r, 300);
    }
  }
  for (std::size_t i = 0; i < disguises.size(); ++i) {
    INFO("registration " << i + 1);
    auto r = c.request("POST", "/auth/register", register_body("reg." + unique_suffix() + "@example.com"),
                       with_json(disguises[i]));
    if (i < 2) {
      CHECK(r.status == 201);
    } else {
      check_problem(r, 429, "rate-limited");
      check_retry_after(r, 300);
    }
  }
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "2");
}

// POST /auth/password checks the current password with no limit: whoever
// holds an access token (stolen, or from an unlocked device) can guess the
// password at the hasher's speed, and the right guess changes it and ends
// every other session (an account takeover). Logins of the same account
// are limited to auth.login_attempts_per_account_max per window.
TEST_CASE("security: guesses of the current password are limited like logins", "[e2e][security]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_account_max=3"}};
  http_client c{srv.port()};
  auto u = sign_up(c, "guessed");
  int wrong = 0;
  std::optional<http_reply> limited;
  for (int i = 0; i < 8 && !limited; ++i) {
    auto r = c.post("/auth/password",
                    "{\"current_password\":" + quote("guess number " + std::to_string(i)) +
                      ",\"new_password\":\"a brand new passphrase\"}",
                    u.token);
    if (r.status == 429)
      limited = r;
    else if (r.status == 422)
      ++wrong;
  }
  INFO("wrong guesses answered before any limit: " << wrong);
  CHECK(wrong <= 3);
  REQUIRE(limited.has_value());
  check_problem(*limited, 429, "rate-limited");
  check_retry_after(*limited, 300);
}

