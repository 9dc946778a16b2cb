#include "context.hpp"

#include <protocol/users.hpp>
#include <protocol/wire/users.hpp>

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

  // Every session of the caller ends: each device must log in again.
  r.add("POST", "/auth/logout-all", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](caf::ok_atom) { ctx->respond_no_content(); }, logout_all_atom::value, ctx->user_id());
  });

  // A new password ends every session; the caller gets a new one.
  r.add("POST", "/auth/password", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto change = ctx->decode_body(decode_password_change, ctx->cfg());
    if (!change)
      return;
    ctx->ask(
      ctx->svc().auth, [ctx](const token_pair& t) { ctx->respond_json(200, encode(t)); }, password_atom::value,
      ctx->user_id(), std::move(*change));
  });

  // An administrator suspends an account (its sessions end, it cannot log
  // in) or lifts the suspension.
  auto suspend = [](bool on) {
    return [on](const context_ptr& ctx) {
      if (!ctx->authenticate())
        return;
      auto id = ctx->path_id("user");
      if (!id)
        return;
      suspension why;
      if (on) {
        auto decoded = ctx->decode_body(decode_suspension, ctx->cfg());
        if (!decoded)
          return;
        why = std::move(*decoded);
      }
      ctx->with_role(role::admin, [ctx, id = *id, on, why](const user_profile& admin) {
        ctx->ask(
          ctx->svc().auth, [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); }, suspend_atom::value,
          admin.id, id, on, why);
      });
    };
  };
  r.add("POST", "/admin/users/:id/suspend", suspend(true));
  r.add("POST", "/admin/users/:id/unsuspend", suspend(false));

  r.add("GET", "/auth/me", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->user_id();
    ctx->ask(
      ctx->svc().users.route(id), [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); },
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
      ctx->svc().users.route(id), [ctx](const user_profile& u) { ctx->respond_json(200, encode(u)); },
      update_atom::value, id, std::move(*patch));
  });
}

} // namespace livemart::http
