// The order state machine, payment statuses, order commands, and Stripe's
// signatures and events.
#include <catch2/catch.hpp>

#include <protocol/crypto.hpp>
#include <protocol/orders.hpp>
#include <protocol/payments.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/wire/payments.hpp>

using namespace livemart;

namespace {

constexpr order_status all_statuses[] = {order_status::pending,   order_status::confirmed, order_status::shipped,
                                         order_status::delivered, order_status::cancelled, order_status::refunded};
constexpr order_party all_parties[] = {order_party::buyer, order_party::seller, order_party::admin, order_party::system};

/// The allowed (status, action, party) -> status moves, written out.
struct move {
  order_status from;
  order_action action;
  order_party party;
  order_status to;
};
const std::vector<move> allowed = {
  {order_status::pending, order_action::pay, order_party::buyer, order_status::confirmed},
  {order_status::confirmed, order_action::ship, order_party::seller, order_status::shipped},
  {order_status::confirmed, order_action::ship, order_party::admin, order_status::shipped},
  {order_status::shipped, order_action::deliver, order_party::seller, order_status::delivered},
  {order_status::shipped, order_action::deliver, order_party::admin, order_status::delivered},
  {order_status::shipped, order_action::deliver, order_party::system, order_status::delivered},
  {order_status::delivered, order_action::refund, order_party::seller, order_status::refunded},
  {order_status::delivered, order_action::refund, order_party::admin, order_status::refunded},
  {order_status::refunded, order_action::refund, order_party::seller, order_status::refunded},
  {order_status::refunded, order_action::refund, order_party::admin, order_status::refunded},
  {order_status::pending, order_action::expire, order_party::system, order_status::cancelled},
};

std::vector<std::string> fields_of(const decoded<order_command>& d) {
  REQUIRE(std::holds_alternative<problem>(d));
  std::vector<std::string> out;
  for (const auto& f : std::get<problem>(d).fields)
    out.push_back(f.field);
  return out;
}

} // namespace

TEST_CASE("the order state machine allows exactly its moves", "[orders][payments]") {
  for (auto from : all_statuses) {
    for (auto action : {order_action::pay, order_action::ship, order_action::deliver, order_action::refund,
                        order_action::expire, order_action::cancel}) {
      for (auto party : all_parties) {
        CAPTURE(to_string(from), to_string(action), static_cast<int>(party));
        auto rule = order_transition_rule(from, action, party);
        bool expected = false;
        order_status to{};
        if (action == order_action::cancel) {
          expected = from == order_status::pending || from == order_status::confirmed;
          to = order_status::cancelled;
        }
        for (const auto& m : allowed) {
          if (m.from == from && m.action == action && m.party == party) {
            expected = true;
            to = m.to;
          }
        }
        CHECK(rule.allowed == expected);
        if (expected) {
          CHECK(rule.to == to);
        } else {
          CHECK((rule.code == errc::forbidden || rule.code == errc::conflict));
          if (rule.code == errc::conflict)
            CHECK(rule.why.find(std::string{"the order is "} + std::string{to_string(from)}) == 0);
        }
      }
    }
  }
  // Parties that can never do something hear 403 whatever the status.
  CHECK(order_transition_rule(order_status::confirmed, order_action::ship, order_party::buyer).code == errc::forbidden);
  CHECK(order_transition_rule(order_status::pending, order_action::pay, order_party::seller).code == errc::forbidden);
  CHECK(order_transition_rule(order_status::delivered, order_action::refund, order_party::buyer).code == errc::forbidden);
  CHECK(order_transition_rule(order_status::pending, order_action::expire, order_party::buyer).code == errc::forbidden);
}

