#include <conf/settings.hpp>
#include <protocol/problem.hpp>
#include <protocol/users.hpp>
#include <protocol/wire/body_reader.hpp>
#include <protocol/wire/users.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;

using livemart::errc;
using livemart::problem;

namespace {

const livemart::conf::settings defaults{};

// Both return by value: callers bind the result of a temporary decode.
template <class T>
problem problem_of(const livemart::decoded<T>& d) {
  REQUIRE(std::holds_alternative<problem>(d));
  return std::get<problem>(d);
}

template <class T>
T value_of(const livemart::decoded<T>& d) {
  if (const auto* p = std::get_if<problem>(&d)) {
    std::string fields;
    for (const auto& f : p->fields)
      fields += f.field + ": " + f.message + "; ";
    FAIL("unexpected problem " << livemart::to_string(p->code) << " (" << p->detail << ") " << fields);
  }
  return std::get<T>(d);
}

std::vector<std::string> field_names(const std::vector<livemart::field_error>& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields)
    out.push_back(f.field);
  return out;
}

std::vector<std::string> field_names(const problem& p) {
  return field_names(p.fields);
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

bool names_field(const problem& p, std::string_view field) {
  return std::any_of(p.fields.begin(), p.fields.end(), [&](const auto& f) { return f.field == field; });
}

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i)
    out += unit;
  return out;
}

std::string register_body(std::string_view email, std::string_view password, std::string_view display_name) {
  return R"({"email":")" + std::string{email} + R"(","password":")" + std::string{password} +
         R"(","display_name":")" + std::string{display_name} + R"("})";
}

const std::string good_password = "correct horse battery";

std::string address_body(std::string_view extra = {}) {
  std::string body =
      R"({"name":"Ada Lovelace","line1":"10 Downing Street","city":"London","postal_code":"sw1a1aa","country":"gb")";
  if (!extra.empty())
    body += "," + std::string{extra};
  return body + "}";
}

livemart::address valid_address() {
  livemart::address a;
  a.id = 11;
  a.user_id = 22;
  a.name = "Ada Lovelace";
  a.line1 = "10 Downing Street";
  a.city = "London";
  a.postal_code = "SW1A 1AA";
  a.country = "GB";
  a.version = 3;
  a.created_at_ms = 1000;
  a.updated_at_ms = 2000;
  return a;
}

} // namespace

// --- body_reader basics -------------------------------------------------------------

TEST_CASE("body_reader: malformed and non-object bodies", "[users]") {
  for (auto body : {"", "{", "not json", R"({"a":1,"a":2})", "{} trailing"}) {
    CAPTURE(body);
    livemart::body_reader r{body};
    CHECK_FALSE(r.ok());
    auto p = r.finish();
    REQUIRE(p.has_value());
    CHECK(p->code == errc::malformed_json);
  }
  for (auto body : {"[]", "42", "\"text\"", "null", "true", "[{}]"}) {
    CAPTURE(body);
    livemart::body_reader r{body};
    CHECK_FALSE(r.ok());
    auto p = r.finish();
    REQUIRE(p.has_value());
    CHECK(p->code == errc::invalid_field_type);
  }
}

TEST_CASE("body_reader: string and boolean fields", "[users]") {
  livemart::body_reader r{R"({"s":"x","n":null,"b":true,"num":1})"};
  REQUIRE(r.ok());
  CHECK(r.has("s"));
  CHECK_FALSE(r.has("missing"));
  CHECK(r.string("s", true) == "x"s);
  CHECK(r.string("n", false, true) == ""s);
  CHECK(r.boolean("b", true) == true);
  CHECK_FALSE(r.string("missing", false).has_value());
  CHECK_FALSE(r.string("num", false).has_value());
  auto p = r.finish();
  REQUIRE(p.has_value());
  CHECK(p->code == errc::invalid_field_type);
  CHECK(field_names(*p) == std::vector<std::string>{"num"});
}

// --- decode_register ------------------------------------------------------------------

TEST_CASE("decode_register: a valid body", "[users]") {
  auto d = livemart::decode_register(register_body("Alice.Smith@Example.COM", good_password, "Alice"), defaults);
  const auto& r = value_of(d);
  CHECK(r.email == "alice.smith@example.com");
  CHECK(r.password == good_password);
  CHECK(r.display_name == "Alice");
}

TEST_CASE("decode_register: values are normalised", "[users]") {
  auto d = livemart::decode_register(register_body("  BOB@EXAMPLE.ORG ", good_password, "  Bob  "), defaults);
  const auto& r = value_of(d);
  CHECK(r.email == "bob@example.org");
  CHECK(r.display_name == "Bob");
  // The password is never altered, not even trimmed.
  auto spaced = livemart::decode_register(register_body("b@example.org", "  spaced password  ", "Bob"), defaults);
  CHECK(value_of(spaced).password == "  spaced password  ");
}

