#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include <actors/interfaces.hpp>
#include <actors/routing.hpp>
#include <actors/sessions.hpp>
#include <conf/settings.hpp>
#include <protocol/jwt.hpp>
#include <protocol/metrics.hpp>

namespace livemart {

namespace persistence {
struct database; // started by start_services; only actors/ reaches into it
} // namespace persistence

/// Where an entity lives: `route(id)` is the shard to send `(id, ...)` to.
/// Ids spread over a node's shards by a multiplicative hash. In a cluster
/// (`routing` set) an id whose slot another node owns goes to that node's
/// shard, from its hello; callers stay as they are. An id whose owner is
/// unknown or not linked goes to a local shard, which answers `moved`.
/// livemart_cluster_forwarded_total: messages `route` sent to another
/// node's registry.
metrics::counter& forwarded_to_peers();

template <class Shard>
struct directory {
  std::vector<Shard> shards;
  std::shared_ptr<const routing_cell> routing; ///< null: this node owns every entity
  std::vector<Shard> node_hello::*peer_shards = nullptr; ///< the peer's shards of this kind

  static std::size_t index(std::uint64_t id, std::size_t count) {
    return static_cast<std::size_t>(((id * 0x9E3779B97F4A7C15ull) >> 32) % count);
  }

  Shard route(std::uint64_t id) const {
    if (routing && peer_shards != nullptr) {
      if (const auto* table = routing->load()) {
        auto owner = table->owner_of(id);
        if (owner >= 0 && owner != table->me) {
          if (const auto* hello = table->peer(owner)) {
            const auto& theirs = hello->*peer_shards;
            if (!theirs.empty()) {
              forwarded_to_peers().add();
              return theirs[index(id, theirs.size())];
            }
          }
        }
      }
    }
    return shards[index(id, shards.size())];
  }
};

using user_directory = directory<user_shard_actor>;          ///< one shard owns each user's profile
using product_directory = directory<product_registry_actor>; ///< forwards to one actor per product
using order_directory = directory<order_registry_actor>;     ///< forwards to one actor per order

/// Where an attempt limit's key is counted: on the node that owns the key's
/// slot, so a limit holds across the cluster, not once per node. Without a
/// cluster (or before the owner is linked), on this node.
struct limiter_directory {
  limiter_actor local;
  std::shared_ptr<const routing_cell> routing;

