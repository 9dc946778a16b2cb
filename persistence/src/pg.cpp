#include "pg.hpp"

#include <algorithm>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>

#include <persistence/statements.hpp>
#include <protocol/log.hpp>
#include <protocol/problem.hpp>

namespace livemart::persistence {
namespace {

std::string field(const PGresult* res, int code) {
  const char* v = PQresultErrorField(res, code);
  return v != nullptr ? v : "";
}

pg_error error_from(PGconn* conn, const PGresult* res) {
  pg_error e;
  if (res != nullptr) {
    e.sqlstate = field(res, PG_DIAG_SQLSTATE);
    e.message = field(res, PG_DIAG_MESSAGE_PRIMARY);
    e.constraint = field(res, PG_DIAG_CONSTRAINT_NAME);
  }
  if (e.message.empty())
    e.message = PQerrorMessage(conn);
  // Class 08 is "connection exception"; 57P01..03 are server shutdowns.
  e.connection_lost = PQstatus(conn) != CONNECTION_OK || e.sqlstate.rfind("08", 0) == 0
                      || e.sqlstate.rfind("57P", 0) == 0 || e.sqlstate.empty();
  return e;
}

std::variant<db_rows, pg_error> collect(PGconn* conn, PGresult* res) {
  auto status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    auto e = error_from(conn, res);
    PQclear(res);
    return e;
  }
  db_rows out;
  int columns = PQnfields(res);
  int rows = PQntuples(res);
  out.columns.reserve(static_cast<std::size_t>(columns));
  for (int c = 0; c < columns; ++c)
    out.columns.emplace_back(PQfname(res, c));
  out.rows.reserve(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    std::vector<db_value> row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(res, r, c))
        row.push_back(db_null());
      else
        row.push_back(db_text(std::string{PQgetvalue(res, r, c), static_cast<std::size_t>(PQgetlength(res, r, c))}));
    }
    out.rows.push_back(std::move(row));
  }
  PQclear(res);
  return out;
}

} // namespace

namespace {

/// A unique violation, by constraint: the ones actors tell apart are typed.
caf::error duplicate(const std::string& constraint) {
  static const std::pair<std::string_view, db_refusal> named[] = {
    {users_email_constraint, db_refusal::email_taken},
    {"idempotency_keys_pkey", db_refusal::idempotency_key_taken},
    {"checkouts_buyer_key_idx", db_refusal::checkout_key_taken},
    {"payment_events_pkey", db_refusal::payment_event_seen},
    {"product_reviews_buyer_key", db_refusal::review_exists},
  };
  for (const auto& [name, what] : named)
    if (constraint == name)
      return make_error(what, constraint);
  return make_error(db_refusal::duplicate, constraint);
}

/// LM409 from our functions: "insufficient_stock" and the like, or
/// "<what>_<state>" for a row in the wrong state ("checkout_expired",
/// "already_approved", "status_rejected"); other ones keep their message.
caf::error state_refusal(const std::string& message) {
  if (message.rfind("insufficient_", 0) == 0)
    return make_error(db_refusal::insufficient, message);
  for (std::string_view prefix : {"checkout_", "already_", "status_"})
    if (message.rfind(prefix, 0) == 0)
      return make_error(db_refusal::wrong_state, message.substr(prefix.size()));
  return make_error(errc::limit_reached, message);
}

} // namespace

