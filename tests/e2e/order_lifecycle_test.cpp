// End-to-end tests of an order after placement: payments through the
// sandbox gateway, the status state machine, refunds and returned stock,
// expiry, signed webhooks and reconciliation.
#include <catch2/catch.hpp>

#include <poll.h>

#include <chrono>
#include <memory>

#include <protocol/json.hpp>
#include <protocol/payments.hpp>
#include <protocol/wire/payments.hpp>

#include "api.hpp"
#include "ws_client.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

const std::string old_secret = "whsec_test_old_0123456789abcdef";
const std::string new_secret = "whsec_test_new_fedcba9876543210";

/// A shop with one product, a buyer with an address, on one marketplace.
struct scene {
  explicit scene(std::vector<std::string> flags = {}) : m{std::move(flags)} {
    s = open_shop(m);
    product = listing(m, s, "Camera", 2000, 5);
    buyer = sign_up(m.c, "buyer");
    address = add_address(m.c, buyer);
  }
  marketplace m;
  shop s;
  std::string product;
  api_user buyer;
  std::string address;

  /// Checks out `quantity` and places it; `payment` is a fragment such as
  /// "\"payment_method\":\"pm_card_visa\"" (or empty). Returns the order.
  json::value place(int quantity, const std::string& payment = {}) {
    auto c = m.c.post("/orders/checkout", checkout_body({{product, quantity}}, address), buyer.token);
    INFO(c.body);
    REQUIRE(c.status == 201);
    auto body = "{\"checkout_id\":" + quote(c.json().string_or("id")) + (payment.empty() ? "" : "," + payment) + "}";
    auto r = m.c.request("POST", "/orders", body,
                         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                          {"Idempotency-Key", "k-" + unique_suffix()}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    return r.json().find("orders")->as_array().at(0);
  }

  /// Buys `quantity` at once (a direct sale: no checkout, so no hold to
  /// outrun before placing); `payment` as for place(). Returns the order.
  json::value buy_now(int quantity, const std::string& payment = {}) {
    auto body = checkout_body({{product, quantity}}, address);
    if (!payment.empty())
      body.insert(body.size() - 1, "," + payment);
    auto r = m.c.request("POST", "/orders", body,
                         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                          {"Idempotency-Key", "k-" + unique_suffix()}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    REQUIRE(r.json().find("checkout_id")->is_null());
    return r.json().find("orders")->as_array().at(0);
  }

  /// The buyer's user channel, connected and ready: every change of an
  /// order's status is pushed there.
  std::unique_ptr<ws_client> watch_orders() {
    auto channel = std::make_unique<ws_client>(m.srv.port(), "/users/me/ws",
                                               ws_client::header_list{{"Authorization", "Bearer " + buyer.token}});
    REQUIRE(channel->status() == 101);
    channel->await(of_type("ready"));
    return channel;
  }

  http_reply act(const std::string& order, const std::string& action, const std::string& body, const api_user& who) {
    return m.c.post("/orders/" + order + "/" + action, body, who.token);
  }

  json::value get(const std::string& order) {
    auto r = m.c.get("/orders/" + order, buyer.token);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return r.json();
  }

  bool ledger_balances() {
    return sql(m.db.url(), "SELECT p.stock + p.reserved + p.sold = (SELECT sum(quantity) FROM stock_ledger l "
                           "WHERE l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = " + product)
             .rows[0][0].text == "t";
  }
};

const json::value& last_payment(const json::value& order) {
  const auto& list = order.find("payments")->as_array();
  REQUIRE_FALSE(list.empty());
  return list.back();
}

/// Asks for the order until `done(order)` holds (at most 10 s): only for a
/// change nothing is pushed for, such as a payment's later outcome that
/// leaves the order's status as it was. A change of status is awaited on
/// the buyer's channel instead (await_status).
template <class F>
json::value poll_order(scene& sc, const std::string& id, F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  auto o = sc.get(id);
  while (!done(o) && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 20); // bounded retry pacing: there is nothing to await
    o = sc.get(id);
  }
  return o;
}

/// Waits (at most 10 s, failing the test) for the push saying that order
/// `id` moved to `status` on a channel from scene::watch_orders().
void await_status(ws_client& channel, const std::string& id, const std::string& status) {
  channel.await([&](const json::value& msg) {
    return msg.string_or("type") == "order" && msg.string_or("order_id") == id && msg.string_or("status") == status;
  });
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// True when a reply that arrived before now_ms() was certainly served
/// before `deadline_ms` (a time the database rounded to the millisecond).
bool certainly_before(std::int64_t deadline_ms) {
  return now_ms() + 2 < deadline_ms;
}

http_reply send_event(http_client& c, const std::string& body, const std::string& signature) {
  return c.request("POST", "/payments/webhook", body,
                   {{"Content-Type", "application/json; charset=utf-8"}, {"Stripe-Signature", signature}});
}

std::string event_body(const std::string& id, const std::string& type, const std::string& intent,
                       const std::string& status, std::int64_t amount) {
  return "{\"id\":" + quote(id) + ",\"object\":\"event\",\"type\":" + quote(type) +
         ",\"created\":1700000000,\"data\":{\"object\":{\"id\":" + quote(intent) +
         ",\"object\":\"payment_intent\",\"status\":" + quote(status) + ",\"amount\":" + std::to_string(amount) +
         ",\"currency\":\"eur\"}}}";
}

json::value reconcile(scene& sc, bool repair) {
  auto r = sc.m.c.post(std::string{"/admin/payments/reconcile?repair="} + (repair ? "true" : "false"), "",
                       sc.m.admin.token);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return r.json();
}

/// Waits (at most 10 s) until reconciliation sees what the sandbox captured
/// without telling anyone (payments.sandbox_events=false); its mismatches.
json::array await_capture(scene& sc) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  auto report = reconcile(sc, false);
  while (report.find("mismatches")->as_array().empty() && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 20); // bounded retry pacing: a silent capture has nothing to await
    report = reconcile(sc, false);
  }
  return report.find("mismatches")->as_array();
}

