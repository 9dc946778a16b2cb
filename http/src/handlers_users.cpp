#include "context.hpp"

#include <protocol/ids.hpp>
#include <protocol/users.hpp>

namespace livemart::http {

namespace {

/// The address id from the path; another user's id and a malformed one both
/// read as "not found", so ids cannot be probed.
std::optional<std::uint64_t> address_id(const context_ptr& ctx) {
  auto id = ids::parse(ctx->param("id"));
  if (!id)
    ctx->respond_problem(make_problem(errc::not_found, "no such address"));
  return id;
}

} // namespace

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
    auto id = address_id(ctx);
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
    auto id = address_id(ctx);
    if (!id)
      return;
    ctx->ask(
      ctx->svc().addresses, [ctx](caf::ok_atom) { ctx->respond_no_content(); }, delete_atom::value, ctx->user_id(),
      *id);
  });
}

} // namespace livemart::http
