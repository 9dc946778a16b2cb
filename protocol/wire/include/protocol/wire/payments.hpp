#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <protocol/payments.hpp>
#include <protocol/wire/decoded.hpp>

/// The wire formats of Stripe (events, PaymentIntents, signatures), which
/// the gateways and the webhook share, and the JSON of a reconciliation.
namespace livemart {

// -- Stripe's wire formats ---------------------------------------------------------

/// Verifies a `Stripe-Signature` header (`t=<unix s>,v1=<hex>,v1=...`) over
/// the raw body: some v1 must equal HMAC-SHA256(secret, "<t>.<body>") for
/// one of `secrets` (several during a rotation), compared in constant time,
/// and t must be within `tolerance_s` of `now_s`. Returns an empty string
/// when valid, otherwise why not (for the 400's detail).
std::string verify_stripe_signature(std::string_view header, std::string_view raw_body,
                                    const std::vector<std::string>& secrets, std::int64_t now_s,
                                    std::int64_t tolerance_s);

/// The header a gateway sends with `raw_body` at `t`: for tests and the
/// sandbox's own events.
std::string sign_stripe_payload(std::string_view raw_body, std::string_view secret, std::int64_t t);

/// A PaymentIntent object as JSON (a reply of the REST API, or an event's
/// data.object).
decoded<gateway_record> decode_stripe_intent(std::string_view json);
/// An event; charge.* events carry the charge's payment_intent as `object.ref`.
decoded<gateway_event> decode_stripe_event(std::string_view json);
/// A list reply ({"data": [...], "has_more"}) of PaymentIntents.
decoded<std::vector<gateway_record>> decode_stripe_intent_list(std::string_view json, bool& has_more);
/// An error reply's message ({"error": {"message", "code", "decline_code"}}):
/// "decline_code: message" (or code, or message alone).
std::string stripe_error_message(std::string_view json);
/// The PaymentIntent id a declined charge's error carries (error.payment_intent.id), or "".
std::string stripe_error_intent(std::string_view json);
/// A Refund object: ref is the refund's id; pending counts as succeeded
/// (card refunds settle later but are not refused then).
decoded<gateway_record> decode_stripe_refund(std::string_view json);

std::string encode(const reconcile_report& r);

} // namespace livemart