std::string webhook_flag() {
  return "--payments.webhook_secrets=" + old_secret + "," + new_secret;
}

} // namespace

TEST_CASE("an order is paid, shipped, delivered and refunded in parts", "[e2e][orders]") {
  scene sc;
  auto o = sc.place(2, "\"payment_method\":\"pm_card_visa\"");
  auto id = o.string_or("id");
  CHECK(o.string_or("status") == "confirmed");
  CHECK(o.find("payment")->string_or("status") == "succeeded");

  // Only the seller ships, with a carrier and a tracking number.
  check_problem(sc.act(id, "ship", R"({"carrier":"DHL","tracking_number":"JD0001"})", sc.buyer), 403, "forbidden");
  auto missing = sc.act(id, "ship", R"({"carrier":"DHL"})", sc.s.owner);
  check_problem(missing, 422, "validation-failed");
  CHECK(missing.error_fields() == std::vector<std::string>{"tracking_number"});
  auto shipped = sc.act(id, "ship", R"({"carrier":"DHL","tracking_number":"JD0001"})", sc.s.owner);
  INFO(shipped.body);
  REQUIRE(shipped.status == 200);
  CHECK(shipped.json().string_or("status") == "shipped");
  CHECK(shipped.json().find("shipping")->string_or("tracking_number") == "JD0001");

  REQUIRE(sc.act(id, "deliver", "", sc.s.owner).status == 200);

  // Refunds: the buyer may not; the seller gives back part, then the rest.
  check_problem(sc.act(id, "refund", R"({"amount_minor":1000})", sc.buyer), 403, "forbidden");
  auto too_much = sc.act(id, "refund", R"({"amount_minor":999999})", sc.s.owner);
  check_problem(too_much, 422, "validation-failed");
  CHECK(too_much.error_fields() == std::vector<std::string>{"amount_minor"});
  auto part = sc.act(id, "refund", R"({"amount_minor":1000,"reason":"scratched lens"})", sc.s.owner);
  INFO(part.body);
  REQUIRE(part.status == 200);
  CHECK(part.json().string_or("status") == "refunded");
  CHECK(integer_field(part.json(), "refunded_minor") == 1000);
  auto rest = sc.act(id, "refund", "", sc.s.owner);
  REQUIRE(rest.status == 200);
  auto total = integer_field(rest.json(), "total_minor");
  CHECK(integer_field(rest.json(), "refunded_minor") == total);
  CHECK(integer_field(last_payment(rest.json()), "refunded_minor") == total);
  check_problem(sc.act(id, "refund", "", sc.s.owner), 409, "conflict");

  // Every transition is recorded, with its reason.
  auto final_order = sc.get(id);
  std::vector<std::string> path;
  std::vector<std::string> reasons;
  for (const auto& t : final_order.find("history")->as_array()) {
    path.push_back(t.string_or("to"));
    reasons.push_back(t.string_or("reason"));
  }
  CHECK(path == std::vector<std::string>{"pending", "confirmed", "shipped", "delivered", "refunded", "refunded"});
  std::string listed;
  for (const auto& r : reasons)
    listed += "\n  " + r;
  INFO("reasons:" << listed);
  REQUIRE(reasons.size() == 6);
  for (std::size_t i = 1; i < reasons.size(); ++i)
    CHECK_FALSE(reasons[i].empty());
  CHECK(reasons[1].find("succeeded") != std::string::npos);
  CHECK(reasons[2] == "shipped with DHL JD0001");
  CHECK(reasons[4].find("scratched lens") != std::string::npos);
  CHECK(reasons[5].find("refund") != std::string::npos);
  CHECK(sql(sc.m.db.url(), "SELECT count(*), sum(amount_minor) FROM refunds WHERE status = 'succeeded'").rows[0][1].text
        == std::to_string(total));
  // Delivered goods stay sold: a refund does not restock.
  CHECK(stock_of(sc.m, sc.product) == 3);
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM stock_ledger WHERE kind = 'return' AND product_id = " + sc.product)
          .rows[0][0].text == "0");
  CHECK(sc.ledger_balances());
}

