// Named failure points (compiled into test builds): a write that fails
// before its COMMIT, one that commits but whose reply is lost, and crashes
// at the moments that matter. After each, a retry with the same key gets
// the one outcome the key has, nothing is created twice, and no hold is
// left behind.
#include <catch2/catch.hpp>

#include <csignal>

#include "api.hpp"
#include "raw_socket.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

std::string count(const std::string& url, const std::string& statement) {
  return sql(url, statement).rows[0][0].text;
}

/// A marketplace whose server arms `failpoints`, with a shop, two products
/// and a buyer with an address.
struct buy_now_scene {
  explicit buy_now_scene(const std::string& failpoints, std::vector<std::string> flags = {})
    : db{}, srv{db.url(), std::move(flags), {{"LIVEMART_FAILPOINTS", failpoints}}}, c{srv.port()},
      admin{make_admin(db.url(), c)} {
    srv.expect_log_error("failpoint");
  }

  http_reply buy(const std::string& key, const std::string& body) {
    return c.request("POST", "/orders", body,
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                      {"Idempotency-Key", key}});
  }

  temp_database db;
  server_process srv;
  http_client c;
  api_user admin;
  shop s = open_shop(*this);
  std::string camera = listing(*this, s, "Camera", 10000, 3);
  std::string lens = listing(*this, s, "Lens", 5000, 3);
  api_user buyer = sign_up(c, "buyer");
  std::string address = add_address(c, buyer);
};

} // namespace

TEST_CASE("crash points: a two-product buy-now whose placement failed is retried on the same checkout",
          "[e2e][crash_points]") {
  buy_now_scene sc{"db.before_commit.checkout_place=error*1"};
  auto body = checkout_body({{sc.camera, 1}, {sc.lens, 2}}, sc.address);
  auto key = "pair-" + unique_suffix();

  auto failed = sc.buy(key, body);
  INFO(failed.body);
  REQUIRE(failed.status == 503);
  CHECK_FALSE(failed.header("retry-after").empty());
  // The first attempt's checkout keeps its holds for the retry.
  CHECK(count(sc.db.url(), "SELECT count(*) FROM checkouts") == "1");
  CHECK(stock_of(sc, sc.camera) == 2);
  CHECK(stock_of(sc, sc.lens) == 1);

  auto placed = sc.buy(key, body);
  INFO(placed.body);
  REQUIRE(placed.status == 201);
  CHECK(count(sc.db.url(), "SELECT count(*) FROM checkouts") == "1"); // no second checkout, no second holds
  CHECK(count(sc.db.url(), "SELECT count(*) FROM orders") == "1");
  CHECK(stock_of(sc, sc.camera) == 2);
  CHECK(stock_of(sc, sc.lens) == 1);
  CHECK(sc.buy(key, body).body == placed.body);
  // The same key with another request is refused, not placed.
  auto other = sc.buy(key, checkout_body({{sc.camera, 1}, {sc.lens, 1}}, sc.address));
  check_problem(other, 409, "conflict");
  CHECK(other.error_fields() == std::vector<std::string>{"Idempotency-Key"});
}

TEST_CASE("crash points: a buy-now whose checkout cannot be placed releases its holds with the stored refusal",
          "[e2e][crash_points]") {
  // No sweeper: only the refusal's own transaction may release the holds.
  buy_now_scene sc{"db.before_commit.checkout_place=error*1", {"--node.background_jobs=false"}};
  auto body = checkout_body({{sc.camera, 1}, {sc.lens, 1}}, sc.address);
  auto key = "pair-" + unique_suffix();
  REQUIRE(sc.buy(key, body).status == 503);
  CHECK(stock_of(sc, sc.camera) == 2);
  // The checkout's hold ends before the retry.
  sql(sc.db.url(), "UPDATE checkouts SET expires_at = now() - interval '1 second'");

  auto refused = sc.buy(key, body);
  INFO(refused.body);
  check_problem(refused, 409, "conflict");
  // Released at once, in the transaction that stored the refusal.
  CHECK(stock_of(sc, sc.camera) == 3);
  CHECK(stock_of(sc, sc.lens) == 3);
  CHECK(count(sc.db.url(), "SELECT status FROM checkouts") == "failed");
  CHECK(count(sc.db.url(), "SELECT count(*) FROM idempotency_keys") == "1");
  CHECK(sc.buy(key, body).body == refused.body);
  CHECK(count(sc.db.url(), "SELECT count(*) FROM orders") == "0");
  // Every product's ledger balances: stock + held + sold = units ever stocked.
  CHECK(count(sc.db.url(),
              "SELECT count(*) FROM products p WHERE p.stock + p.reserved + p.sold <> "
              "(SELECT coalesce(sum(quantity), 0) FROM stock_ledger l WHERE l.product_id = p.id AND l.kind = 'restock')")
        == "0");
}

