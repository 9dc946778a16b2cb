#include <http/router.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using livemart::http::router;
using outcome = router::outcome;

namespace {

/// Handlers are never called by the router; the tests look at route patterns.
void never_called(const livemart::http::context_ptr&) {
  FAIL("the router must not call handlers");
}

router make_api() {
  router r;
  r.add("GET", "/healthz", never_called);
  r.add("GET", "/readyz", never_called);
  r.add("POST", "/auth/register", never_called);
  r.add("POST", "/auth/login", never_called);
  r.add("POST", "/auth/refresh", never_called);
  r.add("POST", "/auth/logout", never_called);
  r.add("GET", "/users/:id", never_called);
  r.add("GET", "/users/me", never_called);
  r.add("PATCH", "/users/me", never_called);
  r.add("GET", "/users/me/addresses", never_called);
  r.add("POST", "/users/me/addresses", never_called);
  r.add("GET", "/users/me/addresses/:id", never_called);
  r.add("PATCH", "/users/me/addresses/:id", never_called);
  r.add("DELETE", "/users/me/addresses/:id", never_called);
  return r;
}

std::string found_pattern(const router& r, std::string_view method, std::string_view path) {
  auto m = r.find(method, path);
  if (m.result != outcome::found || m.found == nullptr)
    return m.result == outcome::not_found ? "<not found>" : "<method not allowed>";
  return m.found->pattern;
}

} // namespace

TEST_CASE("router: literal routes", "[router]") {
  const auto r = make_api();
  auto m = r.find("GET", "/healthz");
  REQUIRE(m.result == outcome::found);
  REQUIRE(m.found != nullptr);
  CHECK(m.found->pattern == "/healthz");
  CHECK(m.found->method == "GET");
  CHECK(m.params.empty());
  CHECK(m.allow.empty());
  CHECK(found_pattern(r, "POST", "/auth/login") == "/auth/login");
  CHECK(found_pattern(r, "POST", "/auth/register") == "/auth/register");
  CHECK(found_pattern(r, "GET", "/users/me/addresses") == "/users/me/addresses");
  CHECK(found_pattern(r, "POST", "/users/me/addresses") == "/users/me/addresses");
}

TEST_CASE("router: routes keep their registration index", "[router]") {
  const auto r = make_api();
  REQUIRE(r.routes().size() == 14);
  for (std::size_t i = 0; i < r.routes().size(); ++i)
    CHECK(r.routes()[i]->index == i);
  auto m = r.find("POST", "/auth/register");
  REQUIRE(m.found != nullptr);
  CHECK(m.found->index == 2);
  CHECK(m.found == r.routes()[2].get());
}

TEST_CASE("router: parameters are extracted", "[router]") {
  const auto r = make_api();
  auto m = r.find("GET", "/users/me/addresses/12345");
  REQUIRE(m.result == outcome::found);
  CHECK(m.found->pattern == "/users/me/addresses/:id");
  REQUIRE(m.params.size() == 1);
  CHECK(m.params[0].first == "id");
  CHECK(m.params[0].second == "12345");

  auto d = r.find("DELETE", "/users/me/addresses/abc-DEF_9");
  REQUIRE(d.result == outcome::found);
  CHECK(d.found->method == "DELETE");
  REQUIRE(d.params.size() == 1);
  CHECK(d.params[0].second == "abc-DEF_9");

  auto u = r.find("GET", "/users/77");
  REQUIRE(u.result == outcome::found);
  CHECK(u.found->pattern == "/users/:id");
  REQUIRE(u.params.size() == 1);
  CHECK(u.params[0] == std::pair<std::string, std::string>{"id", "77"});
}

TEST_CASE("router: several parameters, in order", "[router]") {
  router r;
  r.add("GET", "/shops/:shop/items/:item", never_called);
  auto m = r.find("GET", "/shops/s1/items/i2");
  REQUIRE(m.result == outcome::found);
  REQUIRE(m.params.size() == 2);
  CHECK(m.params[0].first == "shop");
  CHECK(m.params[0].second == "s1");
  CHECK(m.params[1].first == "item");
  CHECK(m.params[1].second == "i2");
  CHECK(r.find("GET", "/shops/s1/items").result == outcome::not_found);
  CHECK(r.find("GET", "/shops/s1/things/i2").result == outcome::not_found);
}

TEST_CASE("router: a literal segment beats a parameter", "[router]") {
  SECTION("literal registered after the parameter") {
    const auto r = make_api(); // "/users/:id" comes before "/users/me"
    auto m = r.find("GET", "/users/me");
    REQUIRE(m.result == outcome::found);
    CHECK(m.found->pattern == "/users/me");
    CHECK(m.params.empty());
  }
  SECTION("literal registered before the parameter") {
    router r;
    r.add("GET", "/users/me", never_called);
    r.add("GET", "/users/:id", never_called);
    CHECK(found_pattern(r, "GET", "/users/me") == "/users/me");
    CHECK(found_pattern(r, "GET", "/users/42") == "/users/:id");
  }
  SECTION("deeper paths") {
    router r;
    r.add("GET", "/a/:x/:y", never_called);
    r.add("GET", "/a/:x/c", never_called);
    r.add("GET", "/a/b/c", never_called);
    CHECK(found_pattern(r, "GET", "/a/b/c") == "/a/b/c");
    CHECK(found_pattern(r, "GET", "/a/z/c") == "/a/:x/c");
    CHECK(found_pattern(r, "GET", "/a/z/q") == "/a/:x/:y");
  }
  SECTION("a parameter route still matches other values") {
    const auto r = make_api();
    CHECK(found_pattern(r, "GET", "/users/mee") == "/users/:id");
    CHECK(found_pattern(r, "GET", "/users/ME") == "/users/:id"); // paths are case-sensitive
  }
}

