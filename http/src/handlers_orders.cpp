#include "context.hpp"

#include <algorithm>
#include <charconv>

#include <chrono>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/orders.hpp>
#include <protocol/payments.hpp>
#include <protocol/clock.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/wire/payments.hpp>

namespace livemart::http {

std::optional<std::string> read_idempotency_key(const context_ptr& ctx) {
  auto key = std::string{ctx->req().header("idempotency-key")};
  if (key.empty() || key.size() > ctx->cfg().orders.idempotency_key_bytes_max
      || std::any_of(key.begin(), key.end(), [](char ch) { return ch < 0x21 || ch > 0x7e; })) {
    auto p = make_problem(errc::bad_request, "the Idempotency-Key header is required: 1 to "
                                               + std::to_string(ctx->cfg().orders.idempotency_key_bytes_max)
                                               + " visible ASCII characters, unique per order attempt");
    p.fields.push_back({"Idempotency-Key", "is required"});
    ctx->respond_problem(std::move(p));
    return std::nullopt;
  }
  return key;
}

purchase_key purchase_key_of(const context_ptr& ctx, std::string key, std::string request_hash) {
  return {ctx->user_id(), std::move(key), std::move(request_hash), {ctx->req().path, ctx->req().request_id}};
}

void respond_outcome(const context_ptr& ctx, const purchase_outcome& outcome) {
  auto reply = render_outcome(outcome);
  response res;
  res.status = reply.status;
  res.body = std::move(reply.body);
  if (res.status >= 400)
    res.content_type = "application/problem+json";
  ctx->respond(std::move(res));
}

void add_order_routes(router& r) {
  // Prices the lines on the server and holds their stock until the checkout
  // expires; 409 names the line that cannot be held.
  r.add("POST", "/orders/checkout", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto request = ctx->decode_body(decode_checkout, ctx->cfg());
    if (!request)
      return;
    ctx->ask(
      ctx->svc().checkouts,
      [ctx](const checkout& c) { ctx->respond_json(201, encode(c)); },
      checkout_atom::value, ctx->user_id(), std::move(*request));
  });

