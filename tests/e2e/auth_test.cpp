// End-to-end tests of /auth/*: the real livemart binary against a real
// PostgreSQL database, over loopback HTTP.
#include <catch2/catch.hpp>

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <protocol/crypto.hpp>
#include <protocol/json.hpp>

#include "api.hpp"
#include "ws_client.hpp"
#include "http_client.hpp"
#include "pg_harness.hpp"
#include "server_process.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

constexpr const char* good_password = "correct horse battery staple";


std::string unique_email(const std::string& prefix = "user") {
  return prefix + "_" + unique_suffix() + "@example.com";
}

std::string register_body(const std::string& email, const std::string& password, const std::string& name = "Ada") {
  return R"({"email":)" + quote(email) + R"(,"password":)" + quote(password) + R"(,"display_name":)" + quote(name)
         + "}";
}

std::string login_body(const std::string& email, const std::string& password) {
  return R"({"email":)" + quote(email) + R"(,"password":)" + quote(password) + "}";
}

std::string refresh_body(const std::string& token) {
  return R"({"refresh_token":)" + quote(token) + "}";
}



/// An RFC 9457 problem with the given status and code and every standard member.

struct account {
  std::string email;
  std::string password;
  std::string id;
};

account register_user(http_client& c, const std::string& prefix = "user") {
  account a{unique_email(prefix), good_password, {}};
  auto r = c.post("/auth/register", register_body(a.email, a.password));
  INFO(r.body);
  REQUIRE(r.status == 201);
  a.id = r.json().string_or("id");
  REQUIRE_FALSE(a.id.empty());
  return a;
}

struct session_tokens {
  std::string access;
  std::string refresh;
};

session_tokens login(http_client& c, const account& a) {
  auto r = c.post("/auth/login", login_body(a.email, a.password));
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto doc = r.json();
  return {doc.string_or("access_token"), doc.string_or("refresh_token")};
}

std::string stored_hash(const std::string& url, const std::string& email) {
  auto rows = sql(url, "SELECT password_hash FROM users WHERE email = '" + email + "'");
  REQUIRE(rows.rows.size() == 1);
  return rows.rows[0][0].text;
}

/// A compact JWS signed with HS256 under `key` (whatever the header claims).
std::string sign(const std::string& key, const std::string& header_json, const std::string& payload_json) {
  auto input = b64(header_json) + "." + b64(payload_json);
  return input + "." + b64(crypto::hmac_sha256(key, input));
}

/// The secret of the server's signing key ("test:<hex>").
std::string server_key(const server_process& srv) {
  const auto& keys = srv.jwt_keys();
  auto colon = keys.find(':');
  REQUIRE(colon != std::string::npos);
  REQUIRE(keys.substr(0, colon) == "test");
  auto secret = crypto::from_hex(keys.substr(colon + 1));
  REQUIRE(secret.has_value());
  REQUIRE(secret->size() == 32);
  return *secret;
}

struct claims {
  std::string iss = "livemart";
  std::string aud = "livemart-api";
  std::string sub;
  std::string sid = "1"; ///< a session that never ended
  std::int64_t iat = 0;
  std::int64_t nbf = 0;
  std::int64_t exp = 0;

  std::string json() const {
    return R"({"iss":)" + quote(iss) + R"(,"aud":)" + quote(aud) + R"(,"sub":)" + quote(sub) + R"(,"sid":)" + quote(sid)
           + R"(,"iat":)" + std::to_string(iat) + R"(,"nbf":)" + std::to_string(nbf) + R"(,"exp":)"
           + std::to_string(exp) + R"(,"jti":"forged"})";
  }
};

claims valid_claims(const std::string& user_id) {
  claims c;
  c.sub = user_id;
  c.iat = now_s();
  c.nbf = c.iat;
  c.exp = c.iat + 300;
  return c;
}

std::string header_json(const std::string& alg = "HS256", const std::string& typ = "at+jwt",
                        const std::string& kid = "test") {
  return R"({"alg":)" + quote(alg) + R"(,"typ":)" + quote(typ) + R"(,"kid":)" + quote(kid) + "}";
}

void check_unauthenticated(const http_reply& r) {
  check_problem(r, 401, "unauthenticated");
  CHECK_FALSE(r.header("www-authenticate").empty());
  CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
}

} // namespace

TEST_CASE("register creates a buyer and returns the normalised profile without secrets", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto suffix = unique_suffix();
  auto raw_email = "  MiXeD." + suffix + "@Example.COM  ";
  auto expected_email = "mixed." + suffix + "@example.com";
  auto r = c.post("/auth/register", register_body(raw_email, good_password, "  Ada Lovelace "));
  INFO(r.body);
  REQUIRE(r.status == 201);
  CHECK(r.header("content-type").rfind("application/json", 0) == 0);
  CHECK_FALSE(r.header("location").empty());
  CHECK(r.body.find("password") == std::string::npos);
  CHECK(r.body.find("$argon2") == std::string::npos);

  auto doc = r.json();
  const auto* id = doc.find("id");
  REQUIRE(id != nullptr);
  REQUIRE(id->is_string());
  CHECK_FALSE(id->as_string().empty());
  CHECK(id->as_string().find_first_not_of("0123456789") == std::string::npos);
  CHECK(doc.string_or("email") == expected_email);
  CHECK(doc.string_or("display_name") == "Ada Lovelace");
  REQUIRE(doc.find("bio") != nullptr);
  CHECK(doc.find("bio")->is_string());
  CHECK(doc.string_or("bio", "x") == "");
  REQUIRE(doc.find("avatar_url") != nullptr);
  CHECK(doc.find("avatar_url")->is_null());
  CHECK(doc.string_or("role") == "buyer");
  CHECK(integer_field(doc, "created_at_ms") > 1'700'000'000'000);
  CHECK(integer_field(doc, "updated_at_ms") >= integer_field(doc, "created_at_ms"));
  CHECK(integer_field(doc, "version") >= 1);

  // Stored normalised, as an Argon2id hash with at least the OWASP minimum cost.
  auto rows = sql(db.url(), "SELECT id, role FROM users WHERE email = '" + expected_email + "'");
  REQUIRE(rows.rows.size() == 1);
  CHECK(rows.rows[0][0].text == id->as_string());
  CHECK(rows.rows[0][1].text == "buyer");
  CHECK(stored_hash(db.url(), expected_email).rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);

  // The new account can log in with the e-mail in any case.
  auto login = c.post("/auth/login", login_body("MIXED." + suffix + "@EXAMPLE.com", good_password));
  CHECK(login.status == 200);
}

