#include "pg_harness.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <persistence/admin.hpp>
#include <persistence/migrations.hpp>
#include <protocol/crypto.hpp>

namespace livemart::testing {

std::string cluster_url() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0')
    FAIL("DATABASE_URL is not set: run the tests through scripts/dev test, which starts PostgreSQL");
  return url;
}

std::string with_database(const std::string& url, const std::string& dbname) {
  // conninfo strings: a later keyword wins over an earlier one.
  REQUIRE(url.find("://") == std::string::npos);
  return url + " dbname=" + dbname;
}

db_rows sql(const std::string& url, const std::string& statement) {
  auto r = persistence::execute_sql(url, statement);
  if (auto* err = std::get_if<std::string>(&r))
    FAIL("SQL failed: " << statement << ": " << *err);
  return std::get<db_rows>(std::move(r));
}

int time_scale() {
  const char* scale = std::getenv("LIVEMART_TEST_TIME_SCALE");
  int n = scale == nullptr ? 1 : std::atoi(scale);
  return n < 1 ? 1 : n;
}

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_"
         + crypto::to_hex(crypto::random_bytes(4));
}

temp_database::temp_database(bool migrated) : name_("lm_test_" + unique_suffix()) {
  auto admin = cluster_url();
  sql(admin, "CREATE DATABASE " + name_);
  url_ = with_database(admin, name_);
  if (migrated) {
    auto r = persistence::migrate(url_, 5);
    if (auto* err = std::get_if<std::string>(&r))
      FAIL("migration failed: " << *err);
  }
}

temp_database::~temp_database() {
  // WITH (FORCE) ends connections a server under test may still hold.
  persistence::execute_sql(cluster_url(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

namespace {

std::string bindir() {
  const char* dir = std::getenv("LIVEMART_PG_BINDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/lib/postgresql/15/bin";
}

/// Runs a PostgreSQL server tool as `postgres` when we are root.
int run_as_owner(const std::string& command) {
  std::string full = ::geteuid() == 0 ? "cd / && runuser -u postgres -- " + command : command;
  return std::system((full + " >/dev/null 2>&1").c_str());
}

} // namespace

private_cluster::private_cluster() {
  auto base = std::filesystem::temp_directory_path() / ("lm_cluster_" + unique_suffix());
  std::filesystem::create_directories(base);
  dir_ = base.string();
  std::filesystem::permissions(base, std::filesystem::perms::owner_all | std::filesystem::perms::group_read
                                       | std::filesystem::perms::group_exec | std::filesystem::perms::others_read
                                       | std::filesystem::perms::others_exec);
  if (::geteuid() == 0)
    REQUIRE(std::system(("chown postgres " + dir_).c_str()) == 0);
  REQUIRE(run_as_owner(bindir() + "/initdb -D " + dir_ + "/data -U postgres --auth-local=trust -E UTF8") == 0);
  url_ = "host=" + dir_ + " dbname=postgres user=postgres";
  start();
}

private_cluster::~private_cluster() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void private_cluster::start() {
  if (running_)
    return;
  REQUIRE(run_as_owner(bindir() + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -o \"-c listen_addresses='' -k "
                       + dir_ + "\" start")
          == 0);
  running_ = true;
}

void private_cluster::stop() {
  if (!running_)
    return;
  run_as_owner(bindir() + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop");
  running_ = false;
}

} // namespace livemart::testing