TEST_CASE("crash points: a placement that committed but whose reply was lost is replayed, not repeated",
          "[e2e][crash_points]") {
  buy_now_scene sc{"db.after_commit.checkout_place=error*1;db.after_commit.product_sell=error*1"};
  // Two products: through a checkout.
  auto pair = checkout_body({{sc.camera, 1}, {sc.lens, 1}}, sc.address);
  auto pair_key = "pair-" + unique_suffix();
  auto lost = sc.buy(pair_key, pair);
  CHECK(lost.status == 503);
  auto replayed = sc.buy(pair_key, pair);
  INFO(replayed.body);
  CHECK(replayed.status == 201);
  CHECK(count(sc.db.url(), "SELECT count(*) FROM orders") == "1");
  // One product: a direct sale by the product's actor.
  auto single = checkout_body({{sc.camera, 1}}, sc.address);
  auto single_key = "single-" + unique_suffix();
  auto lost_single = sc.buy(single_key, single);
  CHECK(lost_single.status == 503);
  auto replayed_single = sc.buy(single_key, single);
  INFO(replayed_single.body);
  CHECK(replayed_single.status == 201);
  CHECK(sc.buy(single_key, single).body == replayed_single.body);
  CHECK(count(sc.db.url(), "SELECT count(*) FROM orders") == "2");
  CHECK(stock_of(sc, sc.camera) == 1);
}

TEST_CASE("crash points: after a crash at each named point, a retry with the key has one outcome", "[e2e][crash_points]") {
  struct point {
    std::string failpoint;
    bool two_products;
  };
  const auto p = GENERATE(values<point>({
    {"db.before_commit.product_sell=crash", false},  // before COMMIT
    {"db.after_commit.product_sell=crash", false},   // after COMMIT, before the reply
    {"product.sell.promised=crash", false},          // units promised in the stock book, not yet written
    {"db.mid_batch.checkout_place=crash", true},     // the transaction half done
    {"db.after_commit.checkout_place=crash", true},  // a placement committed, its reply never sent
  }));
  INFO("crash point: " << p.failpoint);
  buy_now_scene sc{p.failpoint};
  auto body = p.two_products ? checkout_body({{sc.camera, 1}, {sc.lens, 1}}, sc.address)
                             : checkout_body({{sc.camera, 1}}, sc.address);
  auto key = "crash-" + unique_suffix();
  {
    // The request dies with the process: no reply, whatever was committed.
    raw_socket s{sc.srv.port()};
    s.send_all("POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
               + sc.buyer.token + "\r\nIdempotency-Key: " + key + "\r\nContent-Length: " + std::to_string(body.size())
               + "\r\n\r\n" + body);
    std::string received;
    CHECK(s.read_until_closed(received, 20'000));
    CHECK(received.empty());
  }
  auto status = sc.srv.await_exit();
  REQUIRE(status.has_value());
  CHECK(*status == 128 + SIGKILL);

  // A restart from committed state, the same keys, no crash point.
  server_process again{sc.db.url(), {}, {{"LIVEMART_AUTH_JWT_KEYS", sc.srv.jwt_keys()}}};
  http_client c{again.port()};
  auto retry = [&] {
    return c.request("POST", "/orders", body,
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + sc.buyer.token},
                      {"Idempotency-Key", key}});
  };
  auto first = retry();
  INFO(first.body);
  REQUIRE(first.status == 201);
  CHECK(retry().body == first.body);
  CHECK(count(sc.db.url(), "SELECT count(*) FROM orders") == "1");
  CHECK(count(sc.db.url(), "SELECT count(*) FROM idempotency_keys") == "1");
  CHECK(integer_field(c.get("/products/" + sc.camera).json(), "stock") == 2);
  CHECK(count(sc.db.url(),
              "SELECT count(*) FROM products p WHERE p.stock < 0 OR p.stock + p.reserved + p.sold <> "
              "(SELECT coalesce(sum(quantity), 0) FROM stock_ledger l WHERE l.product_id = p.id AND l.kind = 'restock')")
        == "0");
}
