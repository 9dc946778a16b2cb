#include "context.hpp"

#include <protocol/users.hpp>

namespace livemart::http {

namespace {
// decode_refresh is overloaded; this names the one that takes the limits.
decoded<refresh_request> decode_refresh_with_limits(std::string_view body, const conf::settings& cfg) {
  return decode_refresh(body, cfg);
}
} // namespace

void add_auth_routes(router& r) {
  r.add("POST", "/auth/register", [](const context_ptr& ctx) {
    auto req = ctx->decode_body(decode_register, ctx->cfg());
    if (!req)
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
      register_atom::value, std::move(*req), ctx->req().client_network);
  });

  r.add("POST", "/auth/login", [](const context_ptr& ctx) {
    auto req = ctx->decode_body(decode_login, ctx->cfg());
    if (!req)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](const token_pair& t) { ctx->respond_json(200, encode(t)); }, login_atom::value,
      std::move(*req), ctx->req().client_network);
  });

  r.add("POST", "/auth/refresh", [](const context_ptr& ctx) {
    auto req = ctx->decode_body(decode_refresh_with_limits, ctx->cfg());
    if (!req)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](const token_pair& t) { ctx->respond_json(200, encode(t)); }, refresh_atom::value,
      std::move(*req));
  });

  r.add("POST", "/auth/logout", [](const context_ptr& ctx) {
    auto req = ctx->decode_body(decode_refresh_with_limits, ctx->cfg());
    if (!req)
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
    if (!ctx->authenticate())
      return;
    auto patch = ctx->decode_body(decode_profile_patch, ctx->cfg());
    if (!patch)
      return;
    auto id = ctx->user_id();
    ctx->ask(
      ctx->svc().users.shard_for(id), [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); },
      update_atom::value, id, std::move(*patch));
  });
}

} // namespace livemart::http
