#include <protocol/wire/payments.hpp>

#include <charconv>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>

namespace livemart {
namespace {

std::int64_t integer_or(const json::value& v, std::string_view key) {
  const auto* x = v.find(key);
  return x != nullptr && x->is_integer() ? x->as_integer() : 0;
}

std::uint64_t id_of(const json::value* metadata, std::string_view key) {
  if (metadata == nullptr)
    return 0;
  return ids::parse(metadata->string_or(key)).value_or(0);
}

/// A Stripe PaymentIntent status in our terms.
payment_status from_stripe(std::string_view status) {
  if (status == "succeeded")
    return payment_status::succeeded;
  if (status == "processing")
    return payment_status::processing;
  if (status == "requires_action" || status == "requires_confirmation")
    return payment_status::requires_action;
  if (status == "canceled")
    return payment_status::canceled;
  if (status == "requires_capture")
    return payment_status::authorized;
  if (status == "requires_payment_method")
    return payment_status::failed; // confirmed and declined: a new method is needed
  return payment_status::created;
}

gateway_record read_intent(const json::value& v) {
  gateway_record r;
  r.ref = v.string_or("id");
  r.status = from_stripe(v.string_or("status"));
  r.amount_minor = integer_or(v, "amount");
  r.amount_received_minor = integer_or(v, "amount_received");
  r.currency = v.string_or("currency");
  for (auto& ch : r.currency)
    ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
  r.created_s = integer_or(v, "created");
  const auto* metadata = v.find("metadata");
  r.payment_id = id_of(metadata, "payment_id");
  r.order_id = id_of(metadata, "order_id");
  if (const auto* err = v.find("last_payment_error"); err != nullptr && err->is_object()) {
    r.failure_reason = err->string_or("decline_code");
    if (r.failure_reason.empty())
      r.failure_reason = err->string_or("code", "declined");
  }
  // Expanded, the latest charge tells what was refunded of it.
  if (const auto* charge = v.find("latest_charge"); charge != nullptr && charge->is_object())
    r.amount_refunded_minor = integer_or(*charge, "amount_refunded");
  if (const auto* next = v.find("next_action"); next != nullptr && next->is_object())
    if (const auto* redirect = next->find("redirect_to_url"); redirect != nullptr)
      r.next_action_url = redirect->string_or("url");
  // A charge object (charge.refunded) names its intent and the refunded sum.
  if (v.string_or("object") == "charge") {
    r.ref = v.string_or("payment_intent");
    r.amount_refunded_minor = integer_or(v, "amount_refunded");
    r.amount_received_minor = integer_or(v, "amount_captured");
    r.status = v.string_or("status") == "succeeded" ? payment_status::succeeded : payment_status::failed;
  }
  return r;
}

template <class T, class F>
decoded<T> parse_object(std::string_view text, F read) {
  auto parsed = json::parse(text, 32, 10'000);
  if (auto* e = std::get_if<json::parse_error>(&parsed))
    return make_problem(errc::malformed_json, e->message);
  const auto& v = std::get<json::value>(parsed);
  if (!v.is_object())
    return make_problem(errc::malformed_json, "expected a JSON object");
  return read(v);
}

} // namespace

std::string verify_stripe_signature(std::string_view header, std::string_view raw_body,
                                    const std::vector<std::string>& secrets, std::int64_t now_s,
                                    std::int64_t tolerance_s) {
  if (secrets.empty())
    return "no webhook secret is configured";
  std::int64_t t = -1;
  std::vector<std::string_view> signatures;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      continue;
    auto key = part.substr(0, eq);
    auto value = part.substr(eq + 1);
    if (key == "t") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec != std::errc{} || end != value.data() + value.size())
        return "the timestamp is malformed";
    } else if (key == "v1") {
      signatures.push_back(value);
    }
  }
  if (t < 0)
    return "the header has no timestamp";
  if (signatures.empty())
    return "the header has no v1 signature";
  if (t < now_s - tolerance_s || t > now_s + tolerance_s)
    return "the timestamp is outside the tolerance";
  std::string signed_payload = std::to_string(t);
  signed_payload += '.';
  signed_payload.append(raw_body);
  bool match = false;
  for (const auto& secret : secrets) {
    auto expected = crypto::to_hex(crypto::hmac_sha256(secret, signed_payload));
    // Every candidate is compared in full, whatever matched before.
    for (auto sig : signatures)
      match = crypto::equal_constant_time(expected, sig) || match;
  }
  return match ? std::string{} : "no signature matches";
}

