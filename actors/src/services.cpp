#include <actors/services.hpp>

#include <caf/all.hpp>

namespace livemart {

void add_actor_message_types(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  // The registries hand these out (get_atom): a lookup answered by another
  // node carries one.
  cfg.add_message_type<product_actor>("product_actor");
  cfg.add_message_type<order_actor>("order_actor");
  cfg.add_message_type<stream_actor>("stream_actor");
}

services start_services(caf::actor_system& sys, const conf::settings& cfg, const jwt::config& tokens,
                        const gateway_factory& make_gateway) {
  services s;
  s.db = persistence::start_database(sys, cfg.database);
  s.hasher = spawn_hasher(sys, cfg.auth);
  s.limiter = spawn_limiter(sys, cfg.auth);
  s.users = spawn_user_directory(sys, cfg.actors, s.db);
  s.revocations = std::make_shared<revocation_list>();
  s.sessions = spawn_sessions(sys, cfg, s.db, s.revocations);
  s.auth = spawn_auth(sys, cfg, tokens, s.db, s.hasher, s.limiter, s.users, s.sessions);
  s.addresses = spawn_addresses(sys, cfg, s.db);
  s.sellers = spawn_sellers(sys, cfg, s.db, s.users);
  s.categories = spawn_categories(sys, cfg, s.db);
  s.search = spawn_search(sys, cfg, s.db, s.categories);
  s.products = spawn_product_directory(sys, cfg, s.db, s.search, s.sellers, s.categories);
  s.product_service = spawn_product_service(sys, cfg, s.db, s.users, s.sellers, s.categories, s.search, s.products);
  s.reviews = spawn_reviews(sys, cfg, s.db, s.products);
  s.checkouts = spawn_checkouts(sys, cfg, s.db, s.products);
  s.gateway = make_gateway ? make_gateway(sys, cfg) : spawn_sandbox_gateway(sys, cfg.payments);
  s.order_actors = spawn_order_directory(sys, cfg, s.db, s.products, s.users, s.gateway);
  s.orders = spawn_orders(sys, cfg, s.db, s.products, s.users, s.checkouts, s.order_actors, s.gateway);
  // Outcomes the gateway learns later reach the orders as events.
  caf::anon_send(s.gateway, put_atom::value, caf::actor_cast<caf::actor>(s.orders));
  spawn_streams(sys, cfg, s);
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
  stop(s.limiter);
  stop(s.hasher);
  persistence::stop_database(s.db);
}

} // namespace livemart