caf::error to_error(const pg_error& e) {
  if (e.connection_lost)
    return make_error(errc::database_unavailable, "the database connection was lost");
  if (e.sqlstate == "23505")
    return duplicate(e.constraint);
  if (e.sqlstate == "LM403")
    return make_error(errc::forbidden, e.message);
  if (e.sqlstate == "LM404")
    return make_error(errc::not_found, e.message);
  if (e.sqlstate == "LM409")
    return state_refusal(e.message);
  if (e.sqlstate == "LM412")
    return make_error(db_refusal::stale, e.message);
  if (e.sqlstate == "LM421") {
    // A node that lost an entity's slot (paused, partitioned, evicted) tried to write it.
    log::warn("a write was refused by the cluster fence", "\"code\":\"not_owner\"");
    return make_error(db_refusal::not_owner, e.message);
  }
  if (e.sqlstate == "LM422")
    return make_error(errc::validation_failed, e.message);
  if (e.sqlstate == "57014")
    return make_error(errc::timeout, "a statement took longer than database.statement_timeout_ms");
  if (e.sqlstate == "40001" || e.sqlstate == "40P01")
    return make_error(errc::database_unavailable, "a transaction conflict; retry");
  return make_error(errc::internal, "database error " + e.sqlstate);
}

pg_connection::~pg_connection() {
  PQfinish(conn_);
}

std::variant<std::unique_ptr<pg_connection>, pg_error>
pg_connection::open(const std::string& url, std::uint32_t connect_timeout_s, std::uint32_t statement_timeout_ms,
                    bool prepare, std::uint32_t idle_in_transaction_timeout_ms) {
  // Keywords override whatever the URL says about timeouts.
  auto timeout = std::to_string(connect_timeout_s);
  auto options = "-c statement_timeout=" + std::to_string(statement_timeout_ms)
                 + " -c idle_in_transaction_session_timeout=" + std::to_string(idle_in_transaction_timeout_ms);
  const char* keys[] = {"dbname", "connect_timeout", "options", "application_name", nullptr};
  const char* values[] = {url.c_str(), timeout.c_str(), options.c_str(), "livemart", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr)
    return pg_error{"", "out of memory", "", true};
  if (PQstatus(conn) != CONNECTION_OK) {
    pg_error e{"", PQerrorMessage(conn), "", true};
    PQfinish(conn);
    return e;
  }
  std::unique_ptr<pg_connection> out{new pg_connection(conn)};
  if (!prepare)
    return out;
  for (const auto& s : statement_catalog()) {
    PGresult* res = PQprepare(conn, s.name.data(), s.sql.data(), 0, nullptr);
    auto rows = collect(conn, res);
    if (auto* e = std::get_if<pg_error>(&rows)) {
      e->message = "preparing " + std::string{s.name} + ": " + e->message;
      return *e;
    }
  }
  return out;
}

bool pg_connection::healthy() const {
  if (PQstatus(conn_) != CONNECTION_OK)
    return false;
  // libpq learns of a server that went away only when it next reads. An
  // idle connection has nothing to read, so a readable socket means the
  // server closed it (a restart, an administrator) or is telling us why:
  // either way it is not to be used. One poll, no waiting.
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0)
    return false;
  return ::poll(&p, 1, 0) == 0;
}

std::variant<db_rows, pg_error> pg_connection::run(const db_statement& statement) {
  std::vector<const char*> values;
  values.reserve(statement.params.size());
  for (const auto& p : statement.params)
    values.push_back(p.is_null ? nullptr : p.text.c_str());
  PGresult* res = PQexecPrepared(conn_, statement.name.c_str(), static_cast<int>(values.size()), values.data(),
                                 nullptr, nullptr, 0);
  return collect(conn_, res);
}

