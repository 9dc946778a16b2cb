// End-to-end tests of the Stripe gateway against a loopback stand-in for
// Stripe's REST API: the requests it makes, declines, refunds, Google Pay
// tokens, and `livemart reconcile` from the command line.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <protocol/json.hpp>
#include <protocol/payments.hpp>
#include <protocol/wire/payments.hpp>

#include "api.hpp"
#include "fake_stripe.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

std::vector<std::string> stripe_flags(const fake_stripe& stripe, std::vector<std::string> extra) {
  extra.push_back("--payments.gateway=stripe");
  extra.push_back("--payments.stripe_base_url=" + stripe.base_url());
  extra.push_back(std::string{"--payments.stripe_secret_key="} + fake_stripe::secret_key);
  return extra;
}

struct stripe_scene {
  explicit stripe_scene(std::vector<std::string> extra = {}) : m{stripe_flags(stripe, std::move(extra))} {
    s = open_shop(m);
    product = listing(m, s, "Camera", 2000, 5);
    buyer = sign_up(m.c, "buyer");
    address = add_address(m.c, buyer);
  }
  fake_stripe stripe;
  marketplace m;
  shop s;
  std::string product;
  api_user buyer;
  std::string address;

  json::value place(const std::string& payment) {
    auto c = m.c.post("/orders/checkout", checkout_body({{product, 1}}, address), buyer.token);
    REQUIRE(c.status == 201);
    auto r = m.c.request("POST", "/orders", "{\"checkout_id\":" + quote(c.json().string_or("id")) + "," + payment + "}",
                         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                          {"Idempotency-Key", "k-" + unique_suffix()}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    return r.json().find("orders")->as_array().at(0);
  }

  std::vector<fake_stripe::call> calls_to(const std::string& target) {
    std::vector<fake_stripe::call> out;
    for (auto& c : stripe.calls())
      if (c.target == target)
        out.push_back(c);
    return out;
  }
};

/// A loopback port that takes connections (the kernel completes them) and
/// never reads or answers: a gateway that hangs.
struct black_hole {
  black_hole() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~black_hole() { ::close(fd); }
  black_hole(const black_hole&) = delete;
  black_hole& operator=(const black_hole&) = delete;
  int fd = -1;
  std::uint16_t port = 0;
};

} // namespace

