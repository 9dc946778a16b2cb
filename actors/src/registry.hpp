#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/fwd.hpp>

/// Bookkeeping shared by the registries that own one actor per id
/// (products, orders): a live map, and a retiring map for actors that
/// agreed to passivate and are still finishing.
namespace livemart::registry {

/// Erases the entry of `map` whose actor is `source`; returns its id.
template <class Handle>
std::optional<std::uint64_t> forget(std::unordered_map<std::uint64_t, Handle>& map, const caf::actor_addr& source) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->second.address() == source) {
      auto id = it->first;
      map.erase(it);
      return id;
    }
  }
  return std::nullopt;
}

/// The passivation handshake: the live actor for `id` (and only it, as
/// `sender`) may retire. It stays monitored, so its down message releases
/// the requests held for `id` meanwhile.
template <class Handle>
bool retire(std::unordered_map<std::uint64_t, Handle>& live, std::unordered_map<std::uint64_t, Handle>& retiring,
            std::uint64_t id, const caf::strong_actor_ptr& sender) {
  auto it = live.find(id);
  if (it == live.end() || it->second.address() != caf::actor_cast<caf::actor_addr>(sender))
    return false;
  retiring.emplace(id, it->second);
  live.erase(it);
  return true;
}

} // namespace livemart::registry
