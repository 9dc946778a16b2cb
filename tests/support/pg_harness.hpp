#pragma once

#include <string>

#include <protocol/db_types.hpp>

/// Real PostgreSQL for db and e2e tests. The test script starts a throwaway
/// cluster and exports DATABASE_URL (a libpq conninfo string); each test
/// creates its own database in it, so tests run in parallel without sharing
/// rows, and never touch a database they did not create.
namespace livemart::testing {

/// DATABASE_URL of the harness cluster; fails the test when unset.
std::string cluster_url();

/// `url` with its database replaced by `dbname`.
std::string with_database(const std::string& url, const std::string& dbname);

/// Runs SQL and fails the test on error.
db_rows sql(const std::string& url, const std::string& statement);

/// A fresh database, migrated, dropped again at the end of the scope.
class temp_database {
public:
  explicit temp_database(bool migrated = true);
  ~temp_database();
  temp_database(const temp_database&) = delete;
  temp_database& operator=(const temp_database&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

private:
  std::string name_;
  std::string url_;
};

/// A private PostgreSQL cluster this test can stop and start (reconnect
/// tests). Uses LIVEMART_PG_BINDIR; runs the server as `postgres` when root.
class private_cluster {
public:
  private_cluster();
  ~private_cluster();
  private_cluster(const private_cluster&) = delete;
  private_cluster& operator=(const private_cluster&) = delete;
  void start();
  void stop();
  /// conninfo for database `postgres` of this cluster.
  const std::string& url() const { return url_; }

private:
  std::string dir_;
  std::string url_;
  bool running_ = false;
};

/// A unique suffix for names and e-mail addresses.
std::string unique_suffix();

/// How much slower than a plain build this test build runs:
/// LIVEMART_TEST_TIME_SCALE (`scripts/dev test --tsan` sets it), 1 when
/// unset. Only for the few tests whose load must stay slower than a
/// server-side period they set (e.g. a passivation time of milliseconds);
/// never a sleep.
int time_scale();

} // namespace livemart::testing