TEST_CASE("register refuses an e-mail that is already taken, whatever its case", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto suffix = unique_suffix();
  auto email = "dup." + suffix + "@example.com";
  REQUIRE(c.post("/auth/register", register_body(email, good_password)).status == 201);

  auto again = c.post("/auth/register", register_body(email, "another good passphrase"));
  check_problem(again, 409, "email-taken");
  CHECK(contains(again.error_fields(), "email"));

  auto upper = c.post("/auth/register", register_body("DUP." + suffix + "@EXAMPLE.COM", "another good passphrase"));
  check_problem(upper, 409, "email-taken");
  CHECK(contains(upper.error_fields(), "email"));

  CHECK(sql(db.url(), "SELECT count(*) FROM users WHERE lower(email) = '" + email + "'").rows[0][0].text == "1");
}

TEST_CASE("register enforces password length in code points and refuses common passwords", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto repeat = [](std::string_view unit, int n) {
    std::string s;
    for (int i = 0; i < n; ++i)
      s += unit;
    return s;
  };
  const std::string a_umlaut = "\xC3\xA4"; // U+00E4, two bytes in UTF-8

  struct rejected_case {
    const char* what;
    std::string password;
  };
  const std::vector<rejected_case> rejected{
    {"7 characters", "abcdefg"},
    {"7 code points in 14 bytes", repeat(a_umlaut, 7)},
    {"129 characters", repeat("x", 129)},
    {"129 code points", repeat(a_umlaut, 129)},
    {"common: password1", "password1"},
    {"common: 12345678", "12345678"},
    {"common: qwertyuiop", "qwertyuiop"},
    {"empty", ""},
  };
  for (const auto& rc : rejected) {
    INFO(rc.what);
    auto r = c.post("/auth/register", register_body(unique_email("pw"), rc.password));
    check_problem(r, 422, "validation-failed");
    CHECK(r.error_fields() == std::vector<std::string>{"password"});
  }

  struct accepted_case {
    const char* what;
    std::string password;
  };
  const std::vector<accepted_case> accepted{
    {"8 code points in 16 bytes", repeat(a_umlaut, 8)},
    {"8 characters", "zq7#Lm2!"},
    {"128 characters", repeat("y", 128)},
    {"128 code points in 256 bytes", repeat(a_umlaut, 128)},
  };
  for (const auto& ac : accepted) {
    INFO(ac.what);
    account a{unique_email("pw"), ac.password, {}};
    auto r = c.post("/auth/register", register_body(a.email, a.password));
    INFO(r.body);
    CHECK(r.status == 201);
    CHECK(c.post("/auth/login", login_body(a.email, a.password)).status == 200);
  }
  // Nothing was stored for the refused passwords.
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == std::to_string(accepted.size()));
}

TEST_CASE("register reports every invalid field at once", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto r = c.post("/auth/register", R"({"email":"not-an-email","password":"short","display_name":""})");
  check_problem(r, 422, "validation-failed");
  auto fields = r.error_fields();
  CHECK(fields.size() == 3);
  CHECK(contains(fields, "email"));
  CHECK(contains(fields, "password"));
  CHECK(contains(fields, "display_name"));

  // Missing fields are reported as well; white space only is empty.
  auto missing = c.post("/auth/register", R"({"display_name":"   "})");
  check_problem(missing, 422, "validation-failed");
  auto missing_fields = missing.error_fields();
  CHECK(contains(missing_fields, "email"));
  CHECK(contains(missing_fields, "password"));
  CHECK(contains(missing_fields, "display_name"));

  auto long_name = c.post("/auth/register", register_body(unique_email(), good_password, std::string(65, 'n')));
  check_problem(long_name, 422, "validation-failed");
  CHECK(long_name.error_fields() == std::vector<std::string>{"display_name"});

  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "0");
}

TEST_CASE("register refuses unknown fields instead of assigning them", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto email = unique_email("mass");
  auto body = R"({"email":)" + quote(email) + R"(,"password":)" + quote(good_password)
              + R"(,"display_name":"Mallory","role":"admin"})";
  auto r = c.post("/auth/register", body);
  check_problem(r, 400, "unknown-field");
  CHECK(contains(r.error_fields(), "role"));
  CHECK(r.json().string_or("detail").find("role") != std::string::npos);
  CHECK(sql(db.url(), "SELECT count(*) FROM users WHERE email = '" + email + "'").rows[0][0].text == "0");

  // Other smuggled fields fare no better.
  auto id_body = R"({"email":)" + quote(email) + R"(,"password":)" + quote(good_password)
                 + R"(,"display_name":"Mallory","id":"1","version":7})";
  auto with_id = c.post("/auth/register", id_body);
  check_problem(with_id, 400, "unknown-field");
  CHECK(contains(with_id.error_fields(), "id"));
  CHECK(contains(with_id.error_fields(), "version"));

  // The e-mail is still free, and the account made with it is a buyer.
  auto ok = c.post("/auth/register", register_body(email, good_password, "Mallory"));
  INFO(ok.body);
  REQUIRE(ok.status == 201);
  CHECK(ok.json().string_or("role") == "buyer");
  CHECK(sql(db.url(), "SELECT role FROM users WHERE email = '" + email + "'").rows[0][0].text == "buyer");
}

