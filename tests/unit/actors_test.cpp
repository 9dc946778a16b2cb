// Actor rules without a database: replies are awaited, never slept for.
#include <catch2/catch.hpp>

#include <chrono>

#include <caf/all.hpp>

#include <actors/services.hpp>
#include <persistence/worker_pool.hpp>
#include <protocol/messages.hpp>

using namespace livemart;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;

caf::actor_system_config& config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.set("scheduler.max-threads", 2);
    add_message_types(c);
    return c;
  }();
  return cfg;
}

/// A worker that holds each job until told to release it, so the test
/// decides exactly when the pool's worker is busy.
struct held_state {
  std::vector<caf::response_promise> held;
};

caf::behavior held_worker(caf::stateful_actor<held_state>* self, caf::actor pool) {
  return {
    [self](int job) -> caf::result<int> {
      auto rp = self->make_response_promise();
      self->state.held.push_back(rp);
      (void)job;
      return caf::delegated<int>{};
    },
    [self, pool](release_atom, int answer) {
      for (auto& rp : self->state.held) {
        rp.deliver(answer);
        persistence::report_done(self, pool);
      }
      self->state.held.clear();
    },
  };
}

} // namespace

TEST_CASE("worker_pool queues up to queue_max, then refuses at once", "[unit][actors]") {
  caf::actor_system sys{config()};
  caf::actor worker;
  auto pool = persistence::spawn_worker_pool(sys, {"test", 1, 1}, [&](caf::actor owner) {
    worker = sys.spawn(held_worker, owner);
    return worker;
  });
  caf::scoped_actor self{sys};
  auto first = self->request(pool, std::chrono::seconds{10}, 1);   // taken by the worker
  auto second = self->request(pool, std::chrono::seconds{10}, 2);  // queued
  auto third = self->request(pool, std::chrono::seconds{10}, 3);   // over queue_max
  third.receive([](int) { FAIL("the third job should have been refused"); },
                [](caf::error& e) { CHECK(to_problem(e).code == errc::overloaded); });
  self->send(worker, release_atom::value, 10);
  first.receive([](int v) { CHECK(v == 10); }, [](caf::error&) { FAIL("first job failed"); });
  // The queued job reached the worker only after the first finished.
  self->send(worker, release_atom::value, 20);
  second.receive([](int v) { CHECK(v == 20); }, [](caf::error&) { FAIL("second job failed"); });
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
}

TEST_CASE("the login limiter allows max attempts per window and then names the wait", "[unit][actors]") {
  caf::actor_system sys{config()};
  conf::auth_settings cfg;
  cfg.login_window_s = 300;
  cfg.rate_limit_keys_max = 2;
  auto limiter = spawn_limiter(sys, cfg);
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
  // Memory is bounded: a third key while two windows are live is refused.
  CHECK(check("c", 3) == 300);
  caf::anon_send_exit(limiter, caf::exit_reason::user_shutdown);
}