  // A receipt: for the buyer, the order's seller or an admin; 404 otherwise.
  r.add("GET", "/orders/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("order");
    if (!id)
      return;
    ctx->ask(
      ctx->svc().orders, [ctx](const order& o) { ctx->respond_json(200, encode(o)); }, get_atom::value,
      ctx->user_id(), *id);
  });

  auto list = [](const context_ptr& ctx, bool as_seller) {
    if (!ctx->authenticate())
      return;
    request_context::page page;
    if (!ctx->read_page(page))
      return;
    ctx->ask(
      ctx->svc().orders,
      [ctx, limit = page.limit](const std::vector<order>& orders) {
        ctx->respond_json(200, encode_order_list(orders, limit));
      },
      list_atom::value, ctx->user_id(), as_seller, page.after, page.limit);
  };
  // The buyer's history and a shop's incoming orders, newest first.
  r.add("GET", "/orders", [list](const context_ptr& ctx) { list(ctx, false); });
  // A shop's orders are for its seller: anyone else is refused (403) like
  // on every other seller-only route, not shown an empty shop.
  r.add("GET", "/sellers/me/orders", [list](const context_ptr& ctx) {
    ctx->with_role(role::seller, [ctx, list](const user_profile&) { list(ctx, true); });
  });

  // Changes to a placed order, each checked and made by the order's actor:
  // 403 when the caller's part in the order does not allow it, 409 naming
  // the current status when the order is not in one it applies to.
  auto change = [](order_action action) {
    return [action](const context_ptr& ctx) {
      if (!ctx->authenticate())
        return;
      auto id = ctx->path_id("order");
      if (!id)
        return;
      auto body = ctx->req().body;
      if (!body.empty() && !ctx->require_json())
        return;
      auto cmd = decode_order_command(action, body, ctx->cfg());
      if (auto* p = std::get_if<problem>(&cmd)) {
        ctx->respond_problem(std::move(*p));
        return;
      }
      ctx->ask(
        ctx->svc().orders, [ctx](const order& o) { ctx->respond_json(200, encode(o)); }, command_atom::value,
        ctx->user_id(), *id, std::get<order_command>(std::move(cmd)));
    };
  };
  r.add("POST", "/orders/:id/pay", change(order_action::pay), budget::order_change);
  r.add("POST", "/orders/:id/ship", change(order_action::ship), budget::order_change);
  r.add("POST", "/orders/:id/deliver", change(order_action::deliver), budget::order_change);
  r.add("POST", "/orders/:id/cancel", change(order_action::cancel), budget::order_change);
  r.add("POST", "/orders/:id/refund", change(order_action::refund), budget::order_change);

  // The gateway's events (Stripe webhooks): the signature is checked over
  // the raw bytes before anything is parsed; each event applies once.
  r.add("POST", "/payments/webhook", [](const context_ptr& ctx) {
    std::vector<std::string> secrets;
    std::string_view configured = ctx->cfg().payments.webhook_secrets;
    while (!configured.empty()) {
      auto comma = configured.find(',');
      auto one = configured.substr(0, comma);
      if (!one.empty())
        secrets.emplace_back(one);
      configured = comma == std::string_view::npos ? std::string_view{} : configured.substr(comma + 1);
    }
    auto now = wall_clock::now_s();
    auto why = verify_stripe_signature(ctx->req().header("stripe-signature"), ctx->req().body, secrets, now,
                                       ctx->cfg().payments.webhook_tolerance_s);
    if (!why.empty()) {
      auto p = make_problem(errc::bad_request, "the Stripe-Signature header does not verify: " + why);
      p.fields.push_back({"Stripe-Signature", why});
      ctx->respond_problem(std::move(p));
      return;
    }
    auto event = decode_stripe_event(ctx->req().body);
    if (auto* p = std::get_if<problem>(&event)) {
      ctx->respond_problem(std::move(*p));
      return;
    }
    if (std::get<gateway_event>(event).type.rfind("livemart.", 0) == 0) {
      auto p = make_problem(errc::bad_request, "event types of livemart's own are not accepted from outside");
      p.fields.push_back({"type", "is reserved"});
      ctx->respond_problem(std::move(p));
      return;
    }
    ctx->ask(
      ctx->svc().orders,
      [ctx](const std::string& outcome) {
        json::writer w;
        w.begin_object().field("received", true).field("outcome", outcome).end_object();
        ctx->respond_json(200, w.take());
      },
      event_atom::value, std::get<gateway_event>(std::move(event)));
  }, budget::order_change);

  // Compares our payments with the gateway's over a window (default: the
  // last payments.reconcile_window_h hours) and, with repair=true, applies
  // what the gateway knows and we missed. Admins only.
  r.add("POST", "/admin/payments/reconcile", [](const context_ptr& ctx) {
    ctx->with_role(role::admin, [ctx](const user_profile&) {
      auto now =
        wall_clock::now_s();
      std::int64_t to = now + 1;
      std::int64_t from = to - static_cast<std::int64_t>(ctx->cfg().payments.reconcile_window_h) * 3600;
      auto refuse = [&](std::string name, std::string message) {
        auto p = make_problem(errc::bad_request, name + " " + message);
        p.fields.push_back({std::move(name), std::move(message)});
        ctx->respond_problem(std::move(p));
      };
      auto number = [&](std::string_view name, std::int64_t& out) {
        auto text = ctx->query(name);
        if (!text)
          return true;
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (ec != std::errc{} || end != text->data() + text->size() || value < 0) {
          refuse(std::string{name}, "must be a unix time in seconds");
          return false;
        }
        out = value;
        return true;
      };
      if (!number("from", from) || !number("to", to))
        return;
      if (from >= to) {
        refuse("from", "must be before to");
        return;
      }
      auto repair = ctx->query("repair").value_or("false");
      if (repair != "true" && repair != "false") {
        refuse("repair", "must be true or false");
        return;
      }
      ctx->ask(
        ctx->svc().orders, [ctx](const reconcile_report& report) { ctx->respond_json(200, encode(report)); },
        reconcile_atom::value, from, to, repair == "true");
    });
  }, budget::reconciliation);

  // Places a checkout as one order per seller. Idempotency-Key is required:
  // a retry with the same key and request gets the first reply again.
  r.add("POST", "/orders", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto key = read_idempotency_key(ctx);
    if (!key)
      return;
    auto request = ctx->decode_body(decode_place, ctx->cfg());
    if (!request)
      return;
    auto purchase = purchase_key_of(ctx, std::move(*key), purchase_fingerprint(*request));
    ctx->ask(
      ctx->svc().orders, [ctx](const purchase_outcome& outcome) { respond_outcome(ctx, outcome); },
      place_atom::value, std::move(purchase), std::move(*request));
  }, budget::order_change);
}

} // namespace livemart::http