TEST_CASE("register rejects wrong types, malformed JSON and other media types", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};

  auto typed = c.post("/auth/register", R"({"email":5,"password":"correct horse battery staple","display_name":"A"})");
  check_problem(typed, 400, "invalid-field-type");
  CHECK(contains(typed.error_fields(), "email"));

  auto not_object = c.post("/auth/register", R"(["email"])");
  check_problem(not_object, 400, "invalid-field-type");

  check_problem(c.post("/auth/register", R"({"email": )"), 400, "malformed-json");
  check_problem(c.post("/auth/register", "not json at all"), 400, "malformed-json");
  check_problem(c.post("/auth/register", ""), 400, "malformed-json");

  auto body = register_body(unique_email("media"), good_password);
  auto no_type = c.request("POST", "/auth/register", body);
  check_problem(no_type, 415, "unsupported-media-type");
  auto text = c.request("POST", "/auth/register", body, {{"Content-Type", "text/plain"}});
  check_problem(text, 415, "unsupported-media-type");
  auto form = c.request("POST", "/auth/register", body, {{"Content-Type", "application/x-www-form-urlencoded"}});
  check_problem(form, 415, "unsupported-media-type");
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "0");

  // Parameters and case in the media type are fine.
  auto with_charset = c.request("POST", "/auth/register", body, {{"Content-Type", "Application/JSON; charset=utf-8"}});
  INFO(with_charset.body);
  CHECK(with_charset.status == 201);
}

TEST_CASE("login returns a bearer token pair", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);

  auto r = c.post("/auth/login", login_body(a.email, a.password));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").rfind("application/json", 0) == 0);
  auto doc = r.json();
  CHECK(doc.string_or("token_type") == "Bearer");
  CHECK_FALSE(doc.string_or("access_token").empty());
  CHECK_FALSE(doc.string_or("refresh_token").empty());
  CHECK(doc.string_or("access_token") != doc.string_or("refresh_token"));
  CHECK(integer_field(doc, "expires_in") > 0);
  CHECK(integer_field(doc, "expires_in") <= 900);
  CHECK(integer_field(doc, "refresh_expires_in") > 0);
  CHECK(doc.string_or("user_id") == a.id);
  CHECK(r.body.find("$argon2") == std::string::npos);

  // The access token is a JWT for this user, with the documented header.
  auto token = doc.string_or("access_token");
  auto dot = token.find('.');
  REQUIRE(dot != std::string::npos);
  auto header = crypto::base64url_decode(token.substr(0, dot));
  REQUIRE(header.has_value());
  auto parsed_header = json::parse(*header);
  REQUIRE(std::holds_alternative<json::value>(parsed_header));
  const auto& h = std::get<json::value>(parsed_header);
  CHECK(h.string_or("alg") == "HS256");
  CHECK(h.string_or("typ") == "at+jwt");
  CHECK(h.string_or("kid") == "test");

  auto me = c.get("/auth/me", token);
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("id") == a.id);
  CHECK(me.json().string_or("email") == a.email);

  // Two logins give two different sessions.
  auto second = login(c, a);
  CHECK(second.refresh != doc.string_or("refresh_token"));
}

TEST_CASE("login failures do not reveal whether the account exists", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);

  auto wrong_password = c.post("/auth/login", login_body(a.email, "not the right passphrase"));
  auto unknown_email = c.post("/auth/login", login_body(unique_email("ghost"), "not the right passphrase"));
  auto not_an_email = c.post("/auth/login", login_body("ghost", "not the right passphrase"));
  check_problem(wrong_password, 401, "invalid-credentials");
  check_problem(unknown_email, 401, "invalid-credentials");
  check_problem(not_an_email, 401, "invalid-credentials");
  CHECK(wrong_password.json().string_or("detail") == unknown_email.json().string_or("detail"));
  CHECK(wrong_password.json().string_or("title") == unknown_email.json().string_or("title"));
  CHECK(not_an_email.json().string_or("detail") == unknown_email.json().string_or("detail"));
  CHECK(wrong_password.body.find("refresh_token") == std::string::npos);

  // Bodies are decoded strictly here too.
  check_problem(c.post("/auth/login", R"({"email":"a@example.com","password":"x","extra":1})"), 400, "unknown-field");
  check_problem(c.post("/auth/login", R"({"email":"a@example.com","password":5})"), 400, "invalid-field-type");
  check_problem(c.request("POST", "/auth/login", login_body(a.email, a.password)), 415, "unsupported-media-type");
}

TEST_CASE("login is rate limited per account", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_account_max=3"}};
  http_client c{srv.port()};
  auto a = register_user(c, "limited");
  auto other = register_user(c, "other");

  for (int i = 0; i < 3; ++i) {
    INFO("attempt " << i + 1);
    check_problem(c.post("/auth/login", login_body(a.email, "not the right passphrase")), 401, "invalid-credentials");
  }
  auto limited = c.post("/auth/login", login_body(a.email, "not the right passphrase"));
  check_problem(limited, 429, "rate-limited");
  auto retry_after = limited.header("retry-after");
  REQUIRE_FALSE(retry_after.empty());
  CHECK(retry_after.find_first_not_of("0123456789") == std::string::npos);
  CHECK(std::stol(retry_after) > 0);
  CHECK(std::stol(retry_after) <= 301);

  // Even the right password is refused while the window lasts, also in another case.
  check_problem(c.post("/auth/login", login_body(a.email, a.password)), 429, "rate-limited");
  auto upper = a.email;
  for (auto& ch : upper)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  check_problem(c.post("/auth/login", login_body(upper, a.password)), 429, "rate-limited");

  // Other accounts are not affected.
  CHECK(c.post("/auth/login", login_body(other.email, other.password)).status == 200);
}

