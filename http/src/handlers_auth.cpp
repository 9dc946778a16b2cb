#include "context.hpp"

#include <protocol/users.hpp>

namespace livemart::http {

void add_auth_routes(router& r) {
  r.add("POST", "/auth/register", [](const context_ptr& ctx) {
    if (!ctx->require_json())
      return;
    auto decoded = decode_register(ctx->req().body, ctx->cfg());
    auto* req = ctx->accept(decoded);
    if (req == nullptr)
      return;
    ctx->ask(
      ctx->svc().auth,
      [ctx](const user_profile& u) {
        response res;
        res.status = 201;
        res.body = encode(u);
        res.headers.emplace_back("Location", "/auth/me");
        ctx->respond(std::move(res));
      },
      register_atom::value, std::move(*req));
  });

  r.add("POST", "/auth/login", [](const context_ptr& ctx) {
    if (!ctx->require_json())
      return;
    auto decoded = decode_login(ctx->req().body, ctx->cfg());
    auto* req = ctx->accept(decoded);
    if (req == nullptr)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](const token_pair& t) { ctx->respond_json(200, encode(t)); }, login_atom::value,
      std::move(*req), ctx->req().client_address);
  });

  r.add("POST", "/auth/refresh", [](const context_ptr& ctx) {
    if (!ctx->require_json())
      return;
    auto decoded = decode_refresh(ctx->req().body);
    auto* req = ctx->accept(decoded);
    if (req == nullptr)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](const token_pair& t) { ctx->respond_json(200, encode(t)); }, refresh_atom::value,
      std::move(*req));
  });

  r.add("POST", "/auth/logout", [](const context_ptr& ctx) {
    if (!ctx->require_json())
      return;
    auto decoded = decode_refresh(ctx->req().body);
    auto* req = ctx->accept(decoded);
    if (req == nullptr)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](caf::ok_atom) { ctx->respond_no_content(); }, logout_atom::value, std::move(*req));
  });

  r.add("GET", "/auth/me", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->user_id();
    ctx->ask(
      ctx->svc().users.shard_for(id), [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); },
      get_atom::value, id);
  });

  r.add("PATCH", "/auth/profile", [](const context_ptr& ctx) {
    if (!ctx->authenticate() || !ctx->require_json())
      return;
    auto decoded = decode_profile_patch(ctx->req().body, ctx->cfg());
    auto* patch = ctx->accept(decoded);
    if (patch == nullptr)
      return;
    auto id = ctx->user_id();
    ctx->ask(
      ctx->svc().users.shard_for(id), [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); },
      update_atom::value, id, std::move(*patch));
  });
}

} // namespace livemart::http