TEST_CASE("every other transition is a 409 naming the current status", "[e2e][orders]") {
  scene sc;
  auto pending = sc.place(1).string_or("id");
  auto ship = sc.act(pending, "ship", R"({"carrier":"UPS","tracking_number":"1Z999"})", sc.s.owner);
  check_problem(ship, 409, "conflict");
  CHECK(ship.json().string_or("detail").find("pending") != std::string::npos);
  check_problem(sc.act(pending, "deliver", "", sc.s.owner), 409, "conflict");
  check_problem(sc.act(pending, "refund", "", sc.s.owner), 409, "conflict");

  auto paid = sc.place(1, "\"payment_method\":\"pm_card_visa\"").string_or("id");
  auto again = sc.act(paid, "pay", R"({"payment_method":"pm_card_visa"})", sc.buyer);
  check_problem(again, 409, "conflict");
  CHECK(again.json().string_or("detail").find("confirmed") != std::string::npos);
  check_problem(sc.act(paid, "deliver", "", sc.s.owner), 409, "conflict");
  check_problem(sc.act(paid, "refund", "", sc.s.owner), 409, "conflict");
  REQUIRE(sc.act(paid, "ship", R"({"carrier":"UPS","tracking_number":"1Z999"})", sc.s.owner).status == 200);
  auto late = sc.act(paid, "cancel", "", sc.buyer);
  check_problem(late, 409, "conflict");
  CHECK(late.json().string_or("detail").find("shipped") != std::string::npos);

  // Another buyer cannot see or touch the order at all.
  auto stranger = sign_up(sc.m.c, "stranger");
  check_problem(sc.m.c.get("/orders/" + paid, stranger.token), 404, "not-found");
  check_problem(sc.act(paid, "cancel", "", stranger), 404, "not-found");
  check_problem(sc.act(pending, "pay", R"({"payment_method":"pm_card_visa"})", stranger), 404, "not-found");
  // The seller does not pay; card details are refused outright.
  check_problem(sc.act(pending, "pay", R"({"payment_method":"pm_card_visa"})", sc.s.owner), 403, "forbidden");
  auto card = sc.act(pending, "pay", R"({"payment_method":"4242424242424242"})", sc.buyer);
  check_problem(card, 422, "validation-failed");
  CHECK(card.error_fields() == std::vector<std::string>{"payment_method"});
}

