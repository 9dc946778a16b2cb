#include <catch2/catch.hpp>

#include <persistence/migrations.hpp>

#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;

TEST_CASE("migrations apply in order once and are recorded", "[db][migrations]") {
  temp_database db{false};
  auto first = persistence::migrate(db.url(), 5);
  REQUIRE(std::holds_alternative<persistence::migration_report>(first));
  const auto& report = std::get<persistence::migration_report>(first);
  REQUIRE_FALSE(report.applied.empty());
  CHECK(report.applied.front() == "0001_users.sql");
  CHECK(report.already_applied == 0);

  auto rows = sql(db.url(), "SELECT version, name, length(checksum) FROM schema_migrations ORDER BY version");
  REQUIRE(rows.rows.size() == report.applied.size());
  CHECK(rows.rows[0][0].text == "1");
  CHECK(rows.rows[0][2].text == "64");

  // The schema is there: the tables and the functions the statements use.
  auto tables = sql(db.url(), "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                              "('users', 'refresh_tokens', 'addresses')");
  CHECK(tables.rows[0][0].text == "3");

  SECTION("a second run applies nothing") {
    auto second = persistence::migrate(db.url(), 5);
    REQUIRE(std::holds_alternative<persistence::migration_report>(second));
    CHECK(std::get<persistence::migration_report>(second).applied.empty());
    CHECK(std::get<persistence::migration_report>(second).already_applied == report.applied.size());
  }

  SECTION("an applied migration that changed is refused") {
    sql(db.url(), "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
    auto again = persistence::migrate(db.url(), 5);
    REQUIRE(std::holds_alternative<std::string>(again));
    CHECK_THAT(std::get<std::string>(again), Catch::Contains("changed after it was applied"));
  }
}

TEST_CASE("migrating an unreachable database fails with a message", "[db][migrations]") {
  auto result = persistence::migrate(with_database(cluster_url(), "lm_no_such_database"), 2);
  REQUIRE(std::holds_alternative<std::string>(result));
  CHECK_THAT(std::get<std::string>(result), Catch::Contains("cannot connect"));
}