TEST_CASE("payments only move forward, whatever order news arrives in", "[payments]") {
  using ps = payment_status;
  CHECK(payment_may_move(ps::created, ps::succeeded));
  CHECK(payment_may_move(ps::processing, ps::failed));
  CHECK(payment_may_move(ps::requires_action, ps::processing));
  CHECK(payment_may_move(ps::failed, ps::succeeded));
  CHECK_FALSE(payment_may_move(ps::succeeded, ps::failed));
  CHECK_FALSE(payment_may_move(ps::succeeded, ps::processing));
  CHECK_FALSE(payment_may_move(ps::canceled, ps::succeeded));
  CHECK_FALSE(payment_may_move(ps::failed, ps::processing));
  CHECK_FALSE(payment_may_move(ps::processing, ps::processing));
  CHECK_FALSE(payment_may_move(ps::processing, ps::created));
  // Authorized (capture on shipping): captured or released, nothing else.
  CHECK(payment_may_move(ps::processing, ps::authorized));
  CHECK(payment_may_move(ps::authorized, ps::succeeded));
  CHECK(payment_may_move(ps::authorized, ps::canceled));
  CHECK_FALSE(payment_may_move(ps::authorized, ps::failed));
  CHECK_FALSE(payment_may_move(ps::succeeded, ps::authorized));
}

TEST_CASE("order commands read their fields and name bad ones", "[orders][payments]") {
  conf::settings cfg;
  auto pay = decode_order_command(order_action::pay, R"({"payment_method":"pm_card_visa"})", cfg);
  REQUIRE(std::holds_alternative<order_command>(pay));
  CHECK(std::get<order_command>(pay).method.kind == "card");
  auto google = decode_order_command(order_action::pay, R"({"google_pay_token":"{\"signature\":\"x\"}"})", cfg);
  REQUIRE(std::holds_alternative<order_command>(google));
  CHECK(std::get<order_command>(google).method.kind == "google_pay");
  CHECK(fields_of(decode_order_command(order_action::pay, "{}", cfg)) == std::vector<std::string>{"payment_method"});
  CHECK(fields_of(decode_order_command(order_action::pay, R"({"payment_method":"4242 4242 4242 4242"})", cfg))
        == std::vector<std::string>{"payment_method"});
  CHECK(fields_of(decode_order_command(order_action::pay,
                                       R"({"payment_method":"pm_card_visa","google_pay_token":"t"})", cfg))
        == std::vector<std::string>{"google_pay_token"});
  CHECK(fields_of(decode_order_command(order_action::ship, R"({"carrier":""})", cfg))
        == std::vector<std::string>{"carrier", "tracking_number"});
  CHECK(fields_of(decode_order_command(order_action::refund, R"({"amount_minor":0})", cfg))
        == std::vector<std::string>{"amount_minor"});
  CHECK(fields_of(decode_order_command(order_action::cancel, R"({"reason":"x","price_minor":1})", cfg))
        == std::vector<std::string>{"price_minor"});
  auto empty = decode_order_command(order_action::cancel, "", cfg);
  REQUIRE(std::holds_alternative<order_command>(empty));
  CHECK(std::get<order_command>(empty).reason.empty());
}

TEST_CASE("Stripe signatures: valid, rotated, tampered, stale, malformed", "[payments]") {
  const std::string body = R"({"id":"evt_1","type":"payment_intent.succeeded"})";
  const std::vector<std::string> secrets{"whsec_a", "whsec_b"};
  const std::int64_t now = 1'700'000'000;
  CHECK(verify_stripe_signature(sign_stripe_payload(body, "whsec_a", now), body, secrets, now, 300).empty());
  CHECK(verify_stripe_signature(sign_stripe_payload(body, "whsec_b", now - 299), body, secrets, now, 300).empty());
  // Several v1 values: one matching is enough.
  auto header = "t=" + std::to_string(now) + ",v1=" + std::string(64, 'a') + ",v1="
                + crypto::to_hex(crypto::hmac_sha256("whsec_b", std::to_string(now) + "." + body)) + ",v0=zz";
  CHECK(verify_stripe_signature(header, body, secrets, now, 300).empty());
  CHECK(verify_stripe_signature(sign_stripe_payload(body, "whsec_c", now), body, secrets, now, 300) == "no signature matches");
  CHECK(verify_stripe_signature(sign_stripe_payload(body + " ", "whsec_a", now), body, secrets, now, 300)
        == "no signature matches");
  CHECK(verify_stripe_signature(sign_stripe_payload(body, "whsec_a", now - 301), body, secrets, now, 300)
        == "the timestamp is outside the tolerance");
  CHECK(verify_stripe_signature(sign_stripe_payload(body, "whsec_a", now + 301), body, secrets, now, 300)
        == "the timestamp is outside the tolerance");
  CHECK(verify_stripe_signature("v1=abc", body, secrets, now, 300) == "the header has no timestamp");
  CHECK(verify_stripe_signature("t=12x,v1=abc", body, secrets, now, 300) == "the timestamp is malformed");
  CHECK(verify_stripe_signature("t=1700000000", body, secrets, now, 300) == "the header has no v1 signature");
  CHECK(verify_stripe_signature("", body, {}, now, 300) == "no webhook secret is configured");
}

