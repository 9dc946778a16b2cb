#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <caf/send.hpp>

#include <actors/interfaces.hpp>
#include <protocol/placement.hpp>

/// Where an entity lives in a cluster, as this node last read it: which
/// node owns each slot, this node's epoch of the slots it owns, and the
/// registries of its peers (their hellos). The cluster actor publishes a
/// new table whenever one of these changes; directories (route) and
/// registries read it without a lock.
namespace livemart {

struct routing_table {
  std::uint16_t me = 0;
  std::uint32_t slots = 1;
  std::vector<std::int32_t> owners;  ///< slot → node, -1: nobody (yet)
  std::vector<std::uint64_t> epochs; ///< slot → this node's epoch of it, 0: not this node's
  std::vector<std::uint8_t> draining; ///< slot → 1: this node hands it over; it takes no new work for it
  std::map<std::uint16_t, node_hello> peers;

  bool is_draining(std::uint32_t slot) const { return slot < draining.size() && draining[slot] != 0; }

  std::uint32_t slot_of(std::uint64_t id) const { return placement::slot_of(id, slots); }
  std::int32_t owner_of(std::uint64_t id) const { return owners[slot_of(id)]; }
  /// The peer's hello, or nullptr when this node holds no link to it.
  const node_hello* peer(std::int32_t node) const {
    auto it = peers.find(static_cast<std::uint16_t>(node));
    return it == peers.end() ? nullptr : &it->second;
  }
};

/// The table of the moment, published by one writer (the cluster actor),
/// read by any thread without a lock. A table stays alive for the next
/// `kept` publications after it was replaced: a reader uses the pointer it
/// loaded for one routing decision only, which takes microseconds, while
/// tables are published at most once per beat (at least 50 ms apart).
class routing_cell {
public:
  static constexpr std::size_t kept = 64;

  /// The current table; nullptr until the node joined.
  const routing_table* load() const { return current_.load(std::memory_order_acquire); }

  /// Publishes `next` (the cluster actor only).
  void publish(std::unique_ptr<const routing_table> next) {
    auto* raw = next.get();
    ring_[next_ % kept] = std::move(next); // frees the table published `kept` changes ago
    ++next_;
    current_.store(raw, std::memory_order_release);
  }

private:
  std::atomic<const routing_table*> current_{nullptr};
  std::array<std::unique_ptr<const routing_table>, kept> ring_;
  std::size_t next_ = 0;
};

/// The fence an entity's writes carry in a cluster: its slot, this node,
/// and the epoch of this node's ownership when the actor was spawned.
/// `slot` < 0: no cluster, no fence.
struct entity_fence {
  std::int64_t slot = -1;
  std::uint16_t node = 0;
  std::uint64_t epoch = 0;
};

/// Whether this node runs the cluster's periodic jobs (expiry sweeps,
/// reconciliation, clean-ups) now: the owner of slot 0 does, so they run
/// once for the cluster, not once per node; a job's work goes to each
/// entity's owner, so the hand-over of slot 0 never runs it twice for one
/// entity. Without a cluster, always.
inline bool runs_cluster_jobs(const std::shared_ptr<const routing_cell>& routing) {
  if (!routing)
    return true;
  const auto* table = routing->load();
  return table != nullptr && !table->owners.empty() && table->owners[0] == table->me && !table->is_draining(0);
}

/// Sends `xs...` to the bus of every peer this node links to (their
/// nodes follow what this one committed); nothing without a cluster.
template <class... Ts>
void tell_peers(const std::shared_ptr<const routing_cell>& routing, const Ts&... xs) {
  if (!routing)
    return;
  if (const auto* table = routing->load())
    for (const auto& [node, hello] : table->peers)
      if (hello.bus)
        caf::anon_send(hello.bus, xs...);
}

} // namespace livemart
