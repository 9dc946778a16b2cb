#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include <caf/fwd.hpp>

#include <actors/interfaces.hpp>
#include <conf/settings.hpp>

/// This node as a member of a cluster (docs/architecture.md, "The cluster").
namespace livemart {

struct services;

/// Registers the types that cross nodes only (node_hello and the vectors
/// of registry handles in it). add_actor_message_types calls it.
void add_cluster_message_types(caf::actor_system_config& cfg);

/// The settings CAF's io middleman needs on every node of a cluster: the
/// protocol as application identifier (a peer without it is refused at
/// the handshake), and heartbeats with a timeout, without which a paused
/// peer is never declared unreachable. Loads the middleman.
void cluster_config(const conf::settings& cfg, caf::actor_system_config& caf_cfg);

/// Spawns the actor of this node's membership, not yet a member, and
/// publishes its gateway on cluster.address:cluster.port. Send it `join`
/// once the node serves. Blocking (it binds a
/// port): main's thread only. An error when the port cannot be bound.
/// `on_evicted` runs (on an actor's thread) when the others declared this
/// node dead: it must stop serving, since its slots are owned elsewhere.
struct cluster_node {
  cluster_actor actor;
  std::string address; ///< host:port peers reach its cluster port at (cluster.advertise, the bound port)
};
std::variant<cluster_node, std::string> spawn_cluster(caf::actor_system& sys, const conf::settings& cfg,
                                                      const services& svc, std::function<void()> on_evicted);

/// Leaves: stops taking slots, releases those it owns (other nodes claim
/// them at once) and marks the member gone. Blocking: main's thread only.
void leave_cluster(caf::actor_system& sys, const cluster_actor& cluster, std::chrono::milliseconds timeout);

} // namespace livemart