std::variant<std::vector<db_result>, pg_connection::pipeline_failure>
pg_connection::run_pipelined(const std::vector<const db_command*>& commands) {
  auto broken = [this]() { return pipeline_failure{pg_error{"", PQerrorMessage(conn_), "", true}, false}; };
  if (PQenterPipelineMode(conn_) != 1)
    return broken();
  auto send_sql = [this](const char* sql) {
    return PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  };
  bool sent = send_sql("BEGIN");
  for (const auto* cmd : commands) {
    for (std::size_t s = 0; s < cmd->size(); ++s) {
      if (!sent)
        break;
      const auto& statement = cmd->sent(s);
      std::vector<const char*> values;
      values.reserve(statement.params.size());
      for (const auto& p : statement.params)
        values.push_back(p.is_null ? nullptr : p.text.c_str());
      sent = PQsendQueryPrepared(conn_, statement.name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                 nullptr, 0) == 1;
    }
  }
  sent = sent && send_sql("COMMIT") && PQpipelineSync(conn_) == 1;
  if (!sent)
    return broken();
  // One result (then a null) per query sent, in order, then the sync.
  std::vector<db_result> out(commands.size());
  std::optional<pg_error> first_error;
  bool statement_failed = false;
  auto next_result = [this](std::variant<db_rows, pg_error>& into) -> bool {
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr)
      return false;
    if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
      PQclear(res);
      into = pg_error{"", "skipped after an earlier failure", "", false};
    } else {
      into = collect(conn_, res);
    }
    while (PGresult* extra = PQgetResult(conn_)) // the null that ends this query's results
      PQclear(extra);
    return true;
  };
  std::variant<db_rows, pg_error> r;
  if (!next_result(r))
    return broken();
  if (auto* e = std::get_if<pg_error>(&r))
    first_error = *e;
  for (std::size_t c = 0; c < commands.size(); ++c) {
    for (std::size_t i = 0; i < commands[c]->size(); ++i) {
      if (!next_result(r))
        return broken();
      if (auto* e = std::get_if<pg_error>(&r)) {
        if (!first_error) {
          first_error = *e;
          statement_failed = !e->connection_lost;
        }
      } else if (commands[c]->reported(i)) {
        out[c].results.push_back(std::get<db_rows>(std::move(r)));
      }
    }
  }
  bool committed = next_result(r) && std::holds_alternative<db_rows>(r) && !first_error;
  if (!committed && !first_error)
    first_error = std::get_if<pg_error>(&r) != nullptr ? std::get<pg_error>(r) : pg_error{"", "COMMIT", "", true};
  PGresult* sync = PQgetResult(conn_);
  bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync != nullptr)
    PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) != 1)
    return broken();
  if (committed) {
    for (const auto& result : out)
      for (const auto& rows : result.results)
        rows.published();
    return out;
  }
  if (statement_failed) {
    // The failed transaction block is still open: end it.
    auto undo = run_sql("ROLLBACK");
    if (std::holds_alternative<pg_error>(undo))
      return pipeline_failure{std::get<pg_error>(undo), false};
    return pipeline_failure{*first_error, true};
  }
  // BEGIN or COMMIT failed: the outcome is not known here.
  first_error->connection_lost = true;
  return pipeline_failure{*first_error, false};
}

std::variant<db_rows, pg_error> pg_connection::run_sql(const std::string& sql) {
  return collect(conn_, PQexec(conn_, sql.c_str()));
}

std::optional<pg_error> pg_connection::copy_in(const std::string& copy_sql, std::string_view data) {
  PGresult* res = PQexec(conn_, copy_sql.c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    auto rows = collect(conn_, res);
    if (auto* e = std::get_if<pg_error>(&rows))
      return *e;
    return pg_error{"", "COPY did not start", "", false};
  }
  PQclear(res);
  constexpr std::size_t chunk = 1 << 20;
  for (std::size_t at = 0; at < data.size(); at += chunk) {
    auto n = std::min(chunk, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1)
      return pg_error{"", PQerrorMessage(conn_), "", PQstatus(conn_) != CONNECTION_OK};
  }
  if (PQputCopyEnd(conn_, nullptr) != 1)
    return pg_error{"", PQerrorMessage(conn_), "", PQstatus(conn_) != CONNECTION_OK};
  auto rows = collect(conn_, PQgetResult(conn_));
  while (PGresult* extra = PQgetResult(conn_))
    PQclear(extra);
  if (auto* e = std::get_if<pg_error>(&rows))
    return *e;
  return std::nullopt;
}

} // namespace livemart::persistence
