#include <catch2/catch.hpp>

#include <protocol/catalog.hpp>
#include <protocol/json.hpp>
#include <protocol/wire/catalog.hpp>

using namespace livemart;

namespace {

category node(std::uint64_t id, std::uint64_t parent, std::string name, int position = 0, bool active = true) {
  category c;
  c.id = id;
  c.parent_id = parent;
  c.name = std::move(name);
  c.position = position;
  c.active = active;
  return c;
}

json::value parse(const std::string& text) {
  auto v = json::parse(text);
  REQUIRE(std::holds_alternative<json::value>(v));
  return std::get<json::value>(v);
}

} // namespace

TEST_CASE("encode_tree nests children and orders by position, then name", "[catalog]") {
  std::vector<category> all{node(1, 0, "B"), node(2, 0, "A"), node(3, 0, "Z", -1), node(4, 1, "Child"),
                            node(5, 4, "Grandchild")};
  auto doc = parse(encode_tree(all, false));
  const auto& roots = doc.find("items")->as_array();
  REQUIRE(roots.size() == 3);
  CHECK(roots[0].string_or("name") == "Z");
  CHECK(roots[1].string_or("name") == "A");
  CHECK(roots[2].string_or("name") == "B");
  const auto& child = roots[2].find("children")->as_array().at(0);
  CHECK(child.string_or("name") == "Child");
  CHECK(child.string_or("parent_id") == "1");
  CHECK(child.find("children")->as_array().at(0).string_or("name") == "Grandchild");
  CHECK(roots[0].find("parent_id")->is_null());
}

TEST_CASE("encode_tree leaves out inactive branches when asked", "[catalog]") {
  std::vector<category> all{node(1, 0, "On"), node(2, 0, "Off", 0, false), node(3, 2, "Below off"), node(4, 1, "Below on")};
  auto doc = parse(encode_tree(all, true));
  const auto& roots = doc.find("items")->as_array();
  REQUIRE(roots.size() == 1);
  CHECK(roots[0].string_or("name") == "On");
  CHECK(roots[0].find("children")->as_array().size() == 1);
  CHECK(parse(encode_tree(all, false)).find("items")->as_array().size() == 2);
  CHECK(parse(encode_tree({}, true)).find("items")->as_array().empty());
}

TEST_CASE("category bodies are decoded with every rule", "[catalog]") {
  conf::settings cfg;
  auto created = decode_category_create(R"({"name":" Vintage Cameras ","parent_id":"42","position":3})", cfg);
  REQUIRE(std::holds_alternative<category_patch>(created));
  const auto& c = std::get<category_patch>(created);
  CHECK(c.values.name == "Vintage Cameras");
  CHECK(c.values.slug == "vintage-cameras");
  CHECK(c.values.parent_id == 42);
  CHECK(c.values.position == 3);

  auto root = decode_category_patch(R"({"parent_id":null})", cfg);
  REQUIRE(std::holds_alternative<category_patch>(root));
  CHECK((std::get<category_patch>(root).present & cf_parent) != 0);
  CHECK(std::get<category_patch>(root).values.parent_id == 0);

  CHECK(std::get<problem>(decode_category_create("{}", cfg)).code == errc::validation_failed);
  CHECK(std::get<problem>(decode_category_create(R"({"name":"X","parent_id":"abc"})", cfg)).code == errc::validation_failed);
  CHECK(std::get<problem>(decode_category_create(R"({"name":"X","position":1.5})", cfg)).code == errc::invalid_field_type);
  CHECK(std::get<problem>(decode_category_create(R"({"name":"X","position":99999999})", cfg)).code == errc::validation_failed);
  CHECK(std::get<problem>(decode_category_create(R"({"name":"X","active":true})", cfg)).code == errc::unknown_field);
  CHECK(std::get<problem>(decode_category_patch("{}", cfg)).code == errc::validation_failed);
}
