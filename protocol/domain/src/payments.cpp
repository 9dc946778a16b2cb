#include <protocol/payments.hpp>

namespace livemart {
namespace {

constexpr std::string_view payment_status_names[] = {"created", "processing", "requires_action", "succeeded",
                                                     "failed",  "canceled",   "authorized"};

} // namespace

std::string_view to_string(payment_status s) {
  return payment_status_names[static_cast<std::size_t>(s)];
}

bool from_string(std::string_view text, payment_status& out) {
  for (std::size_t i = 0; i < std::size(payment_status_names); ++i) {
    if (payment_status_names[i] == text) {
      out = static_cast<payment_status>(i);
      return true;
    }
  }
  return false;
}

bool payment_may_move(payment_status current, payment_status next) {
  using ps = payment_status;
  if (current == next || next == ps::created)
    return false;
  switch (current) {
    case ps::created:
      return true;
    case ps::processing:
    case ps::requires_action:
      return true;
    case ps::authorized:
      return next == ps::succeeded || next == ps::canceled;
    case ps::failed:
      return next == ps::succeeded;
    case ps::succeeded:
    case ps::canceled:
      return false;
  }
  return false;
}

bool event_outcome(std::string_view type, payment_status& out) {
  if (type == "payment_intent.succeeded")
    out = payment_status::succeeded;
  else if (type == "payment_intent.payment_failed")
    out = payment_status::failed;
  else if (type == "payment_intent.processing")
    out = payment_status::processing;
  else if (type == "payment_intent.requires_action")
    out = payment_status::requires_action;
  else if (type == "payment_intent.canceled")
    out = payment_status::canceled;
  else if (type == "payment_intent.amount_capturable_updated")
    out = payment_status::authorized;
  else if (type == "charge.refunded")
    out = payment_status::succeeded; // still succeeded; refunded amount in the object
  else
    return false;
  return true;
}

} // namespace livemart
