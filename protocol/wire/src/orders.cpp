#include <protocol/wire/orders.hpp>

#include <algorithm>
#include <limits>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/wire/body_reader.hpp>
#include <protocol/wire/problem.hpp>

namespace livemart {

namespace {

/// One line of a checkout: a product that no other line has, and a quantity.
void read_checkout_item(body_reader& item, checkout_request& into, const conf::settings& cfg) {
  checkout_item line;
  if (auto id = item.id("product_id", true, "product"))
    line.product_id = *id;
  if (auto q = item.integer("quantity", true, 1, static_cast<std::int64_t>(cfg.orders.line_quantity_max)))
    line.quantity = *q;
  bool repeated = std::any_of(into.items.begin(), into.items.end(),
                              [&](const checkout_item& other) { return other.product_id == line.product_id; });
  if (line.product_id != 0 && repeated)
    item.invalid("product_id", "appears on more than one line; put the whole quantity on one");
  into.items.push_back(line);
}

} // namespace

decoded<checkout_request> decode_checkout(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  checkout_request out;
  r.objects("items", true, 1, cfg.orders.checkout_lines_max,
            [&](body_reader& item, std::size_t) { read_checkout_item(item, out, cfg); });
  if (auto id = r.id("address_id", true, "address"))
    out.address_id = *id;
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

namespace {

/// "payment_method" (a gateway PaymentMethod id, "pm_" and letters, digits
/// or '_') or "google_pay_token" (opaque), at most one of them.
payment_method read_payment_method(body_reader& r, bool required, const conf::settings& cfg) {
  payment_method out;
  auto card = r.string("payment_method", false);
  auto google = r.string("google_pay_token", false);
  if (card && google) {
    r.invalid("google_pay_token", "give either payment_method or google_pay_token, not both");
    return out;
  }
  if (!card && !google) {
    if (required)
      r.invalid("payment_method", "is required (or google_pay_token)");
    return out;
  }
  auto& token = card ? *card : *google;
  auto key = card ? "payment_method" : "google_pay_token";
  if (token.empty() || token.size() > cfg.payments.token_bytes_max) {
    r.invalid(key, "must be 1 to " + std::to_string(cfg.payments.token_bytes_max) + " bytes");
    return out;
  }
  if (card) {
    bool well_formed = token.size() > 3 && token.compare(0, 3, "pm_") == 0;
    for (char ch : token)
      well_formed = well_formed && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
    if (!well_formed) {
      r.invalid(key, "is not a payment method id (pm_...); card details are never accepted");
      return out;
    }
  } else {
    for (char ch : token) {
      if (static_cast<unsigned char>(ch) < 0x20) {
        r.invalid(key, "must not contain control characters");
        return out;
      }
    }
  }
  out.kind = card ? "card" : "google_pay";
  out.token = std::move(token);
  return out;
}

} // namespace

decoded<place_request> decode_place(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  place_request out;
  if (!r.has("checkout_id") && (r.has("items") || r.has("address_id"))) {
    // Buy now: the checkout's fields, read as a checkout reads them.
    r.objects("items", true, 1, cfg.orders.checkout_lines_max, [&](body_reader& item, std::size_t) {
      read_checkout_item(item, out.items, cfg);
    });
    if (auto id = r.id("address_id", true, "address"))
      out.items.address_id = *id;
  } else if (auto id = r.id("checkout_id", true, "checkout")) {
    out.checkout_id = *id;
  }
  out.method = read_payment_method(r, false, cfg);
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<order_command> decode_order_command(order_action action, std::string_view body, const conf::settings& cfg) {
  body_reader r{body.empty() ? std::string_view{"{}"} : body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  order_command out;
  out.action = action;
  auto text = [&](std::string_view key, std::string& into, bool required, std::size_t min, std::size_t max) {
    if (auto v = r.string(key, required)) {
      into = std::move(*v);
      check_text(r, key, into, min, max);
    }
  };
  switch (action) {
    case order_action::pay:
      out.method = read_payment_method(r, true, cfg);
      break;
    case order_action::ship:
      text("carrier", out.carrier, true, 1, cfg.orders.tracking_length_max);
      text("tracking_number", out.tracking_number, true, 1, cfg.orders.tracking_length_max);
      break;
    case order_action::refund:
      if (auto amount = r.integer("amount_minor", false, 1, std::numeric_limits<std::int64_t>::max() / 2))
        out.amount_minor = *amount;
      [[fallthrough]];
    case order_action::cancel:
    case order_action::deliver:
    case order_action::expire:
      text("reason", out.reason, false, 0, cfg.orders.reason_length_max);
      break;
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

namespace {

void write_items(json::writer& w, const std::vector<order_item>& items) {
  w.begin_array();
  for (const auto& i : items)
    w.begin_object()
      .field("product_id", ids::format(i.product_id))
      .field("title", i.title)
      .field("unit_price_minor", i.unit_price_minor)
      .field("quantity", i.quantity)
      .end_object();
  w.end_array();
}

/// What receipts and placements both show: seller, status, money and items.
void write_terms(json::writer& w, const order& o) {
  w.field("seller_id", ids::format(o.seller_id))
    .field("status", to_string(o.status))
    .field("currency", o.currency)
    .field("subtotal_minor", o.subtotal_minor)
    .field("shipping_minor", o.shipping_minor)
    .field("total_minor", o.total_minor)
    .key("items");
  write_items(w, o.items);
}

/// The receipt (`details`) has the payments and the history; a list entry
/// has neither: the list's query loads no payments, and showing an empty
/// array where the receipt has payments would say something false.
void write_order(json::writer& w, const order& o, bool details) {
  w.begin_object().field("id", ids::format(o.id)).key("checkout_id");
  if (o.checkout_id == 0)
    w.null(); // a direct sale
  else
    w.string(ids::format(o.checkout_id));
  w.field("buyer_id", ids::format(o.buyer_id));
  write_terms(w, o);
  w.key("shipping_address");
  if (o.shipping_address_json.empty())
    w.null();
  else
    w.raw(o.shipping_address_json);
  w.key("shipping");
  if (o.carrier.empty())
    w.null();
  else
    w.begin_object().field("carrier", o.carrier).field("tracking_number", o.tracking_number).end_object();
  w.field("refunded_minor", o.refunded_minor);
  w.key("payment_due_at_ms");
  if (o.status == order_status::pending && o.payment_due_ms > 0)
    w.integer(o.payment_due_ms);
  else
    w.null();
  w.field("created_at_ms", o.created_at_ms).field("updated_at_ms", o.updated_at_ms).field("version", o.version);
  if (!details) {
    w.end_object();
    return;
  }
  w.key("payments").begin_array();
  for (const auto& p : o.payments) {
    w.begin_object()
      .field("id", ids::format(p.id))
      .field("status", to_string(p.status))
      .field("gateway_ref", p.gateway_ref)
      .field("method", p.method)
      .field("amount_minor", p.amount_minor)
      .field("currency", p.currency)
      .field("refunded_minor", p.refunded_minor);
    if (!p.failure_reason.empty())
      w.field("failure_reason", p.failure_reason);
    if (!p.next_action_url.empty())
      w.field("next_action_url", p.next_action_url);
    w.field("created_at_ms", p.created_at_ms).end_object();
  }
  w.end_array();
  w.key("history").begin_array();
  for (const auto& t : o.history) {
    w.begin_object().key("from");
    if (t.from.empty())
      w.null();
    else
      w.string(t.from);
    w.field("to", t.to).field("reason", t.reason).field("at_ms", t.at_ms).end_object();
  }
  w.end_array();
  w.end_object();
}

} // namespace

std::string encode_status_push(const order& o) {
  json::writer w;
  w.begin_object()
    .field("type", "order")
    .field("order_id", ids::format(o.id))
    .field("status", to_string(o.status))
    .field("total_minor", o.total_minor)
    .field("currency", o.currency)
    .end_object();
  return w.take();
}

std::string encode(const order& o) {
  json::writer w;
  write_order(w, o, true);
  return w.take();
}

std::string encode_order_list(const std::vector<order>& list, std::size_t limit) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& o : list)
    write_order(w, o, false);
  w.end_array().key("next_cursor");
  if (!list.empty() && list.size() >= limit)
    w.string(ids::format(list.back().id));
  else
    w.null();
  w.end_object();
  return w.take();
}

std::string encode_placement(std::uint64_t checkout_id, const std::vector<order>& orders) {
  json::writer w;
  w.begin_object().key("checkout_id");
  if (checkout_id == 0)
    w.null();
  else
    w.string(ids::format(checkout_id));
  w.key("orders").begin_array();
  for (const auto& o : orders) {
    w.begin_object().field("id", ids::format(o.id));
    write_terms(w, o);
    w.key("payment");
    if (o.payments.empty()) {
      w.null();
    } else {
      const auto& p = o.payments.back();
      w.begin_object().field("id", ids::format(p.id)).field("status", to_string(p.status));
      if (!p.failure_reason.empty())
        w.field("failure_reason", p.failure_reason);
      if (!p.next_action_url.empty())
        w.field("next_action_url", p.next_action_url);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array().end_object();
  return w.take();
}

purchase_outcome replayed_outcome(recorded_reply stored) {
  purchase_outcome out;
  out.replayed = true;
  out.placed = stored.status >= 200 && stored.status < 300;
  if (out.placed) {
    out.order_ids = placement_order_ids(stored.body);
  } else if (auto parsed = json::parse(stored.body); std::holds_alternative<json::value>(parsed)) {
    // What the domain needs of a stored refusal: its code.
    out.refusal.code = errc_of_slug(std::get<json::value>(parsed).string_or("code"));
  }
  out.recorded = std::move(stored);
  return out;
}

recorded_reply render_outcome(const purchase_outcome& outcome) {
  if (outcome.recorded.status != 0)
    return outcome.recorded;
  if (outcome.placed)
    return {201, encode_placement(outcome.checkout_id, outcome.orders)};
  return {static_cast<std::int32_t>(info(outcome.refusal.code).status),
          render(outcome.refusal, outcome.origin.path, outcome.origin.request_id)};
}

purchase_outcome sealed(purchase_outcome outcome) {
  outcome.recorded = {};
  outcome.recorded = render_outcome(outcome);
  return outcome;
}

std::vector<std::uint64_t> placement_order_ids(std::string_view document) {
  std::vector<std::uint64_t> out;
  auto parsed = json::parse(document);
  if (!std::holds_alternative<json::value>(parsed))
    return out;
  const auto* orders = std::get<json::value>(parsed).find("orders");
  if (orders == nullptr || !orders->is_array())
    return out;
  for (const auto& o : orders->as_array())
    if (auto id = ids::parse(o.string_or("id")))
      out.push_back(*id);
  return out;
}

std::string encode(const checkout& c) {
  json::writer w;
  w.begin_object()
    .field("id", ids::format(c.id))
    .field("status", to_string(c.status))
    .field("address_id", ids::format(c.address_id))
    .key("lines")
    .begin_array();
  for (const auto& l : c.lines)
    w.begin_object()
      .field("product_id", ids::format(l.product_id))
      .field("seller_id", ids::format(l.seller_id))
      .field("title", l.title)
      .field("unit_price_minor", l.unit_price_minor)
      .field("quantity", l.quantity)
      .field("line_total_minor", l.unit_price_minor * l.quantity)
      .end_object();
  w.end_array()
    .field("currency", c.currency)
    .field("subtotal_minor", c.subtotal_minor)
    .field("shipping_minor", c.shipping_minor)
    .field("total_minor", c.total_minor)
    .field("expires_at_ms", c.expires_at_ms)
    .end_object();
  return w.take();
}

} // namespace livemart