TEST_CASE("login is rate limited per client address", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_address_max=3"}};
  http_client c{srv.port()};
  auto a = register_user(c);

  // Different accounts, one address.
  for (int i = 0; i < 3; ++i) {
    INFO("attempt " << i + 1);
    check_problem(c.post("/auth/login", login_body(unique_email("spray"), "not the right passphrase")), 401,
                  "invalid-credentials");
  }
  auto limited = c.post("/auth/login", login_body(unique_email("spray"), "not the right passphrase"));
  check_problem(limited, 429, "rate-limited");
  REQUIRE_FALSE(limited.header("retry-after").empty());
  CHECK(std::stol(limited.header("retry-after")) > 0);

  // A fresh connection from the same address is still limited, even with good credentials.
  http_client fresh{srv.port()};
  check_problem(fresh.post("/auth/login", login_body(a.email, a.password)), 429, "rate-limited");
}

TEST_CASE("behind a trusted proxy the limit follows the address the proxy saw", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.login_attempts_per_address_max=2", "--http.trust_forwarded_for=true"}};
  http_client c{srv.port()};
  auto attempt = [&](const std::string& forwarded_for) {
    return c.request("POST", "/auth/login", login_body(unique_email("proxy"), "not the right passphrase"),
                     {{"Content-Type", "application/json"}, {"X-Forwarded-For", forwarded_for}});
  };
  // The client controls the left part of the header; our proxy appends the
  // address it saw. Rotating the left part must not reset the limit.
  check_problem(attempt("10.0.0.1, 203.0.113.7"), 401, "invalid-credentials");
  check_problem(attempt("10.0.0.2, 203.0.113.7"), 401, "invalid-credentials");
  check_problem(attempt("10.0.0.3, 203.0.113.7"), 429, "rate-limited");
  // Another client address has its own budget.
  check_problem(attempt("203.0.113.8"), 401, "invalid-credentials");
  // One IPv6 /64 is one client.
  check_problem(attempt("2001:db8:1:2::1"), 401, "invalid-credentials");
  check_problem(attempt("2001:db8:1:2::ffff"), 401, "invalid-credentials");
  check_problem(attempt("2001:db8:1:2:abcd::9"), 429, "rate-limited");
}

TEST_CASE("registration is rate limited per client address", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url(), {"--auth.registrations_per_address_max=2"}};
  http_client c{srv.port()};
  for (int i = 0; i < 2; ++i)
    CHECK(c.post("/auth/register", register_body(unique_email("reg"), "a long enough passphrase")).status == 201);
  auto limited = c.post("/auth/register", register_body(unique_email("reg"), "a long enough passphrase"));
  check_problem(limited, 429, "rate-limited");
  CHECK_FALSE(limited.header("retry-after").empty());
}

TEST_CASE("password hashes are Argon2id and are upgraded on login when the cost changes", "[e2e][auth]") {
  temp_database db;
  account a;
  {
    server_process first{db.url()};
    http_client c{first.port()};
    a = register_user(c, "rehash");
    CHECK(first.stop() == 0);
  }
  auto before = stored_hash(db.url(), a.email);
  CHECK(before.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);

  server_process second{db.url(), {"--auth.argon2_iterations=3"}};
  http_client c{second.port()};
  // A failed login never rewrites the hash.
  CHECK(c.post("/auth/login", login_body(a.email, "not the right passphrase")).status == 401);
  CHECK(stored_hash(db.url(), a.email) == before);

  auto tokens = login(c, a);
  auto after = stored_hash(db.url(), a.email);
  CHECK(after.rfind("$argon2id$v=19$m=19456,t=3,p=1$", 0) == 0);
  CHECK(after != before);
  // The new hash still verifies the same password, and is not rewritten again.
  auto again = login(c, a);
  CHECK(stored_hash(db.url(), a.email) == after);
  CHECK(c.get("/auth/me", again.access).status == 200);
  CHECK_FALSE(tokens.access.empty());
}

