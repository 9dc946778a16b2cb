// Checkout requests and server-side pricing.
#include <catch2/catch.hpp>

#include <protocol/orders.hpp>
#include <protocol/streams.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/wire/problem.hpp>
#include <protocol/wire/streams.hpp>

using namespace livemart;

namespace {

std::vector<std::string> fields_of(const decoded<checkout_request>& d) {
  REQUIRE(std::holds_alternative<problem>(d));
  std::vector<std::string> out;
  for (const auto& f : std::get<problem>(d).fields)
    out.push_back(f.field);
  return out;
}

} // namespace

TEST_CASE("a checkout request lists products and quantities, and an address", "[orders]") {
  conf::settings cfg;
  auto ok = decode_checkout(R"({"items":[{"product_id":"11","quantity":2},{"product_id":"12","quantity":1}],)"
                            R"("address_id":"7"})",
                            cfg);
  REQUIRE(std::holds_alternative<checkout_request>(ok));
  const auto& r = std::get<checkout_request>(ok);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].product_id == 11);
  CHECK(r.items[0].quantity == 2);
  CHECK(r.address_id == 7);
}

TEST_CASE("bad checkout requests name each offending field", "[orders]") {
  conf::settings cfg;
  cfg.orders.checkout_lines_max = 2;
  cfg.orders.line_quantity_max = 5;
  CHECK(fields_of(decode_checkout(R"({"items":[{"product_id":"x","quantity":0}],"address_id":"1"})", cfg))
        == std::vector<std::string>{"items[0].product_id", "items[0].quantity"});
  CHECK(fields_of(decode_checkout(R"({"items":[{"product_id":"1","quantity":6}],"address_id":"1"})", cfg))
        == std::vector<std::string>{"items[0].quantity"});
  CHECK(fields_of(decode_checkout(R"({"items":[{"product_id":"1","quantity":1},{"product_id":"1","quantity":1}],)"
                                  R"("address_id":"1"})",
                                  cfg))
        == std::vector<std::string>{"items[1].product_id"});
  CHECK(fields_of(decode_checkout(R"({"items":[],"address_id":"1"})", cfg)) == std::vector<std::string>{"items"});
  CHECK(fields_of(decode_checkout(R"({"items":[{"product_id":"1","quantity":1},{"product_id":"2","quantity":1},)"
                                  R"({"product_id":"3","quantity":1}],"address_id":"1"})",
                                  cfg))
        == std::vector<std::string>{"items"});
  CHECK(fields_of(decode_checkout(R"({"items":[{"product_id":"1","quantity":1}]})", cfg))
        == std::vector<std::string>{"address_id"});
  // Prices and totals are never taken from the client: unknown fields, 400.
  auto priced = decode_checkout(R"({"items":[{"product_id":"1","quantity":1,"unit_price_minor":1}],)"
                                R"("address_id":"1","total_minor":1})",
                                cfg);
  REQUIRE(std::holds_alternative<problem>(priced));
  CHECK(std::get<problem>(priced).code == errc::unknown_field);
  CHECK(fields_of(priced) == std::vector<std::string>{"total_minor", "items[0].unit_price_minor"});
  auto not_objects = decode_checkout(R"({"items":[1],"address_id":"1"})", cfg);
  CHECK(std::get<problem>(not_objects).code == errc::invalid_field_type);
}

