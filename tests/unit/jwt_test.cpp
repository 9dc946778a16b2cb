#include <protocol/crypto.hpp>
#include <protocol/json.hpp>
#include <protocol/jwt.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace crypto = livemart::crypto;
namespace json = livemart::json;
namespace jwt = livemart::jwt;

namespace {

constexpr std::int64_t now = 1'700'000'000;

const std::string secret_a(32, 'A');
const std::string secret_b = "0123456789abcdef0123456789ABCDEF-key-b";
const std::string secret_other(32, 'Z');

jwt::config make_config(std::vector<jwt::key> keys = {{"a", secret_a}}) {
  jwt::config cfg;
  cfg.keys = std::move(keys);
  cfg.issuer = "livemart";
  cfg.audience = "livemart-api";
  cfg.ttl_s = 900;
  cfg.clock_skew_s = 30;
  return cfg;
}

std::string b64(std::string_view bytes) {
  return crypto::base64url_encode(bytes);
}

std::string sign(std::string_view secret, std::string_view header_json, std::string_view payload_json) {
  auto input = b64(header_json) + "." + b64(payload_json);
  return input + "." + b64(crypto::hmac_sha256(secret, input));
}

/// The parts of a hand-made token. Absent optionals are left out entirely.
struct spec {
  std::optional<std::string> alg = "HS256";
  std::optional<std::string> typ = "at+jwt";
  std::optional<std::string> kid = "a";
  bool crit = false;

  std::optional<std::string> iss = "livemart";
  std::optional<std::string> aud = "livemart-api";
  std::optional<std::vector<std::string>> aud_array;
  std::optional<std::string> sub = "42";
  std::optional<std::string> sid = "9001";
  std::optional<std::int64_t> iat = now;
  std::optional<std::int64_t> nbf = now;
  std::optional<std::int64_t> exp = now + 900;
  std::optional<std::string> jti = "token-id";

  std::string header() const {
    json::writer w;
    w.begin_object();
    if (alg)
      w.field("alg", *alg);
    if (typ)
      w.field("typ", *typ);
    if (kid)
      w.field("kid", *kid);
    if (crit)
      w.key("crit").begin_array().string("exp").end_array();
    w.end_object();
    return w.take();
  }

  std::string payload() const {
    json::writer w;
    w.begin_object();
    if (iss)
      w.field("iss", *iss);
    if (aud_array) {
      w.key("aud").begin_array();
      for (const auto& a : *aud_array)
        w.string(a);
      w.end_array();
    } else if (aud) {
      w.field("aud", *aud);
    }
    if (sub)
      w.field("sub", *sub);
    if (sid)
      w.field("sid", *sid);
    if (iat)
      w.field("iat", *iat);
    if (nbf)
      w.field("nbf", *nbf);
    if (exp)
      w.field("exp", *exp);
    if (jti)
      w.field("jti", *jti);
    w.end_object();
    return w.take();
  }

