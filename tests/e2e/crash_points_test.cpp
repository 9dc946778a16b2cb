// Named failure points (compiled into test builds): a write that fails
// before its COMMIT, one that commits but whose reply is lost, and crashes
// at the moments that matter. After each, a retry with the same key gets
// the one outcome the key has, nothing is created twice, and no hold is
// left behind.
#include <catch2/catch.hpp>

#include "api.hpp"

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
