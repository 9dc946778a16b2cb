#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include <functional>
#include <vector>

#include <caf/all.hpp>

#include <actors/interfaces.hpp>
#include <actors/routing.hpp>
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

/// The actors of one registry: the live ones, and those that agreed to
/// passivate and are still finishing (requests for their ids wait until
/// they are down, so an id never has two actors at once).
template <class Handle>
struct table {
  std::unordered_map<std::uint64_t, Handle> live;
  std::unordered_map<std::uint64_t, Handle> retiring;
  metrics::counter* passivated = nullptr; ///< counts agreed passivations

  bool is_retiring(std::uint64_t id) const { return retiring.count(id) != 0; }

  /// The actor of `id` that still runs (live or retiring), if any.
  const Handle* running(std::uint64_t id) const {
    if (auto it = live.find(id); it != live.end())
      return &it->second;
    if (auto it = retiring.find(id); it != retiring.end())
      return &it->second;
    return nullptr;
  }

  /// An actor ended: forgets it. Returns its id when it was retiring, so
  /// that what waited for it can go to a fresh actor.
  std::optional<std::uint64_t> ended(const caf::actor_addr& source) {
    if (auto id = erase(live, source))
      return std::nullopt;
    return erase(retiring, source);
  }

  /// The live actor of `id` retires without being asked: its slot changed
  /// hands since it was spawned, so its state may be stale. Returns it.
  std::optional<Handle> retire_now(std::uint64_t id) {
    auto it = live.find(id);
    if (it == live.end())
      return std::nullopt;
    auto actor = it->second;
    retiring.emplace(id, actor);
    live.erase(it);
    return actor;
  }

