#include "context.hpp"

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/search.hpp>
#include <protocol/sellers.hpp>
#include <protocol/wire/sellers.hpp>

namespace livemart::http {

namespace {

std::string follow_reply(bool following, std::int64_t count) {
  json::writer w;
  w.begin_object().field("following", following).field("follower_count", count).end_object();
  return w.take();
}

void follow(const context_ptr& ctx, bool on) {
  if (!ctx->authenticate())
    return;
  auto id = ctx->path_id("seller");
  if (!id)
    return;
  ctx->ask(
    ctx->svc().sellers, [ctx, on](std::int64_t count) { ctx->respond_json(200, follow_reply(on, count)); },
    follow_atom::value, ctx->user_id(), *id, on);
}

void decide(const context_ptr& ctx, seller_status to) {
  if (!ctx->authenticate())
    return;
  auto id = ctx->path_id("seller");
  if (!id)
    return;
  std::string reason;
  if (to == seller_status::rejected) {
    auto decoded = ctx->decode_body(decode_rejection, ctx->cfg());
    if (!decoded)
      return;
    reason = std::move(*decoded);
  }
  ctx->with_role(role::admin, [ctx, id = *id, to, reason](const user_profile& admin) {
    ctx->ask(
      ctx->svc().sellers, [ctx](const seller& s) { ctx->respond_json(200, encode_private(s)); }, decide_atom::value, id,
      admin.id, to, reason);
  });
}

} // namespace

void add_seller_routes(router& r) {
  r.add("POST", "/sellers/apply", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto application = ctx->decode_body(decode_seller_application, ctx->cfg());
    if (!application)
      return;
    ctx->ask(
      ctx->svc().sellers,
      [ctx](const seller& s) {
        response res;
        res.status = 201;
        res.body = encode_private(s);
        res.headers.emplace_back("Location", "/sellers/" + ids::format(s.id));
        ctx->respond(std::move(res));
      },
      apply_atom::value, ctx->user_id(), std::move(*application));
  });

  // The caller's own shop, whatever its status.
  r.add("GET", "/sellers/me", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ctx->ask(
      ctx->svc().sellers, [ctx](const seller& s) { ctx->respond_json(200, encode_private(s)); }, profile_atom::value,
      ctx->user_id());
  });

  // A shop page: public once the shop is approved.
  r.add("GET", "/sellers/:id", [](const context_ptr& ctx) {
    auto id = ctx->path_id("seller");
    if (!id)
      return;
    ctx->ask(
      ctx->svc().sellers,
      [ctx](const seller& s) {
        if (s.status != seller_status::approved) {
          ctx->respond_problem(make_problem(errc::not_found, "no such seller"));
          return;
        }
        // Whether it is live comes from the live index (the stream actors' state).
        ctx->ask(
          ctx->svc().stream_index, [ctx, s](std::uint64_t live) { ctx->respond_json(200, encode_public(s, live)); },
          get_atom::value, s.id);
      },
      get_atom::value, *id);
  });

  // A shop's inventory: product search restricted to the shop.
  r.add("GET", "/sellers/:id/products", [](const context_ptr& ctx) {
    auto id = ctx->path_id("seller");
    if (!id)
      return;
    auto query = read_search_query(ctx);
    if (!query)
      return;
    auto q = std::move(*query);
    q.seller = *id;
    ctx->ask(
      ctx->svc().sellers,
      [ctx, q](const seller& s) mutable {
        if (s.status != seller_status::approved)
          ctx->respond_problem(make_problem(errc::not_found, "no such seller"));
        else
          search(ctx, std::move(q));
      },
      get_atom::value, *id);
  });

  r.add("POST", "/sellers/:id/follow", [](const context_ptr& ctx) { follow(ctx, true); });
  r.add("DELETE", "/sellers/:id/follow", [](const context_ptr& ctx) { follow(ctx, false); });

  r.add("GET", "/users/following", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    request_context::page page;
    if (!ctx->read_page(page))
      return;
    ctx->ask(
      ctx->svc().sellers,
      [ctx, limit = page.limit](const std::vector<seller>& list) { ctx->respond_json(200, encode_list(list, false, limit)); },
      following_atom::value, ctx->user_id(), page.after, page.limit);
  });

  // Verification workflow, for admins.
  r.add("GET", "/admin/sellers", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    request_context::page page;
    auto status_text = ctx->query("status").value_or("pending");
    seller_status status;
    if (!from_string(status_text, status)) {
      auto p = make_problem(errc::bad_request, "query parameter \"status\" must be pending, approved or rejected");
      p.fields.push_back({"status", "must be pending, approved or rejected"});
      ctx->respond_problem(std::move(p));
      return;
    }
    if (!ctx->read_page(page))
      return;
    ctx->with_role(role::admin, [ctx, status, page](const user_profile&) {
      ctx->ask(
        ctx->svc().sellers,
        [ctx, limit = page.limit](const std::vector<seller>& list) {
          ctx->respond_json(200, encode_list(list, true, limit));
        },
        list_atom::value, status, page.after, page.limit);
    });
  });
  r.add("POST", "/admin/sellers/:id/approve", [](const context_ptr& ctx) { decide(ctx, seller_status::approved); });
  r.add("POST", "/admin/sellers/:id/reject", [](const context_ptr& ctx) { decide(ctx, seller_status::rejected); });
}

} // namespace livemart::http
