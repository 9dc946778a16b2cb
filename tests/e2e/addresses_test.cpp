// End-to-end tests of /users/addresses: the real livemart binary against a
// real PostgreSQL database, over loopback HTTP.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <protocol/json.hpp>

#include "api.hpp"
#include "http_client.hpp"
#include "pg_harness.hpp"
#include "server_process.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

constexpr const char* good_password = "correct horse battery staple";




bool bool_field(const json::value& doc, std::string_view key) {
  const auto* v = doc.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_bool());
  return v->as_bool();
}


/// A registered, logged-in user.
struct user {
  std::string id;
  std::string token;
};

user new_user(http_client& c) {
  auto email = "addr_" + unique_suffix() + "@example.com";
  auto reg = c.post("/auth/register", R"({"email":)" + quote(email) + R"(,"password":)" + quote(good_password)
                                        + R"(,"display_name":"Addressee"})");
  INFO(reg.body);
  REQUIRE(reg.status == 201);
  auto login = c.post("/auth/login", R"({"email":)" + quote(email) + R"(,"password":)" + quote(good_password) + "}");
  INFO(login.body);
  REQUIRE(login.status == 200);
  return {reg.json().string_or("id"), login.json().string_or("access_token")};
}

/// A valid address body; `extra` is spliced in as more members (",\"k\":v").
std::string address_body(const std::string& country = "DE", const std::string& postal_code = "10115",
                         const std::string& extra = {}, const std::string& name = "Home") {
  return R"({"name":)" + quote(name) + R"(,"line1":"Unter den Linden 1","city":"Berlin","postal_code":)"
         + quote(postal_code) + R"(,"country":)" + quote(country) + extra + "}";
}

json::value create(http_client& c, const user& u, const std::string& body) {
  auto r = c.post("/users/addresses", body, u.token);
  INFO(body << " -> " << r.body);
  REQUIRE(r.status == 201);
  return r.json();
}

std::vector<json::value> list(http_client& c, const user& u) {
  auto r = c.get("/users/addresses", u.token);
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto doc = r.json();
  const auto* items = doc.find("items");
  REQUIRE(items != nullptr);
  REQUIRE(items->is_array());
  return items->as_array();
}

/// Ids of the default addresses in the list.
std::vector<std::string> defaults(const std::vector<json::value>& items) {
  std::vector<std::string> out;
  for (const auto& a : items)
    if (bool_field(a, "is_default"))
      out.push_back(a.string_or("id"));
  return out;
}

const json::value* by_id(const std::vector<json::value>& items, const std::string& id) {
  for (const auto& a : items)
    if (a.string_or("id") == id)
      return &a;
  return nullptr;
}

} // namespace

TEST_CASE("creating an address returns it normalised, with an id and a Location", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);

  auto body = R"({"name":" Ada Lovelace ","line1":"Unter den Linden 1","line2":"3. OG","city":"Berlin",)"
              R"("region":"Berlin","postal_code":" 10115 ","country":"de","phone":"+49 30 123456","is_default":false})";
  auto r = c.post("/users/addresses", body, u.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto a = r.json();
  const auto* id = a.find("id");
  REQUIRE(id != nullptr);
  REQUIRE(id->is_string());
  CHECK_FALSE(id->as_string().empty());
  CHECK(r.header("location") == "/users/addresses/" + id->as_string());
  CHECK(a.string_or("name") == "Ada Lovelace");
  CHECK(a.string_or("line1") == "Unter den Linden 1");
  CHECK(a.string_or("line2") == "3. OG");
  CHECK(a.string_or("city") == "Berlin");
  CHECK(a.string_or("region") == "Berlin");
  CHECK(a.string_or("postal_code") == "10115");
  CHECK(a.string_or("country") == "DE");
  CHECK(a.string_or("phone") == "+49 30 123456");
  // The first address is the default even when the body says otherwise.
  CHECK(bool_field(a, "is_default"));
  CHECK(integer_field(a, "version") == 1);
  CHECK(integer_field(a, "created_at_ms") > 0);
  // Stored for this user, whatever the body could have said.
  auto rows = sql(db.url(), "SELECT user_id, country FROM addresses WHERE id = " + id->as_string());
  REQUIRE(rows.rows.size() == 1);
  CHECK(rows.rows[0][0].text == u.id);
  CHECK(rows.rows[0][1].text == "DE");

  struct normalisation {
    const char* country;
    const char* input;
    const char* expected;
  };
  const std::vector<normalisation> cases{
    {"gb", "sw1a1aa", "SW1A 1AA"}, {"GB", "SW1A 1AA", "SW1A 1AA"}, {"ca", "k1a0b1", "K1A 0B1"},
    {"nl", "1234ab", "1234 AB"},   {"US", "12345-6789", "12345-6789"}, {"jp", "1000001", "100-0001"},
    {"BR", "01310100", "01310-100"}, {"IN", "110 001", "110001"},   {"AU", "2000", "2000"},
    {"FR", "75001", "75001"},
  };
  for (const auto& n : cases) {
    INFO(n.country << " " << n.input);
    auto created = create(c, u, address_body(n.country, n.input));
    std::string upper = n.country;
    for (auto& ch : upper)
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    CHECK(created.string_or("country") == upper);
    CHECK(created.string_or("postal_code") == n.expected);
    CHECK_FALSE(bool_field(created, "is_default"));
  }
  auto items = list(c, u);
  CHECK(items.size() == cases.size() + 1);
  CHECK(defaults(items) == std::vector<std::string>{id->as_string()});
}

