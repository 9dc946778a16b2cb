#include "context.hpp"

#include <protocol/metrics.hpp>
#include <protocol/wire/cluster.hpp>

namespace livemart::http {

void add_ops_routes(router& r) {
  // Alive: the process answers. No dependency is consulted.
  r.add("GET", "/healthz", [](const context_ptr& ctx) { ctx->respond_json(200, R"({"status":"ok"})"); });

  // Ready: the database answers a query through the read pool.
  r.add("GET", "/readyz", [](const context_ptr& ctx) {
    if (ctx->app().draining.load()) {
      ctx->respond_problem(make_problem(errc::shutting_down, "the server is shutting down"));
      return;
    }
    ctx->ask(
      ctx->svc().health, [ctx](caf::ok_atom) { ctx->respond_json(200, R"({"status":"ready","database":"ok"})"); },
      ready_atom::value);
  });

  // The cluster as this node sees it: members, their state and slots.
  r.add("GET", "/admin/cluster", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ctx->with_role(role::admin, [ctx](const user_profile&) {
      if (!ctx->svc().cluster) {
        cluster_view alone;
        alone.node_id = static_cast<std::uint16_t>(ctx->cfg().node.id);
        ctx->respond_json(200, encode_cluster_view(alone));
        return;
      }
      ctx->ask(
        ctx->svc().cluster, [ctx](const cluster_view& v) { ctx->respond_json(200, encode_cluster_view(v)); },
        get_atom::value);
    });
  });

  r.add("GET", "/metrics", [](const context_ptr& ctx) {
    response res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics::registry::global().render();
    ctx->respond(std::move(res));
  });
}

} // namespace livemart::http