TEST_CASE("/auth/me accepts only valid access tokens", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);
  auto tokens = login(c, a);
  auto key = server_key(srv);
  auto other_key = crypto::random_bytes(32);

  // Control: the real token and a token forged with the real key both work,
  // which shows the forging below is faithful.
  auto me = c.get("/auth/me", tokens.access);
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("id") == a.id);
  CHECK(me.json().string_or("email") == a.email);
  CHECK(me.body.find("password") == std::string::npos);
  auto forged_ok = c.get("/auth/me", sign(key, header_json(), valid_claims(a.id).json()));
  INFO(forged_ok.body);
  REQUIRE(forged_ok.status == 200);
  CHECK(forged_ok.json().string_or("id") == a.id);

  {
    INFO("missing or malformed Authorization headers");
    check_unauthenticated(c.get("/auth/me"));
    check_unauthenticated(c.request("GET", "/auth/me", {}, {{"Authorization", "Basic x"}}));
    check_unauthenticated(c.request("GET", "/auth/me", {}, {{"Authorization", "Bearer"}}));
    check_unauthenticated(c.request("GET", "/auth/me", {}, {{"Authorization", "Bearer "}}));
    check_unauthenticated(c.request("GET", "/auth/me", {}, {{"Authorization", tokens.access}}));
    check_unauthenticated(c.request("GET", "/auth/me", {}, {{"Authorization", "Basic " + tokens.access}}));
  }

  {
    INFO("tokens that are not valid JWTs");
    check_unauthenticated(c.get("/auth/me", "garbage"));
    check_unauthenticated(c.get("/auth/me", "a.b.c"));
    check_unauthenticated(c.get("/auth/me", "..."));
    check_unauthenticated(c.get("/auth/me", tokens.access + "x"));
    check_unauthenticated(c.get("/auth/me", tokens.access + ".x"));
    check_unauthenticated(c.get("/auth/me", std::string(5000, 'a')));
  }

  {
    INFO("signatures that do not verify");
    // Valid claims signed with another key.
    check_unauthenticated(c.get("/auth/me", sign(other_key, header_json(), valid_claims(a.id).json())));
    // alg none, with and without a signature.
    auto none_input = b64(header_json("none")) + "." + b64(valid_claims(a.id).json());
    check_unauthenticated(c.get("/auth/me", none_input + "."));
    check_unauthenticated(c.get("/auth/me", sign(key, header_json("none"), valid_claims(a.id).json())));
    // Another HMAC algorithm name with a correct HS256 signature.
    check_unauthenticated(c.get("/auth/me", sign(key, header_json("HS512"), valid_claims(a.id).json())));
    // Unknown key id.
    check_unauthenticated(c.get("/auth/me", sign(key, header_json("HS256", "at+jwt", "other"), valid_claims(a.id).json())));
    // A real token with its payload replaced (another subject, longer expiry).
    auto dot1 = tokens.access.find('.');
    auto dot2 = tokens.access.find('.', dot1 + 1);
    auto tampered_claims = valid_claims("1");
    auto tampered = tokens.access.substr(0, dot1) + "." + b64(tampered_claims.json()) + tokens.access.substr(dot2);
    check_unauthenticated(c.get("/auth/me", tampered));
    // A real token with its signature stripped.
    check_unauthenticated(c.get("/auth/me", tokens.access.substr(0, dot2 + 1)));
  }

  {
    INFO("correctly signed tokens with invalid claims");
    auto now = now_s();
    auto expired = valid_claims(a.id);
    expired.iat = now - 1000;
    expired.nbf = now - 1000;
    expired.exp = now - 200;
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), expired.json())));

    auto not_yet = valid_claims(a.id);
    not_yet.nbf = now + 300;
    not_yet.exp = now + 600;
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), not_yet.json())));

    auto issued_later = valid_claims(a.id);
    issued_later.iat = now + 300;
    issued_later.nbf = now;
    issued_later.exp = now + 600;
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), issued_later.json())));

    auto wrong_iss = valid_claims(a.id);
    wrong_iss.iss = "someone-else";
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), wrong_iss.json())));

    auto wrong_aud = valid_claims(a.id);
    wrong_aud.aud = "another-api";
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), wrong_aud.json())));

    check_unauthenticated(c.get("/auth/me", sign(key, header_json("HS256", "JWT"), valid_claims(a.id).json())));

    auto too_long = valid_claims(a.id);
    too_long.exp = now + 100'000;
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), too_long.json())));

    auto bad_sub = valid_claims("not-a-number");
    check_unauthenticated(c.get("/auth/me", sign(key, header_json(), bad_sub.json())));
  }

  // Whatever was refused, the real token still works on the same connection.
  CHECK(c.get("/auth/me", tokens.access).status == 200);
}

TEST_CASE("refresh rotates the token pair and revokes the family on reuse", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);
  auto first = login(c, a);

  auto rotated = c.post("/auth/refresh", refresh_body(first.refresh));
  INFO(rotated.body);
  REQUIRE(rotated.status == 200);
  auto doc = rotated.json();
  CHECK(doc.string_or("token_type") == "Bearer");
  auto second_refresh = doc.string_or("refresh_token");
  CHECK_FALSE(second_refresh.empty());
  CHECK(second_refresh != first.refresh);
  CHECK(doc.string_or("user_id") == a.id);
  CHECK(integer_field(doc, "expires_in") > 0);
  CHECK(integer_field(doc, "expires_in") <= 900);
  auto me = c.get("/auth/me", doc.string_or("access_token"));
  CHECK(me.status == 200);
  CHECK(me.json().string_or("id") == a.id);

  // Reusing the rotated token fails and takes its successor down with it.
  auto reuse = c.post("/auth/refresh", refresh_body(first.refresh));
  check_problem(reuse, 401, "invalid-refresh-token");
  auto successor = c.post("/auth/refresh", refresh_body(second_refresh));
  check_problem(successor, 401, "invalid-refresh-token");

  // Another session of the same user is a separate family and still works.
  auto other = login(c, a);
  CHECK(c.post("/auth/refresh", refresh_body(other.refresh)).status == 200);

  // Tokens that never existed.
  check_problem(c.post("/auth/refresh", refresh_body("bm90LWEtcmVhbC10b2tlbg")), 401, "invalid-refresh-token");
  check_problem(c.post("/auth/refresh", refresh_body(crypto::base64url_encode(crypto::random_bytes(32)))), 401,
                "invalid-refresh-token");
  // And malformed requests.
  check_problem(c.post("/auth/refresh", R"({})"), 422, "validation-failed");
  check_problem(c.post("/auth/refresh", R"({"refresh_token":5})"), 400, "invalid-field-type");
  check_problem(c.post("/auth/refresh", R"({"refresh_token":"x","user_id":"1"})"), 400, "unknown-field");
}

TEST_CASE("logout revokes the refresh token", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);
  auto session = login(c, a);
  auto other = login(c, a);

  auto out = c.post("/auth/logout", refresh_body(session.refresh));
  CHECK(out.status == 204);
  CHECK(out.body.empty());
  check_problem(c.post("/auth/refresh", refresh_body(session.refresh)), 401, "invalid-refresh-token");

  // Logging out one session leaves the other alone.
  auto still = c.post("/auth/refresh", refresh_body(other.refresh));
  CHECK(still.status == 200);

  // A rotated-away token logs out its whole family too.
  auto rotated = still.json().string_or("refresh_token");
  CHECK(c.post("/auth/logout", refresh_body(rotated)).status == 204);
  check_problem(c.post("/auth/refresh", refresh_body(rotated)), 401, "invalid-refresh-token");
}