  /// The passivation handshake: the live actor for `id` (and only it, as
  /// `sender`) may retire. It stays monitored, so its down message
  /// releases the requests held for `id` meanwhile.
  bool retire(std::uint64_t id, const caf::strong_actor_ptr& sender) {
    auto it = live.find(id);
    if (it == live.end() || it->second.address() != caf::actor_cast<caf::actor_addr>(sender))
      return false;
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

/// The state of a registry of `Entity` actors (see registry_of), each
/// spawned by `spawn(system, id, registry, ctx, fence)`.
template <class Entity, class Context>
struct state {
  using spawn_fn = Entity (*)(caf::actor_system&, std::uint64_t, registry_of<Entity>, const Context&,
                              const entity_fence&);
  table<Entity> actors;
  /// Requests for a retiring id: each is handed to the fresh actor (or, if
  /// this node lost the id's slot meanwhile, answered `moved`).
  std::unordered_map<std::uint64_t, std::vector<std::function<void(const Entity*)>>> held;
  /// In a cluster: the epoch of its slot each live actor was spawned in.
  std::unordered_map<std::uint64_t, std::uint64_t> epoch_of;
  std::shared_ptr<const routing_cell> routing; ///< null: this node owns every id
  Context ctx;
  spawn_fn spawn = nullptr;
  static inline const char* name = "registry";
};

/// The fence for `id` if this node owns its slot now; nullopt if it does
/// not (or has not joined yet). Without a cluster every id is owned here.
template <class Entity, class Context>
std::optional<entity_fence> ownership(const state<Entity, Context>& st, std::uint64_t id) {
  if (!st.routing)
    return entity_fence{};
  const auto* table = st.routing->load();
  if (table == nullptr)
    return std::nullopt;
  auto slot = table->slot_of(id);
  if (table->owners[slot] != table->me || table->is_draining(slot))
    return std::nullopt;
  return entity_fence{static_cast<std::int64_t>(slot), table->me, table->epochs[slot]};
}

/// Slots changed hands: stops the live actors whose slot this node no
/// longer owns, or owns under another epoch than they were spawned in.
/// Those of draining slots finish their work (it still commits).
template <class Entity, class Context, class Self>
void stop_moved(Self* self) {
  auto& st = self->state;
  const auto* table = st.routing ? st.routing->load() : nullptr;
  if (table == nullptr)
    return;
  std::vector<std::uint64_t> stale;
  for (const auto& [id, actor] : st.actors.live) {
    auto slot = table->slot_of(id);
    auto it = st.epoch_of.find(id);
    if (table->owners[slot] != table->me || it == st.epoch_of.end() || it->second != table->epochs[slot])
      stale.push_back(id);
  }
  for (auto id : stale) {
    st.epoch_of.erase(id);
    if (auto actor = st.actors.retire_now(id))
      self->send_exit(*actor, caf::exit_reason::user_shutdown);
  }
}

inline caf::error not_here() {
  return make_error(errc::moved, "this entity is owned by another node of the cluster now; retry");
}

template <class Entity, class Context>
using pointer = typename registry_of<Entity>::template stateful_pointer<state<Entity, Context>>;

template <class Entity, class Context>
const Entity& find_or_spawn(pointer<Entity, Context> self, std::uint64_t id, const entity_fence& fence) {
  auto& actors = self->state.actors;
  if (auto it = actors.live.find(id); it != actors.live.end())
    return it->second;
  assert(!actors.is_retiring(id)); // requests for a retiring id wait for its end
  auto actor =
    self->state.spawn(self->home_system(), id, caf::actor_cast<registry_of<Entity>>(self), self->state.ctx, fence);
  self->monitor(actor);
  if (fence.slot >= 0)
    self->state.epoch_of[id] = fence.epoch;
  return actors.live.emplace(id, std::move(actor)).first->second;
}

/// The actor to hand a request for `id` to: the live one, a fresh one, or
/// none yet (nullptr) when the live one belongs to an older ownership of
/// the slot: it is stopped, and the request waits for its end like one for
/// a retiring actor. The caller checked that this node owns the slot.
template <class Entity, class Context>
const Entity* current(pointer<Entity, Context> self, std::uint64_t id, const entity_fence& fence) {
  auto& st = self->state;
  if (fence.slot >= 0 && st.actors.live.count(id) != 0) {
    auto it = st.epoch_of.find(id);
    if (it == st.epoch_of.end() || it->second != fence.epoch) {
      st.epoch_of.erase(id);
      if (auto stale = st.actors.retire_now(id))
        self->send_exit(*stale, caf::exit_reason::user_shutdown);
      return nullptr;
    }
  }
  return &find_or_spawn<Entity, Context>(self, id, fence);
}

/// The handler of one keyed message `(id, xs...)`: a request goes to the
/// actor of `id` (or waits for a fresh one while it retires), and the
/// actor answers the caller; a notification reaches a running actor only.
template <class Sig>
struct forwarder;

template <class... Is, class... Os>
struct forwarder<caf::typed_mpi<caf::detail::type_list<std::uint64_t, Is...>, caf::output_tuple<Os...>>> {
  template <class Entity, class Context>
  static auto make(pointer<Entity, Context> self) {
    return [self](std::uint64_t id, Is... xs) -> caf::result<Os...> {
      auto& st = self->state;
      auto fence = ownership(st, id);
      if (!fence)
        return not_here();
      const Entity* target = st.actors.is_retiring(id) ? nullptr : current<Entity, Context>(self, id, *fence);
      if (target == nullptr) {
        auto rp = self->template make_response_promise<Os...>();
        st.held[id].emplace_back([rp, xs...](const Entity* fresh) mutable {
          if (fresh != nullptr)
            rp.delegate(*fresh, std::move(xs)...);
          else
            rp.deliver(not_here());
        });
        return rp;
      }
      return self->delegate(*target, std::move(xs)...);
    };
  }
};

template <class... Is>
struct forwarder<caf::typed_mpi<caf::detail::type_list<std::uint64_t, Is...>, caf::output_tuple<void>>> {
  template <class Entity, class Context>
  static auto make(pointer<Entity, Context> self) {
    return [self](std::uint64_t id, Is... xs) {
      if (!ownership(self->state, id))
        return; // another node's actor hears of it (or loads it fresh)
      if (const auto* actor = self->state.actors.running(id))
        self->send(*actor, std::move(xs)...);
    };
  }
};

template <class Entity, class Context, class... Sigs>
typename registry_of<Entity>::behavior_type forwarders(pointer<Entity, Context> self, caf::detail::type_list<Sigs...>) {
  return {
    forwarder<Sigs>::template make<Entity, Context>(self)...,
    [self](idle_atom, std::uint64_t id) -> bool { return self->state.actors.retire(id, self->current_sender()); },
    [self](release_atom) { stop_moved<Entity, Context>(self); },
  };
}

/// A registry of `Entity` actors (see registry_of): spawns an id's actor
/// on first use, forgets it when it ends (a crash: the next request gets a
/// fresh one from committed state) or passivates (requests for it wait
/// until it is down), and ends its actors when it ends.
template <class Entity, class Context>
typename registry_of<Entity>::behavior_type forwarding_registry(pointer<Entity, Context> self, Context ctx,
                                                   typename state<Entity, Context>::spawn_fn spawn, kind k,
                                                   std::shared_ptr<const routing_cell> routing) {
  self->state.actors.passivated = &passivations(k);
  self->state.ctx = std::move(ctx);
  self->state.spawn = spawn;
  self->state.routing = std::move(routing);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto id = st.actors.ended(msg.source);
    if (!id)
      return;
    if (!st.actors.running(*id))
      st.epoch_of.erase(*id);
    auto it = st.held.find(*id);
    if (it == st.held.end())
      return;
    auto waiting = std::move(it->second);
    st.held.erase(it);
    // The slot may have left this node while the requests waited.
    auto fence = ownership(st, *id);
    const Entity* fresh = fence ? &find_or_spawn<Entity, Context>(self, *id, *fence) : nullptr;
    for (auto& hand_to : waiting)
      hand_to(fresh);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.actors.stop_all(self, msg.reason);
    self->quit(msg.reason);
  });
  return forwarders<Entity, Context>(self, typename keyed<Entity>::type::signatures{});
}

/// Spawns the shards of a registry of `Entity` actors; in a cluster
/// (`routing` set) they serve only the ids whose slot this node owns.
template <class Entity, class Context>
std::vector<registry_of<Entity>> spawn_shards(caf::actor_system& sys, std::size_t shards, const Context& ctx,
                                              typename state<Entity, Context>::spawn_fn spawn, kind k,
                                              std::shared_ptr<const routing_cell> routing = {}) {
  std::vector<registry_of<Entity>> all;
  for (std::size_t i = 0; i < shards; ++i)
    all.push_back(sys.spawn(forwarding_registry<Entity, Context>, ctx, spawn, k, routing));
  return all;
}

} // namespace livemart::registry
