#include <actors/services.hpp>

#include <map>

#include <caf/all.hpp>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/clock.hpp>

namespace livemart {
namespace {

/// A later outcome of the sandbox, due at its time.
using settle_atom = caf::atom_constant<caf::atom("settle")>;

struct sandbox_state {
  std::map<std::string, gateway_record> intents; ///< by ref
  std::map<std::uint64_t, std::string> by_payment; ///< idempotency: our payment id -> ref
  std::map<std::uint64_t, gateway_record> refunds; ///< idempotency: our refund id -> refund
  std::map<std::string, payment_status> later;     ///< ref -> the outcome it settles to
  caf::actor events; ///< where later outcomes are delivered, as events
  std::uint64_t next_event = 0;
  static inline const char* name = "sandbox_gateway";
};

using sandbox_pointer = gateway_actor::stateful_pointer<sandbox_state>;

std::string new_ref(std::string_view prefix) {
  return std::string{prefix} + crypto::to_hex(crypto::random_bytes(12));
}

/// What a test payment method does, in the manner of Stripe's test mode.
struct behaviour {
  payment_status now = payment_status::succeeded;
  payment_status later = payment_status::created; ///< created: nothing later
  std::string reason;
};

behaviour behaviour_of(const payment_method& m) {
  const auto& t = m.token;
  if (m.kind == "google_pay")
    return t.find("decline") != std::string::npos ? behaviour{payment_status::failed, {}, "card_declined"} : behaviour{};
  if (t == "pm_card_visa" || t == "pm_card_mastercard" || t == "pm_card_amex" || t == "pm_card_discover"
      || t == "pm_card_visa_debit")
    return {};
  if (t == "pm_card_chargeDeclined")
    return {payment_status::failed, {}, "card_declined"};
  if (t == "pm_card_chargeDeclinedInsufficientFunds")
    return {payment_status::failed, {}, "insufficient_funds"};
  if (t == "pm_card_chargeDeclinedExpiredCard")
    return {payment_status::failed, {}, "expired_card"};
  if (t == "pm_card_chargeDeclinedFraudulent")
    return {payment_status::failed, {}, "fraudulent"};
  if (t == "pm_card_authenticationRequired" || t == "pm_card_threeDSecure2Required")
    return {payment_status::requires_action, {}, {}};
  if (t == "pm_sandbox_async_succeed")
    return {payment_status::processing, payment_status::succeeded, {}};
  if (t == "pm_sandbox_async_fail")
    return {payment_status::processing, payment_status::failed, "card_declined"};
  return {payment_status::failed, {}, "invalid_payment_method"};
}

gateway_actor::behavior_type sandbox_gateway(sandbox_pointer self, std::chrono::milliseconds settle_after,
                                             bool send_events) {
  // Later outcomes are internal messages, handled by the default handler.
  self->set_default_handler([self, send_events](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (!msg.match_elements<settle_atom, std::string>())
      return caf::sec::unexpected_message;
    auto& st = self->state;
    auto ref = msg.get_as<std::string>(1);
    auto it = st.intents.find(ref);
    auto outcome = st.later.find(ref);
    if (it == st.intents.end() || outcome == st.later.end())
      return caf::message{};
    auto& rec = it->second;
    if (rec.status == payment_status::processing) {
      rec.status = outcome->second;
      if (rec.status == payment_status::succeeded)
        rec.amount_received_minor = rec.amount_minor;
      else
        rec.failure_reason = "card_declined";
    }
    st.later.erase(outcome);
    if (send_events && st.events) {
      gateway_event e;
      e.id = "evt_sandbox_" + std::to_string(++st.next_event) + "_" + ref;
      e.type = rec.status == payment_status::succeeded ? "payment_intent.succeeded" : "payment_intent.payment_failed";
      e.created_s = wall_clock::now_s();
      e.object = rec;
      caf::anon_send(st.events, event_atom::value, std::move(e));
    }
    return caf::message{};
  });
  return {
    [self, settle_after](charge_atom, const gateway_charge& c) -> gateway_record {
      auto& st = self->state;
      if (auto known = st.by_payment.find(c.payment_id); known != st.by_payment.end())
        return st.intents[known->second]; // an idempotent retry
      auto b = behaviour_of(c.method);
      gateway_record rec;
      rec.ref = new_ref("pi_sandbox_");
      rec.status = b.now == payment_status::succeeded && c.capture_later ? payment_status::authorized : b.now;
      rec.amount_minor = c.amount_minor;
      rec.amount_received_minor = rec.status == payment_status::succeeded ? c.amount_minor : 0;
      rec.currency = c.currency;
      rec.failure_reason = b.reason;
      rec.payment_id = c.payment_id;
      rec.order_id = c.order_id;
      rec.created_s = wall_clock::now_s();
      if (b.now == payment_status::requires_action)
        rec.next_action_url = "https://sandbox.livemart.invalid/3ds/" + rec.ref;
      st.by_payment[c.payment_id] = rec.ref;
      st.intents[rec.ref] = rec;
      if (b.later != payment_status::created) {
        st.later[rec.ref] = b.later;
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), settle_after, settle_atom::value, rec.ref);
      }
      return rec;
    },
    [self](refund_atom, const gateway_refund& r) -> gateway_record {
      auto& st = self->state;
      if (auto known = st.refunds.find(r.refund_id); known != st.refunds.end())
        return known->second;
      gateway_record out;
      out.ref = new_ref("re_sandbox_");
      out.amount_minor = r.amount_minor;
      auto it = st.intents.find(r.payment_ref);
      if (it == st.intents.end() || it->second.status != payment_status::succeeded
          || it->second.amount_refunded_minor + r.amount_minor > it->second.amount_received_minor) {
        out.status = payment_status::failed;
        out.failure_reason = it == st.intents.end() ? "resource_missing" : "amount_too_large";
      } else {
        it->second.amount_refunded_minor += r.amount_minor;
        out.status = payment_status::succeeded;
      }
      st.refunds[r.refund_id] = out;
      return out;
    },
    [self](cancel_atom, const std::string& ref) -> caf::result<gateway_record> {
      auto& st = self->state;
      auto it = st.intents.find(ref);
      if (it == st.intents.end())
        return make_error(errc::gateway_unavailable, "no such payment at the gateway");
      auto& rec = it->second;
      if (rec.status == payment_status::processing || rec.status == payment_status::requires_action
          || rec.status == payment_status::failed || rec.status == payment_status::authorized) {
        rec.status = payment_status::canceled;
        st.later.erase(ref);
      }
      return rec;
    },
    [self](capture_atom, const std::string& ref, std::uint64_t) -> caf::result<gateway_record> {
      auto it = self->state.intents.find(ref);
      if (it == self->state.intents.end())
        return make_error(errc::gateway_unavailable, "no such payment at the gateway");
      auto& rec = it->second;
      if (rec.status == payment_status::authorized) {
        rec.status = payment_status::succeeded;
        rec.amount_received_minor = rec.amount_minor;
      }
      return rec; // capturing twice answers the same
    },
    [self](get_atom, const std::string& ref) -> caf::result<gateway_record> {
      auto it = self->state.intents.find(ref);
      if (it == self->state.intents.end())
        return make_error(errc::gateway_unavailable, "no such payment at the gateway");
      return it->second;
    },
    [self](list_atom, std::int64_t from_s, std::int64_t to_s) -> std::vector<gateway_record> {
      std::vector<gateway_record> out;
      for (const auto& [ref, rec] : self->state.intents)
        if (rec.created_s >= from_s && rec.created_s < to_s)
          out.push_back(rec);
      return out;
    },
    [self](put_atom, caf::actor events) { self->state.events = std::move(events); },
  };
}

} // namespace

gateway_actor spawn_sandbox_gateway(caf::actor_system& sys, const conf::payment_settings& cfg) {
  return sys.spawn(sandbox_gateway, std::chrono::milliseconds{cfg.sandbox_settle_ms}, cfg.sandbox_events);
}

} // namespace livemart