TEST_CASE("address validation reports every invalid field", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);

  // Several problems of one kind at once.
  auto several = c.post("/users/addresses",
                        R"({"name":"Home","line1":"Main St 1","city":"Berlin","postal_code":"1234","country":"XX","phone":"call me"})",
                        u.token);
  check_problem(several, 422, "validation-failed");
  CHECK(several.error_fields() == std::vector<std::string>{"country", "phone"});

  auto blank = c.post("/users/addresses",
                      R"({"name":"  ","line1":"","city":" ","postal_code":"10115","country":"DE"})", u.token);
  check_problem(blank, 422, "validation-failed");
  CHECK(blank.error_fields() == std::vector<std::string>{"name", "line1", "city"});

  auto missing = c.post("/users/addresses", R"({})", u.token);
  check_problem(missing, 422, "validation-failed");
  for (const char* f : {"name", "line1", "city", "postal_code", "country"}) {
    INFO(f);
    CHECK(contains(missing.error_fields(), f));
  }

  struct bad_postal {
    const char* country;
    const char* code;
  };
  const std::vector<bad_postal> postal{
    {"US", "1234"},  {"US", "123456"}, {"DE", "1234"},   {"DE", "ABCDE"},   {"FR", "7500"},  {"FR", "750011"},
    {"JP", "12345"}, {"JP", "12-34567"}, {"IN", "012345"}, {"IN", "11001"}, {"BR", "1234"},  {"BR", "12345-67"},
    {"AU", "12345"}, {"AU", "200"},    {"GB", "12345"},  {"CA", "123456"},  {"NL", "0123 AB"}, {"NL", "1234 SS"},
  };
  for (const auto& p : postal) {
    INFO(p.country << " " << p.code);
    auto r = c.post("/users/addresses", address_body(p.country, p.code), u.token);
    check_problem(r, 422, "validation-failed");
    CHECK(r.error_fields() == std::vector<std::string>{"postal_code"});
  }

  auto country = c.post("/users/addresses", address_body("XX", "10115"), u.token);
  check_problem(country, 422, "validation-failed");
  CHECK(country.error_fields() == std::vector<std::string>{"country"});
  auto long_country = c.post("/users/addresses", address_body("DEU", "10115"), u.token);
  check_problem(long_country, 422, "validation-failed");
  CHECK(long_country.error_fields() == std::vector<std::string>{"country"});

  auto too_long = c.post("/users/addresses", address_body("DE", "10115", {}, std::string(129, 'n')), u.token);
  check_problem(too_long, 422, "validation-failed");
  CHECK(too_long.error_fields() == std::vector<std::string>{"name"});

  // Unknown fields, including ownership, are refused before anything else.
  auto owner = c.post("/users/addresses", address_body("DE", "10115", R"(,"user_id":"1")"), u.token);
  check_problem(owner, 400, "unknown-field");
  CHECK(contains(owner.error_fields(), "user_id"));
  auto id = c.post("/users/addresses", address_body("DE", "10115", R"(,"id":"5","street":"x")"), u.token);
  check_problem(id, 400, "unknown-field");
  CHECK(contains(id.error_fields(), "id"));
  CHECK(contains(id.error_fields(), "street"));

  check_problem(c.post("/users/addresses", address_body("DE", "10115", R"(,"is_default":"yes")"), u.token), 400,
                "invalid-field-type");
  check_problem(c.post("/users/addresses", R"({"name":)", u.token), 400, "malformed-json");
  check_problem(c.request("POST", "/users/addresses", address_body(), {{"Authorization", "Bearer " + u.token}}), 415,
                "unsupported-media-type");

  CHECK(list(c, u).empty());
  CHECK(sql(db.url(), "SELECT count(*) FROM addresses").rows[0][0].text == "0");
}