  std::string token(std::string_view secret = secret_a) const {
    return sign(secret, header(), payload());
  }
};

bool accepted(const jwt::config& cfg, std::string_view token, std::int64_t at = now) {
  auto result = jwt::verify(cfg, token, at);
  if (const auto* reason = std::get_if<std::string>(&result)) {
    UNSCOPED_INFO("rejected: " << *reason);
    return false;
  }
  return true;
}

std::string rejection(const jwt::config& cfg, std::string_view token, std::int64_t at = now) {
  auto result = jwt::verify(cfg, token, at);
  if (const auto* reason = std::get_if<std::string>(&result))
    return *reason;
  return {};
}

std::vector<std::string> split(std::string_view token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = token.find('.', start);
    parts.emplace_back(token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return parts;
}

json::value decode_json(std::string_view part) {
  auto bytes = crypto::base64url_decode(part);
  REQUIRE(bytes.has_value());
  auto parsed = json::parse(*bytes);
  REQUIRE(std::holds_alternative<json::value>(parsed));
  return std::move(std::get<json::value>(parsed));
}

/// Replaces one character of `text` at `index` with a different base64url character.
std::string change_char(std::string text, std::size_t index) {
  text[index] = text[index] == 'A' ? 'B' : 'A';
  return text;
}

std::string hex_of(std::string_view bytes) {
  return crypto::to_hex(bytes);
}

} // namespace

// --- issue and verify ------------------------------------------------------------

TEST_CASE("jwt: issued tokens verify and carry the claims", "[jwt]") {
  auto cfg = make_config();
  auto token = jwt::issue(cfg, 42, 9001, now);
  CHECK(split(token).size() == 3);

  auto result = jwt::verify(cfg, token, now);
  REQUIRE(std::holds_alternative<jwt::claims>(result));
  const auto& c = std::get<jwt::claims>(result);
  CHECK(c.user_id == 42);
  CHECK(c.session_id == 9001);
  CHECK(c.issued_at_s == now);
  CHECK(c.expires_at_s == now + 900);
  CHECK(c.token_id.size() == 16); // 12 random bytes, base64url
}

TEST_CASE("jwt: issued header and payload have the expected shape", "[jwt]") {
  auto cfg = make_config();
  auto parts = split(jwt::issue(cfg, 7, 9001, now));
  REQUIRE(parts.size() == 3);
  auto header = decode_json(parts[0]);
  CHECK(header.string_or("alg") == "HS256");
  CHECK(header.string_or("typ") == "at+jwt");
  CHECK(header.string_or("kid") == "a");
  auto payload = decode_json(parts[1]);
  CHECK(payload.string_or("iss") == "livemart");
  CHECK(payload.string_or("aud") == "livemart-api");
  CHECK(payload.string_or("sub") == "7");
  CHECK(payload.string_or("sid") == "9001");
  REQUIRE(payload.find("iat") != nullptr);
  CHECK(payload.find("iat")->as_integer() == now);
  REQUIRE(payload.find("exp") != nullptr);
  CHECK(payload.find("exp")->as_integer() == now + 900);
  CHECK_FALSE(payload.string_or("jti").empty());
  // The signature is a raw 32-byte HMAC-SHA256.
  auto signature = crypto::base64url_decode(parts[2]);
  REQUIRE(signature.has_value());
  CHECK(signature->size() == 32);
}

TEST_CASE("jwt: each issued token has its own id", "[jwt]") {
  auto cfg = make_config();
  auto first = jwt::verify(cfg, jwt::issue(cfg, 1, 9001, now), now);
  auto second = jwt::verify(cfg, jwt::issue(cfg, 1, 9001, now), now);
  REQUIRE(std::holds_alternative<jwt::claims>(first));
  REQUIRE(std::holds_alternative<jwt::claims>(second));
  CHECK(std::get<jwt::claims>(first).token_id != std::get<jwt::claims>(second).token_id);
}

TEST_CASE("jwt: the lifetime follows the configured ttl", "[jwt]") {
  auto cfg = make_config();
  cfg.ttl_s = 60;
  auto token = jwt::issue(cfg, 5, 9001, now);
  auto result = jwt::verify(cfg, token, now);
  REQUIRE(std::holds_alternative<jwt::claims>(result));
  CHECK(std::get<jwt::claims>(result).expires_at_s == now + 60);
}

TEST_CASE("jwt: expiry honours the clock skew", "[jwt]") {
  auto cfg = make_config(); // ttl 900, skew 30
  auto token = jwt::issue(cfg, 42, 9001, now);
  CHECK(accepted(cfg, token, now + 899));
  CHECK(accepted(cfg, token, now + 900));      // at exp, within the skew
  CHECK(accepted(cfg, token, now + 900 + 29)); // last second of the skew
  CHECK_FALSE(accepted(cfg, token, now + 900 + 30));
  CHECK_FALSE(accepted(cfg, token, now + 100'000));
  CHECK(rejection(cfg, token, now + 100'000) == "expired");
  // Issued slightly in the future (another node's clock), within the skew.
  CHECK(accepted(cfg, token, now - 30));
  CHECK_FALSE(accepted(cfg, token, now - 31));
}

TEST_CASE("jwt: a hand-made token with every claim right verifies", "[jwt]") {
  // Guards the helpers: every rejection test below changes one thing only.
  auto cfg = make_config();
  spec s;
  CHECK(accepted(cfg, s.token()));
  auto result = jwt::verify(cfg, s.token(), now);
  REQUIRE(std::holds_alternative<jwt::claims>(result));
  CHECK(std::get<jwt::claims>(result).user_id == 42);
  CHECK(std::get<jwt::claims>(result).token_id == "token-id");

  SECTION("nbf and jti are optional") {
    s.nbf.reset();
    s.jti.reset();
    CHECK(accepted(cfg, s.token()));
  }
}

// --- header checks ------------------------------------------------------------------

TEST_CASE("jwt: alg none is rejected", "[jwt]") {
  auto cfg = make_config();
  spec s;
  s.alg = "none";
  SECTION("with an empty signature") {
    auto token = b64(s.header()) + "." + b64(s.payload()) + ".";
    CHECK(split(token).size() == 3);
    CHECK_FALSE(accepted(cfg, token));
  }
  SECTION("even with a valid HMAC") {
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("with the exact header used in attacks") {
    auto token = b64(R"({"alg":"none"})") + "." + b64(s.payload()) + ".";
    CHECK_FALSE(accepted(cfg, token));
  }
}

TEST_CASE("jwt: any alg other than HS256 is rejected", "[jwt]") {
  auto cfg = make_config();
  for (auto alg : {"HS512", "HS384", "RS256", "ES256", "hs256", "HS256 ", "", "None", "NONE"}) {
    CAPTURE(alg);
    spec s;
    s.alg = alg;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  spec missing;
  missing.alg.reset();
  CHECK_FALSE(accepted(cfg, missing.token()));

  // alg given as a non-string.
  auto token = sign(secret_a, R"({"alg":256,"typ":"at+jwt","kid":"a"})", spec{}.payload());
  CHECK_FALSE(accepted(cfg, token));
}

TEST_CASE("jwt: typ must be at+jwt", "[jwt]") {
  auto cfg = make_config();
  for (auto typ : {"JWT", "jwt", "at+JWT ", "", "application/at+jwt"}) {
    CAPTURE(typ);
    spec s;
    s.typ = typ;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  spec missing;
  missing.typ.reset();
  CHECK_FALSE(accepted(cfg, missing.token()));
}

TEST_CASE("jwt: a crit header is not supported", "[jwt]") {
  auto cfg = make_config();
  spec s;
  s.crit = true;
  CHECK_FALSE(accepted(cfg, s.token()));
}

TEST_CASE("jwt: kid must name a configured key", "[jwt]") {
  auto cfg = make_config();
  SECTION("unknown kid") {
    spec s;
    s.kid = "zzz";
    CHECK_FALSE(accepted(cfg, s.token()));
    CHECK(rejection(cfg, s.token()) == "unknown kid");
  }
  SECTION("missing kid") {
    spec s;
    s.kid.reset();
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("kid of the wrong type") {
    auto token = sign(secret_a, R"({"alg":"HS256","typ":"at+jwt","kid":1})", spec{}.payload());
    CHECK_FALSE(accepted(cfg, token));
  }
  SECTION("empty kid") {
    spec s;
    s.kid = "";
    CHECK_FALSE(accepted(cfg, s.token()));
  }
}

// --- signature checks ------------------------------------------------------------------

TEST_CASE("jwt: a token signed with another key is rejected", "[jwt]") {
  auto cfg = make_config();
  spec s;
  CHECK_FALSE(accepted(cfg, s.token(secret_other)));
  CHECK(rejection(cfg, s.token(secret_other)) == "bad signature");
  // Issued by a server with a different secret under the same kid.
  auto other = make_config({{"a", secret_other}});
  CHECK_FALSE(accepted(cfg, jwt::issue(other, 42, 9001, now)));
}

TEST_CASE("jwt: a tampered payload is rejected", "[jwt]") {
  auto cfg = make_config();
  auto token = jwt::issue(cfg, 42, 9001, now);
  auto parts = split(token);
  REQUIRE(parts.size() == 3);
  for (std::size_t i : {std::size_t{0}, parts[1].size() / 2, parts[1].size() - 2}) {
    CAPTURE(i);
    auto tampered = parts[0] + "." + change_char(parts[1], i) + "." + parts[2];
    REQUIRE(tampered != token);
    CHECK_FALSE(accepted(cfg, tampered));
  }

  SECTION("a payload claiming another user") {
    spec s;
    s.sub = "1";
    auto forged = parts[0] + "." + b64(s.payload()) + "." + parts[2];
    CHECK_FALSE(accepted(cfg, forged));
  }
  SECTION("a header changed after signing") {
    auto forged = change_char(parts[0], parts[0].size() / 2) + "." + parts[1] + "." + parts[2];
    CHECK_FALSE(accepted(cfg, forged));
  }
  SECTION("a changed signature") {
    auto forged = parts[0] + "." + parts[1] + "." + change_char(parts[2], 0);
    CHECK_FALSE(accepted(cfg, forged));
  }
  SECTION("a truncated signature") {
    auto forged = parts[0] + "." + parts[1] + "." + parts[2].substr(0, 40);
    CHECK_FALSE(accepted(cfg, forged));
  }
  SECTION("no signature") {
    CHECK_FALSE(accepted(cfg, parts[0] + "." + parts[1] + "."));
  }
  SECTION("signature of another token") {
    auto other = split(jwt::issue(cfg, 43, 9001, now));
    CHECK_FALSE(accepted(cfg, parts[0] + "." + parts[1] + "." + other[2]));
  }
}

// --- claim checks ------------------------------------------------------------------

TEST_CASE("jwt: exp is required and must be an integer", "[jwt]") {
  auto cfg = make_config();
  spec s;
  s.exp.reset();
  CHECK_FALSE(accepted(cfg, s.token()));

  auto as_string = sign(secret_a, spec{}.header(),
                        R"({"iss":"livemart","aud":"livemart-api","sub":"42","iat":1700000000,"exp":"1700000900"})");
  CHECK_FALSE(accepted(cfg, as_string));
  auto as_double = sign(secret_a, spec{}.header(),
                        R"({"iss":"livemart","aud":"livemart-api","sub":"42","iat":1700000000,"exp":1700000900.5})");
  CHECK_FALSE(accepted(cfg, as_double));
}

TEST_CASE("jwt: expired tokens are rejected beyond the clock skew", "[jwt]") {
  auto cfg = make_config();
  auto with_exp = [](std::int64_t exp) {
    spec s;
    s.exp = exp;
    s.iat = exp - 900;
    s.nbf = exp - 900;
    return s.token();
  };
  CHECK(accepted(cfg, with_exp(now + 1)));
  CHECK(accepted(cfg, with_exp(now)));       // expired by the clock, within the skew
  CHECK(accepted(cfg, with_exp(now - 29)));  // within the skew
  CHECK_FALSE(accepted(cfg, with_exp(now - 30)));
  CHECK_FALSE(accepted(cfg, with_exp(now - 31)));
  CHECK_FALSE(accepted(cfg, with_exp(now - 3600)));
  CHECK(rejection(cfg, with_exp(now - 3600)) == "expired");

  SECTION("with no skew configured") {
    cfg.clock_skew_s = 0;
    CHECK(accepted(cfg, with_exp(now + 1)));
    CHECK_FALSE(accepted(cfg, with_exp(now)));
  }
}

TEST_CASE("jwt: tokens from the future are rejected beyond the clock skew", "[jwt]") {
  auto cfg = make_config();
  SECTION("nbf") {
    spec s;
    s.nbf = now + 30;
    CHECK(accepted(cfg, s.token()));
    s.nbf = now + 31;
    CHECK_FALSE(accepted(cfg, s.token()));
    s.nbf = now + 600;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("nbf must be an integer when present") {
    auto token = sign(secret_a, spec{}.header(),
                      R"({"iss":"livemart","aud":"livemart-api","sub":"42","iat":1700000000,"nbf":"soon","exp":1700000900})");
    CHECK_FALSE(accepted(cfg, token));
  }
  SECTION("iat") {
    spec s;
    s.iat = now + 30;
    s.nbf.reset();
    s.exp = now + 30 + 900;
    CHECK(accepted(cfg, s.token()));
    s.iat = now + 31;
    s.exp = now + 31 + 900;
    CHECK_FALSE(accepted(cfg, s.token()));
    s.iat = now + 3600;
    s.exp = now + 3600 + 900;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("iat is required") {
    spec s;
    s.iat.reset();
    CHECK_FALSE(accepted(cfg, s.token()));
  }
}

TEST_CASE("jwt: iss must match", "[jwt]") {
  auto cfg = make_config();
  for (auto iss : {"evil", "livemart ", "Livemart", ""}) {
    CAPTURE(iss);
    spec s;
    s.iss = iss;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  spec missing;
  missing.iss.reset();
  CHECK_FALSE(accepted(cfg, missing.token()));
  // A token issued for another issuer with the same key.
  auto other = make_config();
  other.issuer = "someone-else";
  CHECK_FALSE(accepted(cfg, jwt::issue(other, 42, 9001, now)));
}

TEST_CASE("jwt: aud must match, as a string or inside an array", "[jwt]") {
  auto cfg = make_config();
  SECTION("wrong audience string") {
    spec s;
    s.aud = "other-api";
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("missing audience") {
    spec s;
    s.aud.reset();
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("an array containing the audience is accepted") {
    spec s;
    s.aud_array = std::vector<std::string>{"other-api", "livemart-api"};
    CHECK(accepted(cfg, s.token()));
    s.aud_array = std::vector<std::string>{"livemart-api"};
    CHECK(accepted(cfg, s.token()));
  }
  SECTION("an array without the audience is rejected") {
    spec s;
    s.aud_array = std::vector<std::string>{"other-api", "third-api"};
    CHECK_FALSE(accepted(cfg, s.token()));
    s.aud_array = std::vector<std::string>{};
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("a non-string audience is rejected") {
    auto token = sign(secret_a, spec{}.header(),
                      R"({"iss":"livemart","aud":7,"sub":"42","iat":1700000000,"exp":1700000900})");
    CHECK_FALSE(accepted(cfg, token));
  }
}

TEST_CASE("jwt: sub must be a positive decimal user id", "[jwt]") {
  auto cfg = make_config();
  SECTION("missing") {
    spec s;
    s.sub.reset();
    CHECK_FALSE(accepted(cfg, s.token()));
  }
  SECTION("malformed") {
    for (auto sub : {"", "0", "abc", "-1", "+1", "12x", " 12", "1.5", "99999999999999999999999"}) {
      CAPTURE(sub);
      spec s;
      s.sub = sub;
      CHECK_FALSE(accepted(cfg, s.token()));
    }
  }
  SECTION("a number instead of a string") {
    auto token = sign(secret_a, spec{}.header(),
                      R"({"iss":"livemart","aud":"livemart-api","sub":42,"iat":1700000000,"exp":1700000900})");
    CHECK_FALSE(accepted(cfg, token));
  }
  SECTION("the largest id") {
    spec s;
    s.sub = "18446744073709551615";
    auto result = jwt::verify(cfg, s.token(), now);
    REQUIRE(std::holds_alternative<jwt::claims>(result));
    CHECK(std::get<jwt::claims>(result).user_id == 18446744073709551615u);
  }
}

TEST_CASE("jwt: a lifetime longer than the ttl is rejected", "[jwt]") {
  auto cfg = make_config();
  spec s;
  s.exp = now + 900;
  CHECK(accepted(cfg, s.token()));
  s.exp = now + 901;
  CHECK_FALSE(accepted(cfg, s.token()));
  CHECK(rejection(cfg, s.token()) == "lifetime too long");
  s.exp = now + 365 * 24 * 3600;
  CHECK_FALSE(accepted(cfg, s.token()));

  SECTION("a token issued under a longer ttl stops verifying when the ttl shrinks") {
    auto longer = make_config();
    longer.ttl_s = 1800;
    auto token = jwt::issue(longer, 42, 9001, now);
    CHECK(accepted(longer, token));
    CHECK_FALSE(accepted(cfg, token));
  }
}

// --- malformed tokens ----------------------------------------------------------------

TEST_CASE("jwt: garbage is rejected", "[jwt]") {
  auto cfg = make_config();
  auto good = split(jwt::issue(cfg, 42, 9001, now));
  REQUIRE(good.size() == 3);
  const auto token = GENERATE_COPY(values<std::string>({
      "",
      "garbage",
      "nodots",
      ".",
      "..",
      "...",
      "a.b",
      "a.b.c",
      "a.b.c.d",
      good[0] + "." + good[1],                                 // two parts
      good[0] + "." + good[1] + "." + good[2] + "." + good[2], // four parts
      good[0] + "." + good[1] + "." + good[2] + ".",           // trailing dot
      "." + good[0] + "." + good[1] + "." + good[2],           // leading dot
      "!!!." + good[1] + "." + good[2],                        // header not base64url
      good[0] + "=." + good[1] + "." + good[2],                // padding
      good[0] + "." + good[1] + "=." + good[2],
      good[0] + "." + good[1] + "." + good[2] + "=",
      good[0] + "." + good[1] + ".***",                        // signature not base64url
      good[0] + "." + "@@@" + "." + good[2],                   // payload not base64url
      b64("not json") + "." + good[1] + "." + good[2],          // header not JSON
      b64("[1,2]") + "." + good[1] + "." + good[2],             // header not an object
      b64("\"HS256\"") + "." + good[1] + "." + good[2],
      " " + good[0] + "." + good[1] + "." + good[2],           // white space
      good[0] + "." + good[1] + "." + good[2] + " ",
      "Bearer " + good[0] + "." + good[1] + "." + good[2],
  }));
  CAPTURE(token);
  CHECK_FALSE(accepted(cfg, token));
}

TEST_CASE("jwt: a correctly signed payload that is not a JSON object is rejected", "[jwt]") {
  auto cfg = make_config();
  auto header = spec{}.header();
  CHECK_FALSE(accepted(cfg, sign(secret_a, header, "not json")));
  CHECK_FALSE(accepted(cfg, sign(secret_a, header, "[1,2,3]")));
  CHECK_FALSE(accepted(cfg, sign(secret_a, header, "42")));
  CHECK_FALSE(accepted(cfg, sign(secret_a, header, "")));
  CHECK_FALSE(accepted(cfg, sign(secret_a, header, R"({"sub":"42","sub":"43"})")));
}

TEST_CASE("jwt: overlong tokens are rejected", "[jwt]") {
  auto cfg = make_config();
  spec s;
  s.jti = std::string(5000, 'j');
  CHECK_FALSE(accepted(cfg, s.token()));
  CHECK_FALSE(accepted(cfg, std::string(100'000, 'a')));
}

// --- key rotation --------------------------------------------------------------------

TEST_CASE("jwt: key rotation", "[jwt]") {
  const jwt::key a{"a", secret_a};
  const jwt::key b{"b", secret_b};

  SECTION("the first key signs") {
    auto cfg = make_config({a, b});
    auto header = decode_json(split(jwt::issue(cfg, 1, 9001, now))[0]);
    CHECK(header.string_or("kid") == "a");
    auto reversed = make_config({b, a});
    header = decode_json(split(jwt::issue(reversed, 1, 9001, now))[0]);
    CHECK(header.string_or("kid") == "b");
  }
  SECTION("a token signed with the second key verifies") {
    auto cfg = make_config({a, b});
    spec s;
    s.kid = "b";
    CHECK(accepted(cfg, s.token(secret_b)));
    CHECK(accepted(cfg, jwt::issue(make_config({b}), 9, 9001, now)));
    CHECK(accepted(cfg, jwt::issue(make_config({b, a}), 9, 9001, now)));
  }
  SECTION("tokens of either key verify under the new order") {
    auto old_cfg = make_config({a});
    auto new_cfg = make_config({b, a});
    auto old_token = jwt::issue(old_cfg, 3, 9001, now);
    auto new_token = jwt::issue(new_cfg, 3, 9001, now);
    CHECK(accepted(new_cfg, old_token));
    CHECK(accepted(new_cfg, new_token));
    CHECK(accepted(old_cfg, old_token));
    CHECK_FALSE(accepted(old_cfg, new_token)); // b unknown there
  }
  SECTION("a retired key no longer verifies") {
    auto token = jwt::issue(make_config({a, b}), 3, 9001, now);
    CHECK_FALSE(accepted(make_config({b}), token));
    CHECK(rejection(make_config({b}), token) == "unknown kid");
  }
  SECTION("the kid selects the key: another key's secret is a bad signature") {
    auto cfg = make_config({a, b});
    spec s;
    s.kid = "a";
    CHECK_FALSE(accepted(cfg, s.token(secret_b)));
    s.kid = "b";
    CHECK_FALSE(accepted(cfg, s.token(secret_a)));
  }
}

// --- parse_keys --------------------------------------------------------------------------

TEST_CASE("jwt parse_keys accepts a valid list", "[jwt]") {
  const std::string hex_a = hex_of(secret_a);
  const std::string hex_b = hex_of(secret_b);
  REQUIRE(hex_a.size() == 64);

  SECTION("one key") {
    auto result = jwt::parse_keys("k1:" + hex_a);
    REQUIRE(std::holds_alternative<std::vector<jwt::key>>(result));
    const auto& keys = std::get<std::vector<jwt::key>>(result);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].id == "k1");
    CHECK(keys[0].secret == secret_a);
  }
  SECTION("several keys, in order") {
    auto result = jwt::parse_keys("new:" + hex_b + ",old:" + hex_a);
    REQUIRE(std::holds_alternative<std::vector<jwt::key>>(result));
    const auto& keys = std::get<std::vector<jwt::key>>(result);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].id == "new");
    CHECK(keys[0].secret == secret_b);
    CHECK(keys[1].id == "old");
    CHECK(keys[1].secret == secret_a);
  }
  SECTION("upper-case hex") {
    std::string upper = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
    auto result = jwt::parse_keys("k:" + upper);
    REQUIRE(std::holds_alternative<std::vector<jwt::key>>(result));
    CHECK(crypto::to_hex(std::get<std::vector<jwt::key>>(result)[0].secret) ==
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  }
  SECTION("exactly 32 bytes is enough") {
    auto result = jwt::parse_keys("k:" + std::string(64, 'f'));
    REQUIRE(std::holds_alternative<std::vector<jwt::key>>(result));
    CHECK(std::get<std::vector<jwt::key>>(result)[0].secret.size() == 32);
  }
  SECTION("parsed keys sign and verify") {
    auto result = jwt::parse_keys("k1:" + hex_a + ",k2:" + hex_b);
    REQUIRE(std::holds_alternative<std::vector<jwt::key>>(result));
    auto cfg = make_config(std::get<std::vector<jwt::key>>(result));
    auto token = jwt::issue(cfg, 77, 9001, now);
    CHECK(decode_json(split(token)[0]).string_or("kid") == "k1");
    CHECK(accepted(cfg, token));
  }
}

TEST_CASE("jwt parse_keys rejects bad lists", "[jwt]") {
  const std::string hex_a = hex_of(secret_a);
  const std::string hex_b = hex_of(secret_b);
  auto fails = [](std::string_view text) {
    return std::holds_alternative<std::string>(jwt::parse_keys(text));
  };
  CHECK(fails(""));
  CHECK(fails("k:" + std::string(62, 'a')));           // 31 bytes
  CHECK(fails("k:"));                                   // no secret
  CHECK(fails("k:" + std::string(63, 'a')));           // odd length
  CHECK(fails("k:" + std::string(62, 'a') + "zz"));    // not hex
  CHECK(fails("k:" + std::string(64, 'g')));
  CHECK(fails("k:0x" + std::string(64, 'a')));
  CHECK(fails(hex_a));                                  // no kid
  CHECK(fails(":" + hex_a));                            // empty kid
  CHECK(fails("k:" + hex_a + ",k:" + hex_b));           // duplicate kid
  CHECK(fails("k:" + hex_a + ",,j:" + hex_b));          // empty entry
  CHECK(fails(",k:" + hex_a));
  CHECK(fails("k:" + hex_a + ",j:" + std::string(10, 'a'))); // one short key spoils the list

  SECTION("messages name the problem") {
    auto short_key = jwt::parse_keys("short:" + std::string(62, 'a'));
    REQUIRE(std::holds_alternative<std::string>(short_key));
    CHECK(std::get<std::string>(short_key).find("short") != std::string::npos);
    auto duplicate = jwt::parse_keys("k:" + hex_a + ",k:" + hex_b);
    REQUIRE(std::holds_alternative<std::string>(duplicate));
    CHECK(std::get<std::string>(duplicate).find("duplicate") != std::string::npos);
  }
}

// --- crypto ------------------------------------------------------------------------------

TEST_CASE("crypto base64url: RFC 4648 vectors without padding", "[crypto]") {
  CHECK(crypto::base64url_encode("") == "");
  CHECK(crypto::base64url_encode("f") == "Zg");
  CHECK(crypto::base64url_encode("fo") == "Zm8");
  CHECK(crypto::base64url_encode("foo") == "Zm9v");
  CHECK(crypto::base64url_encode("foob") == "Zm9vYg");
  CHECK(crypto::base64url_encode("fooba") == "Zm9vYmE");
  CHECK(crypto::base64url_encode("foobar") == "Zm9vYmFy");
  // The URL-safe alphabet: '-' and '_' instead of '+' and '/'.
  CHECK(crypto::base64url_encode("\xfb\xef\xbe") == "----");
  CHECK(crypto::base64url_encode("\xff\xff\xff") == "____");
  CHECK(crypto::base64url_encode("\xfb\xff") == "-_8");

  CHECK(crypto::base64url_decode("Zm9vYmFy") == "foobar"s);
  CHECK(crypto::base64url_decode("Zm9vYmE") == "fooba"s);
  CHECK(crypto::base64url_decode("Zg") == "f"s);
  CHECK(crypto::base64url_decode("") == ""s);
  CHECK(crypto::base64url_decode("-_8") == "\xfb\xff"s);
}

TEST_CASE("crypto base64url: round trip of every length from 0 to 64", "[crypto]") {
  for (std::size_t length = 0; length <= 64; ++length) {
    CAPTURE(length);
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i)
      bytes.push_back(static_cast<char>((i * 37 + length * 11 + 251) & 0xFF));
    auto encoded = crypto::base64url_encode(bytes);
    CHECK(encoded.size() == length / 3 * 4 + (length % 3 == 0 ? 0 : length % 3 + 1));
    CHECK(encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    auto decoded = crypto::base64url_decode(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == bytes);
  }
}

TEST_CASE("crypto base64url: every byte value round trips", "[crypto]") {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  CHECK(crypto::base64url_decode(crypto::base64url_encode(all)) == all);
}

TEST_CASE("crypto base64url: decode rejects non-canonical input", "[crypto]") {
  for (auto text : {"Zg==", "Zg=", "Zm8=", "Zm9v=", "=", "====", // padding
                    "Zm+v", "Zm/v", "Zm9v+A", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v.", "Zm9v!", "Zm\xC3\xA9v",
                    "Z", "Zm9vY", "Zm9vYmFyZ",                     // impossible lengths
                    "Zh", "Zm9", "Zm9vYmF"}) {                     // non-zero trailing bits
    CAPTURE(text);
    CHECK_FALSE(crypto::base64url_decode(text).has_value());
  }
  CHECK_FALSE(crypto::base64url_decode(std::string_view("Zm\0v", 4)).has_value());
}

TEST_CASE("crypto hex", "[crypto]") {
  CHECK(crypto::to_hex("") == "");
  CHECK(crypto::to_hex(std::string_view("\x00\xff\x10" "ab", 5)) == "00ff106162");
  CHECK(crypto::from_hex("") == ""s);
  CHECK(crypto::from_hex("00ff106162") == std::string("\x00\xff\x10" "ab", 5));
  CHECK(crypto::from_hex("DEADbeef") == "\xde\xad\xbe\xef"s);

  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  auto hex = crypto::to_hex(all);
  CHECK(hex.size() == 512);
  CHECK(crypto::from_hex(hex) == all);

  for (auto bad : {"0", "abc", "0g", "g0", "zz", " 00", "00 ", "0x00", "-1"}) {
    CAPTURE(bad);
    CHECK_FALSE(crypto::from_hex(bad).has_value());
  }
}

TEST_CASE("crypto equal_constant_time", "[crypto]") {
  CHECK(crypto::equal_constant_time("", ""));
  CHECK(crypto::equal_constant_time("abc", "abc"));
  CHECK(crypto::equal_constant_time(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  CHECK_FALSE(crypto::equal_constant_time("abc", "abd"));
  CHECK_FALSE(crypto::equal_constant_time("abc", "xbc"));
  CHECK_FALSE(crypto::equal_constant_time("abc", "ab"));
  CHECK_FALSE(crypto::equal_constant_time("ab", "abc"));
  CHECK_FALSE(crypto::equal_constant_time("", "a"));
  CHECK_FALSE(crypto::equal_constant_time(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("crypto digests: known answers", "[crypto]") {
  CHECK(crypto::to_hex(crypto::sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::to_hex(crypto::sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 4231 test case 2.
  CHECK(crypto::to_hex(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("crypto random_bytes", "[crypto]") {
  CHECK(crypto::random_bytes(0).empty());
  CHECK(crypto::random_bytes(1).size() == 1);
  auto first = crypto::random_bytes(32);
  auto second = crypto::random_bytes(32);
  CHECK(first.size() == 32);
  CHECK(first != second); // 2^-256 chance of a false failure
}

TEST_CASE("jwt: a token without a session, or with a malformed one, is refused", "[jwt]") {
  auto cfg = make_config();
  spec fine;
  CHECK(accepted(cfg, fine.token()));
  spec missing;
  missing.sid.reset();
  CHECK_FALSE(accepted(cfg, missing.token()));
  for (std::string bad : {"", "0", "abc", "-1", "12x", "99999999999999999999999"}) {
    INFO("sid: " << bad);
    spec s;
    s.sid = bad;
    CHECK_FALSE(accepted(cfg, s.token()));
  }
}
