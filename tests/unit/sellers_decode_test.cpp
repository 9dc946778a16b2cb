#include <catch2/catch.hpp>

#include <algorithm>

#include <protocol/sellers.hpp>
#include <protocol/wire/sellers.hpp>

using namespace livemart;

namespace {

std::vector<std::string> fields_of(const problem& p) {
  std::vector<std::string> out;
  for (const auto& f : p.fields)
    out.push_back(f.field);
  return out;
}

} // namespace

TEST_CASE("slugify keeps ASCII letters and digits, one hyphen between words", "[sellers]") {
  CHECK(slugify("Joe's Vintage Shop!") == "joe-s-vintage-shop");
  CHECK(slugify("  --Ünïcode Café 42--  ") == "n-code-caf-42"); // non-ASCII letters separate words
  CHECK(slugify("ÄÖÜ") == "");
  CHECK(slugify(std::string(100, 'a')).size() == 48);
  CHECK(slugify("a  b\tc") == "a-b-c");
}

TEST_CASE("a seller application is decoded, normalised and checked", "[sellers]") {
  conf::settings cfg;
  auto ok = decode_seller_application(
    R"({"shop_name":" Camera Corner ","contact_email":"Shop@Example.COM","country":"de","business_type":"individual"})",
    cfg);
  REQUIRE(std::holds_alternative<seller_application>(ok));
  const auto& a = std::get<seller_application>(ok);
  CHECK(a.shop_name == "Camera Corner");
  CHECK(a.slug == "camera-corner");
  CHECK(a.contact_email == "shop@example.com");
  CHECK(a.country == "DE");
  CHECK(a.description.empty());

  auto bad = decode_seller_application(R"({"shop_name":"!","contact_email":"x","country":"XX","business_type":"guild"})", cfg);
  REQUIRE(std::holds_alternative<problem>(bad));
  const auto& p = std::get<problem>(bad);
  CHECK(p.code == errc::validation_failed);
  auto names = fields_of(p);
  for (const char* f : {"shop_name", "contact_email", "country", "business_type"})
    CHECK(std::find(names.begin(), names.end(), f) != names.end());

  auto unknown = decode_seller_application(R"({"shop_name":"Shop","status":"approved"})", cfg);
  REQUIRE(std::holds_alternative<problem>(unknown));
  CHECK(std::get<problem>(unknown).code == errc::unknown_field);

  auto missing = decode_seller_application("{}", cfg);
  REQUIRE(std::holds_alternative<problem>(missing));
  CHECK(fields_of(std::get<problem>(missing)).size() == 4);
}

TEST_CASE("a rejection needs a reason", "[sellers]") {
  conf::settings cfg;
  REQUIRE(std::holds_alternative<std::string>(decode_rejection(R"({"reason":"no address"})", cfg)));
  CHECK(std::get<problem>(decode_rejection("{}", cfg)).code == errc::validation_failed);
  CHECK(std::get<problem>(decode_rejection(R"({"reason":"  "})", cfg)).code == errc::validation_failed);
  CHECK(std::get<problem>(decode_rejection(R"({"reason":5})", cfg)).code == errc::invalid_field_type);
}

TEST_CASE("seller statuses round-trip through text", "[sellers]") {
  for (auto s : {seller_status::pending, seller_status::approved, seller_status::rejected}) {
    seller_status back{};
    REQUIRE(from_string(to_string(s), back));
    CHECK(back == s);
  }
  seller_status out{};
  CHECK_FALSE(from_string("closed", out));
}
