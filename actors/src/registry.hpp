#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include <functional>
#include <vector>

#include <caf/all.hpp>

#include <protocol/metrics.hpp>

/// Bookkeeping shared by the registries that own one actor per id
/// (products, orders), and the directories that shard them.
namespace livemart::registry {

/// The kinds of actor a registry owns, as /metrics labels them.
enum class kind { product, order, stream };

/// livemart_actor_passivations_total{kind=...}: how often actors of `k`
/// ended after being idle.
inline metrics::counter& passivations(kind k) {
  auto make = [](const char* label) -> metrics::counter& {
    return metrics::registry::global().make_counter("livemart_actor_passivations_total",
                                                    "Actors that ended after being idle (passivated)",
                                                    std::string{"kind=\""} + label + "\"");
  };
  static auto& products = make("product");
  static auto& orders = make("order");
  static auto& streams = make("stream");
  switch (k) {
    case kind::product: return products;
    case kind::order: return orders;
    case kind::stream: return streams;
  }
  return products;
}

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
  /// When each live actor's handle was last handed out: a caller holding it
  /// may not have asked yet, so the hand-out counts as activity.
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> handed_out;
  std::chrono::milliseconds idle{0};      ///< the owner's passivation period
  metrics::counter* passivated = nullptr; ///< counts agreed passivations

  bool is_retiring(std::uint64_t id) const { return retiring.count(id) != 0; }

  /// The live actor for `id` is handed to a caller.
  void handing_out(std::uint64_t id) { handed_out[id] = std::chrono::steady_clock::now(); }

  /// An actor ended: forgets it. Returns its id when it was retiring, so
  /// that what waited for it can go to a fresh actor.
  std::optional<std::uint64_t> ended(const caf::actor_addr& source) {
    if (auto id = erase(live, source)) {
      handed_out.erase(*id);
      return std::nullopt;
    }
    return erase(retiring, source);
  }

  /// The passivation handshake: the live actor for `id` (and only it, as
  /// `sender`) may retire, unless its handle was handed out within the
  /// last `idle` (the request may still be on its way). It stays
  /// monitored, so its down message releases the requests held for `id`
  /// meanwhile.
  bool retire(std::uint64_t id, const caf::strong_actor_ptr& sender) {
    auto it = live.find(id);
    if (it == live.end() || it->second.address() != caf::actor_cast<caf::actor_addr>(sender))
      return false;
    if (auto h = handed_out.find(id); h != handed_out.end()) {
      if (std::chrono::steady_clock::now() - h->second < idle)
        return false;
      handed_out.erase(h);
    }
    // An id never has two actors: a retiring one is never live again.
    [[maybe_unused]] auto fresh = retiring.emplace(id, it->second).second;
    assert(fresh);
    live.erase(it);
    if (passivated != nullptr)
      passivated->add();
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

/// The state of a registry that only hands out its actors (orders,
/// streams): `Actor` per id, spawned by `Spawn(system, id, registry, ctx)`.
template <class Actor, class Registry, class Context>
struct simple_state {
  using spawn_fn = Actor (*)(caf::actor_system&, std::uint64_t, Registry, const Context&);
  table<Actor> actors; ///< requests for a retiring one wait in `held`
  std::unordered_map<std::uint64_t, std::vector<caf::typed_response_promise<Actor>>> held;
  Context ctx;
  spawn_fn spawn = nullptr;
  static inline const char* name = "registry";
};

template <class Actor, class Registry, class Context>
using simple_pointer = typename Registry::template stateful_pointer<simple_state<Actor, Registry, Context>>;

template <class Actor, class Registry, class Context>
Actor find_or_spawn(simple_pointer<Actor, Registry, Context> self, std::uint64_t id) {
  auto& actors = self->state.actors;
  actors.handing_out(id);
  if (auto it = actors.live.find(id); it != actors.live.end())
    return it->second;
  assert(!actors.is_retiring(id)); // requests for a retiring id wait for its end
  auto actor = self->state.spawn(self->home_system(), id, caf::actor_cast<Registry>(self), self->state.ctx);
  self->monitor(actor);
  actors.live.emplace(id, actor);
  return actor;
}

/// A registry (`Registry`: get and idle, see order_registry_actor): spawns
/// an id's actor on first use, forgets it when it ends (a crash: the next
/// request gets a fresh one from committed state) or passivates (requests
/// for it wait until it is down), and ends its actors when it ends.
template <class Actor, class Registry, class Context>
typename Registry::behavior_type simple_registry(simple_pointer<Actor, Registry, Context> self, Context ctx,
                                                 typename simple_state<Actor, Registry, Context>::spawn_fn spawn,
                                                 kind k, std::chrono::milliseconds idle) {
  self->state.actors.passivated = &passivations(k);
  self->state.actors.idle = idle;
  self->state.ctx = std::move(ctx);
  self->state.spawn = spawn;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto id = st.actors.ended(msg.source);
    if (!id)
      return;
    auto it = st.held.find(*id);
    if (it == st.held.end())
      return;
    auto waiting = std::move(it->second);
    st.held.erase(it);
    auto fresh = find_or_spawn<Actor, Registry, Context>(self, *id);
    for (auto& rp : waiting)
      rp.deliver(fresh);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.actors.stop_all(self, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](caf::get_atom, std::uint64_t id) -> caf::result<Actor> {
      auto& st = self->state;
      if (st.actors.is_retiring(id)) {
        auto rp = self->template make_response_promise<Actor>();
        st.held[id].push_back(rp);
        return rp;
      }
      return find_or_spawn<Actor, Registry, Context>(self, id);
    },
    [self](caf::atom_constant<caf::atom("idle")>, std::uint64_t id) -> bool {
      return self->state.actors.retire(id, self->current_sender());
    },
  };
}

} // namespace livemart::registry
