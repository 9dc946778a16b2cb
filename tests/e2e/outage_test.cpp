// An Idempotency-Key has exactly one outcome, forever: while PostgreSQL is
// away, no refusal (nor success) that could not be stored is sent; every
// 503 says when to come back; once the database returns, the same key gets
// the one outcome it has and never creates an order behind an earlier "no".
#include <catch2/catch.hpp>

#include <poll.h>

#include <persistence/migrations.hpp>

#include "api.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

/// A marketplace on a PostgreSQL cluster of its own, which the test stops
/// and starts.
struct outage_marketplace {
  explicit outage_marketplace(std::vector<std::string> flags)
    : url{prepare(cluster)}, srv{url, std::move(flags)}, c{srv.port()}, admin{make_admin(url, c)} {}

  static std::string prepare(private_cluster& cluster) {
    sql(cluster.url(), "CREATE DATABASE app");
    auto url = with_database(cluster.url(), "app");
    auto migrated = persistence::migrate(url, 5);
    if (auto* err = std::get_if<std::string>(&migrated))
      FAIL("migration failed: " << *err);
    return url;
  }

  /// Waits until writes are served again (readyz), pacing the polls.
  void await_ready() {
    for (int attempt = 0; attempt < 300; ++attempt) {
      if (c.get("/readyz").status == 200)
        return;
      ::poll(nullptr, 0, 50); // bounded retry pacing, not a wait for an effect
    }
    FAIL("the server did not see the database again within 15 s");
  }

  private_cluster cluster;
  std::string url;
  server_process srv;
  http_client c;
  api_user admin;
};

void check_retry_after(const http_reply& r) {
  auto value = r.header("retry-after");
  INFO("status " << r.status << ", Retry-After: " << value);
  CHECK_FALSE(value.empty());
  CHECK(value.find_first_not_of("0123456789") == std::string::npos);
}

std::string count(const std::string& url, const std::string& statement) {
  return sql(url, statement).rows[0][0].text;
}

} // namespace

TEST_CASE("outage: a refusal that could not be stored is never sent, and the key never buys later",
          "[e2e][outage]") {
  outage_marketplace m{{"--database.reconnect_interval_ms=100"}};
  m.srv.expect_log_error("database"); // the outage is the test
  auto s = open_shop(m);
  auto sold_out = listing(m, s, "Sold out", 1000, 1);
  auto other = listing(m, s, "Other", 2000, 5);
  auto first = sign_up(m.c, "first");
  auto first_address = add_address(m.c, first);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  // The one unit goes to the first buyer.
  REQUIRE(m.c.request("POST", "/orders", checkout_body({{sold_out, 1}}, first_address),
                      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + first.token},
                       {"Idempotency-Key", "first-" + unique_suffix()}})
            .status == 201);

  auto buy = [&](const std::string& key, const std::string& body) {
    return m.c.request("POST", "/orders", body,
                       {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                        {"Idempotency-Key", key}});
  };
  const auto single = checkout_body({{sold_out, 1}}, address);
  const auto pair = checkout_body({{other, 1}, {sold_out, 1}}, address);
  const auto key_single = "single-" + unique_suffix();
  const auto key_pair = "pair-" + unique_suffix();

  m.cluster.stop();
  // The product's actor knows the product is sold out without the
  // database; the refusal cannot be stored, so it is not sent.
  for (const auto& [key, body] : {std::pair{key_single, single}, std::pair{key_pair, pair}}) {
    auto during = buy(key, body);
    INFO(during.body);
    CHECK(during.status == 503);
    check_retry_after(during);
  }

  // The unit comes back while the database is away from the buyer's view:
  // the first order is cancelled once the database returns.
  m.cluster.start();
  m.await_ready();
  // Now the refusal is stored and sent; the same key keeps it.
  auto after = buy(key_single, single);
  INFO(after.body);
  CHECK(after.status == 409);
  auto first_orders = m.c.get("/orders", first.token).json();
  const auto& items = first_orders.find("items")->as_array();
  REQUIRE(items.size() == 1);
  REQUIRE(m.c.post("/orders/" + items[0].string_or("id") + "/cancel", "{}", first.token).status == 200);
  REQUIRE(stock_of(m, sold_out) == 1);
  // Units are free again, yet the key that was refused stays refused.
  auto again = buy(key_single, single);
  CHECK(again.status == 409);
  CHECK(again.body == after.body);
  auto pair_again = buy(key_pair, pair);
  INFO(pair_again.body);
  CHECK((pair_again.status == 409 || pair_again.status == 201));
  auto pair_repeat = buy(key_pair, pair);
  CHECK(pair_repeat.status == pair_again.status);
  CHECK(pair_repeat.body == pair_again.body);
  // One order at most per key (both products are one shop's: one order);
  // the refused key made none.
  CHECK(count(m.url, "SELECT count(*) FROM orders WHERE buyer_id = " + buyer.id) ==
        (pair_again.status == 201 ? "1" : "0"));
}

TEST_CASE("outage: a drop purchase refused while the database is away is a 503 with Retry-After",
          "[e2e][outage]") {
  outage_marketplace m{{"--database.reconnect_interval_ms=100"}};
  m.srv.expect_log_error("database");
  auto s = open_shop(m);
  auto product = listing(m, s, "Drop", 1000, 10);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto stream = m.c.post("/streams", "{\"title\":\"Drop show\",\"featured\":[" + quote(product) + "],\"start_now\":true}",
                         s.owner.token);
  REQUIRE(stream.status == 201);
  auto stream_id = stream.json().find("stream")->string_or("id");
  auto drop = m.c.post("/streams/" + stream_id + "/drops",
                       "{\"product_id\":" + quote(product) + ",\"quantity\":2,\"duration_s\":600,\"per_buyer_limit\":1}",
                       s.owner.token);
  INFO(drop.body);
  REQUIRE(drop.status == 201);
  auto drop_id = drop.json().string_or("id");
  auto buy = [&](const std::string& key, int quantity) {
    return m.c.request("POST", "/streams/" + stream_id + "/drops/" + drop_id + "/buy",
                       "{\"address_id\":" + quote(address) + ",\"quantity\":" + std::to_string(quantity) + "}",
                       {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                        {"Idempotency-Key", key}});
  };
  const auto over_limit = "over-" + unique_suffix();
  const auto in_limit = "in-" + unique_suffix();

  m.cluster.stop();
  auto refused = buy(over_limit, 2); // over the per-buyer limit: known without the database
  INFO(refused.body);
  CHECK(refused.status == 503);
  check_retry_after(refused);
  auto sale = buy(in_limit, 1); // a sale cannot commit
  INFO(sale.body);
  CHECK(sale.status == 503);
  check_retry_after(sale);

  m.cluster.start();
  m.await_ready();
  auto stored = buy(over_limit, 2);
  INFO(stored.body);
  CHECK(stored.status == 409);
  CHECK(buy(over_limit, 2).body == stored.body);
  auto bought = buy(in_limit, 1);
  INFO(bought.body);
  CHECK(bought.status == 201);
  CHECK(buy(in_limit, 1).body == bought.body);
  CHECK(count(m.url, "SELECT count(*) FROM orders WHERE buyer_id = " + buyer.id) == "1");
}
