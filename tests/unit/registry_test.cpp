// The forwarding registry, step by step on CAF's test coordinator (no
// threads, no sleeps): every interleaving of a request with the
// passivation handshake is driven by hand.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <actors/registry.hpp>

using namespace livemart;

namespace {

using retire_atom = caf::atom_constant<caf::atom("t_retire")>;

/// A toy entity: `get` answers which incarnation serves it; `retire` makes
/// it ask its registry to passivate, and end once agreed; `put` counts
/// notifications.
using toy_actor = caf::typed_actor<caf::replies_to<get_atom>::with<int>, caf::reacts_to<retire_atom>,
                                   caf::reacts_to<put_atom, int>>;

struct toy_world {
  std::vector<toy_actor> spawned;
  int notified = 0;
};
using world_ptr = std::shared_ptr<toy_world>;

toy_actor::behavior_type toy(toy_actor::pointer self, int incarnation, std::uint64_t id, registry_of<toy_actor> reg,
                             world_ptr world) {
  return {
    [incarnation](get_atom) { return incarnation; },
    [self, id, reg](retire_atom) {
      self->request(reg, caf::infinite, idle_atom::value, id).then([self](bool agreed) {
        if (agreed)
          self->quit();
      });
    },
    [world](put_atom, int) { ++world->notified; },
  };
}

toy_actor spawn_toy(caf::actor_system& sys, std::uint64_t id, registry_of<toy_actor> reg, const world_ptr& world,
                    const entity_fence&) {
  auto actor = sys.spawn(toy, static_cast<int>(world->spawned.size()) + 1, id, std::move(reg), world);
  world->spawned.push_back(actor);
  return actor;
}

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys, true};
  world_ptr world = std::make_shared<toy_world>();
  registry_of<toy_actor> reg =
    sys.spawn(registry::forwarding_registry<toy_actor, world_ptr>, world, spawn_toy, registry::kind::product,
              std::shared_ptr<const routing_cell>{});
  static constexpr std::uint64_t id = 42;

  ~fixture() {
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Runs one message of `who`.
  template <class Handle>
  void step(const Handle& who) {
    REQUIRE(sched.prioritize(who));
    sched.run_once();
  }

  /// The reply to a request already answered (its response is in our mailbox).
  template <class ResponseHandle>
  std::optional<int> answer(ResponseHandle& rh) {
    std::optional<int> out;
    rh.receive([&](int incarnation) { out = incarnation; }, [](caf::error&) {});
    return out;
  }

  std::optional<int> ask() {
    auto rh = self->request(caf::actor_cast<caf::actor>(reg), caf::infinite, id, get_atom::value);
    sched.run();
    return answer(rh);
  }
};

} // namespace

TEST_CASE("registry: the first request spawns the actor, later ones reach the same one", "[unit][registry]") {
  fixture f;
  CHECK(f.ask() == 1);
  CHECK(f.ask() == 1);
  CHECK(f.world->spawned.size() == 1);
}

TEST_CASE("registry: a request forwarded before the agreement is served by the retiring actor", "[unit][registry]") {
  fixture f;
  REQUIRE(f.ask() == 1);
  auto first = f.world->spawned.front();
  // The request reaches the registry first, then the actor's question.
  auto rh = f.self->request(caf::actor_cast<caf::actor>(f.reg), caf::infinite, fixture::id, get_atom::value);
  caf::anon_send(first, retire_atom::value);
  f.step(first);   // the actor asks to passivate
  f.step(f.reg);   // the registry forwards the request into the actor's mailbox
  f.step(f.reg);   // ... then agrees: the agreement queues behind the request
  f.sched.run();
  CHECK(f.answer(rh) == 1); // served, not bounced
  // The next request meets no retiring actor: a fresh one loads.
  CHECK(f.ask() == 2);
  CHECK(f.world->spawned.size() == 2);
}

TEST_CASE("registry: a request after the agreement waits for the retiring actor's end, then goes to a fresh one",
          "[unit][registry]") {
  fixture f;
  REQUIRE(f.ask() == 1);
  auto first = f.world->spawned.front();
  caf::anon_send(first, retire_atom::value);
  f.step(first); // asks
  f.step(f.reg); // agrees
  // The actor has not ended yet (its agreement is still in its mailbox).
  auto rh = f.self->request(caf::actor_cast<caf::actor>(f.reg), caf::infinite, fixture::id, get_atom::value);
  f.step(f.reg); // held: the id is retiring
  CHECK(f.world->spawned.size() == 1);
  f.sched.run(); // the actor ends; its down message releases the request
  CHECK(f.answer(rh) == 2);
  CHECK(f.world->spawned.size() == 2);
}

TEST_CASE("registry: only the live actor of an id may retire it", "[unit][registry]") {
  fixture f;
  REQUIRE(f.ask() == 1);
  bool agreed = true;
  auto rh = f.self->request(f.reg, caf::infinite, idle_atom::value, fixture::id);
  f.sched.run();
  rh.receive([&](bool ok) { agreed = ok; }, [](caf::error&) {});
  CHECK_FALSE(agreed);
  CHECK(f.ask() == 1);
}

TEST_CASE("registry: a notification reaches a running actor and wakes none", "[unit][registry]") {
  fixture f;
  caf::anon_send(f.reg, fixture::id, put_atom::value, 1);
  f.sched.run();
  CHECK(f.world->spawned.empty());
  CHECK(f.world->notified == 0);
  REQUIRE(f.ask() == 1);
  caf::anon_send(f.reg, fixture::id, put_atom::value, 1);
  f.sched.run();
  CHECK(f.world->notified == 1);
}

TEST_CASE("registry: a crashed actor is forgotten and the next request gets a fresh one", "[unit][registry]") {
  fixture f;
  REQUIRE(f.ask() == 1);
  caf::anon_send_exit(f.world->spawned.front(), caf::exit_reason::kill);
  f.sched.run();
  CHECK(f.ask() == 2);
}