TEST_CASE("a declined payment leaves the order pending until another method succeeds", "[e2e][orders]") {
  scene sc;
  auto o = sc.place(1, "\"payment_method\":\"pm_card_chargeDeclined\"");
  auto id = o.string_or("id");
  CHECK(o.string_or("status") == "pending");
  CHECK(o.find("payment")->string_or("status") == "failed");
  CHECK(o.find("payment")->string_or("failure_reason") == "card_declined");

  auto declined = sc.act(id, "pay", R"({"payment_method":"pm_card_chargeDeclinedInsufficientFunds"})", sc.buyer);
  check_problem(declined, 402, "payment-declined");
  CHECK(declined.error_fields() == std::vector<std::string>{"payment_method"});
  CHECK(sc.get(id).string_or("status") == "pending");

  auto paid = sc.act(id, "pay", R"({"google_pay_token":"tok_visa_from_google_pay"})", sc.buyer);
  INFO(paid.body);
  REQUIRE(paid.status == 200);
  auto receipt = paid.json();
  CHECK(receipt.string_or("status") == "confirmed");
  const auto& payments = receipt.find("payments")->as_array();
  REQUIRE(payments.size() == 3);
  CHECK(payments[2].string_or("method") == "google_pay");
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM payments WHERE method = 'google_pay'").rows[0][0].text == "1");
  // Tokens are never stored: no row of any table holds it.
  auto holding = sql(sc.m.db.url(),
                     "SELECT string_agg(t.table_name, ', ') FROM information_schema.tables t WHERE t.table_schema = "
                     "'public' AND t.table_type = 'BASE TABLE' AND query_to_xml(format('SELECT 1 FROM %I x WHERE x::text "
                     "LIKE %L', t.table_name, '%tok_visa_from_google_pay%'), false, true, '')::text <> ''");
  CHECK(holding.rows[0][0].is_null);
}

TEST_CASE("paying again while 3-D Secure is pending stops the first payment: one charge", "[e2e][orders]") {
  scene sc;
  auto o = sc.place(1, "\"payment_method\":\"pm_card_authenticationRequired\"");
  auto id = o.string_or("id");
  CHECK(o.find("payment")->string_or("status") == "requires_action");
  auto paid = sc.act(id, "pay", R"({"payment_method":"pm_card_visa"})", sc.buyer);
  INFO(paid.body);
  REQUIRE(paid.status == 200);
  auto doc = paid.json();
  CHECK(doc.string_or("status") == "confirmed");
  const auto& payments = doc.find("payments")->as_array();
  REQUIRE(payments.size() == 2);
  CHECK(payments[0].string_or("status") == "canceled");
  CHECK(payments[1].string_or("status") == "succeeded");
}

TEST_CASE("capturing on shipping: paying authorizes, shipping captures, cancelling releases", "[e2e][orders]") {
  scene sc{{"--payments.capture=on_ship"}};
  auto o = sc.place(1, "\"payment_method\":\"pm_card_visa\"");
  auto id = o.string_or("id");
  CHECK(o.string_or("status") == "confirmed");
  CHECK(o.find("payment")->string_or("status") == "authorized");
  auto shipped = sc.act(id, "ship", R"({"carrier":"DHL","tracking_number":"JD9"})", sc.s.owner);
  INFO(shipped.body);
  REQUIRE(shipped.status == 200);
  CHECK(shipped.json().string_or("status") == "shipped");
  CHECK(last_payment(sc.get(id)).string_or("status") == "succeeded");

  auto held = sc.place(1, "\"payment_method\":\"pm_card_visa\"").string_or("id");
  CHECK(stock_of(sc.m, sc.product) == 3);
  auto cancelled = sc.act(held, "cancel", "", sc.buyer);
  INFO(cancelled.body);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.json().string_or("status") == "cancelled");
  CHECK(last_payment(sc.get(held)).string_or("status") == "canceled");
  CHECK(integer_field(sc.get(held), "refunded_minor") == 0); // nothing was taken, nothing to give back
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM refunds").rows[0][0].text == "0");
  CHECK(stock_after_return(sc.m, sc.product, 4) == 4);
  CHECK(sc.ledger_balances());
}

