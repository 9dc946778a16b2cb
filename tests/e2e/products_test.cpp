// End-to-end tests of products: listing, ownership, stock and price.
#include <catch2/catch.hpp>

#include <protocol/json.hpp>

#include "api.hpp"

using namespace livemart;
using namespace livemart::testing;


TEST_CASE("an approved seller lists a product, anyone sees it with its stock", "[e2e][products]") {
  marketplace m;
  auto s = open_shop(m);
  auto created = m.c.post("/products", product_body(s.category, 5), s.owner.token);
  INFO(created.body);
  REQUIRE(created.status == 201);
  auto id = created.json().string_or("id");
  CHECK(created.json().find("stock")->as_integer() == 5);
  CHECK(created.header("location") == "/products/" + id);

  auto detail = m.c.get("/products/" + id);
  REQUIRE(detail.status == 200);
  auto doc = detail.json();
  CHECK(doc.string_or("title") == "Leica M6");
  CHECK(doc.find("price_minor")->as_integer() == 249900);
  CHECK(doc.string_or("currency") == "EUR");
  CHECK(doc.find("stock")->as_integer() == 5);
  CHECK(doc.find("image_urls")->as_array().size() == 1);

  // Restock and price go through the product's actor; the detail follows.
  auto restocked = m.c.post("/products/" + id + "/restock", "{\"delta\":3,\"reason\":\"delivery\"}", s.owner.token);
  INFO(restocked.body);
  REQUIRE(restocked.status == 200);
  CHECK(restocked.json().find("stock")->as_integer() == 8);
  auto repriced = m.c.request("PUT", "/products/" + id + "/price", "{\"price_minor\":199900}",
                              {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + s.owner.token}});
  REQUIRE(repriced.status == 200);
  CHECK(m.c.get("/products/" + id).json().find("price_minor")->as_integer() == 199900);
  // The ledger balances: 5 initial + 3 restocked.
  auto ledger = sql(m.db.url(), "SELECT sum(quantity) FROM stock_ledger WHERE product_id = " + id);
  CHECK(ledger.rows[0][0].text == "8");
}

TEST_CASE("only the owning seller or an admin changes a product", "[e2e][products]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto id = m.c.post("/products", product_body(s.category, 2), s.owner.token).json().string_or("id");
  REQUIRE_FALSE(id.empty());
  check_problem(m.c.post("/products/" + id + "/restock", "{\"delta\":1,\"reason\":\"x\"}", other.owner.token), 403,
                "forbidden");
  auto buyer = sign_up(m.c, "buyer");
  check_problem(m.c.post("/products/" + id + "/restock", "{\"delta\":1,\"reason\":\"x\"}", buyer.token), 403,
                "forbidden");
  CHECK(m.c.post("/products/" + id + "/restock", "{\"delta\":1,\"reason\":\"audit\"}", m.admin.token).status == 200);
  // Buyers and unapproved sellers cannot list products.
  check_problem(m.c.post("/products", product_body(s.category, 1), buyer.token), 403, "forbidden");
  auto pending = sign_up(m.c, "pending");
  REQUIRE(m.c.post("/sellers/apply",
                   "{\"shop_name\":" + quote("Pending " + unique_suffix()) +
                     ",\"contact_email\":\"p@example.com\",\"country\":\"DE\",\"business_type\":\"company\"}",
                   pending.token)
            .status == 201);
  check_problem(m.c.post("/products", product_body(s.category, 1), pending.token), 403, "forbidden");
  check_problem(m.c.post("/products/" + id + "/restock", "{\"delta\":1,\"reason\":\"x\"}", pending.token), 403,
                "forbidden");
  check_problem(m.c.post("/products", product_body(s.category, 1)), 401, "unauthenticated");
}