TEST_CASE("stripe: a gateway that never answers costs one timeout, and the payment stays unknown",
          "[e2e][orders][stripe][promises]") {
  black_hole hang;
  marketplace m{{"--payments.gateway=stripe", "--payments.stripe_base_url=http://127.0.0.1:" + std::to_string(hang.port),
                 std::string{"--payments.stripe_secret_key="} + fake_stripe::secret_key,
                 "--payments.gateway_timeout_ms=400"}};
  auto s = open_shop(m);
  auto product = listing(m, s, "Camera", 2000, 5);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto body = checkout_body({{product, 1}}, address);
  body.insert(body.size() - 1, R"(,"payment_method":"pm_card_visa")");
  std::vector<std::pair<std::string, std::string>> headers{
    {"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token}, {"Idempotency-Key", "hang-1"}};
  auto started = std::chrono::steady_clock::now();
  auto placed = m.c.request("POST", "/orders", body, headers);
  auto took = std::chrono::steady_clock::now() - started;
  INFO(placed.body);
  REQUIRE(placed.status == 201);
  // The order is placed and committed; its payment's outcome is unknown
  // (the charge may have reached Stripe), so it stays `created`.
  auto doc = placed.json();
  const auto& order = doc.find("orders")->as_array().at(0);
  auto id = order.string_or("id");
  CHECK(order.string_or("status") == "pending");
  CHECK(order.find("payment")->string_or("status") == "created");
  // One gateway timeout, not the request budget.
  CHECK(took < std::chrono::seconds{4});
  CHECK(stock_of(m, product) == 4);
  // A second charge could pay twice: refused until the first settles.
  auto again = m.c.post("/orders/" + id + "/pay", R"({"payment_method":"pm_card_visa"})", buyer.token);
  check_problem(again, 409, "conflict");
  CHECK(again.json().string_or("detail").find("not known yet") != std::string::npos);
  // The key replays the stored reply, not a second order or charge.
  auto replay = m.c.request("POST", "/orders", body, headers);
  CHECK(replay.status == placed.status);
  CHECK(replay.body == placed.body);
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "1");
  CHECK(sql(m.db.url(), "SELECT count(*), min(status) FROM payments").rows[0][0].text == "1");
}

TEST_CASE("stripe: a payment is a confirmed PaymentIntent, made idempotently", "[e2e][orders][stripe]") {
  stripe_scene sc;
  auto o = sc.place("\"payment_method\":\"pm_card_visa\"");
  CHECK(o.string_or("status") == "confirmed");
  auto creates = sc.calls_to("/v1/payment_intents");
  REQUIRE(creates.size() == 1);
  const auto& call = creates[0];
  CHECK(call.method == "POST");
  CHECK(call.authorization == std::string{"Bearer "} + fake_stripe::secret_key);
  CHECK(call.form.at("amount") == std::to_string(integer_field(o, "total_minor")));
  CHECK(call.form.at("currency") == "eur");
  CHECK(call.form.at("confirm") == "true");
  CHECK(call.form.at("payment_method") == "pm_card_visa");
  CHECK(call.form.at("metadata[order_id]") == o.string_or("id"));
  CHECK(call.idempotency_key == "livemart-payment-" + call.form.at("metadata[payment_id]"));
  CHECK(sql(sc.m.db.url(), "SELECT gateway, gateway_ref, status FROM payments").rows[0][1].text.rfind("pi_fake_", 0) == 0);
}

TEST_CASE("stripe: a decline is a 402 naming the method, and Google Pay tokens pass through", "[e2e][orders][stripe]") {
  stripe_scene sc;
  auto o = sc.place("\"payment_method\":\"pm_card_chargeDeclined\"");
  CHECK(o.string_or("status") == "pending");
  CHECK(o.find("payment")->string_or("failure_reason") == "generic_decline");
  auto id = o.string_or("id");
  auto again = sc.m.c.post("/orders/" + id + "/pay", R"({"google_pay_token":"tok_decline_google"})", sc.buyer.token);
  check_problem(again, 402, "payment-declined");
  CHECK(again.error_fields() == std::vector<std::string>{"google_pay_token"});
  auto paid = sc.m.c.post("/orders/" + id + "/pay", R"({"google_pay_token":"tok_visa_google"})", sc.buyer.token);
  INFO(paid.body);
  REQUIRE(paid.status == 200);
  CHECK(paid.json().string_or("status") == "confirmed");
  auto creates = sc.calls_to("/v1/payment_intents");
  REQUIRE(creates.size() == 3);
  CHECK(creates[2].form.at("payment_method_data[type]") == "card");
  CHECK(creates[2].form.at("payment_method_data[card][token]") == "tok_visa_google");
  CHECK(creates[2].form.count("payment_method") == 0);
  // Three attempts, three idempotency keys.
  CHECK(creates[0].idempotency_key != creates[1].idempotency_key);
  CHECK(creates[1].idempotency_key != creates[2].idempotency_key);
}

TEST_CASE("stripe: with capture on shipping, the PaymentIntent is captured when the seller ships", "[e2e][orders][stripe]") {
  stripe_scene sc{{"--payments.capture=on_ship"}};
  auto o = sc.place("\"payment_method\":\"pm_card_visa\"");
  auto id = o.string_or("id");
  CHECK(o.string_or("status") == "confirmed");
  CHECK(o.find("payment")->string_or("status") == "authorized");
  auto create = sc.calls_to("/v1/payment_intents").at(0);
  CHECK(create.form.at("capture_method") == "manual");
  auto shipped = sc.m.c.post("/orders/" + id + "/ship", R"({"carrier":"UPS","tracking_number":"1Z1"})", sc.s.owner.token);
  INFO(shipped.body);
  REQUIRE(shipped.status == 200);
  auto ref = sql(sc.m.db.url(), "SELECT gateway_ref, status FROM payments WHERE order_id = " + id).rows[0];
  CHECK(ref[1].text == "succeeded");
  auto captures = sc.calls_to("/v1/payment_intents/" + ref[0].text + "/capture");
  REQUIRE(captures.size() == 1);
  CHECK(captures[0].idempotency_key == "livemart-capture-" + create.form.at("metadata[payment_id]"));
}

TEST_CASE("stripe: cancelling a paid order refunds it through the API", "[e2e][orders][stripe]") {
  stripe_scene sc;
  auto o = sc.place("\"payment_method\":\"pm_card_visa\"");
  auto id = o.string_or("id");
  auto cancelled = sc.m.c.post("/orders/" + id + "/cancel", R"({"reason":"duplicate order"})", sc.buyer.token);
  INFO(cancelled.body);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.json().string_or("status") == "cancelled");
  auto refunds = sc.calls_to("/v1/refunds");
  REQUIRE(refunds.size() == 1);
  CHECK(refunds[0].form.at("amount") == std::to_string(integer_field(o, "total_minor")));
  CHECK(refunds[0].form.at("payment_intent").rfind("pi_fake_", 0) == 0);
  CHECK(refunds[0].idempotency_key.rfind("livemart-refund-", 0) == 0);
  CHECK(stock_of(sc.m, sc.product) == 5);
}

