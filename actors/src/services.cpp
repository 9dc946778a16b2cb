#include <actors/services.hpp>
#include <actors/cluster.hpp>

#include <caf/all.hpp>

#include <persistence/database.hpp>
#include <persistence/statements.hpp>

namespace livemart {

metrics::counter& forwarded_to_peers() {
  static auto& c = metrics::registry::global().make_counter(
    "livemart_cluster_forwarded_total", "Messages for an entity sent to the node that owns it");
  return c;
}

void add_actor_message_types(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  add_cluster_message_types(cfg);
}

namespace {

/// Readiness: one query through the read pool, within one step.
health_actor::behavior_type health(health_actor::pointer self, persistence::database db,
                                   std::chrono::milliseconds timeout) {
  return {
    [self, db, timeout](ready_atom) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      self->request(db.reads, timeout, query_atom::value, db_command{{persistence::ping()}})
        .then([rp](const db_result&) mutable { rp.deliver(caf::ok_atom::value); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

services start_services(caf::actor_system& sys, const conf::settings& cfg, const jwt::config& tokens,
                        const gateway_factory& make_gateway) {
  services s;
  s.db = std::make_shared<persistence::database>(persistence::start_database(sys, cfg.database));
  if (cfg.cluster.enabled)
    s.routing = std::make_shared<routing_cell>();
  const auto& db = *s.db;
  s.health = sys.spawn(health, db, std::chrono::milliseconds{cfg.actors.step_timeout_ms});
  s.hasher = spawn_hasher(sys, cfg.auth);
  s.limiter = limiter_directory{spawn_limiter(sys, cfg.auth), s.routing};
  s.users = spawn_user_directory(sys, cfg.actors, db);
  // In a cluster a user's profile is cached and changed on one node only,
  // the owner of its slot: every node reads the same, at once.
  s.users.routing = s.routing;
  s.users.peer_shards = &node_hello::users;
  s.revocations = std::make_shared<revocation_list>();
  s.sessions = spawn_sessions(sys, cfg, db, s.revocations, s.routing);
  s.auth = spawn_auth(sys, cfg, tokens, db, s.hasher, s.limiter, s.users, s.sessions);
  s.addresses = spawn_addresses(sys, cfg, db);
  s.sellers = spawn_sellers(sys, cfg, db, s.users, s.routing);
  s.categories = spawn_categories(sys, cfg, db);
  s.search = spawn_search(sys, cfg, db, s.categories);
  s.products = spawn_product_directory(sys, cfg, db, s.search, s.sellers, s.categories, s.routing);
  s.product_service = spawn_product_service(sys, cfg, db, s.users, s.sellers, s.categories, s.search, s.products);
  s.reviews = spawn_reviews(sys, cfg, db, s.products);
  s.checkouts = spawn_checkouts(sys, cfg, db, s.products);
  s.gateway = make_gateway ? make_gateway(sys, cfg) : spawn_sandbox_gateway(sys, cfg.payments);
  s.order_actors = spawn_order_directory(sys, cfg, db, s.products, s.users, s.gateway, s.routing);
  s.orders = spawn_orders(sys, cfg, db, s.products, s.users, s.checkouts, s.order_actors, s.gateway);
  // Outcomes the gateway learns later reach the orders as events.
  caf::anon_send(s.gateway, put_atom::value, caf::actor_cast<caf::actor>(s.orders));
  spawn_streams(sys, cfg, s);
  if (cfg.cluster.enabled)
    s.bus = spawn_node_bus(sys, s.search, s.stream_index);
  return s;
}

void stop_services(services& s) {
  auto stop = [](const auto& handle) { caf::anon_send_exit(handle, caf::exit_reason::user_shutdown); };
  stop(s.auth);
  stop(s.sessions);
  stop(s.addresses);
  stop(s.sellers);
  stop(s.categories);
  stop(s.stream_service);
  for (const auto& shard : s.streams.shards)
    stop(shard);
  stop(s.stream_index);
  stop(s.orders);
  for (const auto& shard : s.order_actors.shards)
    stop(shard);
  stop(s.gateway);
  stop(s.checkouts);
  stop(s.reviews);
  stop(s.product_service);
  stop(s.search);
  for (const auto& shard : s.products.shards)
    stop(shard);
  for (const auto& shard : s.users.shards)
    stop(shard);
  stop(s.limiter.local);
  stop(s.hasher);
  stop(s.health);
  if (s.cluster)
    stop(s.cluster);
  if (s.bus)
    stop(s.bus);
  persistence::stop_database(*s.db);
}

} // namespace livemart