TEST_CASE("router: unknown paths are not found", "[router]") {
  const auto r = make_api();
  for (auto path : {"/", "/nope", "/health", "/healthz/extra", "/auth", "/auth/login/now", "/users",
                    "/users/me/addresses/1/extra", "/Users/me", "/HEALTHZ"}) {
    CAPTURE(path);
    auto m = r.find("GET", path);
    CHECK(m.result == outcome::not_found);
    CHECK(m.found == nullptr);
    CHECK(m.allow.empty());
    CHECK(m.params.empty());
  }
  CHECK(router{}.find("GET", "/").result == outcome::not_found);
}

TEST_CASE("router: a known path with another method is 405 with a sorted allow list", "[router]") {
  const auto r = make_api();
  SECTION("one method") {
    auto m = r.find("GET", "/auth/login");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.found == nullptr);
    CHECK(m.allow == std::vector<std::string>{"POST"});
  }
  SECTION("several methods, sorted and unique") {
    auto m = r.find("PUT", "/users/me/addresses/5");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.allow == std::vector<std::string>{"DELETE", "GET", "PATCH"});
  }
  SECTION("methods of literal and parameter routes are merged") {
    // "/users/me" is served by GET /users/me, PATCH /users/me and GET /users/:id.
    auto m = r.find("DELETE", "/users/me");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.allow == std::vector<std::string>{"GET", "PATCH"});
  }
  SECTION("a collection") {
    auto m = r.find("DELETE", "/users/me/addresses");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.allow == std::vector<std::string>{"GET", "POST"});
  }
  SECTION("methods are case-sensitive") {
    auto m = r.find("get", "/healthz");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.allow == std::vector<std::string>{"GET"});
  }
  SECTION("registration order does not leak into the allow list") {
    router q;
    q.add("PUT", "/x", never_called);
    q.add("DELETE", "/x", never_called);
    q.add("GET", "/x", never_called);
    q.add("PUT", "/x", never_called); // a duplicate registration
    auto m = q.find("POST", "/x");
    CHECK(m.result == outcome::method_not_allowed);
    CHECK(m.allow == std::vector<std::string>{"DELETE", "GET", "PUT"});
  }
}

TEST_CASE("router: a trailing slash is a different resource", "[router]") {
  const auto r = make_api();
  for (auto path : {"/healthz/", "/users/me/", "/users/me/addresses/", "/users/me/addresses/5/", "/users/7/"}) {
    CAPTURE(path);
    auto m = r.find("GET", path);
    CHECK(m.result == outcome::not_found);
    CHECK(m.allow.empty());
  }
  router root;
  root.add("GET", "/", never_called);
  CHECK(found_pattern(root, "GET", "/") == "/");
  CHECK(root.find("GET", "//").result == outcome::not_found);
  CHECK(root.find("GET", "/x").result == outcome::not_found);
}

TEST_CASE("router: an empty segment does not match a parameter", "[router]") {
  const auto r = make_api();
  CHECK(r.find("GET", "/users/me/addresses/").result == outcome::not_found);
  CHECK(r.find("GET", "/users/").result == outcome::not_found);

  router q;
  q.add("GET", "/users/:id/addresses", never_called);
  q.add("GET", "/a/:x/:y", never_called);
  CHECK(found_pattern(q, "GET", "/users/5/addresses") == "/users/:id/addresses");
  CHECK(q.find("GET", "/users//addresses").result == outcome::not_found);
  CHECK(q.find("GET", "/a/b/").result == outcome::not_found);
  CHECK(q.find("GET", "/a//b").result == outcome::not_found);
}

TEST_CASE("router: repeated slashes are not collapsed into a different path", "[router][bug]") {
  // "/a//b/c" has the segments "a", "", "b", "c": it is not "/a/b/c". The
  // router drops empty segments, so such paths reach a handler with shifted
  // parameters (see the report: http/src/router.cpp, segments()).
  const auto r = make_api();
  CHECK(r.find("GET", "/users//me").result == outcome::not_found);
  CHECK(r.find("GET", "//healthz").result == outcome::not_found);
  CHECK(r.find("DELETE", "/users/me//addresses/5").result == outcome::not_found);

  router q;
  q.add("GET", "/a/:x/:y", never_called);
  auto m = q.find("GET", "/a//b/c");
  CHECK(m.result == outcome::not_found);
  CHECK(m.params.empty());
}

TEST_CASE("router: parameters take the whole segment, not across slashes", "[router]") {
  const auto r = make_api();
  auto m = r.find("GET", "/users/me/addresses/1/2");
  CHECK(m.result == outcome::not_found);
  auto dotted = r.find("GET", "/users/me/addresses/1.2");
  REQUIRE(dotted.result == outcome::found);
  CHECK(dotted.params[0].second == "1.2");
}