TEST_CASE("stripe: `livemart reconcile` reports a capture we missed, the serving node repairs it", "[e2e][orders][stripe]") {
  stripe_scene sc;
  auto o = sc.place("\"payment_method\":\"pm_card_processing\"");
  auto id = o.string_or("id");
  CHECK(o.find("payment")->string_or("status") == "processing");
  // Stripe cannot stop a processing payment: neither can the buyer cancel.
  auto cancel = sc.m.c.post("/orders/" + id + "/cancel", "", sc.buyer.token);
  check_problem(cancel, 409, "conflict");
  CHECK(cancel.json().string_or("detail").find("cannot be stopped") != std::string::npos);
  CHECK(sc.m.c.get("/orders/" + id, sc.buyer.token).json().string_or("status") == "pending");
  // Stripe captures; its webhook never arrives.
  auto ref = sql(sc.m.db.url(), "SELECT gateway_ref FROM payments WHERE order_id = " + id).rows[0][0].text;
  sc.stripe.settle(ref);

  std::vector<std::pair<std::string, std::string>> env{
    {"DATABASE_URL", sc.m.db.url()},
    {"LIVEMART_PAYMENTS_GATEWAY", "stripe"},
    {"LIVEMART_PAYMENTS_STRIPE_BASE_URL", sc.stripe.base_url()},
    {"LIVEMART_PAYMENTS_STRIPE_SECRET_KEY", fake_stripe::secret_key}};
  auto [code, output] = server_process::run({"reconcile", "hours=1"}, env);
  INFO(output);
  CHECK(code == 3);
  CHECK(output.find("captured_order_pending") != std::string::npos);
  CHECK(output.find(fake_stripe::secret_key) == std::string::npos);
  CHECK(sc.m.c.get("/orders/" + id, sc.buyer.token).json().string_or("status") == "pending");

  auto repaired = sc.m.c.post("/admin/payments/reconcile?repair=true", "", sc.m.admin.token);
  INFO(repaired.body);
  REQUIRE(repaired.status == 200);
  CHECK(sc.m.c.get("/orders/" + id, sc.buyer.token).json().string_or("status") == "confirmed");
  auto [after, report] = server_process::run({"reconcile", "hours=1"}, env);
  INFO(report);
  CHECK(after == 0);
  auto [sandbox, why] = server_process::run({"reconcile"}, {{"DATABASE_URL", sc.m.db.url()}});
  CHECK(sandbox == 2);
  CHECK(why.find("/admin/payments/reconcile") != std::string::npos);
}

