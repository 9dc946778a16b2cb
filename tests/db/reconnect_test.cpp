#include <catch2/catch.hpp>

#include <chrono>

#include <persistence/migrations.hpp>
#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

#include "db_fixture.hpp"
#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;
namespace ps = livemart::persistence;

TEST_CASE("database actors fail fast while PostgreSQL is away and recover by themselves", "[db][reconnect]") {
  private_cluster cluster;
  sql(cluster.url(), "CREATE DATABASE app");
  auto url = with_database(cluster.url(), "app");
  REQUIRE(std::holds_alternative<ps::migration_report>(ps::migrate(url, 5)));

  conf::database_settings s;
  s.reconnect_interval_ms = 0; // every request may try to reconnect: no waiting in the test
  s.connect_timeout_s = 2;
  db_fixture f{url, s};
  ok(f.read({{ps::ping()}}));
  ok(f.write({{ps::user_insert(ids::next(), "before@example.com", "h", "Before", role::buyer)}}));

  cluster.stop();
  auto started = std::chrono::steady_clock::now();
  auto read = failed(f.read({{ps::ping()}}));
  auto write = failed(f.write({{ps::user_insert(ids::next(), "during@example.com", "h", "During", role::buyer)}}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(read.code == errc::database_unavailable);
  CHECK(write.code == errc::database_unavailable);
  // Fail fast: nowhere near the callers' 10 s timeout.
  CHECK(elapsed < std::chrono::seconds{5});

  cluster.start();
  // Each attempt reconnects; the first after the restart succeeds. Bounded.
  bool back = false;
  for (int attempt = 0; attempt < 50 && !back; ++attempt)
    back = std::holds_alternative<db_result>(f.read({{ps::ping()}}));
  REQUIRE(back);
  bool written = false;
  for (int attempt = 0; attempt < 50 && !written; ++attempt)
    written = std::holds_alternative<db_result>(
      f.write({{ps::user_insert(ids::next(), "after." + unique_suffix() + "@example.com", "h", "After", role::buyer)}}));
  REQUIRE(written);
  // The write that failed while the database was away did not happen.
  CHECK(sql(url, "SELECT count(*) FROM users WHERE email = 'during@example.com'").rows[0][0].text == "0");
}

TEST_CASE("after PostgreSQL restarts, the first read and the first write on old connections succeed",
          "[db][reconnect]") {
  private_cluster cluster;
  sql(cluster.url(), "CREATE DATABASE app");
  auto url = with_database(cluster.url(), "app");
  REQUIRE(std::holds_alternative<ps::migration_report>(ps::migrate(url, 5)));

  conf::database_settings s;
  s.read_connections = 1; // the one reader's connection is the one that goes stale
  db_fixture f{url, s};
  ok(f.read({{ps::ping()}}));
  ok(f.write({{ps::user_insert(ids::next(), "before@example.com", "h", "Before", role::buyer)}}));

  // A restart while nobody asks: both connections survive on the client
  // side, dead on the server's.
  cluster.stop();
  cluster.start();
  // A single write (no pipeline) and a pipelined pair, each the first use.
  ok(f.read({{ps::ping()}}));
  ok(f.write({{ps::user_insert(ids::next(), "after@example.com", "h", "After", role::buyer)}}));
  CHECK(sql(url, "SELECT count(*) FROM users").rows[0][0].text == "2");
}
