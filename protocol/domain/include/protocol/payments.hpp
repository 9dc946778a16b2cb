#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <protocol/problem.hpp>
#include <protocol/users.hpp>

/// The Payment service's domain types and the gateway's vocabulary. The
/// wire formats of Stripe (events, PaymentIntents, signatures), which the
/// gateways and the webhook share, are in protocol/wire/payments.hpp.
namespace livemart {

/// A payment's life, in Stripe's PaymentIntent terms: `created` before the
/// gateway was reached.
enum class payment_status : std::uint8_t {
  created = 0,
  processing = 1,
  requires_action = 2,
  succeeded = 3,
  failed = 4,
  canceled = 5,
  authorized = 6, ///< held on the buyer's card, to be captured when the seller ships (payments.capture=on_ship)
};
std::string_view to_string(payment_status s);
bool from_string(std::string_view text, payment_status& out);

/// Whether news that a payment is `next` may replace `current`. Replies and
/// events arrive in any order: a payment only moves forward, succeeded and
/// canceled are final, and a failed one can still turn out to have
/// succeeded (money that moved must be recognised), never the reverse.
bool payment_may_move(payment_status current, payment_status next);

/// How a buyer pays: a PaymentMethod id made by the client with the
/// gateway's own SDK ("pm_..."), or a Google Pay token, passed on as is.
/// Card numbers never reach the backend.
struct payment_method {
  std::string kind; ///< "card" or "google_pay"; empty: none given
  std::string token;
};

/// One attempt to pay for an order.
struct payment {
  std::uint64_t id = 0;
  std::uint64_t order_id = 0;
  std::string gateway;
  std::string gateway_ref;     ///< the gateway's id (a PaymentIntent id)
  std::string method;          ///< "card" or "google_pay"
  std::int64_t amount_minor = 0;
  std::string currency;
  payment_status status = payment_status::created;
  std::string failure_reason;  ///< decline code, when failed
  std::string next_action_url; ///< where the buyer completes 3-D Secure, when requires_action
  std::int64_t refunded_minor = 0;
  std::int64_t created_at_ms = 0;
  std::uint64_t pending_refund_id = 0;   ///< a refund whose outcome is unknown: retried under the same id
  std::int64_t pending_refund_minor = 0;
};

// -- the gateway's vocabulary -----------------------------------------------------

/// Create and confirm a charge (automatic capture).
struct gateway_charge {
  std::uint64_t payment_id = 0; ///< also the idempotency key
  std::uint64_t order_id = 0;
  std::int64_t amount_minor = 0;
  std::string currency;
  payment_method method;
  bool capture_later = false; ///< authorize only; capture when the seller ships
};

/// Give back part or all of a captured charge.
struct gateway_refund {
  std::uint64_t refund_id = 0; ///< also the idempotency key
  std::string payment_ref;
  std::int64_t amount_minor = 0;
};

/// What the gateway knows of one charge (a PaymentIntent).
struct gateway_record {
  std::string ref;
  payment_status status = payment_status::created;
  std::int64_t amount_minor = 0;
  std::int64_t amount_received_minor = 0; ///< captured
  std::int64_t amount_refunded_minor = 0;
  std::string currency;
  std::string failure_reason;
  std::string next_action_url;
  std::uint64_t payment_id = 0; ///< our id, from the metadata
  std::uint64_t order_id = 0;
  std::int64_t created_s = 0;
};

/// A gateway event (a webhook), reduced to what we act on.
struct gateway_event {
  std::string id;   ///< "evt_..."; applied once
  std::string type; ///< "payment_intent.succeeded", ...
  std::int64_t created_s = 0;
  gateway_record object; ///< the PaymentIntent (or, for charge.refunded, its intent)
};

/// One difference between our payments and the gateway's records.
struct reconcile_mismatch {
  std::uint64_t payment_id = 0;
  std::uint64_t order_id = 0;
  std::string gateway_ref;
  std::string kind;   ///< captured_order_pending, confirmed_not_captured, amount_differs, refund_differs,
                      ///< refund_owed, missing_at_gateway, unknown_to_us, status_differs
  std::string detail;
  bool repaired = false;
};

/// What a reconciliation found over a window of time.
struct reconcile_report {
  std::int64_t from_s = 0;
  std::int64_t to_s = 0;
  std::uint64_t payments_checked = 0;
  std::uint64_t gateway_records = 0;
  std::vector<reconcile_mismatch> mismatches;
};

/// The event type reconciliation uses for a payment whose outcome was unknown
/// and that the gateway never received (never accepted from outside).
inline constexpr std::string_view missing_payment_event = "livemart.payment_missing";

/// What an event type says a payment became; false for types we ignore.
bool event_outcome(std::string_view type, payment_status& out);

} // namespace livemart
