#include "context.hpp"

#include <algorithm>

#include <protocol/crypto.hpp>
#include <protocol/orders.hpp>

namespace livemart::http {

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
  r.add("GET", "/sellers/me/orders", [list](const context_ptr& ctx) { list(ctx, true); });

  // Places a checkout as one order per seller. Idempotency-Key is required:
  // a retry with the same key and body gets the first reply again.
  r.add("POST", "/orders", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto key = std::string{ctx->req().header("idempotency-key")};
    if (key.empty() || key.size() > ctx->cfg().orders.idempotency_key_bytes_max
        || std::any_of(key.begin(), key.end(), [](char ch) { return ch < 0x21 || ch > 0x7e; })) {
      auto p = make_problem(errc::bad_request, "the Idempotency-Key header is required: 1 to "
                                                 + std::to_string(ctx->cfg().orders.idempotency_key_bytes_max)
                                                 + " visible ASCII characters, unique per order attempt");
      p.fields.push_back({"Idempotency-Key", "is required"});
      ctx->respond_problem(std::move(p));
      return;
    }
    auto request = ctx->decode_body(decode_place, ctx->cfg());
    if (!request)
      return;
    auto hash = crypto::to_hex(crypto::sha256(ctx->req().body));
    ctx->ask(
      ctx->svc().orders,
      [ctx](const stored_reply& reply) {
        response res;
        res.status = reply.status;
        res.body = reply.body;
        if (reply.status >= 400)
          res.content_type = "application/problem+json";
        ctx->respond(std::move(res));
      },
      place_atom::value, ctx->user_id(), key, hash, ctx->req().path, ctx->req().request_id, std::move(*request));
  });
}

} // namespace livemart::http