  limiter_actor route(std::string_view key) const {
    if (routing) {
      if (const auto* table = routing->load()) {
        auto owner = table->owner_of(placement::key_id(key));
        if (owner >= 0 && owner != table->me) {
          if (const auto* hello = table->peer(owner); hello != nullptr && hello->limiter) {
            forwarded_to_peers().add();
            return hello->limiter;
          }
        }
      }
    }
    return local;
  }
};

/// The CAF group a product publishes its stock_update messages to.
std::string product_group_name(std::uint64_t product_id);

using stream_directory = directory<stream_registry_actor>; ///< forwards to one actor per stream

/// The CAF group a stream publishes its pushes (stream_push) to.
std::string stream_group_name(std::uint64_t stream_id);
/// The CAF group of one user's personal events ((push_atom, json)).
std::string user_group_name(std::uint64_t user_id);
/// The CAF group that hears when a seller goes live ((start_atom, seller id, stream info)).
std::string seller_live_group_name();

/// Every long-lived domain actor, spawned together and stopped together.
struct services {
  std::shared_ptr<persistence::database> db;
  health_actor health;
  hasher_actor hasher;
  limiter_directory limiter;
  user_directory users;
  std::shared_ptr<revocation_list> revocations; ///< read by every thread that checks a token
  sessions_actor sessions;
  auth_actor auth;
  address_actor addresses;
  seller_actor sellers;
  category_actor categories;
  search_actor search;
  product_directory products;
  product_service_actor product_service;
  review_actor reviews;
  checkout_actor checkouts;
  gateway_actor gateway;
  order_directory order_actors;
  order_service_actor orders;
  stream_index_actor stream_index;
  stream_directory streams;
  stream_service_actor stream_service;
  node_bus_actor bus;    ///< cluster.enabled only: hears what the peers committed
  /// Starts the actors of the live streams this node owns (at start, and
  /// in a cluster whenever slots came to it): their drops and auctions run
  /// on time without waiting for a request.
  std::function<void()> wake_live_streams;
  cluster_actor cluster; ///< cluster.enabled only: this node's membership (set by main before serving)
  std::shared_ptr<routing_cell> routing; ///< cluster.enabled only: published by `cluster`, read by the directories
};

/// Registers every message type of protocol/ (add_message_types) and the
/// actor handles the interfaces send: call it instead of add_message_types
/// wherever a system runs actors.
void add_actor_message_types(caf::actor_system_config& cfg);

/// Makes the payment gateway named by payments.gateway (the Stripe adapter
/// lives with the HTTP client code, so the caller supplies it).
using gateway_factory = std::function<gateway_actor(caf::actor_system&, const conf::settings&)>;

services start_services(caf::actor_system& sys, const conf::settings& cfg, const jwt::config& tokens,
                        const gateway_factory& make_gateway = {});

/// Sends every actor an exit; the writer commits what it has queued.
void stop_services(services& s);

// Spawn functions, also used by tests to build a partial system.
hasher_actor spawn_hasher(caf::actor_system& sys, const conf::auth_settings& cfg);
limiter_actor spawn_limiter(caf::actor_system& sys, const conf::auth_settings& cfg);
user_directory spawn_user_directory(caf::actor_system& sys, const conf::actor_settings& cfg,
                                    const persistence::database& db);
auth_actor spawn_auth(caf::actor_system& sys, const conf::settings& cfg, const jwt::config& tokens,
                      const persistence::database& db, hasher_actor hasher, limiter_directory limiter,
                      user_directory users, sessions_actor sessions);
sessions_actor spawn_sessions(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                              std::shared_ptr<revocation_list> list, std::shared_ptr<const routing_cell> routing = {});
address_actor spawn_addresses(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db);
product_directory spawn_product_directory(caf::actor_system& sys, const conf::settings& cfg,
                                          const persistence::database& db, search_actor search, seller_actor sellers,
                                          category_actor categories,
                                          std::shared_ptr<const routing_cell> routing = {});
search_actor spawn_search(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                          category_actor categories);
product_service_actor spawn_product_service(caf::actor_system& sys, const conf::settings& cfg,
                                            const persistence::database& db, user_directory users,
                                            seller_actor sellers, category_actor categories, search_actor search,
                                            product_directory products);
category_actor spawn_categories(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db);
order_service_actor spawn_orders(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                 product_directory products, user_directory users, checkout_actor checkouts,
                                 order_directory order_actors, gateway_actor gateway);
order_directory spawn_order_directory(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                      product_directory products, user_directory users, gateway_actor gateway,
                                      std::shared_ptr<const routing_cell> routing = {});
/// The built-in sandbox gateway (see sandbox_gateway.cpp for its test tokens).
gateway_actor spawn_sandbox_gateway(caf::actor_system& sys, const conf::payment_settings& cfg);
review_actor spawn_reviews(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                           product_directory products);
checkout_actor spawn_checkouts(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                               product_directory products);
/// The live index, the stream registry and the stream service; the actors
/// of the streams that are live start at once (they list themselves).
void spawn_streams(caf::actor_system& sys, const conf::settings& cfg, services& s);
/// A cluster's node: hands what its peers committed to this node's index,
/// live list and groups (node_bus_actor).
node_bus_actor spawn_node_bus(caf::actor_system& sys, search_actor search, stream_index_actor index);
seller_actor spawn_sellers(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                           user_directory users, std::shared_ptr<const routing_cell> routing = {});

} // namespace livemart
