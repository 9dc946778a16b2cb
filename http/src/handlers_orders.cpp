#include "context.hpp"

#include <protocol/ids.hpp>
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
      [ctx](const checkout& c) {
        response res;
        res.status = 201;
        res.body = encode(c);
        res.headers.emplace_back("Location", "/orders/checkouts/" + ids::format(c.id));
        ctx->respond(std::move(res));
      },
      checkout_atom::value, ctx->user_id(), std::move(*request));
  });
}

} // namespace livemart::http
