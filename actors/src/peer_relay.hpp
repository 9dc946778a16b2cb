#pragma once

// A peer's registry as this node reaches it: every request for an entity
// the peer owns goes through a local relay, which answers `moved` at once
// for each request that may still be pending when the link to the peer
// drops. Without it, such a request would wait out its timeout: CAF 0.17
// drops what is sent to a dead peer's proxy, and answers nothing.
//
// The relay delegates: the caller stays the sender the entity's actor sees
// and answers (a hub that asked a stream for its snapshot hears its pushes
// too), and the relay never learns when an answer went. It keeps a copy of
// each request's promise for as long as an answer may take; when the link
// drops it answers each `moved`, which a caller that got its answer already
// never sees (CAF hands a caller one answer per request).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include <caf/all.hpp>

#include <actors/interfaces.hpp>
#include <actors/registry.hpp>
#include <actors/services.hpp>
#include <protocol/log.hpp>

namespace livemart::relay {

struct state_base {
  struct pending_request {
    std::chrono::steady_clock::time_point at;
    std::function<void(const caf::error&)> fail;
  };
  /// Requests delegated within the last `timeout`, oldest first.
  std::deque<pending_request> pending;
  std::chrono::milliseconds timeout{0};
  static inline const char* name = "peer_relay";

  /// Forgets the requests whose callers have stopped waiting.
  void prune(std::chrono::steady_clock::time_point now) {
    while (!pending.empty() && now - pending.front().at > timeout)
      pending.pop_front();
  }
};

template <class Entity>
struct state : state_base {
  std::vector<registry_of<Entity>> shards; ///< the peer's
  const registry_of<Entity>& shard(std::uint64_t id) const {
    return shards[directory<registry_of<Entity>>::index(id, shards.size())];
  }
};

template <class Entity>
using pointer = typename registry_of<Entity>::template stateful_pointer<state<Entity>>;

/// Delegates `xs...` to `dest` for the caller, keeping a copy of the
/// promise to answer `moved` if the link drops while the caller may wait.
template <class... Os, class Self, class Dest, class... Xs>
caf::result<Os...> delegate_kept(Self* self, const Dest& dest, Xs&&... xs) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  st.prune(now);
  auto rp = self->template make_response_promise<Os...>();
  auto kept = rp; // still addressed to the caller once `rp` is handed on
  st.pending.push_back({now, [kept](const caf::error& err) mutable { kept.deliver(err); }});
  rp.delegate(dest, std::forward<Xs>(xs)...);
  return rp;
}

/// Answers `moved` to every caller that may still wait (the link dropped,
/// or the relay ends).
template <class Self>
void fail_all(Self* self) {
  auto pending = std::move(self->state.pending);
  self->state.pending.clear();
  if (!pending.empty())
    log::info("cluster: requests to a peer that may be unanswered are answered moved",
              "\"requests\":" + std::to_string(pending.size()));
  for (auto& p : pending)
    p.fail(registry::not_here());
}

/// Ends the relay with the link to its peer's gateway, or when told.
template <class Self>
void end_with(Self* self, const caf::actor_addr& gateway) {
  self->monitor(gateway);
  self->set_down_handler([self](caf::down_msg&) {
    fail_all(self);
    self->quit();
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    fail_all(self);
    self->quit(msg.reason);
  });
}

template <class Sig>
struct handler;

/// A request: delegated to the peer's shard; answered `moved` if the link
/// drops while the caller may still wait.
template <class... Is, class... Os>
struct handler<caf::typed_mpi<caf::detail::type_list<std::uint64_t, Is...>, caf::output_tuple<Os...>>> {
  template <class Entity>
  static auto make(pointer<Entity> self) {
    return [self](std::uint64_t id, Is... xs) -> caf::result<Os...> {
      return delegate_kept<Os...>(self, self->state.shard(id), id, std::move(xs)...);
    };
  }
};

/// A notification: sent on (lost with the link, like any notification).
template <class... Is>
struct handler<caf::typed_mpi<caf::detail::type_list<std::uint64_t, Is...>, caf::output_tuple<void>>> {
  template <class Entity>
  static auto make(pointer<Entity> self) {
    return [self](std::uint64_t id, Is... xs) { self->send(self->state.shard(id), id, std::move(xs)...); };
  }
};

template <class Entity, class... Sigs>
typename registry_of<Entity>::behavior_type handlers(pointer<Entity> self, caf::detail::type_list<Sigs...>) {
  return {
    handler<Sigs>::template make<Entity>(self)...,
    // The passivation handshake and releases are a node's own business.
    [](idle_atom, std::uint64_t) -> bool { return false; },
    [](release_atom) {},
  };
}

/// The relay for a peer's `shards`, whose gateway is `gateway`; after
/// `timeout` no caller waits for a request's answer any more.
template <class Entity>
typename registry_of<Entity>::behavior_type peer_registry(pointer<Entity> self, std::vector<registry_of<Entity>> shards,
                                                          caf::actor_addr gateway, std::chrono::milliseconds timeout) {
  self->state.shards = std::move(shards);
  self->state.timeout = timeout;
  end_with(self, gateway);
  return handlers<Entity>(self, typename keyed<Entity>::type::signatures{});
}

/// One relay standing for all of a peer's shards of one kind.
template <class Entity>
registry_of<Entity> spawn_peer_registry(caf::actor_system& sys, std::vector<registry_of<Entity>> shards,
                                        const caf::actor_addr& gateway, std::chrono::milliseconds timeout) {
  return sys.spawn(peer_registry<Entity>, std::move(shards), gateway, timeout);
}

/// The same for a peer's user shards (the user's id is their messages'
/// second element).
struct user_state : state_base {
  std::vector<user_shard_actor> shards;
  const user_shard_actor& shard(std::uint64_t id) const { return shards[user_directory::index(id, shards.size())]; }
};

inline user_shard_actor::behavior_type peer_users(user_shard_actor::stateful_pointer<user_state> self,
                                                  std::vector<user_shard_actor> shards, caf::actor_addr gateway,
                                                  std::chrono::milliseconds timeout) {
  self->state.shards = std::move(shards);
  self->state.timeout = timeout;
  end_with(self, gateway);
  return {
    [self](get_atom, std::uint64_t id) -> caf::result<user_profile> {
      return delegate_kept<user_profile>(self, self->state.shard(id), get_atom::value, id);
    },
    [self](update_atom, std::uint64_t id, profile_patch patch) -> caf::result<user_profile> {
      return delegate_kept<user_profile>(self, self->state.shard(id), update_atom::value, id, std::move(patch));
    },
    [self](put_atom, user_profile u) { self->send(self->state.shard(u.id), put_atom::value, std::move(u)); },
    [self](forget_atom, std::uint64_t id) { self->send(self->state.shard(id), forget_atom::value, id); },
  };
}

inline user_shard_actor spawn_peer_users(caf::actor_system& sys, std::vector<user_shard_actor> shards,
                                         const caf::actor_addr& gateway, std::chrono::milliseconds timeout) {
  return sys.spawn(peer_users, std::move(shards), gateway, timeout);
}

} // namespace livemart::relay
