// End-to-end tests of search, shop pages, product pages, concurrent stock
// changes over HTTP and the demo seed.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <thread>

#include <protocol/json.hpp>

#include "api.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

std::vector<std::string> item_ids(const json::value& doc) {
  std::vector<std::string> out;
  for (const auto& item : doc.find("items")->as_array())
    out.push_back(item.string_or("id"));
  return out;
}

std::string create(marketplace& m, const shop& s, const std::string& category, const std::string& title,
                   std::int64_t price, int stock, const std::string& status = "active") {
  auto r = m.c.post("/products", product_body(category, stock, status, title, price), s.owner.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

std::string add_category(marketplace& m, const std::string& name, const std::string& parent = {}) {
  auto body = "{\"name\":" + quote(name + " " + unique_suffix())
              + (parent.empty() ? std::string{} : ",\"parent_id\":" + quote(parent)) + "}";
  auto r = m.c.post("/admin/categories", body, m.admin.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

} // namespace

TEST_CASE("a listing is searchable as soon as it is created, edited or archived", "[e2e][search]") {
  marketplace m;
  auto s = open_shop(m);
  auto id = create(m, s, s.category, "Leica M6 rangefinder", 249900, 2);
  // No waiting: the index is told before the write is answered.
  auto found = m.c.get("/products?q=leica");
  REQUIRE(found.status == 200);
  CHECK(item_ids(found.json()) == std::vector<std::string>{id});
  CHECK(integer_field(found.json(), "total") == 1);
  REQUIRE(m.c.patch("/products/" + id, "{\"title\":\"Hasselblad 500CM\"}", s.owner.token).status == 200);
  CHECK(item_ids(m.c.get("/products?q=hasselblad").json()) == std::vector<std::string>{id});
  CHECK(item_ids(m.c.get("/products?q=leica").json()).empty());
  // Prefixes and typos find it too.
  CHECK(item_ids(m.c.get("/products?q=hassel").json()) == std::vector<std::string>{id});
  auto typo = m.c.get("/products?q=haselblad").json();
  CHECK(item_ids(typo) == std::vector<std::string>{id});
  CHECK(typo.find("fuzzy")->as_bool());
  // Stock and price changes show in the results.
  REQUIRE(m.c.post("/products/" + id + "/restock", "{\"delta\":5,\"reason\":\"delivery\"}", s.owner.token).status == 200);
  auto item = m.c.get("/products?q=hasselblad").json().find("items")->as_array().front();
  CHECK(integer_field(item, "stock") == 7);
  REQUIRE(m.c.patch("/products/" + id, "{\"status\":\"archived\"}", s.owner.token).status == 200);
  CHECK(item_ids(m.c.get("/products?q=hasselblad").json()).empty());
  // Drafts are never found.
  create(m, s, s.category, "Secret prototype", 100, 1, "draft");
  CHECK(item_ids(m.c.get("/products?q=prototype").json()).empty());
}

TEST_CASE("search filters by category subtree, price, stock and seller, sorts, pages and counts facets",
          "[e2e][search]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto root = add_category(m, "Photo");
  auto film = add_category(m, "Film", root);
  auto digital = add_category(m, "Digital", root);
  auto lenses = add_category(m, "Lenses", digital);
  auto a = create(m, s, film, "Camera alpha", 1000, 1);
  auto b = create(m, s, digital, "Camera beta", 3000, 0);
  auto c = create(m, s, lenses, "Camera gamma lens", 2000, 4);
  auto d = create(m, other, s.category, "Camera delta", 5000, 2);

  // A category includes its subcategories; facets are its children.
  auto in_root = m.c.get("/products?q=camera&category=" + root + "&sort=price_asc").json();
  CHECK(item_ids(in_root) == std::vector<std::string>{a, c, b});
  std::map<std::string, std::int64_t> facets;
  for (const auto& f : in_root.find("facets")->find("categories")->as_array())
    facets[f.string_or("id")] = integer_field(f, "count");
  CHECK(facets == std::map<std::string, std::int64_t>{{film, 1}, {digital, 2}});
  CHECK(item_ids(m.c.get("/products?q=camera&category=" + digital + "&sort=price_desc").json())
        == std::vector<std::string>{b, c});

  // Price range, stock, seller.
  CHECK(item_ids(m.c.get("/products?q=camera&min_price=1500&max_price=3000&sort=price_asc").json())
        == std::vector<std::string>{c, b});
  auto stocked = item_ids(m.c.get("/products?q=camera&in_stock=true").json());
  CHECK(std::set<std::string>(stocked.begin(), stocked.end()) == std::set<std::string>{a, c, d});
  CHECK(item_ids(m.c.get("/products?q=camera&seller=" + other.seller_id).json()) == std::vector<std::string>{d});

  // Keyset pages: every match once, in order, then no cursor.
  std::vector<std::string> paged;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto r = m.c.get("/products?q=camera&sort=price_desc&limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    auto doc = r.json();
    for (auto& id : item_ids(doc))
      paged.push_back(id);
    const auto* next = doc.find("next_cursor");
    if (next == nullptr || !next->is_string())
      break;
    cursor = next->as_string();
  }
  CHECK(paged == std::vector<std::string>{d, b, c, a});

  // A deactivated category's products leave the results.
  REQUIRE(m.c.patch("/admin/categories/" + digital, "{\"active\":false}", m.admin.token).status == 200);
  CHECK(item_ids(m.c.get("/products?q=camera&category=" + root + "&sort=price_asc").json())
        == std::vector<std::string>{a});
}

TEST_CASE("bad search parameters are answered 400 naming the parameter", "[e2e][search]") {
  marketplace m;
  auto expect = [&](const std::string& query, const std::string& field) {
    auto r = m.c.get("/products?" + query);
    check_problem(r, 400, "bad-request");
    CHECK(r.error_fields() == std::vector<std::string>{field});
  };
  expect("min_price=-5", "min_price");
  expect("max_price=12.5", "max_price");
  expect("min_price=10&max_price=5", "max_price");
  expect("sort=popular", "sort");
  expect("limit=1000", "limit");
  expect("cursor=%21%21", "cursor");
  expect("in_stock=perhaps", "in_stock");
  expect("category=abc", "category");
  expect("category=12345", "category"); // not an active category
  auto seller_page = m.c.get("/sellers/12345/products?sort=bogus");
  check_problem(seller_page, 400, "bad-request");
}

TEST_CASE("a shop page shows live aggregates and its inventory with the search filters", "[e2e][search]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto one = create(m, s, s.category, "Polaroid SX-70", 30000, 1);
  auto two = create(m, s, s.category, "Polaroid 600", 9000, 0);
  create(m, s, s.category, "Polaroid draft", 100, 1, "draft");
  create(m, other, other.category, "Polaroid Now", 12000, 3);

  auto page = m.c.get("/sellers/" + s.seller_id);
  REQUIRE(page.status == 200);
  auto doc = page.json();
  CHECK(integer_field(doc, "active_product_count") == 2);
  CHECK(integer_field(doc, "follower_count") == 0);
  CHECK(doc.find("rating")->find("average")->is_null());
  // Archiving changes the count in the same transaction.
  REQUIRE(m.c.patch("/products/" + two, "{\"status\":\"archived\"}", s.owner.token).status == 200);
  CHECK(integer_field(m.c.get("/sellers/" + s.seller_id).json(), "active_product_count") == 1);
  REQUIRE(m.c.patch("/products/" + two, "{\"status\":\"active\"}", s.owner.token).status == 200);

  auto inventory = m.c.get("/sellers/" + s.seller_id + "/products?sort=price_asc");
  REQUIRE(inventory.status == 200);
  CHECK(item_ids(inventory.json()) == std::vector<std::string>{two, one});
  CHECK(item_ids(m.c.get("/sellers/" + s.seller_id + "/products?in_stock=true").json())
        == std::vector<std::string>{one});
  CHECK(item_ids(m.c.get("/sellers/" + s.seller_id + "/products?q=sx").json()) == std::vector<std::string>{one});
  check_problem(m.c.get("/sellers/98765/products"), 404, "not-found");
}

TEST_CASE("a product page has its seller summary, category breadcrumb and rating", "[e2e][search]") {
  marketplace m;
  auto s = open_shop(m);
  auto root = add_category(m, "Vintage");
  auto leaf = add_category(m, "Rangefinders", root);
  auto id = create(m, s, leaf, "Contax G2", 89900, 1);
  auto r = m.c.get("/products/" + id);
  REQUIRE(r.status == 200);
  auto doc = r.json();
  CHECK(doc.find("seller")->string_or("id") == s.seller_id);
  CHECK(doc.find("seller")->string_or("shop_name").rfind("Shop ", 0) == 0);
  CHECK(integer_field(*doc.find("seller"), "follower_count") == 0);
  const auto& crumbs = doc.find("breadcrumb")->as_array();
  REQUIRE(crumbs.size() == 2);
  CHECK(crumbs[0].string_or("id") == root);
  CHECK(crumbs[1].string_or("id") == leaf);
  CHECK(integer_field(*doc.find("rating"), "count") == 0);
  CHECK(integer_field(doc, "stock") == 1);
}

TEST_CASE("concurrent stock removals from many clients end exactly at zero", "[e2e][search]") {
  marketplace m;
  auto s = open_shop(m);
  auto id = create(m, s, s.category, "Limited drop", 5000, 20);
  constexpr int clients = 40;
  // Each thread leaves its outcome here (a status, or why there was none):
  // Catch2 is not thread-safe, so the checks run on this thread, after the joins.
  struct outcome {
    int status = 0;
    std::string error;
  };
  std::vector<outcome> outcomes(clients);
  const auto port = m.srv.port();
  const auto target = "/products/" + id + "/restock";
  const http_client::header_list headers{{"Content-Type", "application/json"},
                                         {"Authorization", "Bearer " + s.owner.token}};
  std::vector<std::thread> threads;
  for (auto& out : outcomes) {
    threads.emplace_back([&out, port, &target, &headers] {
      auto c = http_client::try_connect(port, out.error);
      if (c == nullptr)
        return;
      auto r = c->try_request("POST", target, R"({"delta":-1,"reason":"sold at the fair"})", headers);
      if (r)
        out.status = r->status;
      else
        out.error = c->last_error();
    });
  }
  for (auto& t : threads)
    t.join();
  int taken = 0;
  int refused = 0;
  int other = 0;
  for (const auto& out : outcomes) {
    if (out.status == 200)
      ++taken;
    else if (out.status == 409)
      ++refused;
    else
      ++other;
    if (out.status != 200 && out.status != 409)
      UNSCOPED_INFO("a client got " << out.status << " " << out.error);
  }
  CHECK(taken == 20);
  CHECK(refused == clients - 20);
  CHECK(other == 0);
  CHECK(integer_field(m.c.get("/products/" + id).json(), "stock") == 0);
  auto row = sql(m.db.url(), "SELECT p.stock, (SELECT sum(quantity) FROM stock_ledger l WHERE l.product_id = p.id) "
                             "FROM products p WHERE p.id = " + id);
  CHECK(row.rows[0][0].text == "0");
  CHECK(row.rows[0][1].text == "0");
}

TEST_CASE("livemart seed builds the same demo catalog for the same seed", "[e2e][seed]") {
  temp_database first;
  temp_database second;
  temp_database third;
  // Content without ids and hashes: equal for equal seeds.
  auto digest = [](const std::string& url) {
    return sql(url, "SELECT md5(string_agg(c.name || '/' || p.title || '/' || p.price_minor || '/' || p.stock || '/' || "
                    "p.status || '/' || p.created_at, ',' ORDER BY p.created_at, p.title)) "
                    "FROM products p JOIN categories c ON c.id = p.category_id")
      .rows[0][0]
      .text;
  };
  auto seed = [](const std::string& url, const std::string& number) {
    REQUIRE(server_process::run({"migrate"}, {{"DATABASE_URL", url}}).first == 0);
    auto [code, out] = server_process::run({"seed", "seed=" + number, "products=3000", "sellers=20"}, {{"DATABASE_URL", url}});
    INFO(out);
    REQUIRE(code == 0);
    return out;
  };
  auto out = seed(first.url(), "7");
  CHECK(out.find("seeded") != std::string::npos);
  CHECK(out.find("products [") != std::string::npos); // the progress bar
  seed(second.url(), "7");
  seed(third.url(), "8");
  CHECK(digest(first.url()) == digest(second.url()));
  CHECK(digest(first.url()) != digest(third.url()));
  // A second run leaves a catalog alone.
  auto again = seed(first.url(), "7");
  CHECK(again.find("nothing seeded") != std::string::npos);
  // Three levels of categories; every product on a leaf; the ledger balances.
  CHECK(sql(first.url(), "SELECT count(*) FROM categories c WHERE EXISTS (SELECT 1 FROM categories p JOIN categories g "
                         "ON g.id = p.parent_id WHERE p.id = c.parent_id)").rows[0][0].text != "0");
  CHECK(sql(first.url(), "SELECT count(*) FROM products p WHERE EXISTS (SELECT 1 FROM categories c WHERE "
                         "c.parent_id = p.category_id)").rows[0][0].text == "0");
  CHECK(sql(first.url(), "SELECT count(*) FROM products p WHERE p.stock <> COALESCE((SELECT sum(quantity) FROM "
                         "stock_ledger l WHERE l.product_id = p.id), 0)").rows[0][0].text == "0");

  // The printed demo accounts work.
  auto password_of = [&out](const std::string& role) {
    auto line = out.find("  " + role + " ");
    REQUIRE(line != std::string::npos);
    auto at = out.find("password: ", line);
    auto end = out.find('\n', at);
    return out.substr(at + 10, end - at - 10);
  };
  server_process srv{first.url()};
  http_client c{srv.port()};
  for (const std::string role : {"admin", "seller", "buyer"}) {
    auto login = c.post("/auth/login", "{\"email\":" + quote(role + "@demo.livemart.example")
                                         + ",\"password\":" + quote(password_of(role)) + "}");
    INFO(role << ": " << login.body);
    CHECK(login.status == 200);
  }
  auto all = c.get("/products?limit=1").json();
  CHECK(integer_field(all, "total") > 2500);
}

TEST_CASE("a node serves while its search index loads, and search answers 503 search-loading until it is in",
          "[e2e][search]") {
  temp_database db;
  // The first two page reads fail, each retried a second later: the node
  // listens at once (no wait for the index) and the index is in after ~2 s.
  server_process srv{db.url(),
                     {"--catalog.search_ready_wait_ms=0", "--database.reconnect_interval_ms=1000"},
                     {{"LIVEMART_FAILPOINTS", "search.load_page=error*2"}}};
  http_client c{srv.port()};
  auto early = c.get("/products?q=camera");
  INFO(early.body);
  REQUIRE(early.status == 503);
  CHECK(early.json().string_or("code") == "search-loading");
  CHECK_FALSE(early.header("retry-after").empty());
  CHECK(c.get("/categories").status == 200); // everything else serves
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  http_reply later = early;
  while (later.status == 503 && std::chrono::steady_clock::now() < deadline) {
    // Retry-After says when: a client waits that long (here at most 1 s).
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    later = c.get("/products?q=camera");
  }
  INFO(later.body);
  CHECK(later.status == 200);
}
