// POST /payments/webhook as http/src/handlers_orders.cpp handles it: the
// Stripe-Signature header checked over the raw body with the configured
// tolerance and two secrets (a rotation), then, for a body that verifies,
// decode_stripe_event. The decoders of the gateway's replies
// (PaymentIntents, lists, refunds, errors) read the same body too.
//
// Input: the header's value, a newline, then the body. The body is also
// signed correctly with the second secret and checked with the fuzzed
// header's elements around the genuine ones, so decode_stripe_event is
// reached and a good signature is never refused.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <protocol/payments.hpp>
#include <protocol/wire/payments.hpp>

#include "common.hpp"

namespace {

using namespace livemart;
namespace fuzz = livemart::fuzz;

const std::vector<std::string>& secrets() {
  static const std::vector<std::string> list{std::string{fuzz::webhook_secret}, std::string{fuzz::webhook_secret_old}};
  return list;
}

std::int64_t tolerance_s() {
  return fuzz::settings().payments.webhook_tolerance_s;
}

/// The handler after the signature verified.
void on_verified(std::string_view body) {
  auto event = decode_stripe_event(body);
  if (auto* p = std::get_if<problem>(&event)) {
    fuzz::require_renderable(*p, "/payments/webhook");
    return;
  }
  const auto& e = std::get<gateway_event>(event);
  payment_status status{};
  (void)event_outcome(e.type, status);
}

template <class T>
void check(const decoded<T>& result) {
  if (auto* p = std::get_if<problem>(&result))
    fuzz::require_renderable(*p, "/fuzz");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto newline = text.find('\n');
  auto header = text.substr(0, newline);
  auto body = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);

  auto why = verify_stripe_signature(header, body, secrets(), fuzz::now_s, tolerance_s());
  if (why.empty())
    on_verified(body);
  else
    fuzz::require_renderable(make_problem(errc::bad_request, "the Stripe-Signature header does not verify: " + why),
                             "/payments/webhook");

  // A genuine signature verifies, whatever elements without a `t` come
  // around it (Stripe may add schemes such as v0).
  auto genuine = sign_stripe_payload(body, fuzz::webhook_secret_old, fuzz::now_s - 1);
  std::string extra;
  for (char c : header)
    if (c != 't')
      extra += c;
  auto verdict = verify_stripe_signature(extra + "," + genuine + "," + extra, body, secrets(), fuzz::now_s, tolerance_s());
  fuzz::require(verdict.empty(), "a genuine signature verifies");
  on_verified(body);

  check(decode_stripe_intent(body));
  check(decode_stripe_refund(body));
  bool has_more = false;
  check(decode_stripe_intent_list(body, has_more));
  (void)stripe_error_message(body);
  (void)stripe_error_intent(body);
  return 0;
}