TEST_CASE("decode_register: unicode display names", "[users]") {
  auto d = livemart::decode_register(register_body("a@example.com", good_password, "Zo\xC3\xAB \xE6\x97\xA5\xE6\x9C\xAC"),
                                     defaults);
  CHECK(value_of(d).display_name == "Zo\xC3\xAB \xE6\x97\xA5\xE6\x9C\xAC");
  // 64 three-byte characters are 64 characters, not 192.
  auto at_limit = livemart::decode_register(register_body("a@example.com", good_password, repeat("\xE2\x82\xAC", 64)),
                                            defaults);
  CHECK(value_of(at_limit).display_name == repeat("\xE2\x82\xAC", 64));
}

TEST_CASE("decode_register: missing fields are each listed", "[users]") {
  SECTION("all missing") {
    const auto& p = problem_of(livemart::decode_register("{}", defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(sorted(field_names(p)) == std::vector<std::string>{"display_name", "email", "password"});
    for (const auto& f : p.fields)
      CHECK_FALSE(f.message.empty());
  }
  SECTION("one missing") {
    const auto& p = problem_of(
        livemart::decode_register(R"({"email":"a@example.com","password":"correct horse battery"})", defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"display_name"});
    CHECK(p.detail.find("display_name") != std::string::npos);
  }
}

TEST_CASE("decode_register: wrong types name the field", "[users]") {
  SECTION("one wrong type") {
    const auto& p = problem_of(
        livemart::decode_register(R"({"email":1,"password":"correct horse battery","display_name":"A"})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"email"});
    CHECK(p.detail.find("email") != std::string::npos);
  }
  SECTION("every wrong type") {
    const auto& p =
        problem_of(livemart::decode_register(R"({"email":true,"password":null,"display_name":[]})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(sorted(field_names(p)) == std::vector<std::string>{"display_name", "email", "password"});
  }
  SECTION("an object instead of a string") {
    const auto& p = problem_of(livemart::decode_register(
        R"({"email":{"a":1},"password":"correct horse battery","display_name":"A"})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(names_field(p, "email"));
  }
  SECTION("type errors win over rule errors") {
    const auto& p =
        problem_of(livemart::decode_register(R"({"email":"not-an-email","password":5,"display_name":""})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"password"});
  }
}

TEST_CASE("decode_register: unknown fields are rejected by name", "[users]") {
  SECTION("one unknown field") {
    const auto& p = problem_of(livemart::decode_register(
        R"({"email":"a@example.com","password":"correct horse battery","display_name":"A","role":"admin"})",
        defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"role"});
    CHECK(p.detail.find("role") != std::string::npos);
  }
  SECTION("unknown fields and wrong types together") {
    const auto& p = problem_of(livemart::decode_register(
        R"({"email":1,"password":"correct horse battery","display_name":"A","extra":1})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(names_field(p, "extra"));
    CHECK(names_field(p, "email"));
  }
  SECTION("field names are case-sensitive") {
    const auto& p = problem_of(livemart::decode_register(
        R"({"Email":"a@example.com","password":"correct horse battery","display_name":"A"})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(names_field(p, "Email"));
  }
}

TEST_CASE("decode_register: malformed JSON", "[users]") {
  for (auto body : {"", "{", R"({"email":"a@example.com",})", "email=a@example.com", R"({"email":"a","email":"b"})"}) {
    CAPTURE(body);
    CHECK(problem_of(livemart::decode_register(body, defaults)).code == errc::malformed_json);
  }
}

TEST_CASE("decode_register: a body that is not an object", "[users]") {
  for (auto body : {"[]", R"(["a@example.com"])", "\"a@example.com\"", "null", "7"}) {
    CAPTURE(body);
    CHECK(problem_of(livemart::decode_register(body, defaults)).code == errc::invalid_field_type);
  }
}

TEST_CASE("decode_register: invalid e-mail", "[users]") {
  for (auto email : {"plainaddress", "a@b", "@example.com", "a@@example.com", "a b@example.com", ""}) {
    CAPTURE(email);
    const auto& p = problem_of(livemart::decode_register(register_body(email, good_password, "A"), defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"email"});
  }
}

TEST_CASE("decode_register: password policy", "[users]") {
  auto password_problem = [](std::string_view password, const livemart::conf::settings& cfg = defaults) {
    auto d = livemart::decode_register(register_body("a@example.com", password, "A"), cfg);
    REQUIRE(std::holds_alternative<problem>(d));
    const auto& p = std::get<problem>(d);
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"password"});
    return p.fields.empty() ? std::string{} : p.fields.front().message;
  };
  SECTION("common passwords") {
    auto message = password_problem("password1");
    CHECK_FALSE(message.empty());
    password_problem("PASSWORD1");
    password_problem("12345678");
  }
  SECTION("too short") {
    password_problem("");
    password_problem("seven77");
    CHECK(value_of(livemart::decode_register(register_body("a@example.com", "eight888", "A"), defaults)).password ==
          "eight888");
  }
  SECTION("too long") {
    password_problem(repeat("x", 129));
    CHECK(value_of(livemart::decode_register(register_body("a@example.com", repeat("x", 128), "A"), defaults))
              .password.size() == 128);
  }
  SECTION("limits come from the settings") {
    livemart::conf::settings cfg;
    cfg.auth.password_length_min = 12;
    cfg.auth.password_length_max = 16;
    password_problem("elevenchars", cfg);
    password_problem(repeat("y", 17), cfg);
    CHECK(std::holds_alternative<livemart::register_request>(
        livemart::decode_register(register_body("a@example.com", "twelve chars", "A"), cfg)));
  }
  SECTION("messages differ by reason") {
    CHECK(password_problem("short") != password_problem("password1"));
    CHECK(password_problem("short") != password_problem(repeat("z", 200)));
  }
}

TEST_CASE("decode_register: display name rules", "[users]") {
  auto display_name_problem = [](std::string_view name) {
    const auto& p = problem_of(livemart::decode_register(register_body("a@example.com", good_password, name), defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"display_name"});
  };
  display_name_problem("");
  display_name_problem("    ");
  display_name_problem(repeat("n", 65));
  display_name_problem(repeat("\xE2\x82\xAC", 65));
  display_name_problem(R"(Al\nice)");
  display_name_problem(R"(tab\there)");
  display_name_problem(R"(\u001b[31mred)");
  display_name_problem(R"(nul\u0000byte)");
  display_name_problem(R"(del\u007f)");
  display_name_problem(R"(next\u0085line)");
  CHECK(value_of(livemart::decode_register(register_body("a@example.com", good_password, repeat("n", 64)), defaults))
            .display_name.size() == 64);
}

TEST_CASE("decode_register: every rule violation is reported at once", "[users]") {
  const auto& p = problem_of(livemart::decode_register(register_body("nope", "short", ""), defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"display_name", "email", "password"});
}

// --- decode_login ------------------------------------------------------------------------

TEST_CASE("decode_login: a valid body", "[users]") {
  const auto& r =
      value_of(livemart::decode_login(R"({"email":" Alice@Example.com ","password":"whatever it is"})", defaults));
  CHECK(r.email == "alice@example.com");
  CHECK(r.password == "whatever it is");
}

TEST_CASE("decode_login: no password policy, and a bad e-mail is just unknown", "[users]") {
  // Login must not reveal the password rules or whether the address is well-formed.
  const auto& short_password = value_of(livemart::decode_login(R"({"email":"a@example.com","password":"x"})", defaults));
  CHECK(short_password.password == "x");
  const auto& common = value_of(livemart::decode_login(R"({"email":"a@example.com","password":"password1"})", defaults));
  CHECK(common.password == "password1");
  const auto& bad_email = value_of(livemart::decode_login(R"({"email":"not an email","password":"pw"})", defaults));
  CHECK(bad_email.email.empty());
}

TEST_CASE("decode_login: problems", "[users]") {
  SECTION("missing fields") {
    const auto& p = problem_of(livemart::decode_login("{}", defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(sorted(field_names(p)) == std::vector<std::string>{"email", "password"});
  }
  SECTION("wrong types") {
    const auto& p = problem_of(livemart::decode_login(R"({"email":"a@example.com","password":12345678})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"password"});
  }
  SECTION("unknown field") {
    const auto& p = problem_of(
        livemart::decode_login(R"({"email":"a@example.com","password":"pw","remember_me":true})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"remember_me"});
  }
  SECTION("malformed and non-object") {
    CHECK(problem_of(livemart::decode_login("{", defaults)).code == errc::malformed_json);
    CHECK(problem_of(livemart::decode_login("[]", defaults)).code == errc::invalid_field_type);
  }
  SECTION("an overlong password bounds the hashing work") {
    // password_length_max is 128 characters, i.e. at most 512 bytes of UTF-8.
    auto body = [](std::size_t n) { return R"({"email":"a@example.com","password":")" + repeat("p", n) + R"("})"; };
    CHECK(value_of(livemart::decode_login(body(512), defaults)).password.size() == 512);
    const auto& p = problem_of(livemart::decode_login(body(513), defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"password"});
  }
  SECTION("an overlong e-mail") {
    auto body = R"({"email":")" + repeat("e", 321) + R"(","password":"pw"})";
    const auto& p = problem_of(livemart::decode_login(body, defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"email"});
  }
}

// --- decode_refresh ------------------------------------------------------------------------

TEST_CASE("decode_refresh", "[users]") {
  SECTION("valid") {
    CHECK(value_of(livemart::decode_refresh(R"({"refresh_token":"abc.def"})")).refresh_token == "abc.def");
    auto at_limit = R"({"refresh_token":")" + repeat("t", 128) + R"("})";
    CHECK(value_of(livemart::decode_refresh(at_limit)).refresh_token.size() == 128);
  }
  SECTION("missing") {
    const auto& p = problem_of(livemart::decode_refresh("{}"));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"refresh_token"});
  }
  SECTION("empty or too long") {
    CHECK(problem_of(livemart::decode_refresh(R"({"refresh_token":""})")).code == errc::validation_failed);
    auto too_long = R"({"refresh_token":")" + repeat("t", 129) + R"("})";
    const auto& p = problem_of(livemart::decode_refresh(too_long));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"refresh_token"});
  }
  SECTION("wrong type, unknown field, malformed") {
    CHECK(problem_of(livemart::decode_refresh(R"({"refresh_token":42})")).code == errc::invalid_field_type);
    CHECK(problem_of(livemart::decode_refresh(R"({"refresh_token":null})")).code == errc::invalid_field_type);
    const auto& p = problem_of(livemart::decode_refresh(R"({"refresh_token":"abc","access_token":"x"})"));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"access_token"});
    CHECK(problem_of(livemart::decode_refresh("nope")).code == errc::malformed_json);
    CHECK(problem_of(livemart::decode_refresh("\"abc\"")).code == errc::invalid_field_type);
  }
}

// --- decode_profile_patch ----------------------------------------------------------------------

TEST_CASE("decode_profile_patch: nothing to change is a 422", "[users]") {
  const auto& p = problem_of(livemart::decode_profile_patch("{}", defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(livemart::info(p.code).status == 422);
  CHECK_FALSE(p.fields.empty());
}

TEST_CASE("decode_profile_patch: present fields are flagged", "[users]") {
  SECTION("display name only, trimmed") {
    const auto& patch = value_of(livemart::decode_profile_patch(R"({"display_name":"  New Name "})", defaults));
    CHECK(patch.has_display_name);
    CHECK(patch.display_name == "New Name");
    CHECK_FALSE(patch.has_bio);
    CHECK_FALSE(patch.has_avatar_url);
  }
  SECTION("all three") {
    const auto& patch = value_of(livemart::decode_profile_patch(
        R"({"display_name":"N","bio":"line one\nline two","avatar_url":"https://cdn.example.com/a.png"})", defaults));
    CHECK(patch.has_display_name);
    CHECK(patch.has_bio);
    CHECK(patch.bio == "line one\nline two");
    CHECK(patch.has_avatar_url);
    CHECK(patch.avatar_url == "https://cdn.example.com/a.png");
  }
  SECTION("bio null clears") {
    const auto& patch = value_of(livemart::decode_profile_patch(R"({"bio":null})", defaults));
    CHECK(patch.has_bio);
    CHECK(patch.bio.empty());
    CHECK_FALSE(patch.has_display_name);
  }
  SECTION("bio empty clears") {
    const auto& patch = value_of(livemart::decode_profile_patch(R"({"bio":""})", defaults));
    CHECK(patch.has_bio);
    CHECK(patch.bio.empty());
  }
  SECTION("avatar_url null or empty clears") {
    const auto& cleared = value_of(livemart::decode_profile_patch(R"({"avatar_url":null})", defaults));
    CHECK(cleared.has_avatar_url);
    CHECK(cleared.avatar_url.empty());
    const auto& empty = value_of(livemart::decode_profile_patch(R"({"avatar_url":""})", defaults));
    CHECK(empty.has_avatar_url);
    CHECK(empty.avatar_url.empty());
  }
  SECTION("avatar_url is trimmed") {
    const auto& patch = value_of(livemart::decode_profile_patch(R"({"avatar_url":"  https://x.example/a  "})", defaults));
    CHECK(patch.avatar_url == "https://x.example/a");
  }
}

TEST_CASE("decode_profile_patch: avatar_url must be https", "[users]") {
  for (auto url : {"http://example.com/a.png", "ftp://example.com/a.png", "javascript:alert(1)", "example.com/a.png",
                   "https://user:pw@example.com/a.png", "https://"}) {
    CAPTURE(url);
    auto body = R"({"avatar_url":")" + std::string{url} + R"("})";
    const auto& p = problem_of(livemart::decode_profile_patch(body, defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"avatar_url"});
  }
  SECTION("the byte limit comes from the settings") {
    livemart::conf::settings cfg;
    cfg.users.avatar_url_bytes_max = 30;
    auto ok = R"({"avatar_url":"https://example.com/abc"})"; // 23 bytes
    CHECK(std::holds_alternative<livemart::profile_patch>(livemart::decode_profile_patch(ok, cfg)));
    auto long_url = R"({"avatar_url":"https://example.com/)" + repeat("a", 20) + R"("})";
    CHECK(problem_of(livemart::decode_profile_patch(long_url, cfg)).code == errc::validation_failed);
  }
}

TEST_CASE("decode_profile_patch: field rules", "[users]") {
  SECTION("display_name empty") {
    const auto& p = problem_of(livemart::decode_profile_patch(R"({"display_name":"  "})", defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"display_name"});
  }
  SECTION("display_name too long") {
    auto body = R"({"display_name":")" + repeat("d", 65) + R"("})";
    CHECK(field_names(problem_of(livemart::decode_profile_patch(body, defaults))) ==
          std::vector<std::string>{"display_name"});
  }
  SECTION("display_name may not be null") {
    const auto& p = problem_of(livemart::decode_profile_patch(R"({"display_name":null})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"display_name"});
  }
  SECTION("bio too long") {
    auto ok = R"({"bio":")" + repeat("b", 500) + R"("})";
    CHECK(value_of(livemart::decode_profile_patch(ok, defaults)).bio.size() == 500);
    auto body = R"({"bio":")" + repeat("b", 501) + R"("})";
    CHECK(field_names(problem_of(livemart::decode_profile_patch(body, defaults))) == std::vector<std::string>{"bio"});
  }
  SECTION("bio allows newlines but no other control characters") {
    CHECK(std::holds_alternative<livemart::profile_patch>(
        livemart::decode_profile_patch(R"({"bio":"a\nb"})", defaults)));
    for (auto bio : {R"(a\tb)", R"(a\rb)", R"(a\u0007b)", R"(a\u0085b)"}) {
      CAPTURE(bio);
      auto body = R"({"bio":")" + std::string{bio} + R"("})";
      CHECK(field_names(problem_of(livemart::decode_profile_patch(body, defaults))) ==
            std::vector<std::string>{"bio"});
    }
  }
  SECTION("wrong types") {
    const auto& p = problem_of(livemart::decode_profile_patch(R"({"bio":5,"avatar_url":false})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(sorted(field_names(p)) == std::vector<std::string>{"avatar_url", "bio"});
  }
  SECTION("unknown field") {
    const auto& p = problem_of(livemart::decode_profile_patch(R"({"bio":"x","email":"a@example.com"})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"email"});
  }
  SECTION("only unknown fields") {
    const auto& p = problem_of(livemart::decode_profile_patch(R"({"role":"admin"})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(names_field(p, "role"));
  }
  SECTION("malformed") {
    CHECK(problem_of(livemart::decode_profile_patch("{\"bio\":", defaults)).code == errc::malformed_json);
    CHECK(problem_of(livemart::decode_profile_patch("[]", defaults)).code == errc::invalid_field_type);
  }
}

// --- decode_address ------------------------------------------------------------------------------

TEST_CASE("decode_address: a valid body is normalised", "[users]") {
  const auto& a = value_of(livemart::decode_address(address_body(), defaults));
  CHECK(a.name == "Ada Lovelace");
  CHECK(a.line1 == "10 Downing Street");
  CHECK(a.city == "London");
  CHECK(a.country == "GB");
  CHECK(a.postal_code == "SW1A 1AA");
  CHECK(a.line2.empty());
  CHECK(a.region.empty());
  CHECK(a.phone.empty());
  CHECK_FALSE(a.is_default);
}

TEST_CASE("decode_address: optional fields", "[users]") {
  const auto& a = value_of(livemart::decode_address(
      address_body(R"("line2":"Flat 2","region":"Westminster","phone":"+44 20 7946 0958","is_default":true)"),
      defaults));
  CHECK(a.line2 == "Flat 2");
  CHECK(a.region == "Westminster");
  CHECK(a.phone == "+44 20 7946 0958");
  CHECK(a.is_default);

  const auto& nulls =
      value_of(livemart::decode_address(address_body(R"("line2":null,"region":null,"phone":null)"), defaults));
  CHECK(nulls.line2.empty());
  CHECK(nulls.region.empty());
  CHECK(nulls.phone.empty());
}

TEST_CASE("decode_address: text is trimmed", "[users]") {
  const auto& a = value_of(livemart::decode_address(
      R"({"name":"  Ada ","line1":" 1 Main St ","city":" Springfield ","postal_code":" 12345 ","country":" us "})",
      defaults));
  CHECK(a.name == "Ada");
  CHECK(a.line1 == "1 Main St");
  CHECK(a.city == "Springfield");
  CHECK(a.postal_code == "12345");
  CHECK(a.country == "US");
}

TEST_CASE("decode_address: missing required fields are each listed", "[users]") {
  const auto& p = problem_of(livemart::decode_address("{}", defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"city", "country", "line1", "name", "postal_code"});

  for (auto field : {"name", "line1", "city", "postal_code", "country"}) {
    CAPTURE(field);
    const std::string body =
        R"({"name":"Ada","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"})";
    std::string rebuilt = "{";
    for (auto [key, value] : {std::pair{"name", "Ada"}, std::pair{"line1", "1 Main St"},
                              std::pair{"city", "Springfield"}, std::pair{"postal_code", "12345"},
                              std::pair{"country", "US"}}) {
      if (std::string_view{key} == field)
        continue;
      if (rebuilt.size() > 1)
        rebuilt += ",";
      rebuilt.append("\"").append(key).append("\":\"").append(value).append("\"");
    }
    rebuilt += "}";
    CHECK(std::holds_alternative<livemart::address>(livemart::decode_address(body, defaults)));
    const auto& missing = problem_of(livemart::decode_address(rebuilt, defaults));
    CHECK(missing.code == errc::validation_failed);
    CHECK(field_names(missing) == std::vector<std::string>{field});
  }
}

TEST_CASE("decode_address: blank required fields are reported", "[users]") {
  const auto& p = problem_of(livemart::decode_address(
      R"({"name":" ","line1":"","city":"  ","postal_code":"12345","country":"US"})", defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"city", "line1", "name"});
}

TEST_CASE("decode_address: all invalid fields are reported together", "[users]") {
  auto body = R"({"name":"Ada\u0007","line1":")" + repeat("l", 129) +
              R"(","city":"Springfield","postal_code":"ABCDE","country":"us","phone":"call me","region":")" +
              repeat("r", 129) + R"("})";
  const auto& p = problem_of(livemart::decode_address(body, defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"line1", "name", "phone", "postal_code", "region"});
  for (const auto& f : p.fields)
    CHECK_FALSE(f.message.empty());
  // The detail names them too.
  for (auto name : {"name", "line1", "postal_code", "phone", "region"})
    CHECK(p.detail.find(name) != std::string::npos);
}

TEST_CASE("decode_address: missing and invalid fields are reported together", "[users][bug]") {
  // body_reader promises every problem in one reply; a missing field must not
  // hide an invalid one (see the report: protocol/wire/src/users.cpp, decode_address).
  const auto& p = problem_of(livemart::decode_address(
      R"({"line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"XX"})", defaults));
  CHECK(p.code == errc::validation_failed);
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"country", "name"});
}

TEST_CASE("decode_address: country codes", "[users]") {
  SECTION("lower case is normalised to upper case") {
    auto body = R"({"name":"A","line1":"L","city":"C","postal_code":"10115","country":"de"})";
    CHECK(value_of(livemart::decode_address(body, defaults)).country == "DE");
    auto mixed = R"({"name":"A","line1":"L","city":"C","postal_code":"10115","country":"De"})";
    CHECK(value_of(livemart::decode_address(mixed, defaults)).country == "DE");
  }
  SECTION("unknown or malformed codes") {
    for (auto country : {"XX", "UK", "USA", "U", "1A", "E U"}) {
      CAPTURE(country);
      auto body = R"({"name":"A","line1":"L","city":"C","postal_code":"12345","country":")" + std::string{country} +
                  R"("})";
      const auto& p = problem_of(livemart::decode_address(body, defaults));
      CHECK(p.code == errc::validation_failed);
      // Without a country the postal code cannot be judged, so only country is reported.
      CHECK(field_names(p) == std::vector<std::string>{"country"});
    }
  }
}

TEST_CASE("decode_address: postal codes are checked per country", "[users]") {
  auto body = [](std::string_view postal, std::string_view country) {
    return R"({"name":"A","line1":"L","city":"C","postal_code":")" + std::string{postal} + R"(","country":")" +
           std::string{country} + R"("})";
  };
  CHECK(value_of(livemart::decode_address(body("sw1a1aa", "GB"), defaults)).postal_code == "SW1A 1AA");
  CHECK(value_of(livemart::decode_address(body("k1a0b1", "ca"), defaults)).postal_code == "K1A 0B1");
  CHECK(value_of(livemart::decode_address(body("12345-6789", "US"), defaults)).postal_code == "12345-6789");
  CHECK(value_of(livemart::decode_address(body("1000001", "JP"), defaults)).postal_code == "100-0001");
  for (auto [postal, country] : {std::pair{"1234", "US"}, std::pair{"ABCDE", "US"}, std::pair{"123456", "US"},
                                 std::pair{"QA1 1AA", "GB"}, std::pair{"1011", "DE"}}) {
    CAPTURE(postal, country);
    const auto& p = problem_of(livemart::decode_address(body(postal, country), defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"postal_code"});
  }
}

TEST_CASE("decode_address: phone numbers", "[users]") {
  auto body = [](std::string_view phone) { return address_body(R"("phone":")" + std::string{phone} + R"(")"); };
  for (auto phone : {"+1 (555) 123-4567", "+44 20 7946 0958", "020.7946.0958", "123456", "12345678901234567890"}) {
    CAPTURE(phone);
    CHECK(value_of(livemart::decode_address(body(phone), defaults)).phone == phone);
  }
  for (auto phone : {"12345", "+", "555-CALL-NOW", "1+2345678", "++15551234567", "123456789012345678901",
                     "555 123 4567 ext 8", "#5551234567"}) {
    CAPTURE(phone);
    const auto& p = problem_of(livemart::decode_address(body(phone), defaults));
    CHECK(p.code == errc::validation_failed);
    CHECK(field_names(p) == std::vector<std::string>{"phone"});
  }
}

TEST_CASE("decode_address: field length limit", "[users]") {
  auto at_limit = address_body(R"("line2":")" + repeat("x", 128) + R"(")");
  CHECK(value_of(livemart::decode_address(at_limit, defaults)).line2.size() == 128);
  auto over = address_body(R"("line2":")" + repeat("x", 129) + R"(")");
  CHECK(field_names(problem_of(livemart::decode_address(over, defaults))) == std::vector<std::string>{"line2"});

  livemart::conf::settings cfg;
  cfg.users.address_field_length_max = 10;
  const auto& p = problem_of(livemart::decode_address(address_body(), cfg)); // "10 Downing Street", "Ada Lovelace"
  CHECK(sorted(field_names(p)) == std::vector<std::string>{"line1", "name"});
}

TEST_CASE("decode_address: types, unknown fields and malformed bodies", "[users]") {
  SECTION("is_default must be a boolean") {
    const auto& p = problem_of(livemart::decode_address(address_body(R"("is_default":"yes")"), defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"is_default"});
  }
  SECTION("text fields must be strings") {
    const auto& p = problem_of(livemart::decode_address(
        R"({"name":5,"line1":"L","city":"C","postal_code":12345,"country":"US"})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(sorted(field_names(p)) == std::vector<std::string>{"name", "postal_code"});
  }
  SECTION("required fields may not be null") {
    const auto& p = problem_of(livemart::decode_address(
        R"({"name":null,"line1":"L","city":"C","postal_code":"12345","country":"US"})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"name"});
  }
  SECTION("unknown field") {
    const auto& p = problem_of(livemart::decode_address(address_body(R"("zip":"12345")"), defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"zip"});
  }
  SECTION("malformed and non-object") {
    CHECK(problem_of(livemart::decode_address("{\"name\":", defaults)).code == errc::malformed_json);
    CHECK(problem_of(livemart::decode_address("[]", defaults)).code == errc::invalid_field_type);
  }
}

// --- decode_address_patch ------------------------------------------------------------------------

TEST_CASE("decode_address_patch: an empty patch is a 422", "[users]") {
  const auto& p = problem_of(livemart::decode_address_patch("{}", defaults));
  CHECK(p.code == errc::validation_failed);
}

TEST_CASE("decode_address_patch: present bits", "[users]") {
  SECTION("one field") {
    const auto& patch = value_of(livemart::decode_address_patch(R"({"city":"Paris"})", defaults));
    CHECK(patch.present == livemart::af_city);
    CHECK(patch.values.city == "Paris");
  }
  SECTION("null clears optional fields; false is a value") {
    const auto& patch =
        value_of(livemart::decode_address_patch(R"({"line2":null,"phone":"","is_default":false})", defaults));
    CHECK(patch.present == (livemart::af_line2 | livemart::af_phone | livemart::af_is_default));
    CHECK(patch.values.line2.empty());
    CHECK(patch.values.phone.empty());
    CHECK_FALSE(patch.values.is_default);
  }
  SECTION("every field") {
    const auto& patch = value_of(livemart::decode_address_patch(
        R"({"name":"N","line1":"L1","line2":"L2","city":"C","region":"R","postal_code":"P","country":"fr","phone":"0123456789","is_default":true})",
        defaults));
    CHECK(patch.present == (livemart::af_name | livemart::af_line1 | livemart::af_line2 | livemart::af_city |
                            livemart::af_region | livemart::af_postal_code | livemart::af_country |
                            livemart::af_phone | livemart::af_is_default));
    CHECK(patch.values.name == "N");
    CHECK(patch.values.line1 == "L1");
    CHECK(patch.values.line2 == "L2");
    CHECK(patch.values.region == "R");
    CHECK(patch.values.postal_code == "P");
    CHECK(patch.values.country == "fr"); // normalised later, by validate_address
    CHECK(patch.values.phone == "0123456789");
    CHECK(patch.values.is_default);
  }
}

TEST_CASE("decode_address_patch: problems", "[users]") {
  SECTION("required fields may not be nulled") {
    for (auto field : {"name", "line1", "city", "postal_code", "country"}) {
      CAPTURE(field);
      auto body = "{\"" + std::string{field} + "\":null}";
      const auto& p = problem_of(livemart::decode_address_patch(body, defaults));
      CHECK(p.code == errc::invalid_field_type);
      CHECK(field_names(p) == std::vector<std::string>{field});
    }
  }
  SECTION("wrong type") {
    const auto& p = problem_of(livemart::decode_address_patch(R"({"is_default":1})", defaults));
    CHECK(p.code == errc::invalid_field_type);
    CHECK(field_names(p) == std::vector<std::string>{"is_default"});
  }
  SECTION("unknown field") {
    const auto& p = problem_of(livemart::decode_address_patch(R"({"city":"Paris","id":"5"})", defaults));
    CHECK(p.code == errc::unknown_field);
    CHECK(field_names(p) == std::vector<std::string>{"id"});
  }
  SECTION("malformed and non-object") {
    CHECK(problem_of(livemart::decode_address_patch("", defaults)).code == errc::malformed_json);
    CHECK(problem_of(livemart::decode_address_patch("null", defaults)).code == errc::invalid_field_type);
  }
}

// --- validate_address and apply_patch --------------------------------------------------------------

TEST_CASE("validate_address: a valid address has no errors", "[users]") {
  auto a = valid_address();
  CHECK(livemart::validate_address(a, defaults).empty());
  CHECK(a.postal_code == "SW1A 1AA");
}

TEST_CASE("validate_address: normalises in place", "[users]") {
  auto a = valid_address();
  a.country = "gb";
  a.postal_code = " sw1a1aa ";
  a.name = "  Ada  ";
  CHECK(livemart::validate_address(a, defaults).empty());
  CHECK(a.country == "GB");
  CHECK(a.postal_code == "SW1A 1AA");
  CHECK(a.name == "Ada");
}

TEST_CASE("validate_address: each field is reported once", "[users]") {
  auto a = valid_address();
  a.country = "US";
  a.postal_code = "12\x01" "345"; // a control character and not a US ZIP either
  auto errors = livemart::validate_address(a, defaults);
  CHECK(field_names(errors) == std::vector<std::string>{"postal_code"});
}

TEST_CASE("validate_address: required fields", "[users]") {
  livemart::address empty;
  auto errors = livemart::validate_address(empty, defaults);
  CHECK(sorted(field_names(errors)) == std::vector<std::string>{"city", "country", "line1", "name", "postal_code"});
}

TEST_CASE("apply_patch: only present fields change", "[users]") {
  const auto current = valid_address();
  livemart::address_patch patch;
  patch.present = livemart::af_city | livemart::af_is_default;
  patch.values.city = "Manchester";
  patch.values.name = "ignored, not present";
  patch.values.is_default = true;
  auto merged = livemart::apply_patch(current, patch);
  CHECK(merged.city == "Manchester");
  CHECK(merged.is_default);
  CHECK(merged.name == current.name);
  CHECK(merged.line1 == current.line1);
  CHECK(merged.postal_code == current.postal_code);
  CHECK(merged.country == current.country);
  CHECK(merged.id == current.id);
  CHECK(merged.user_id == current.user_id);
  CHECK(merged.version == current.version);
  CHECK(merged.created_at_ms == current.created_at_ms);
  // The input is untouched.
  CHECK(current.city == "London");

  livemart::address_patch nothing;
  auto same = livemart::apply_patch(current, nothing);
  CHECK(same.city == current.city);
  CHECK(same.name == current.name);
}

TEST_CASE("apply_patch then validate_address", "[users]") {
  const auto current = valid_address();
  SECTION("moving to another country re-checks the postal code") {
    const auto& patch = value_of(livemart::decode_address_patch(R"({"country":"us"})", defaults));
    auto merged = livemart::apply_patch(current, patch);
    auto errors = livemart::validate_address(merged, defaults);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].field == "postal_code");
    CHECK(merged.country == "US");
  }
  SECTION("a consistent move is accepted and normalised") {
    const auto& patch =
        value_of(livemart::decode_address_patch(R"({"country":"us","postal_code":" 90210 ","city":"LA"})", defaults));
    auto merged = livemart::apply_patch(current, patch);
    CHECK(livemart::validate_address(merged, defaults).empty());
    CHECK(merged.country == "US");
    CHECK(merged.postal_code == "90210");
    CHECK(merged.city == "LA");
    CHECK(merged.name == current.name);
  }
  SECTION("clearing a required field through a patch is caught") {
    const auto& patch = value_of(livemart::decode_address_patch(R"({"name":"   "})", defaults));
    auto merged = livemart::apply_patch(current, patch);
    auto errors = livemart::validate_address(merged, defaults);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].field == "name");
  }
  SECTION("clearing optional fields") {
    auto with_phone = current;
    with_phone.phone = "+44 20 7946 0958";
    with_phone.line2 = "Flat 2";
    const auto& patch = value_of(livemart::decode_address_patch(R"({"phone":null,"line2":null})", defaults));
    auto merged = livemart::apply_patch(with_phone, patch);
    CHECK(merged.phone.empty());
    CHECK(merged.line2.empty());
    CHECK(livemart::validate_address(merged, defaults).empty());
  }
  SECTION("an invalid phone in a patch is caught") {
    const auto& patch = value_of(livemart::decode_address_patch(R"({"phone":"abc"})", defaults));
    auto merged = livemart::apply_patch(current, patch);
    auto errors = livemart::validate_address(merged, defaults);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].field == "phone");
  }
}