TEST_CASE("stripe: a charge whose reply was lost and that succeeded for an order cancelled meanwhile is refunded",
          "[e2e][orders][stripe][promises]") {
  const std::string secret = "whsec_test_lost_0123456789abcdef";
  stripe_scene sc{{"--payments.webhook_secrets=" + secret}};
  // Stripe charges the card; its answer never arrives.
  sc.stripe.lose_next_reply();
  auto o = sc.place("\"payment_method\":\"pm_card_visa\"");
  auto id = o.string_or("id");
  CHECK(o.find("payment")->string_or("status") == "created");
  auto payment_id = o.find("payment")->string_or("id");
  auto intent = sc.stripe.last_intent_id();
  REQUIRE_FALSE(intent.empty());
  auto total = integer_field(o, "total_minor");

  // The buyer cancels before Stripe's event arrives: the units go back.
  auto cancelled = sc.m.c.post("/orders/" + id + "/cancel", R"({"reason":"no confirmation"})", sc.buyer.token);
  INFO(cancelled.body);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.json().string_or("status") == "cancelled");
  CHECK(stock_of(sc.m, sc.product) == 5);

  // Then it does: the money the order no longer needs goes back.
  auto event = "{\"id\":\"evt_lost_" + unique_suffix() + "\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\","
               "\"created\":1700000000,\"data\":{\"object\":{\"id\":" + quote(intent) +
               ",\"object\":\"payment_intent\",\"status\":\"succeeded\",\"amount\":" + std::to_string(total) +
               ",\"amount_received\":" + std::to_string(total) + ",\"currency\":\"eur\",\"metadata\":{\"payment_id\":" +
               quote(payment_id) + ",\"order_id\":" + quote(id) + "}}}}";
  auto send = [&] {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    return sc.m.c.request("POST", "/payments/webhook", event,
                          {{"Content-Type", "application/json"},
                           {"Stripe-Signature", sign_stripe_payload(event, secret, now.count())}});
  };
  auto applied = send();
  INFO(applied.body);
  REQUIRE(applied.status == 200);
  CHECK(applied.json().string_or("outcome") == "applied");
  // The refund follows the event's reply: wait (at most 10 s) for it.
  auto refunded = [&] {
    auto now = sc.m.c.get("/orders/" + id, sc.buyer.token).json();
    return integer_field(now.find("payments")->as_array().back(), "refunded_minor") == total;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!refunded() && std::chrono::steady_clock::now() < deadline)
    ::poll(nullptr, 0, 20); // bounded retry pacing: a refund has no push to await
  auto after = sc.m.c.get("/orders/" + id, sc.buyer.token).json();
  CHECK(after.string_or("status") == "cancelled");
  const auto& payment = after.find("payments")->as_array().back();
  CHECK(payment.string_or("status") == "succeeded");
  CHECK(integer_field(payment, "refunded_minor") == total);
  auto refunds = sc.calls_to("/v1/refunds");
  REQUIRE(refunds.size() == 1);
  CHECK(refunds[0].form.at("payment_intent") == intent);
  CHECK(refunds[0].form.at("amount") == std::to_string(total));
  CHECK(stock_of(sc.m, sc.product) == 5);
  CHECK(sql(sc.m.db.url(), "SELECT count(*) FROM order_transitions WHERE to_status = 'confirmed'").rows[0][0].text == "0");

  // The same news again refunds nothing more.
  auto again = send();
  REQUIRE(again.status == 200);
  CHECK(again.json().string_or("outcome") == "duplicate");
  CHECK(sc.calls_to("/v1/refunds").size() == 1);
}