TEST_CASE("address validation lists missing fields together with invalid ones", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);

  // name, line1 and city are missing; country and phone are invalid. One
  // reply must name all five, so the client can fix the form in one go.
  {
    auto all = c.post("/users/addresses", R"({"postal_code":"1234","country":"XX","phone":"call me"})", u.token);
    check_problem(all, 422, "validation-failed");
    INFO(all.body);
    auto fields = all.error_fields();
    for (const char* f : {"name", "line1", "city", "country", "phone"}) {
      INFO("expected field " << f);
      CHECK(contains(fields, f));
    }
  }
  {
    // Same with a bad postal code for a valid country.
    auto us = c.post("/users/addresses", R"({"name":"Home","postal_code":"1234","country":"US"})", u.token);
    check_problem(us, 422, "validation-failed");
    INFO(us.body);
    auto fields = us.error_fields();
    for (const char* f : {"line1", "city", "postal_code"}) {
      INFO("expected field " << f);
      CHECK(contains(fields, f));
    }
  }
  CHECK(list(c, u).empty());
}

TEST_CASE("addresses need a valid access token", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);
  auto a = create(c, u, address_body());
  auto path = "/users/addresses/" + a.string_or("id");

  for (const auto& token : {std::string{}, std::string{"garbage"}, u.token + "x"}) {
    INFO("token: " << token);
    auto get = c.get("/users/addresses", token);
    check_problem(get, 401, "unauthenticated");
    CHECK_FALSE(get.header("www-authenticate").empty());
    check_problem(c.post("/users/addresses", address_body(), token), 401, "unauthenticated");
    check_problem(c.patch(path, R"({"city":"Hamburg"})", token), 401, "unauthenticated");
    check_problem(c.del(path, token), 401, "unauthenticated");
  }
  auto items = list(c, u);
  REQUIRE(items.size() == 1);
  CHECK(items[0].string_or("city") == "Berlin");
}

TEST_CASE("each user sees and changes only their own addresses", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto alice = new_user(c);
  auto bob = new_user(c);

  auto a = create(c, alice, address_body("DE", "10115", {}, "Alice"));
  auto a_id = a.string_or("id");
  auto a_path = "/users/addresses/" + a_id;

  CHECK(list(c, bob).empty());
  auto alices = list(c, alice);
  REQUIRE(alices.size() == 1);
  CHECK(alices[0].string_or("id") == a_id);

  // Bob cannot change or delete Alice's address, nor learn that it exists.
  auto patch = c.patch(a_path, R"({"city":"Hamburg"})", bob.token);
  check_problem(patch, 404, "not-found");
  auto del = c.del(a_path, bob.token);
  check_problem(del, 404, "not-found");
  // ...and the answer is the same as for an id that does not exist at all.
  auto missing = c.patch("/users/addresses/123456789", R"({"city":"Hamburg"})", bob.token);
  check_problem(missing, 404, "not-found");
  CHECK(patch.json().string_or("detail") == missing.json().string_or("detail"));
  check_problem(c.del("/users/addresses/123456789", alice.token), 404, "not-found");

  // Ids that are not ids.
  for (const char* bad : {"abc", "-1", "0", "1.5", "99999999999999999999", "12abc"}) {
    INFO(bad);
    check_problem(c.patch(std::string{"/users/addresses/"} + bad, R"({"city":"Hamburg"})", alice.token), 404,
                  "not-found");
    check_problem(c.del(std::string{"/users/addresses/"} + bad, alice.token), 404, "not-found");
  }

  // Bob's own address does not show up for Alice.
  create(c, bob, address_body("FR", "75001", {}, "Bob"));
  CHECK(list(c, alice).size() == 1);
  auto bobs = list(c, bob);
  REQUIRE(bobs.size() == 1);
  CHECK(bobs[0].string_or("name") == "Bob");
  CHECK(defaults(bobs).size() == 1);

  // Alice's address is untouched.
  alices = list(c, alice);
  REQUIRE(alices.size() == 1);
  CHECK(alices[0].string_or("city") == "Berlin");
  CHECK(integer_field(alices[0], "version") == 1);
  CHECK(sql(db.url(), "SELECT user_id FROM addresses WHERE id = " + a_id).rows[0][0].text == alice.id);
}

