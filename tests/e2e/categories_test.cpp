// End-to-end tests of the category tree.
#include <catch2/catch.hpp>

#include <protocol/json.hpp>

#include "api.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

std::string create(marketplace& m, const std::string& name, const std::string& parent = {}, int position = 0) {
  std::string body = "{\"name\":" + quote(name) + ",\"position\":" + std::to_string(position);
  if (!parent.empty())
    body += ",\"parent_id\":" + quote(parent);
  body += "}";
  auto r = m.c.post("/admin/categories", body, m.admin.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

/// Names along the first branch of each level: "Root>Child>Grandchild".
std::vector<std::string> names(const json::value& items) {
  std::vector<std::string> out;
  for (const auto& c : items.as_array())
    out.push_back(c.string_or("name"));
  return out;
}

} // namespace

TEST_CASE("the category tree is nested, ordered, and follows every change", "[e2e][categories][one_node]") {
  marketplace m;
  auto empty = m.c.get("/categories");
  REQUIRE(empty.status == 200);
  CHECK(empty.json().find("items")->as_array().empty());

  auto electronics = create(m, "Electronics", {}, 2);
  auto fashion = create(m, "Fashion", {}, 1);
  auto cameras = create(m, "Cameras", electronics, 0);
  auto lenses = create(m, "Lenses", cameras, 0);
  auto audio = create(m, "Audio", electronics, 0);

  auto tree = m.c.get("/categories").json();
  const auto& roots = *tree.find("items");
  CHECK(names(roots) == std::vector<std::string>{"Fashion", "Electronics"}); // by position, then name
  const auto& children = *roots.as_array()[1].find("children");
  CHECK(names(children) == std::vector<std::string>{"Audio", "Cameras"}); // same position: by name
  CHECK(names(*children.as_array()[1].find("children")) == std::vector<std::string>{"Lenses"});

  // Rename and move; the tree shows it at once.
  auto moved = m.c.patch("/admin/categories/" + lenses, "{\"name\":\"Camera Lenses\",\"parent_id\":" + quote(fashion) + "}",
                         m.admin.token);
  INFO(moved.body);
  REQUIRE(moved.status == 200);
  CHECK(moved.json().string_or("slug") == "camera-lenses");
  tree = m.c.get("/categories").json();
  CHECK(names(*tree.find("items")->as_array()[0].find("children")) == std::vector<std::string>{"Camera Lenses"});

  // Deactivated categories (and what lies below them) leave the public tree.
  REQUIRE(m.c.patch("/admin/categories/" + electronics, "{\"active\":false}", m.admin.token).status == 200);
  tree = m.c.get("/categories").json();
  CHECK(names(*tree.find("items")) == std::vector<std::string>{"Fashion"});
  (void)audio;
}

TEST_CASE("moves that would make a cycle are refused", "[e2e][categories]") {
  marketplace m;
  auto a = create(m, "A");
  auto b = create(m, "B", a);
  auto c = create(m, "C", b);
  for (const auto& target : {a, b, c}) {
    auto r = m.c.patch("/admin/categories/" + a, "{\"parent_id\":" + quote(target) + "}", m.admin.token);
    check_problem(r, 422, "validation-failed");
    CHECK(r.error_fields() == std::vector<std::string>{"parent_id"});
  }
  // Moving to the root and back down elsewhere is fine.
  CHECK(m.c.patch("/admin/categories/" + c, "{\"parent_id\":null}", m.admin.token).status == 200);
  CHECK(m.c.patch("/admin/categories/" + a, "{\"parent_id\":" + quote(c) + "}", m.admin.token).status == 200);
  check_problem(m.c.patch("/admin/categories/" + a, "{\"parent_id\":\"12345\"}", m.admin.token), 422,
                "validation-failed");
}

TEST_CASE("category rules: sibling names, deletion, validation, admins only", "[e2e][categories]") {
  marketplace m;
  auto root = create(m, "Home");
  auto child = create(m, "Kitchen", root);
  auto dup = m.c.post("/admin/categories", "{\"name\":\"kitchen\",\"parent_id\":" + quote(root) + "}", m.admin.token);
  check_problem(dup, 409, "conflict");
  CHECK(dup.error_fields() == std::vector<std::string>{"name"});
  // The same name elsewhere is fine.
  create(m, "Kitchen");

  check_problem(m.c.del("/admin/categories/" + root, m.admin.token), 409, "conflict");
  CHECK(m.c.del("/admin/categories/" + child, m.admin.token).status == 204);
  check_problem(m.c.del("/admin/categories/" + child, m.admin.token), 404, "not-found");

  check_problem(m.c.post("/admin/categories", "{\"name\":\"\"}", m.admin.token), 422, "validation-failed");
  check_problem(m.c.post("/admin/categories", "{\"name\":\"X\",\"position\":\"1\"}", m.admin.token), 400,
                "invalid-field-type");
  check_problem(m.c.post("/admin/categories", "{\"name\":\"X\",\"active\":false}", m.admin.token), 400, "unknown-field");
  check_problem(m.c.patch("/admin/categories/" + root, "{}", m.admin.token), 422, "validation-failed");

  auto buyer = sign_up(m.c, "buyer");
  check_problem(m.c.post("/admin/categories", "{\"name\":\"Mine\"}", buyer.token), 403, "forbidden");
  check_problem(m.c.post("/admin/categories", "{\"name\":\"Mine\"}"), 401, "unauthenticated");
}
