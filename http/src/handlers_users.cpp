#include "context.hpp"

#include <protocol/ids.hpp>
#include <protocol/users.hpp>
#include <protocol/wire/users.hpp>

namespace livemart::http {

void add_user_routes(router& r) {
  r.add("GET", "/users/addresses", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ctx->ask(
      ctx->svc().addresses, [ctx](const std::vector<address>& list) { ctx->respond_json(200, encode(list)); },
      list_atom::value, ctx->user_id());
  });

  r.add("POST", "/users/addresses", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto a = ctx->decode_body(decode_address, ctx->cfg());
    if (!a)
      return;
    a->user_id = ctx->user_id(); // ownership from the token, never from the body
    ctx->ask(
      ctx->svc().addresses,
      [ctx](const address& created) {
        response res;
        res.status = 201;
        res.body = encode(created);
        res.headers.emplace_back("Location", "/users/addresses/" + ids::format(created.id));
        ctx->respond(std::move(res));
      },
      create_atom::value, std::move(*a));
  });

  r.add("PATCH", "/users/addresses/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("address");
    if (!id)
      return;
    auto patch = ctx->decode_body(decode_address_patch, ctx->cfg());
    if (!patch)
      return;
    ctx->ask(
      ctx->svc().addresses, [ctx](const address& updated) { ctx->respond_json(200, encode(updated)); },
      update_atom::value, ctx->user_id(), *id, std::move(*patch));
  });

  r.add("DELETE", "/users/addresses/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("address");
    if (!id)
      return;
    ctx->ask(
      ctx->svc().addresses, [ctx](caf::ok_atom) { ctx->respond_no_content(); }, delete_atom::value, ctx->user_id(),
      *id);
  });
}

} // namespace livemart::http
