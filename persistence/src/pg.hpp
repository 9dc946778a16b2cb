#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <caf/error.hpp>

#include <protocol/db_types.hpp>

struct pg_conn;

/// A libpq connection (private to persistence/). Blocking: use it only on
/// detached actors or in command-line tools, never on a scheduler thread.
namespace livemart::persistence {

struct pg_error {
  std::string sqlstate;       ///< "23505", or "" when the connection failed
  std::string message;
  std::string constraint;
  bool connection_lost = false;
};

/// Maps a PostgreSQL failure to a domain error: unique violations become
/// `conflict` with "unique:<constraint>", our LMxxx codes carry their
/// message, a lost connection is `database_unavailable`.
caf::error to_error(const pg_error& e);

class pg_connection {
public:
  ~pg_connection();
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  /// Connects and, with `prepare`, prepares every named statement
  /// (statements.cpp). Migrations connect without preparing.
  static std::variant<std::unique_ptr<pg_connection>, pg_error>
  open(const std::string& url, std::uint32_t connect_timeout_s, std::uint32_t statement_timeout_ms,
       bool prepare = true, std::uint32_t idle_in_transaction_timeout_ms = 0);

  bool healthy() const;

  /// Runs a prepared statement by name with text parameters.
  std::variant<db_rows, pg_error> run(const db_statement& statement);

  /// Runs literal SQL (transaction control, migrations).
  std::variant<db_rows, pg_error> run_sql(const std::string& sql);

  /// How a pipelined transaction failed (run_pipelined).
  struct pipeline_failure {
    pg_error error;
    bool statement_failed = false; ///< a statement failed: nothing committed, the connection is usable
  };

  /// Runs every statement of `commands` in one transaction in libpq's
  /// pipeline mode: BEGIN, the statements and COMMIT go out together and
  /// their results come back together, one round trip instead of one per
  /// statement. One result per command when it committed. When a statement
  /// fails nothing is committed (the transaction is rolled back); any other
  /// failure leaves the outcome unknown (the caller drops the connection).
  std::variant<std::vector<db_result>, pipeline_failure> run_pipelined(const std::vector<const db_command*>& commands);

  /// `COPY ... FROM STDIN` with `data` in COPY's text format (bulk loads).
  std::optional<pg_error> copy_in(const std::string& copy_sql, std::string_view data);

private:
  explicit pg_connection(::pg_conn* conn) : conn_(conn) {}
  ::pg_conn* conn_;
};

} // namespace livemart::persistence
