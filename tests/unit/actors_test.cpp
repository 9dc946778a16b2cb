// Actor rules without a database: replies are awaited, never slept for.
#include <catch2/catch.hpp>

#include <chrono>

#include <caf/all.hpp>

#include <actors/services.hpp>
#include <protocol/worker_pool.hpp>
#include <protocol/messages.hpp>

using namespace livemart;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;
using held_atom = caf::atom_constant<caf::atom("held")>;

caf::actor_system_config& config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.set("scheduler.max-threads", 2);
    add_actor_message_types(c);
    return c;
  }();
  return cfg;
}

/// A worker that holds each job until told to release it, and tells the
/// test when it has taken one: the test decides exactly when it is busy.
struct held_state {
  std::vector<caf::response_promise> held;
};

caf::behavior held_worker(caf::stateful_actor<held_state>* self, caf::actor pool, caf::actor watcher) {
  return {
    [self, watcher](int job) -> caf::result<int> {
      self->state.held.push_back(self->make_response_promise());
      self->send(watcher, held_atom::value, job);
      return caf::delegated<int>{};
    },
    [self, pool](release_atom, int answer) {
      for (auto& rp : self->state.held) {
        rp.deliver(answer);
        report_done(self, pool);
      }
      self->state.held.clear();
    },
  };
}

/// Ends an actor however the test leaves its scope: a linked actor that is
/// still alive would keep the actor system from shutting down.
struct exit_on_scope_end {
  caf::actor target;
  ~exit_on_scope_end() { caf::anon_send_exit(target, caf::exit_reason::user_shutdown); }
};

} // namespace

TEST_CASE("worker_pool queues up to queue_max, then refuses at once", "[unit][actors]") {
  caf::actor_system sys{config()};
  caf::scoped_actor self{sys};
  caf::actor worker;
  caf::actor watcher = caf::actor_cast<caf::actor>(self);
  auto pool = spawn_worker_pool(sys, {"test", 1, 1}, [&](caf::actor owner) {
    worker = sys.spawn(held_worker, owner, watcher);
    return worker;
  });
  exit_on_scope_end guard{pool};
  auto await_held = [&](int expected) {
    self->receive([&](held_atom, int job) { CHECK(job == expected); },
                  caf::after(std::chrono::seconds{10}) >> [] { FAIL("the worker never took its job"); });
  };
  auto first = self->request(pool, std::chrono::seconds{10}, 1);   // taken by the worker
  auto second = self->request(pool, std::chrono::seconds{10}, 2);  // queued
  auto third = self->request(pool, std::chrono::seconds{10}, 3);   // over queue_max
  third.receive([](int) { FAIL("the third job should have been refused"); },
                [](caf::error& e) { CHECK(to_problem(e).code == errc::overloaded); });
  await_held(1);
  self->send(worker, release_atom::value, 10);
  first.receive([](int v) { CHECK(v == 10); }, [](caf::error&) { FAIL("first job failed"); });
  // The queued job reaches the worker only after the first one finished.
  await_held(2);
  self->send(worker, release_atom::value, 20);
  second.receive([](int v) { CHECK(v == 20); }, [](caf::error&) { FAIL("second job failed"); });
}

TEST_CASE("the login limiter allows max attempts per window and then names the wait", "[unit][actors]") {
  caf::actor_system sys{config()};
  conf::auth_settings cfg;
  cfg.login_window_s = 300;
  cfg.rate_limit_keys_max = 16;
  auto limiter = spawn_limiter(sys, cfg);
  exit_on_scope_end guard{caf::actor_cast<caf::actor>(limiter)};
  caf::scoped_actor self{sys};
  auto check = [&](const std::string& key, std::uint32_t max) {
    std::uint32_t out = 999;
    self->request(limiter, std::chrono::seconds{5}, check_atom::value, key, max)
      .receive([&](std::uint32_t retry) { out = retry; }, [](caf::error&) { FAIL("limiter failed"); });
    return out;
  };
  CHECK(check("a", 3) == 0);
  CHECK(check("a", 3) == 0);
  CHECK(check("a", 3) == 0);
  auto wait = check("a", 3);
  CHECK(wait > 0);
  CHECK(wait <= 301);
  CHECK(check("b", 3) == 0); // keys are independent
  // Memory is bounded, and a full table never locks a newcomer out.
  for (int i = 0; i < 40; ++i)
    CHECK(check(std::string{"k"}.append(std::to_string(i)), 3) == 0);
  // The oldest windows were forgotten to make room; the newest is intact.
  CHECK(check("k39", 1) > 0);
}

TEST_CASE("a pool worker answers a message it does not understand and stays available", "[unit][actors]") {
  caf::actor_system sys{config()};
  caf::scoped_actor self{sys};
  caf::actor worker;
  caf::actor watcher = caf::actor_cast<caf::actor>(self);
  auto pool = spawn_worker_pool(sys, {"test", 1, 4}, [&](caf::actor owner) {
    // Spawned with an argument: CAF 0.17 trips UBSan on argument-less
    // function-based actors (a null argument tuple is dereferenced).
    worker = sys.spawn(
      [](caf::event_based_actor* w, caf::actor owner_pool) -> caf::behavior {
        refuse_unknown_jobs(w, owner_pool);
        return {[w, owner_pool](int job) {
          report_done(w, owner_pool);
          return job * 2;
        }};
      },
      owner);
    return worker;
  });
  exit_on_scope_end guard{pool};
  self->request(pool, std::chrono::seconds{10}, std::string{"what is this"})
    .receive([](const std::string&) { FAIL("an unknown job cannot succeed"); },
             [](caf::error& e) { CHECK(e == caf::sec::unexpected_message); });
  // Had the worker stayed busy, this job would wait in the queue forever.
  self->request(pool, std::chrono::seconds{10}, 21)
    .receive([](int v) { CHECK(v == 42); }, [](caf::error&) { FAIL("the worker is stuck"); });
}

TEST_CASE("a pool replaces a worker that died", "[unit][actors]") {
  caf::actor_system sys{config()};
  caf::scoped_actor self{sys};
  std::atomic<int> spawned{0};
  auto pool = spawn_worker_pool(sys, {"test", 1, 4}, [&](caf::actor owner) {
    ++spawned;
    return sys.spawn(
      [](caf::event_based_actor* w, caf::actor owner_pool) -> caf::behavior {
        return {[w, owner_pool](int job) -> caf::result<int> {
          if (job < 0)
            throw std::runtime_error("worker bug"); // ends this worker
          report_done(w, owner_pool);
          return job;
        }};
      },
      owner);
  });
  exit_on_scope_end guard{pool};
  self->request(pool, std::chrono::seconds{10}, -1)
    .receive([](int) { FAIL("the job should have failed"); }, [](caf::error&) {});
  // The replacement serves the next job.
  self->request(pool, std::chrono::seconds{10}, 7)
    .receive([](int v) { CHECK(v == 7); }, [](caf::error&) { FAIL("no worker after the crash"); });
  CHECK(spawned.load() == 2);
}