TEST_CASE("product input is validated and stock never goes below zero", "[e2e][products][one_node]") {
  marketplace m;
  auto s = open_shop(m);
  auto bad = m.c.post("/products",
                      "{\"category_id\":\"1\",\"title\":\"\",\"price_minor\":-5,\"currency\":\"euro\",\"stock\":-1,"
                      "\"image_urls\":[\"http://insecure.example/x.jpg\"]}",
                      s.owner.token);
  check_problem(bad, 422, "validation-failed");
  auto fields = bad.error_fields();
  for (const char* f : {"title", "price_minor", "currency", "stock", "image_urls"})
    CHECK(std::find(fields.begin(), fields.end(), f) != fields.end());
  auto unknown_category = m.c.post("/products", product_body("12345", 1), s.owner.token);
  check_problem(unknown_category, 422, "validation-failed");
  CHECK(unknown_category.error_fields() == std::vector<std::string>{"category_id"});
  check_problem(m.c.post("/products", "{\"seller_id\":\"1\"}", s.owner.token), 400, "unknown-field");

  auto id = m.c.post("/products", product_body(s.category, 2), s.owner.token).json().string_or("id");
  check_problem(m.c.post("/products/" + id + "/restock", "{\"delta\":-3,\"reason\":\"lost\"}", s.owner.token), 409,
                "conflict");
  check_problem(m.c.post("/products/" + id + "/restock", "{\"delta\":0,\"reason\":\"none\"}", s.owner.token), 422,
                "validation-failed");
  CHECK(m.c.get("/products/" + id).json().find("stock")->as_integer() == 2);

  auto draft = m.c.post("/products", product_body(s.category, 0, "draft"), s.owner.token).json().string_or("id");

  // A category with products cannot be deleted, only deactivated.
  auto in_use = m.c.del("/admin/categories/" + s.category, m.admin.token);
  check_problem(in_use, 409, "conflict");
  CHECK(in_use.json().string_or("detail").find("products") != std::string::npos);
  CHECK(m.c.patch("/admin/categories/" + s.category, "{\"active\":false}", m.admin.token).status == 200);
  // ...after which no new product can be placed in it.
  auto inactive = m.c.post("/products", product_body(s.category, 1), s.owner.token);
  check_problem(inactive, 422, "validation-failed");
  CHECK(inactive.error_fields() == std::vector<std::string>{"category_id"});

  // Drafts are not public; unknown ids are 404.
  check_problem(m.c.get("/products/" + draft), 404, "not-found");
  check_problem(m.c.get("/products/98765"), 404, "not-found");
}

TEST_CASE("the owner edits and archives a product", "[e2e][products]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto id = m.c.post("/products", product_body(s.category, 1), s.owner.token).json().string_or("id");
  auto edited = m.c.patch("/products/" + id, "{\"title\":\"Leica M6 TTL\",\"image_urls\":[]}", s.owner.token);
  INFO(edited.body);
  REQUIRE(edited.status == 200);
  CHECK(edited.json().string_or("title") == "Leica M6 TTL");
  CHECK(edited.json().find("image_urls")->as_array().empty());
  CHECK(edited.json().find("version")->as_integer() == 2);
  CHECK(edited.json().find("stock")->as_integer() == 1); // untouched

  // Moving to another seller's active category is fine; to a missing one is not.
  CHECK(m.c.patch("/products/" + id, "{\"category_id\":" + quote(other.category) + "}", s.owner.token).status == 200);
  auto missing = m.c.patch("/products/" + id, "{\"category_id\":\"4242\"}", s.owner.token);
  check_problem(missing, 422, "validation-failed");
  CHECK(missing.error_fields() == std::vector<std::string>{"category_id"});

  check_problem(m.c.patch("/products/" + id, "{\"title\":\"Mine now\"}", other.owner.token), 403, "forbidden");
  check_problem(m.c.patch("/products/" + id, "{\"status\":\"sold\"}", s.owner.token), 422, "validation-failed");
  check_problem(m.c.patch("/products/" + id, "{\"price_minor\":1}", s.owner.token), 400, "unknown-field");
  check_problem(m.c.patch("/products/" + id, "{}", s.owner.token), 422, "validation-failed");

  auto archived = m.c.patch("/products/" + id, "{\"status\":\"archived\"}", s.owner.token);
  REQUIRE(archived.status == 200);
  CHECK(m.c.get("/products/" + id).json().string_or("status") == "archived");
  CHECK(m.c.get("/products/" + id).json().string_or("title") == "Leica M6 TTL");
}