TEST_CASE("cancelling gives the stock back, and refunds a paid order", "[e2e][orders]") {
  scene sc;
  auto pending = sc.place(2).string_or("id");
  CHECK(stock_of(sc.m, sc.product) == 3);
  auto cancelled = sc.act(pending, "cancel", R"({"reason":"changed my mind"})", sc.buyer);
  INFO(cancelled.body);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.json().string_or("status") == "cancelled");
  CHECK(stock_after_return(sc.m, sc.product, 5) == 5);

  auto paid = sc.place(1, "\"payment_method\":\"pm_card_visa\"").string_or("id");
  CHECK(stock_of(sc.m, sc.product) == 4);
  auto by_seller = sc.act(paid, "cancel", R"({"reason":"out of stock in the warehouse"})", sc.s.owner);
  INFO(by_seller.body);
  REQUIRE(by_seller.status == 200);
  auto doc = by_seller.json();
  CHECK(doc.string_or("status") == "cancelled");
  CHECK(integer_field(doc, "refunded_minor") == integer_field(doc, "total_minor"));
  CHECK(stock_after_return(sc.m, sc.product, 5) == 5);
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM stock_ledger WHERE kind = 'return'").rows[0][0].text == "2");
  CHECK(sc.ledger_balances());
}

TEST_CASE("an unpaid order is cancelled when its hold ends", "[e2e][orders]") {
  scene sc{{"--orders.hold_ttl_s=1", "--orders.expiry_sweep_interval_ms=50"}};
  auto channel = sc.watch_orders();
  // A buy-now: with no checkout to place, no step has to beat the one-second hold.
  auto id = sc.buy_now(3, "\"payment_method\":\"pm_card_chargeDeclined\"").string_or("id");
  auto due = sql(sc.m.db.url(), "SELECT (extract(epoch FROM payment_due_at) * 1000)::bigint FROM orders WHERE id = " + id);
  auto due_ms = std::stoll(due.rows[0][0].text);
  // The sale took the units: its ledger entry stays, whatever the sweeper did since.
  auto sale = sql(sc.m.db.url(), "SELECT kind, quantity FROM stock_ledger WHERE order_id = " + id + " ORDER BY id");
  REQUIRE_FALSE(sale.rows.empty());
  CHECK(sale.rows[0][0].text == "sale");
  CHECK(sale.rows[0][1].text == "3");
  // On a slow machine the hold may be over before the next request: the
  // stock must show the sale only when that reply came before the hold's end.
  auto during = stock_of(sc.m, sc.product);
  if (certainly_before(due_ms))
    CHECK(during == 2);
  else
    CHECK((during == 2 || during == 5));

  await_status(*channel, id, "cancelled");
  auto o = sc.get(id);
  CHECK(o.string_or("status") == "cancelled");
  CHECK(o.find("history")->as_array().back().string_or("reason") == "not paid before the hold ended");
  // Not before the hold's end, by the database's clock (the cancelling
  // transaction started after it).
  CHECK(sql(sc.m.db.url(), "SELECT bool_and(t.at >= o.payment_due_at) FROM order_transitions t JOIN orders o ON "
                           "o.id = t.order_id WHERE t.to_status = 'cancelled' AND o.id = " + id)
          .rows[0][0].text == "t");
  CHECK(await_stock(sc.m, sc.product, 5));
  check_problem(sc.act(id, "pay", R"({"payment_method":"pm_card_visa"})", sc.buyer), 409, "conflict");
  CHECK(sc.ledger_balances());
}