TEST_CASE("exactly one address is the default", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);

  auto first = create(c, u, address_body("DE", "10115", {}, "First"));
  CHECK(bool_field(first, "is_default"));
  auto second = create(c, u, address_body("DE", "20095", {}, "Second"));
  CHECK_FALSE(bool_field(second, "is_default"));
  auto third = create(c, u, address_body("DE", "80331", R"(,"is_default":false)", "Third"));
  CHECK_FALSE(bool_field(third, "is_default"));
  CHECK(defaults(list(c, u)) == std::vector<std::string>{first.string_or("id")});

  auto fourth = create(c, u, address_body("DE", "50667", R"(,"is_default":true)", "Fourth"));
  CHECK(bool_field(fourth, "is_default"));
  auto items = list(c, u);
  CHECK(items.size() == 4);
  CHECK(defaults(items) == std::vector<std::string>{fourth.string_or("id")});
  const auto* old_default = by_id(items, first.string_or("id"));
  REQUIRE(old_default != nullptr);
  CHECK_FALSE(bool_field(*old_default, "is_default"));
}

TEST_CASE("patching an address changes the named fields only", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);
  auto home = create(c, u, address_body("DE", "10115", R"(,"phone":"+49 30 123456")", "Home"));
  auto work = create(c, u, address_body("DE", "20095", {}, "Work"));
  auto home_path = "/users/addresses/" + home.string_or("id");
  auto work_path = "/users/addresses/" + work.string_or("id");

  auto city = c.patch(home_path, R"({"city":"Potsdam","postal_code":"14467"})", u.token);
  INFO(city.body);
  REQUIRE(city.status == 200);
  auto patched = city.json();
  CHECK(patched.string_or("id") == home.string_or("id"));
  CHECK(patched.string_or("city") == "Potsdam");
  CHECK(patched.string_or("postal_code") == "14467");
  CHECK(patched.string_or("name") == "Home");
  CHECK(patched.string_or("line1") == "Unter den Linden 1");
  CHECK(patched.string_or("country") == "DE");
  CHECK(patched.string_or("phone") == "+49 30 123456");
  CHECK(bool_field(patched, "is_default"));
  CHECK(integer_field(patched, "version") == integer_field(home, "version") + 1);

  // Optional fields clear with null.
  auto phone = c.patch(home_path, R"({"phone":null,"line2":"Hinterhaus"})", u.token);
  REQUIRE(phone.status == 200);
  CHECK(phone.json().string_or("phone", "x") == "");
  CHECK(phone.json().string_or("line2") == "Hinterhaus");
  CHECK(integer_field(phone.json(), "version") == integer_field(home, "version") + 2);

  // A country needs a postal code of its own format.
  // (14467 is a valid ZIP code too, so GB is the country that must refuse it.)
  auto country = c.patch(home_path, R"({"country":"GB"})", u.token);
  check_problem(country, 422, "validation-failed");
  CHECK(country.error_fields() == std::vector<std::string>{"postal_code"});
  auto moved = c.patch(home_path, R"({"country":"gb","postal_code":"ec1a1bb"})", u.token);
  INFO(moved.body);
  REQUIRE(moved.status == 200);
  CHECK(moved.json().string_or("country") == "GB");
  CHECK(moved.json().string_or("postal_code") == "EC1A 1BB");

  check_problem(c.patch(home_path, R"({"country":"XX"})", u.token), 422, "validation-failed");
  check_problem(c.patch(home_path, R"({"city":""})", u.token), 422, "validation-failed");
  check_problem(c.patch(home_path, R"({})", u.token), 422, "validation-failed");
  auto unknown = c.patch(home_path, R"({"city":"Leeds","user_id":"1"})", u.token);
  check_problem(unknown, 400, "unknown-field");
  CHECK(contains(unknown.error_fields(), "user_id"));
  check_problem(c.patch(home_path, R"({"city":5})", u.token), 400, "invalid-field-type");

  // Moving the default.
  auto make_default = c.patch(work_path, R"({"is_default":true})", u.token);
  INFO(make_default.body);
  REQUIRE(make_default.status == 200);
  CHECK(bool_field(make_default.json(), "is_default"));
  auto items = list(c, u);
  CHECK(defaults(items) == std::vector<std::string>{work.string_or("id")});

  // The default cannot simply be switched off: another one must be chosen.
  auto unset = c.patch(work_path, R"({"is_default":false})", u.token);
  check_problem(unset, 422, "validation-failed");
  CHECK(unset.error_fields() == std::vector<std::string>{"is_default"});
  // Setting it again on the default is a harmless no-op change.
  CHECK(c.patch(work_path, R"({"is_default":true})", u.token).status == 200);
  // Switching it off on a non-default address is fine.
  CHECK(c.patch(home_path, R"({"is_default":false})", u.token).status == 200);

  items = list(c, u);
  CHECK(defaults(items) == std::vector<std::string>{work.string_or("id")});
  const auto* h = by_id(items, home.string_or("id"));
  REQUIRE(h != nullptr);
  // Refused patches changed nothing.
  CHECK(h->string_or("city") == "Potsdam");
  CHECK(h->string_or("country") == "GB");
  CHECK(h->string_or("postal_code") == "EC1A 1BB");
}

