#pragma once

// Inside the cluster actor (cluster.cpp: membership, slots, the beat;
// cluster_links.cpp: links to the peers through the io middleman).

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include <actors/interfaces.hpp>
#include <actors/routing.hpp>
#include <conf/settings.hpp>
#include <persistence/cluster_statements.hpp>
#include <persistence/database.hpp>

namespace livemart::cluster_impl {

namespace ps = persistence;
using clock = std::chrono::steady_clock;

/// A member this node links to: the gateway of its current incarnation.
struct peer {
  std::uint64_t incarnation = 0;
  node_gateway_actor gateway; ///< null while connecting
  node_hello hello;
  /// Its hello as this node routes by: each kind of registry stands behind
  /// one local relay (peer_relay.hpp), which answers the requests still
  /// pending when the link drops.
  node_hello routed;
  bool connecting = false;
  clock::time_point tried_at{};

  /// Ends the relays (their pending requests are answered `moved`).
  void unlink(caf::local_actor* self) const;
};

struct cluster_state {
  conf::cluster_settings cfg;
  std::uint16_t me = 0;
  std::uint64_t incarnation = 0;
  std::uint32_t slots = 0;
  std::string cluster_address; ///< host:port, as published and joined with
  ps::membership_link_actor link;
  node_hello hello; ///< what a peer's hello gets (its incarnation once joined)
  std::shared_ptr<routing_cell> routing; ///< what directories and registries route by
  std::function<void()> on_evicted;
  std::function<void()> on_claimed; ///< slots came to this node: its live streams start
  std::chrono::milliseconds step_timeout{0};

  std::uint64_t beat_generation = 0; ///< a beat message of another generation is stale
  bool beating = false;              ///< a beat's steps are in flight
  std::uint64_t version = 0;         ///< of members and owners, as last read
  bool read_once = false;
  std::vector<cluster_member> members;
  std::vector<std::int32_t> owners;                            ///< slot → node, -1: nobody
  std::unordered_map<std::uint32_t, std::uint64_t> owned;      ///< slot → epoch, this node's
  std::unordered_map<std::uint32_t, clock::time_point> moving; ///< owned slots to release at that time
  std::map<std::uint16_t, peer> peers;
  search_actor search; ///< catches up with what a peer committed while unlinked
  /// Per member: since when (system clock, ms; 0: since the index began
  /// loading) what it committed may not have reached this node, until the
  /// next link to it is up. Members ever linked to are in `linked_once`.
  std::map<std::uint16_t, std::int64_t> unheard_since;
  std::set<std::uint16_t> linked_once;
  bool leaving = false;
  bool evicted = false;
  bool unreachable = false; ///< the last beat could not reach PostgreSQL (logged once)
  static inline const char* name = "cluster";
};

using cluster_pointer = cluster_actor::stateful_pointer<cluster_state>;

/// Publishes who owns which slot, this node's epochs and its peers'
/// registries for the directories and registries of this node (defined in
/// cluster.cpp).
void publish_routes(cluster_pointer self);

inline const cluster_member* member(const cluster_state& st, std::int32_t node) {
  for (const auto& m : st.members)
    if (m.node_id == node)
      return &m;
  return nullptr;
}

inline bool is_live(const cluster_state& st, std::int32_t node) {
  const auto* m = member(st, node);
  return m != nullptr && m->status != member_status::dead;
}

/// "host:port" split at its last colon; nullopt when malformed.
std::optional<std::pair<std::string, std::uint16_t>> split_address(const std::string& address);

/// `text` as a JSON string, for log fields.
std::string json_text(const std::string& text);

/// A member's link is gone (or replaced): what it commits from now on
/// will have to be caught up with.
void unheard_from(cluster_pointer self, std::uint16_t node);

/// Links to every live member it has no link to (or a link to an older
/// incarnation of), and drops the links to members that are gone.
void connect_peers(cluster_pointer self);

/// Asks each seed for its hello before joining: a seed that speaks another
/// protocol (or refuses ours at CAF's handshake) makes joining fail; seeds
/// that cannot be reached are skipped (PostgreSQL knows the members).
void check_seeds(cluster_pointer self, std::vector<std::string> seeds, std::function<void(caf::error)> done);

} // namespace livemart::cluster_impl