TEST_CASE("shipping is charged per seller and free from a seller subtotal", "[orders]") {
  conf::order_settings cfg;
  cfg.shipping_per_seller_minor = 500;
  cfg.free_shipping_from_minor = 5'000;
  std::vector<checkout_line> lines{{1, 100, "a", 1'000, 2}, {2, 100, "b", 500, 1}, {3, 200, "c", 3'000, 2}};
  auto t = price_checkout(lines, cfg);
  CHECK(t.subtotal_minor == 8'500);
  CHECK(t.shipping_minor == 500); // seller 100 pays (2,500), seller 200 ships free (6,000)
  CHECK(price_checkout({}, cfg).shipping_minor == 0);
}

TEST_CASE("the state machine's edges are the moves its rules allow", "[orders]") {
  using st = livemart::order_status;
  using livemart::order_edge;
  CHECK(order_edge(st::pending, st::confirmed));
  CHECK(order_edge(st::pending, st::cancelled));
  CHECK(order_edge(st::confirmed, st::shipped));
  CHECK(order_edge(st::confirmed, st::cancelled));
  CHECK(order_edge(st::shipped, st::delivered));
  CHECK(order_edge(st::delivered, st::refunded));
  CHECK(order_edge(st::refunded, st::refunded)); // partial refunds
  CHECK_FALSE(order_edge(st::pending, st::shipped));
  CHECK_FALSE(order_edge(st::shipped, st::cancelled));
  CHECK_FALSE(order_edge(st::delivered, st::pending));
  for (auto to : {st::pending, st::confirmed, st::shipped, st::delivered, st::cancelled, st::refunded})
    CHECK_FALSE(order_edge(st::cancelled, to));
}

TEST_CASE("one fingerprint rule for every purchase under an Idempotency-Key", "[orders][idempotency]") {
  conf::settings cfg;
  auto place = [&](std::string_view body) {
    auto decoded = decode_place(body, cfg);
    REQUIRE(std::holds_alternative<place_request>(decoded));
    return std::get<place_request>(decoded);
  };
  auto a = place(R"({"items":[{"product_id":"11","quantity":2}],"address_id":"7"})");
  // The same request spelled otherwise is the same request.
  auto spaced = place(R"({ "address_id" : "7", "items" : [ { "quantity" : 2, "product_id" : "11" } ] })");
  CHECK(purchase_fingerprint(a) == purchase_fingerprint(spaced));
  // Another quantity, address, product, payment method or drop is not.
  CHECK(purchase_fingerprint(a) != purchase_fingerprint(place(R"({"items":[{"product_id":"11","quantity":3}],"address_id":"7"})")));
  CHECK(purchase_fingerprint(a) != purchase_fingerprint(place(R"({"items":[{"product_id":"11","quantity":2}],"address_id":"8"})")));
  CHECK(purchase_fingerprint(a) != purchase_fingerprint(place(R"({"items":[{"product_id":"12","quantity":2}],"address_id":"7"})")));
  auto paid = a;
  paid.method = {"card", "tok_visa"};
  CHECK(purchase_fingerprint(a) != purchase_fingerprint(paid));
  CHECK(purchase_fingerprint(a) != purchase_fingerprint(a, 5));
  // A drop bought over REST and over the WebSocket with the same fields is one purchase.
  auto rest = decode_drop_buy(R"({"address_id":"7","quantity":1})", cfg);
  REQUIRE(std::holds_alternative<place_request>(rest));
  CHECK(purchase_fingerprint(std::get<place_request>(rest), 9) == purchase_fingerprint(drop_buy_request(7, 1), 9));
}

TEST_CASE("a purchase's outcome renders once and replays as the same bytes", "[orders][idempotency]") {
  order o;
  o.id = 7001;
  o.buyer_id = 2;
  o.seller_id = 3;
  o.currency = "EUR";
  o.items.push_back({11, "Lamp", 1500, 2});
  o.subtotal_minor = 3000;
  o.total_minor = 3000;

  SECTION("a placement: 201 and the placement document; a replay keeps the order ids") {
    auto placed = purchase_outcome::placement(55, {o});
    CHECK(placed.placed);
    CHECK(placed.fresh);
    auto first = render_outcome(placed);
    CHECK(first.status == 201);
    CHECK(first.body == encode_placement(55, {o}));
    auto replay = replayed_outcome(first);
    CHECK(replay.placed);
    CHECK_FALSE(replay.fresh);
    CHECK(replay.order_ids == std::vector<std::uint64_t>{7001});
    auto again = render_outcome(replay);
    CHECK(again.status == first.status);
    CHECK(again.body == first.body);
  }

  SECTION("a sealed outcome is rendered once: the bytes it holds are what is stored and sent") {
    auto placed = sealed(purchase_outcome::placement(55, {o}));
    CHECK(placed.fresh);
    CHECK(placed.recorded.status == 201);
    CHECK(placed.recorded.body == encode_placement(55, {o}));
    // The edge sends what was stored, not a new rendering of the orders.
    auto sent = placed;
    sent.orders.front().total_minor = 1;
    CHECK(render_outcome(sent).body == placed.recorded.body);
    // Sealing again (the orders changed: paid) renders them anew.
    auto paid = sealed(sent);
    CHECK(paid.recorded.body == encode_placement(55, sent.orders));
    CHECK(paid.recorded.body != placed.recorded.body);
  }

  SECTION("a refusal: its status and problem, as of the request that decided it") {
    auto p = make_problem(errc::conflict, "only 1 left");
    p.fields.push_back({"items[0].quantity", "only 1 left"});
    auto refused = purchase_outcome::refused(p, {"/orders", "req-1"});
    CHECK_FALSE(refused.placed);
    CHECK_FALSE(refused.fresh);
    auto first = render_outcome(refused);
    CHECK(first.status == 409);
    CHECK(first.body == render(p, "/orders", "req-1"));
    auto replay = replayed_outcome(first);
    CHECK_FALSE(replay.placed);
    CHECK(replay.refusal.code == errc::conflict); // what the domain needs of it
    CHECK(replay.order_ids.empty());
    CHECK(render_outcome(replay).body == first.body);
  }

  SECTION("a refusal is a client error; our own failures are never an outcome") {
    CHECK(is_refusal(errc::conflict));
    CHECK(is_refusal(errc::validation_failed));
    CHECK(is_refusal(errc::payment_declined));
    CHECK_FALSE(is_refusal(errc::database_unavailable));
    CHECK_FALSE(is_refusal(errc::timeout));
    CHECK_FALSE(is_refusal(errc::gateway_unavailable));
    CHECK(errc_of_slug("limit-reached") == errc::limit_reached);
    CHECK(errc_of_slug("no-such-code") == errc::none);
  }
}