TEST_CASE("logout ends the session's access tokens at once, over HTTP and WebSocket", "[e2e][auth][sessions]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);
  auto session = login(c, a);
  auto other = login(c, a);
  REQUIRE(c.get("/auth/me", session.access).status == 200); // cached by the I/O thread from now on
  ws_client channel{srv.port(), "/users/me/ws", {{"Authorization", "Bearer " + session.access}}};
  REQUIRE(channel.status() == 101);
  REQUIRE(channel.next().string_or("type") == "ready");

  REQUIRE(c.post("/auth/logout", refresh_body(session.refresh)).status == 204);
  // The reply came after the session ended on this node: no window at all.
  check_unauthenticated(c.get("/auth/me", session.access));
  CHECK(c.get("/auth/me", session.access).json().string_or("detail").find("session has ended") != std::string::npos);
  // Its open WebSocket is closed, and a new one refused.
  CHECK_FALSE(channel.read(std::chrono::seconds{5}).has_value());
  CHECK(channel.close_code() == 4401);
  ws_client again{srv.port(), "/users/me/ws", {{"Authorization", "Bearer " + session.access}}};
  CHECK(again.status() == 401);
  // Another session of the same account goes on.
  CHECK(c.get("/auth/me", other.access).status == 200);
}

TEST_CASE("logout-all, a password change and a suspension end every session of the account",
          "[e2e][auth][sessions]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto admin = make_admin(db.url(), c);
  auto a = register_user(c);
  auto one = login(c, a);
  auto two = login(c, a);
  auto bystander = register_user(c, "bystander");
  auto theirs = login(c, bystander);

  SECTION("logout-all") {
    check_unauthenticated(c.post("/auth/logout-all", ""));
    auto out = c.post("/auth/logout-all", "", one.access);
    CHECK(out.status == 204);
    check_unauthenticated(c.get("/auth/me", one.access));
    check_unauthenticated(c.get("/auth/me", two.access));
    check_problem(c.post("/auth/refresh", refresh_body(two.refresh)), 401, "invalid-refresh-token");
    // A new login is a new session.
    CHECK(c.get("/auth/me", login(c, a).access).status == 200);
  }
  SECTION("password change") {
    auto wrong = c.post("/auth/password", R"({"current_password":"not my password at all","new_password":"a brand new passphrase"})",
                        one.access);
    check_problem(wrong, 422, "validation-failed");
    CHECK(wrong.error_fields() == std::vector<std::string>{"current_password"});
    auto weak = c.post("/auth/password", "{\"current_password\":" + quote(a.password) + ",\"new_password\":\"password\"}",
                       one.access);
    check_problem(weak, 422, "validation-failed");
    CHECK(weak.error_fields() == std::vector<std::string>{"new_password"});
    CHECK(c.get("/auth/me", one.access).status == 200); // refusals changed nothing
    check_problem(c.post("/auth/password", R"({"current_password":"x","new_password":"y","role":"admin"})", one.access),
                  400, "unknown-field");

    auto changed = c.post("/auth/password",
                          "{\"current_password\":" + quote(a.password) + ",\"new_password\":\"a brand new passphrase\"}",
                          one.access);
    INFO(changed.body);
    REQUIRE(changed.status == 200);
    auto fresh = changed.json();
    check_unauthenticated(c.get("/auth/me", one.access));
    check_unauthenticated(c.get("/auth/me", two.access));
    check_problem(c.post("/auth/refresh", refresh_body(one.refresh)), 401, "invalid-refresh-token");
    // The caller's new session works; the old password does not.
    CHECK(c.get("/auth/me", fresh.string_or("access_token")).status == 200);
    CHECK(c.post("/auth/refresh", refresh_body(fresh.string_or("refresh_token"))).status == 200);
    check_problem(c.post("/auth/login", login_body(a.email, a.password)), 401, "invalid-credentials");
    CHECK(c.post("/auth/login", login_body(a.email, "a brand new passphrase")).status == 200);
  }
  SECTION("suspension") {
    check_problem(c.post("/admin/users/" + a.id + "/suspend", R"({"reason":"fraud"})", theirs.access), 403, "forbidden");
    check_problem(c.post("/admin/users/" + a.id + "/suspend", R"({})", admin.token), 422, "validation-failed");
    check_problem(c.post("/admin/users/" + admin.id + "/suspend", R"({"reason":"oops"})", admin.token), 403, "forbidden");
    check_problem(c.post("/admin/users/999999/suspend", R"({"reason":"fraud"})", admin.token), 404, "not-found");
    CHECK(c.get("/auth/me", one.access).status == 200);

    auto suspended = c.post("/admin/users/" + a.id + "/suspend", R"({"reason":"chargebacks"})", admin.token);
    INFO(suspended.body);
    REQUIRE(suspended.status == 200);
    check_unauthenticated(c.get("/auth/me", one.access));
    check_unauthenticated(c.get("/auth/me", two.access));
    check_problem(c.post("/auth/login", login_body(a.email, a.password)), 403, "forbidden");
    check_problem(c.post("/auth/refresh", refresh_body(two.refresh)), 401, "invalid-refresh-token");
    CHECK(c.get("/auth/me", theirs.access).status == 200); // nobody else's session

    REQUIRE(c.post("/admin/users/" + a.id + "/unsuspend", "", admin.token).status == 200);
    CHECK(c.get("/auth/me", login(c, a).access).status == 200);
    check_unauthenticated(c.get("/auth/me", one.access)); // ended sessions stay ended
  }
}