TEST_CASE("deleting the default address promotes another one", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url()};
  http_client c{srv.port()};
  auto u = new_user(c);
  auto first = create(c, u, address_body("DE", "10115", {}, "First"));
  auto second = create(c, u, address_body("DE", "20095", {}, "Second"));
  auto third = create(c, u, address_body("DE", "80331", {}, "Third"));

  // A non-default one first: the default stays.
  auto del = c.del("/users/addresses/" + second.string_or("id"), u.token);
  CHECK(del.status == 204);
  CHECK(del.body.empty());
  auto items = list(c, u);
  CHECK(items.size() == 2);
  CHECK(defaults(items) == std::vector<std::string>{first.string_or("id")});

  // Now the default: the remaining address takes over.
  CHECK(c.del("/users/addresses/" + first.string_or("id"), u.token).status == 204);
  items = list(c, u);
  REQUIRE(items.size() == 1);
  CHECK(defaults(items) == std::vector<std::string>{third.string_or("id")});

  // Gone is gone.
  check_problem(c.del("/users/addresses/" + first.string_or("id"), u.token), 404, "not-found");
  check_problem(c.patch("/users/addresses/" + first.string_or("id"), R"({"city":"Bonn"})", u.token), 404, "not-found");

  CHECK(c.del("/users/addresses/" + third.string_or("id"), u.token).status == 204);
  CHECK(list(c, u).empty());
  // A new first address is the default again.
  CHECK(bool_field(create(c, u, address_body()), "is_default"));
}

TEST_CASE("the number of addresses per user is limited", "[e2e][addresses]") {
  temp_database db;
  server_process srv{db.url(), {"--users.addresses_per_user_max=2"}};
  http_client c{srv.port()};
  auto u = new_user(c);
  auto other = new_user(c);

  auto first = create(c, u, address_body());
  create(c, u, address_body("FR", "75001"));
  auto third = c.post("/users/addresses", address_body("US", "94103"), u.token);
  check_problem(third, 409, "limit-reached");
  CHECK(list(c, u).size() == 2);

  // The limit is per user.
  create(c, other, address_body());

  // Deleting one makes room again.
  REQUIRE(c.del("/users/addresses/" + first.string_or("id"), u.token).status == 204);
  create(c, u, address_body("US", "94103"));
  check_problem(c.post("/users/addresses", address_body("US", "94103"), u.token), 409, "limit-reached");
}