TEST_CASE("Stripe events and intents decode to what we act on", "[payments]") {
  auto ev = decode_stripe_event(R"({"id":"evt_9","type":"payment_intent.payment_failed","created":17,)"
                                R"("data":{"object":{"id":"pi_1","object":"payment_intent","status":"requires_payment_method",)"
                                R"("amount":2499,"currency":"eur","metadata":{"payment_id":"42","order_id":"7"},)"
                                R"("last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds"}}}})");
  REQUIRE(std::holds_alternative<gateway_event>(ev));
  const auto& e = std::get<gateway_event>(ev);
  CHECK(e.id == "evt_9");
  CHECK(e.object.ref == "pi_1");
  CHECK(e.object.status == payment_status::failed);
  CHECK(e.object.amount_minor == 2499);
  CHECK(e.object.currency == "EUR");
  CHECK(e.object.payment_id == 42);
  CHECK(e.object.order_id == 7);
  CHECK(e.object.failure_reason == "insufficient_funds");
  payment_status outcome{};
  CHECK(event_outcome(e.type, outcome));
  CHECK(outcome == payment_status::failed);
  CHECK_FALSE(event_outcome("customer.created", outcome));
  CHECK(event_outcome("payment_intent.amount_capturable_updated", outcome));
  CHECK(outcome == payment_status::authorized);
  auto held = decode_stripe_intent(R"({"id":"pi_3","status":"requires_capture","amount":7})");
  REQUIRE(std::holds_alternative<gateway_record>(held));
  CHECK(std::get<gateway_record>(held).status == payment_status::authorized);

  auto refunded = decode_stripe_event(R"({"id":"evt_r","type":"charge.refunded","data":{"object":{"id":"ch_1",)"
                                      R"("object":"charge","payment_intent":"pi_1","status":"succeeded","amount_refunded":500,)"
                                      R"("amount_captured":2499}}})");
  REQUIRE(std::holds_alternative<gateway_event>(refunded));
  CHECK(std::get<gateway_event>(refunded).object.ref == "pi_1");
  CHECK(std::get<gateway_event>(refunded).object.amount_refunded_minor == 500);

  CHECK(std::holds_alternative<problem>(decode_stripe_event(R"({"id":"evt_x","type":"t"})")));
  CHECK(std::holds_alternative<problem>(decode_stripe_event("not json")));
  auto action = decode_stripe_intent(R"({"id":"pi_2","status":"requires_action","amount":5,)"
                                     R"("next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://x/3ds"}}})");
  REQUIRE(std::holds_alternative<gateway_record>(action));
  CHECK(std::get<gateway_record>(action).status == payment_status::requires_action);
  CHECK(std::get<gateway_record>(action).next_action_url == "https://x/3ds");
  CHECK(stripe_error_message(R"({"error":{"code":"card_declined","decline_code":"lost_card","message":"Your card was declined."}})")
        == "lost_card: Your card was declined.");
}