TEST_CASE("ended sessions survive a restart and reach other nodes within a second", "[e2e][auth][sessions]") {
  temp_database db;
  auto keys = std::string{};
  std::string token;
  std::string refresh;
  {
    server_process first{db.url()};
    http_client c{first.port()};
    auto a = register_user(c);
    auto s = login(c, a);
    REQUIRE(c.post("/auth/logout", refresh_body(s.refresh)).status == 204);
    token = s.access;
    keys = first.jwt_keys();
    auto kept = login(c, a);
    refresh = kept.refresh;
    REQUIRE(first.stop() == 0);
  }
  // The same keys, a new process: the ended session is loaded before it serves.
  server_process second{db.url(), {}, {{"LIVEMART_AUTH_JWT_KEYS", keys}}};
  http_client c{second.port()};
  check_unauthenticated(c.get("/auth/me", token));

  // Two nodes on one database: a session ended on one is refused by the
  // other within auth.revocation_poll_ms.
  server_process third{db.url(), {}, {{"LIVEMART_AUTH_JWT_KEYS", keys}}};
  http_client other{third.port()};
  auto pair = c.post("/auth/refresh", refresh_body(refresh));
  REQUIRE(pair.status == 200);
  auto access = pair.json().string_or("access_token");
  REQUIRE(other.get("/auth/me", access).status == 200);
  REQUIRE(c.post("/auth/logout", refresh_body(pair.json().string_or("refresh_token"))).status == 204);
  auto ended = std::chrono::steady_clock::now();
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() - ended < std::chrono::seconds{5}) {
    refused = other.get("/auth/me", access).status == 401;
    if (!refused)
      ::poll(nullptr, 0, 20); // bounded retry pacing: the other node learns by polling
  }
  auto lag = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ended);
  INFO("the other node refused the token after " << lag.count() << " ms");
  CHECK(refused);
  CHECK(lag < std::chrono::seconds{1});
}

