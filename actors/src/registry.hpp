#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/fwd.hpp>

/// Bookkeeping shared by the registries that own one actor per id
/// (products, orders), and the directories that shard them.
namespace livemart::registry {

/// The shard of `id` among `shards` (ids spread by a multiplicative hash).
inline std::size_t shard_of(std::uint64_t id, std::size_t shards) {
  return static_cast<std::size_t>(((id * 0x9E3779B97F4A7C15ull) >> 32) % shards);
}

/// The actors of one registry: the live ones, and those that agreed to
/// passivate and are still finishing (requests for their ids wait until
/// they are down, so an id never has two actors at once).
template <class Handle>
struct table {
  std::unordered_map<std::uint64_t, Handle> live;
  std::unordered_map<std::uint64_t, Handle> retiring;

  bool is_retiring(std::uint64_t id) const { return retiring.count(id) != 0; }

  /// An actor ended: forgets it. Returns its id when it was retiring, so
  /// that what waited for it can go to a fresh actor.
  std::optional<std::uint64_t> ended(const caf::actor_addr& source) {
    if (erase(live, source))
      return std::nullopt;
    return erase(retiring, source);
  }

  /// The passivation handshake: the live actor for `id` (and only it, as
  /// `sender`) may retire. It stays monitored, so its down message releases
  /// the requests held for `id` meanwhile.
  bool retire(std::uint64_t id, const caf::strong_actor_ptr& sender) {
    auto it = live.find(id);
    if (it == live.end() || it->second.address() != caf::actor_cast<caf::actor_addr>(sender))
      return false;
    retiring.emplace(id, it->second);
    live.erase(it);
    return true;
  }

  /// Every actor ends with its registry.
  template <class Self>
  void stop_all(Self* self, const caf::error& reason) {
    for (const auto& [id, actor] : live)
      self->send_exit(actor, reason);
    for (const auto& [id, actor] : retiring)
      self->send_exit(actor, reason);
  }

private:
  static std::optional<std::uint64_t> erase(std::unordered_map<std::uint64_t, Handle>& map,
                                            const caf::actor_addr& source) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->second.address() == source) {
        auto id = it->first;
        map.erase(it);
        return id;
      }
    }
    return std::nullopt;
  }
};

} // namespace livemart::registry