std::string sign_stripe_payload(std::string_view raw_body, std::string_view secret, std::int64_t t) {
  std::string payload = std::to_string(t);
  payload += '.';
  payload.append(raw_body);
  std::string header = "t=";
  header += std::to_string(t);
  header += ",v1=";
  header += crypto::to_hex(crypto::hmac_sha256(secret, payload));
  return header;
}

decoded<gateway_record> decode_stripe_intent(std::string_view text) {
  return parse_object<gateway_record>(text, [](const json::value& v) -> decoded<gateway_record> {
    auto r = read_intent(v);
    if (r.ref.empty())
      return make_problem(errc::malformed_json, "the object has no id");
    return r;
  });
}

decoded<gateway_event> decode_stripe_event(std::string_view text) {
  return parse_object<gateway_event>(text, [](const json::value& v) -> decoded<gateway_event> {
    gateway_event e;
    e.id = v.string_or("id");
    e.type = v.string_or("type");
    e.created_s = integer_or(v, "created");
    const auto* data = v.find("data");
    const auto* object = data != nullptr ? data->find("object") : nullptr;
    if (e.id.empty() || e.type.empty() || object == nullptr || !object->is_object()) {
      auto p = make_problem(errc::bad_request, "an event needs id, type and data.object");
      p.fields.push_back({e.id.empty() ? "id" : e.type.empty() ? "type" : "data.object", "is required"});
      return p;
    }
    e.object = read_intent(*object);
    return e;
  });
}

decoded<std::vector<gateway_record>> decode_stripe_intent_list(std::string_view text, bool& has_more) {
  return parse_object<std::vector<gateway_record>>(
    text, [&has_more](const json::value& v) -> decoded<std::vector<gateway_record>> {
      std::vector<gateway_record> out;
      const auto* more = v.find("has_more");
      has_more = more != nullptr && more->is_bool() && more->as_bool();
      const auto* data = v.find("data");
      if (data == nullptr || !data->is_array())
        return make_problem(errc::malformed_json, "a list needs data");
      for (const auto& item : data->as_array())
        out.push_back(read_intent(item));
      return out;
    });
}

std::string stripe_error_message(std::string_view text) {
  auto parsed = json::parse(text, 32, 10'000);
  if (!std::holds_alternative<json::value>(parsed))
    return "unreadable gateway reply";
  const auto* err = std::get<json::value>(parsed).find("error");
  if (err == nullptr)
    return "unreadable gateway reply";
  auto code = err->string_or("decline_code");
  if (code.empty())
    code = err->string_or("code");
  auto message = err->string_or("message");
  return code.empty() ? message : code + ": " + message;
}

std::string encode(const reconcile_report& r) {
  json::writer w;
  w.begin_object()
    .field("from_s", r.from_s)
    .field("to_s", r.to_s)
    .field("payments_checked", static_cast<std::int64_t>(r.payments_checked))
    .field("gateway_records", static_cast<std::int64_t>(r.gateway_records))
    .key("mismatches")
    .begin_array();
  for (const auto& m : r.mismatches)
    w.begin_object()
      .field("payment_id", ids::format(m.payment_id))
      .field("order_id", ids::format(m.order_id))
      .field("gateway_ref", m.gateway_ref)
      .field("kind", m.kind)
      .field("detail", m.detail)
      .field("repaired", m.repaired)
      .end_object();
  w.end_array().end_object();
  return w.take();
}

std::string stripe_error_intent(std::string_view text) {
  auto parsed = json::parse(text, 32, 10'000);
  if (!std::holds_alternative<json::value>(parsed))
    return {};
  const auto* err = std::get<json::value>(parsed).find("error");
  const auto* intent = err != nullptr ? err->find("payment_intent") : nullptr;
  return intent != nullptr ? intent->string_or("id") : std::string{};
}

decoded<gateway_record> decode_stripe_refund(std::string_view text) {
  return parse_object<gateway_record>(text, [](const json::value& v) -> decoded<gateway_record> {
    gateway_record r;
    r.ref = v.string_or("id");
    r.amount_minor = integer_or(v, "amount");
    auto status = v.string_or("status");
    r.status = status == "succeeded" || status == "pending" ? payment_status::succeeded : payment_status::failed;
    r.failure_reason = v.string_or("failure_reason");
    if (r.ref.empty())
      return make_problem(errc::malformed_json, "the refund has no id");
    return r;
  });
}

} // namespace livemart