TEST_CASE("profile updates change only the named fields", "[e2e][auth]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c);
  auto t = login(c, a);

  auto initial = c.get("/auth/me", t.access);
  REQUIRE(initial.status == 200);
  auto version = integer_field(initial.json(), "version");

  auto r = c.patch("/auth/profile",
                   R"({"display_name":"Grace Hopper","bio":"Admiral.\nCompiler pioneer.","avatar_url":"https://example.com/a.png"})",
                   t.access);
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto doc = r.json();
  CHECK(doc.string_or("display_name") == "Grace Hopper");
  CHECK(doc.string_or("bio") == "Admiral.\nCompiler pioneer.");
  CHECK(doc.string_or("avatar_url") == "https://example.com/a.png");
  CHECK(doc.string_or("email") == a.email);
  CHECK(doc.string_or("role") == "buyer");
  CHECK(integer_field(doc, "version") == version + 1);
  version += 1;

  auto me = c.get("/auth/me", t.access);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("display_name") == "Grace Hopper");
  CHECK(me.json().string_or("bio") == "Admiral.\nCompiler pioneer.");
  CHECK(me.json().string_or("avatar_url") == "https://example.com/a.png");
  CHECK(integer_field(me.json(), "version") == version);

  // One field at a time; the others keep their values.
  auto name_only = c.patch("/auth/profile", R"({"display_name":"Amazing Grace"})", t.access);
  REQUIRE(name_only.status == 200);
  CHECK(name_only.json().string_or("display_name") == "Amazing Grace");
  CHECK(name_only.json().string_or("bio") == "Admiral.\nCompiler pioneer.");
  CHECK(integer_field(name_only.json(), "version") == ++version);

  // null and "" clear bio and avatar_url.
  auto cleared = c.patch("/auth/profile", R"({"bio":null,"avatar_url":null})", t.access);
  REQUIRE(cleared.status == 200);
  CHECK(cleared.json().string_or("bio", "x") == "");
  REQUIRE(cleared.json().find("avatar_url") != nullptr);
  CHECK(cleared.json().find("avatar_url")->is_null());
  CHECK(integer_field(cleared.json(), "version") == ++version);

  REQUIRE(c.patch("/auth/profile", R"({"bio":"back","avatar_url":"https://example.com/b.png"})", t.access).status == 200);
  ++version;
  auto emptied = c.patch("/auth/profile", R"({"bio":"","avatar_url":""})", t.access);
  REQUIRE(emptied.status == 200);
  CHECK(emptied.json().string_or("bio", "x") == "");
  CHECK(emptied.json().find("avatar_url")->is_null());
  CHECK(integer_field(emptied.json(), "version") == ++version);

  // Bio length counts characters, not bytes: 500 two-byte characters fit.
  std::string umlauts;
  for (int i = 0; i < 500; ++i)
    umlauts += "\xC3\xA4";
  auto wide_bio = c.patch("/auth/profile", R"({"bio":")" + umlauts + R"("})", t.access);
  INFO(wide_bio.body);
  CHECK(wide_bio.status == 200);
  CHECK(wide_bio.json().string_or("bio") == umlauts);
  ++version;

  // Exactly 500 characters of bio is allowed.
  auto max_bio = c.patch("/auth/profile", R"({"bio":")" + std::string(500, 'b') + R"("})", t.access);
  CHECK(max_bio.status == 200);
  ++version;

  // Refused changes leave everything as it was.
  auto http_avatar = c.patch("/auth/profile", R"({"avatar_url":"http://example.com/a.png"})", t.access);
  check_problem(http_avatar, 422, "validation-failed");
  CHECK(http_avatar.error_fields() == std::vector<std::string>{"avatar_url"});
  auto js_avatar = c.patch("/auth/profile", R"x({"avatar_url":"javascript:alert(1)"})x", t.access);
  check_problem(js_avatar, 422, "validation-failed");
  CHECK(js_avatar.error_fields() == std::vector<std::string>{"avatar_url"});

  auto long_bio = c.patch("/auth/profile", R"({"bio":")" + std::string(501, 'b') + R"("})", t.access);
  check_problem(long_bio, 422, "validation-failed");
  CHECK(long_bio.error_fields() == std::vector<std::string>{"bio"});

  auto empty_name = c.patch("/auth/profile", R"({"display_name":"  "})", t.access);
  check_problem(empty_name, 422, "validation-failed");
  CHECK(empty_name.error_fields() == std::vector<std::string>{"display_name"});

  auto email = c.patch("/auth/profile", R"({"email":"new@example.com"})", t.access);
  check_problem(email, 400, "unknown-field");
  CHECK(contains(email.error_fields(), "email"));
  auto role = c.patch("/auth/profile", R"({"display_name":"Root","role":"admin"})", t.access);
  check_problem(role, 400, "unknown-field");
  CHECK(contains(role.error_fields(), "role"));

  check_problem(c.patch("/auth/profile", R"({})", t.access), 422, "validation-failed");
  check_problem(c.patch("/auth/profile", R"({"bio":5})", t.access), 400, "invalid-field-type");
  check_problem(c.patch("/auth/profile", R"({"bio":)", t.access), 400, "malformed-json");
  check_problem(c.request("PATCH", "/auth/profile", R"({"bio":"x"})", {{"Authorization", "Bearer " + t.access}}), 415,
                "unsupported-media-type");
  check_unauthenticated(c.patch("/auth/profile", R"({"bio":"x"})"));

  auto final_me = c.get("/auth/me", t.access);
  REQUIRE(final_me.status == 200);
  auto f = final_me.json();
  CHECK(f.string_or("display_name") == "Amazing Grace");
  CHECK(f.string_or("bio") == std::string(500, 'b'));
  CHECK(f.find("avatar_url")->is_null());
  CHECK(f.string_or("email") == a.email);
  CHECK(f.string_or("role") == "buyer");
  CHECK(integer_field(f, "version") == version);
  auto rows = sql(db.url(), "SELECT email, role, display_name FROM users WHERE id = " + a.id);
  REQUIRE(rows.rows.size() == 1);
  CHECK(rows.rows[0][0].text == a.email);
  CHECK(rows.rows[0][1].text == "buyer");
  CHECK(rows.rows[0][2].text == "Amazing Grace");
}

TEST_CASE("create-admin makes an admin account that can log in", "[e2e][auth][admin]") {
  temp_database db;
  auto email = unique_email("admin");
  auto [code, output] = server_process::run(
    {"create-admin", email}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", "a good long passphrase"}});
  INFO(output);
  REQUIRE(code == 0);
  CHECK(output.find("a good long passphrase") == std::string::npos);
  CHECK(stored_hash(db.url(), email).rfind("$argon2id$", 0) == 0);

  server_process srv{db.url()};
  http_client c{srv.port()};
  auto t = login(c, account{email, "a good long passphrase", {}});
  auto me = c.get("/auth/me", t.access);
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("role") == "admin");
  CHECK(me.json().string_or("email") == email);

  // The password can also come from standard input.
  auto stdin_email = unique_email("admin");
  auto [stdin_code, stdin_output] =
    server_process::run({"create-admin", stdin_email}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", ""}},
                        "another good passphrase\n");
  INFO(stdin_output);
  CHECK(stdin_code == 0);
  CHECK(c.post("/auth/login", login_body(stdin_email, "another good passphrase")).status == 200);
}

TEST_CASE("create-admin promotes an existing buyer", "[e2e][auth][admin]") {
  temp_database db;
  account a;
  {
    server_process srv{db.url()};
    http_client c{srv.port()};
    a = register_user(c, "promoted");
    CHECK(srv.stop() == 0);
  }
  auto [code, output] = server_process::run(
    {"create-admin", a.email}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", "a good long passphrase"}});
  INFO(output);
  REQUIRE(code == 0);
  auto rows = sql(db.url(), "SELECT id, role FROM users WHERE email = '" + a.email + "'");
  REQUIRE(rows.rows.size() == 1);
  CHECK(rows.rows[0][0].text == a.id); // promoted in place, not a second account
  CHECK(rows.rows[0][1].text == "admin");

  server_process srv{db.url()};
  http_client c{srv.port()};
  auto t = login(c, account{a.email, "a good long passphrase", {}});
  auto me = c.get("/auth/me", t.access);
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("id") == a.id);
  CHECK(me.json().string_or("role") == "admin");
}

TEST_CASE("create-admin promotion is visible to a server that is already running", "[e2e][auth][admin]") {
  // The operator's usual flow: the service is up, someone registered, and
  // create-admin promotes them. The new role must show without a restart.
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto a = register_user(c, "live");
  auto before = login(c, a);
  auto me_before = c.get("/auth/me", before.access);
  REQUIRE(me_before.status == 200);
  REQUIRE(me_before.json().string_or("role") == "buyer");

  auto [code, output] = server_process::run(
    {"create-admin", a.email}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", "a good long passphrase"}});
  INFO(output);
  REQUIRE(code == 0);
  REQUIRE(sql(db.url(), "SELECT role FROM users WHERE id = " + a.id).rows[0][0].text == "admin");

  // The old password no longer works; the new one does, and the profile says admin.
  CHECK(c.post("/auth/login", login_body(a.email, a.password)).status == 401);
  auto t = login(c, account{a.email, "a good long passphrase", {}});
  auto me = c.get("/auth/me", t.access);
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(me.json().string_or("role") == "admin");
}

TEST_CASE("create-admin refuses weak passwords and bad e-mail addresses", "[e2e][auth][admin]") {
  temp_database db;
  auto email = unique_email("admin");
  for (const char* password : {"password1", "12345678", "short"}) {
    INFO(password);
    auto [code, output] =
      server_process::run({"create-admin", email}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", password}});
    INFO(output);
    CHECK(code == 2);
  }
  auto [bad_email_code, bad_email_output] = server_process::run(
    {"create-admin", "not-an-email"}, {{"DATABASE_URL", db.url()}, {"LIVEMART_ADMIN_PASSWORD", "a good long passphrase"}});
  INFO(bad_email_output);
  CHECK(bad_email_code == 2);
  CHECK(sql(db.url(), "SELECT count(*) FROM users").rows[0][0].text == "0");
}