TEST_CASE("a payment that fails later leaves the order pending with the reason", "[e2e][orders]") {
  scene sc{{"--payments.sandbox_settle_ms=20"}};
  auto channel = sc.watch_orders();
  auto o = sc.place(1, "\"payment_method\":\"pm_sandbox_async_fail\"");
  CHECK(o.find("payment")->string_or("status") == "processing");
  auto id = o.string_or("id");
  // The order stays pending, so no push says when the payment settled.
  auto settled = poll_order(sc, id, [](const json::value& x) { return last_payment(x).string_or("status") != "processing"; });
  CHECK(last_payment(settled).string_or("status") == "failed");
  CHECK(last_payment(settled).string_or("failure_reason") == "card_declined");
  CHECK(settled.string_or("status") == "pending");

  auto later = sc.place(1, "\"payment_method\":\"pm_sandbox_async_succeed\"").string_or("id");
  await_status(*channel, later, "confirmed");
  CHECK(sc.get(later).string_or("status") == "confirmed");
}

TEST_CASE("paying again while a payment is processing stops it first: one charge", "[e2e][orders]") {
  // The sandbox settles after ten minutes: the first payment is processing
  // for the whole test, however slow the machine.
  scene sc{{"--payments.sandbox_settle_ms=600000"}};
  auto o = sc.place(1, "\"payment_method\":\"pm_sandbox_async_succeed\"");
  auto id = o.string_or("id");
  REQUIRE(o.find("payment")->string_or("status") == "processing");
  auto paid = sc.act(id, "pay", R"({"payment_method":"pm_card_visa"})", sc.buyer);
  INFO(paid.body);
  REQUIRE(paid.status == 200);
  auto doc = paid.json();
  CHECK(doc.string_or("status") == "confirmed");
  const auto& payments = doc.find("payments")->as_array();
  REQUIRE(payments.size() == 2);
  CHECK(payments[0].string_or("status") == "canceled");
  CHECK(payments[1].string_or("status") == "succeeded");
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM payments WHERE status = 'succeeded' AND order_id = " + id)
          .rows[0][0].text == "1");
}

TEST_CASE("webhooks: signatures, rotation, duplicates and order of arrival", "[e2e][orders]") {
  scene sc{{webhook_flag()}};
  auto o = sc.place(1, "\"payment_method\":\"pm_card_authenticationRequired\"");
  auto id = o.string_or("id");
  CHECK(o.string_or("status") == "pending");
  CHECK(o.find("payment")->string_or("status") == "requires_action");
  CHECK_FALSE(o.find("payment")->string_or("next_action_url").empty());
  auto intent = last_payment(sc.get(id)).string_or("gateway_ref");
  REQUIRE_FALSE(intent.empty());
  auto total = integer_field(o, "total_minor");
  auto succeeded = event_body("evt_ok_" + unique_suffix(), "payment_intent.succeeded", intent, "succeeded", total);

  // Bad signatures change nothing.
  check_problem(send_event(sc.m.c, succeeded, ""), 400, "bad-request");
  check_problem(send_event(sc.m.c, succeeded, sign_stripe_payload(succeeded, "whsec_wrong", now_s())), 400,
                "bad-request");
  auto tampered = succeeded;
  tampered.replace(tampered.find("\"amount\":") + 9, 1, "9");
  check_problem(send_event(sc.m.c, tampered, sign_stripe_payload(succeeded, old_secret, now_s())), 400, "bad-request");
  auto stale = send_event(sc.m.c, succeeded, sign_stripe_payload(succeeded, old_secret, now_s() - 301));
  check_problem(stale, 400, "bad-request");
  CHECK(stale.json().string_or("detail").find("tolerance") != std::string::npos);
  CHECK(sc.get(id).string_or("status") == "pending");

  // Signed with the newer secret of a rotation, and one of several v1 values.
  auto header = sign_stripe_payload(succeeded, new_secret, now_s());
  header.insert(header.find(",v1=") + 1, "v1=" + std::string(64, '0') + ",");
  auto ok = send_event(sc.m.c, succeeded, header);
  INFO(ok.body);
  REQUIRE(ok.status == 200);
  CHECK(ok.json().string_or("outcome") == "applied");
  CHECK(sc.get(id).string_or("status") == "confirmed");

  // The same event again: applied once.
  auto again = send_event(sc.m.c, succeeded, sign_stripe_payload(succeeded, old_secret, now_s()));
  REQUIRE(again.status == 200);
  CHECK(again.json().string_or("outcome") == "duplicate");
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM order_transitions WHERE to_status = 'confirmed' AND order_id = " + id)
          .rows[0][0].text == "1");

  // An older failure that arrives after the success does not undo it.
  auto failed = event_body("evt_old_" + unique_suffix(), "payment_intent.payment_failed", intent, "requires_payment_method", total);
  auto late = send_event(sc.m.c, failed, sign_stripe_payload(failed, old_secret, now_s()));
  REQUIRE(late.status == 200);
  CHECK(late.json().string_or("outcome") == "ignored");
  CHECK(sc.get(id).string_or("status") == "confirmed");
  CHECK(last_payment(sc.get(id)).string_or("status") == "succeeded");
}

