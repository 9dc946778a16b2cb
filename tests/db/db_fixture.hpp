#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <actors/services.hpp>
#include <conf/settings.hpp>
#include <persistence/database.hpp>
#include <protocol/messages.hpp>

/// An actor system with the persistence actors against one database. The
/// test thread talks to them through a scoped_actor (blocking is fine here:
/// this is the test's own thread, not a scheduler or I/O thread).
namespace livemart::testing {

inline caf::actor_system_config& test_config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.set("scheduler.max-threads", 2);
    add_actor_message_types(c);
    return c;
  }();
  return cfg;
}

struct db_fixture {
  explicit db_fixture(const std::string& url, conf::database_settings extra = {}) : sys(test_config()) {
    settings = extra;
    settings.url = url;
    db = persistence::start_database(sys, settings);
  }
  ~db_fixture() { persistence::stop_database(db); }

  using outcome = std::variant<db_result, caf::error>;

  outcome read(db_command cmd) {
    caf::scoped_actor self{sys};
    outcome out;
    self->request(db.reads, std::chrono::seconds{10}, query_atom::value, std::move(cmd))
      .receive([&](db_result& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  outcome write(db_command cmd) {
    caf::scoped_actor self{sys};
    outcome out;
    self->request(db.writes, std::chrono::seconds{10}, write_atom::value, std::move(cmd))
      .receive([&](db_result& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::actor_system sys;
  conf::database_settings settings;
  persistence::database db;
};

inline const db_result& ok(const db_fixture::outcome& o) {
  if (auto* e = std::get_if<caf::error>(&o))
    FAIL("expected success, got " << to_string(to_problem(*e).code) << ": " << to_problem(*e).detail);
  return std::get<db_result>(o);
}

inline problem failed(const db_fixture::outcome& o) {
  if (std::holds_alternative<db_result>(o))
    FAIL("expected an error, got success");
  return to_problem(std::get<caf::error>(o));
}

/// The error of a command that must fail, as the actors see it (typed).
inline caf::error refusal(const db_fixture::outcome& o) {
  if (std::holds_alternative<db_result>(o))
    FAIL("expected an error, got success");
  return std::get<caf::error>(o);
}

} // namespace livemart::testing