TEST_CASE("a capture that races the buyer's cancellation is refunded", "[e2e][orders][one_node]") {
  scene sc{{"--payments.sandbox_events=false", "--payments.sandbox_settle_ms=20"}};
  auto o = sc.place(1, "\"payment_method\":\"pm_sandbox_async_succeed\"");
  auto id = o.string_or("id");
  REQUIRE(await_capture(sc).size() == 1);
  // We still see it processing; cancelling finds it captured at the gateway.
  CHECK(last_payment(sc.get(id)).string_or("status") == "processing");
  auto cancelled = sc.act(id, "cancel", "", sc.buyer);
  INFO(cancelled.body);
  REQUIRE(cancelled.status == 200);
  auto after = cancelled.json();
  CHECK(after.string_or("status") == "cancelled");
  CHECK(last_payment(after).string_or("status") == "succeeded");
  auto total = integer_field(after, "total_minor");
  CHECK(integer_field(last_payment(after), "refunded_minor") == total);
  CHECK(stock_after_return(sc.m, sc.product, 5) == 5);
  CHECK(reconcile(sc, false).find("mismatches")->as_array().empty());
}

TEST_CASE("reconciliation finds a capture we missed and repairs it", "[e2e][orders][one_node]") {
  scene sc{{"--payments.sandbox_events=false", "--payments.sandbox_settle_ms=20"}};
  auto o = sc.place(1, "\"payment_method\":\"pm_sandbox_async_succeed\"");
  auto id = o.string_or("id");
  check_problem(sc.m.c.post("/admin/payments/reconcile", "", sc.buyer.token), 403, "forbidden");
  check_problem(sc.m.c.post("/admin/payments/reconcile?from=5&to=4", "", sc.m.admin.token), 400, "bad-request");
  auto found = await_capture(sc);
  REQUIRE(found.size() == 1);
  CHECK(found[0].string_or("kind") == "captured_order_pending");
  CHECK(found[0].string_or("order_id") == id);
  CHECK(sc.get(id).string_or("status") == "pending");

  auto repaired = reconcile(sc, true);
  CHECK(repaired.find("mismatches")->as_array().at(0).find("repaired")->as_bool());
  CHECK(sc.get(id).string_or("status") == "confirmed");
  CHECK(reconcile(sc, false).find("mismatches")->as_array().empty());
}

TEST_CASE("reviews: delivered buyers only, once each, and the ratings follow", "[e2e][orders][reviews]") {
  scene sc;
  auto review = [&](const api_user& who, const std::string& body) {
    return sc.m.c.post("/products/" + sc.product + "/reviews", body, who.token);
  };
  auto id = sc.place(1, "\"payment_method\":\"pm_card_visa\"").string_or("id");
  // Paid is not enough, nor shipped: the order must have been delivered.
  check_problem(review(sc.buyer, R"({"rating":5})"), 403, "forbidden");
  REQUIRE(sc.act(id, "ship", R"({"carrier":"DHL","tracking_number":"JD2"})", sc.s.owner).status == 200);
  check_problem(review(sc.buyer, R"({"rating":5})"), 403, "forbidden");
  REQUIRE(sc.act(id, "deliver", "", sc.s.owner).status == 200);

  auto bad = review(sc.buyer, R"({"rating":6,"title":"great"})");
  check_problem(bad, 422, "validation-failed");
  CHECK(bad.error_fields() == std::vector<std::string>{"rating"});
  auto created = review(sc.buyer, R"({"rating":4,"title":"Sharp lens","body":"Arrived well packed.\nRecommended."})");
  INFO(created.body);
  REQUIRE(created.status == 201);
  CHECK(integer_field(created.json(), "rating") == 4);
  CHECK(created.json().find("verified_purchase")->as_bool());
  // The reply names the reviewer as the list does, and no list shows an
  // account id.
  CHECK(created.json().string_or("buyer_name") == "Test");
  CHECK(created.json().find("buyer_id") == nullptr);
  check_problem(review(sc.buyer, R"({"rating":1})"), 409, "conflict");
  auto stranger = sign_up(sc.m.c, "stranger");
  check_problem(review(stranger, R"({"rating":1})"), 403, "forbidden");
  check_problem(sc.m.c.post("/products/999999/reviews", R"({"rating":3})", sc.buyer.token), 404, "not-found");

  // A second verified buyer, then the aggregates.
  auto second = sign_up(sc.m.c, "buyer2");
  auto second_address = add_address(sc.m.c, second);
  auto c = sc.m.c.post("/orders/checkout", checkout_body({{sc.product, 1}}, second_address), second.token);
  REQUIRE(c.status == 201);
  auto placed = sc.m.c.request("POST", "/orders",
                               "{\"checkout_id\":" + quote(c.json().string_or("id")) + ",\"payment_method\":\"pm_card_visa\"}",
                               {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + second.token},
                                {"Idempotency-Key", "k-" + unique_suffix()}});
  REQUIRE(placed.status == 201);
  auto second_order = placed.json().find("orders")->as_array().at(0).string_or("id");
  REQUIRE(sc.act(second_order, "ship", R"({"carrier":"DHL","tracking_number":"JD3"})", sc.s.owner).status == 200);
  REQUIRE(sc.act(second_order, "deliver", "", sc.s.owner).status == 200);
  REQUIRE(review(second, R"({"rating":5})").status == 201);

  auto page = sc.m.c.get("/products/" + sc.product + "/reviews?limit=1");
  INFO(page.body);
  REQUIRE(page.status == 200);
  auto doc = page.json();
  REQUIRE(doc.find("items")->as_array().size() == 1);
  CHECK(integer_field(doc.find("items")->as_array()[0], "rating") == 5); // newest first
  CHECK(doc.find("items")->as_array()[0].find("buyer_id") == nullptr);
  CHECK(integer_field(*doc.find("rating"), "count") == 2);
  auto next = sc.m.c.get("/products/" + sc.product + "/reviews?limit=1&cursor=" + doc.string_or("next_cursor"));
  REQUIRE(next.status == 200);
  CHECK(next.json().find("items")->as_array().at(0).string_or("title") == "Sharp lens");
  CHECK(next.json().find("items")->as_array().at(0).string_or("buyer_name") == "Test");
  CHECK(next.json().find("items")->as_array().at(0).find("buyer_id") == nullptr);
  CHECK(integer_field(*sc.m.c.get("/products/" + sc.product).json().find("rating"), "count") == 2);
  auto shop = sc.m.c.get("/sellers/" + sc.s.seller_id).json();
  CHECK(integer_field(*shop.find("rating"), "count") == 2);
  CHECK(shop.find("rating")->find("average")->as_double() == Approx(4.5));
}
