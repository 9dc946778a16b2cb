#include <persistence/database.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>

#include <persistence/group_commit.hpp>
#include <persistence/statements.hpp>
#include <protocol/worker_pool.hpp>
#include <protocol/failpoint.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>

#include "pg.hpp"
#include "sale_merge.hpp"

namespace livemart::persistence {
namespace {

using clock = std::chrono::steady_clock;

/// A connection that reconnects on demand, at most once per interval, so a
/// missing database costs each request one failed check, not a hang.
class lazy_connection {
public:
  lazy_connection(conf::database_settings cfg, std::string role) : cfg_(std::move(cfg)), role_(std::move(role)) {}

  pg_connection* get() {
    if (conn_ && conn_->healthy())
      return conn_.get();
    if (conn_) {
      drop();
      log::warn("database connection lost", "\"connection\":\"" + role_ + "\"");
    }
    auto now = clock::now();
    if (attempted_ && now - last_attempt_ < std::chrono::milliseconds{cfg_.reconnect_interval_ms})
      return nullptr;
    attempted_ = true;
    last_attempt_ = now;
    auto opened = pg_connection::open(cfg_.url, cfg_.connect_timeout_s, cfg_.statement_timeout_ms, true,
                                      cfg_.idle_in_transaction_timeout_ms);
    if (auto* err = std::get_if<pg_error>(&opened)) {
      if (!failing_) {
        std::string reason;
        json::append_string(reason, err->message);
        log::warn("database unavailable", "\"connection\":\"" + role_ + "\",\"error\":" + reason);
      }
      failing_ = true;
      return nullptr;
    }
    if (failing_)
      log::info("database connection restored", "\"connection\":\"" + role_ + "\"");
    failing_ = false;
    conn_ = std::move(std::get<std::unique_ptr<pg_connection>>(opened));
    return conn_.get();
  }

  /// Forgets a connection that failed. The first attempt to replace a
  /// connection that worked is made at once (a server restart is over by
  /// then, or the attempt fails fast); later ones wait out the interval.
  void drop() {
    if (conn_)
      attempted_ = false;
    conn_.reset();
  }

private:
  conf::database_settings cfg_;
  std::string role_;
  std::unique_ptr<pg_connection> conn_;
  clock::time_point last_attempt_{};
  bool attempted_ = false;
  bool failing_ = false;
};

caf::error unavailable() {
  return make_error(errc::database_unavailable, "the database is unavailable");
}

/// Runs `statements` in order; the caller owns the transaction.
std::variant<db_result, pg_error> run_all(pg_connection& conn, const db_command& cmd) {
  db_result out;
  out.results.reserve(cmd.statements.size());
  for (std::size_t i = 0; i < cmd.size(); ++i) {
    auto r = conn.run(cmd.sent(i));
    if (auto* e = std::get_if<pg_error>(&r))
      return *e;
    if (cmd.reported(i))
      out.results.push_back(std::get<db_rows>(std::move(r)));
  }
  for (const auto& rows : out.results)
    rows.published();
  return out;
}

// -- reader -------------------------------------------------------------------------

struct reader_state {
  std::unique_ptr<lazy_connection> conn;
  static inline const char* name = "db_reader";
};

struct reader_metrics {
  metrics::histogram& latency = metrics::registry::global().make_histogram(
    "livemart_db_read_seconds", "Read command latency", metrics::latency_buckets_s());
  metrics::counter& errors = metrics::registry::global().make_counter(
    "livemart_db_read_errors_total", "Read commands that failed");
};

reader_metrics& read_metrics() {
  static reader_metrics m;
  return m;
}

caf::behavior reader(caf::stateful_actor<reader_state>* self, conf::database_settings cfg, caf::actor pool) {
  self->state.conn = std::make_unique<lazy_connection>(std::move(cfg), "read");
  refuse_unknown_jobs(self, pool);
  return {
    [self, pool](query_atom, const db_command& cmd) -> caf::result<db_result> {
      auto started = clock::now();
      auto finish = [&](auto&& value) -> caf::result<db_result> {
        report_done(self, pool);
        read_metrics().latency.observe(std::chrono::duration<double>(clock::now() - started).count());
        return std::forward<decltype(value)>(value);
      };
      // One statement needs no transaction; several see one snapshot.
      bool transaction = cmd.size() > 1;
      auto attempt = [&](pg_connection& conn) {
        if (transaction)
          conn.run_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        auto result = run_all(conn, cmd);
        if (auto* e = std::get_if<pg_error>(&result)) {
          if (e->connection_lost)
            self->state.conn->drop();
          else if (transaction)
            conn.run_sql("ROLLBACK");
        } else if (transaction) {
          conn.run_sql("COMMIT");
        }
        return result;
      };
      auto* conn = self->state.conn->get();
      if (conn == nullptr) {
        read_metrics().errors.add();
        return finish(unavailable());
      }
      auto result = attempt(*conn);
      // A read changes nothing: one that met a connection the server had
      // dropped (a restart) runs once more on a fresh one.
      if (auto* e = std::get_if<pg_error>(&result); e != nullptr && e->connection_lost)
        if (auto* fresh = self->state.conn->get(); fresh != nullptr)
          result = attempt(*fresh);
      if (auto* e = std::get_if<pg_error>(&result)) {
        read_metrics().errors.add();
        return finish(to_error(*e));
      }
      return finish(std::get<db_result>(std::move(result)));
    },
  };
}

// -- writer -------------------------------------------------------------------------

struct pending_write {
  db_command command;
  caf::typed_response_promise<db_result> promise;
};

struct writer_state {
  std::unique_ptr<lazy_connection> conn;
  std::vector<pending_write> batch;
  group_commit_policy policy{1};
  static inline const char* name = "db_writer";
};

struct writer_metrics {
  metrics::histogram& batch_size = metrics::registry::global().make_histogram(
    "livemart_db_batch_size", "Commands per group-commit transaction", {1, 2, 4, 8, 16, 32, 64, 128, 256, 512});
  metrics::histogram& commit_latency = metrics::registry::global().make_histogram(
    "livemart_db_commit_seconds", "Group-commit transaction latency, BEGIN to COMMIT", metrics::latency_buckets_s());
  metrics::counter& failed = metrics::registry::global().make_counter(
    "livemart_db_write_errors_total", "Write commands that failed");
  metrics::counter& merged_sales = metrics::registry::global().make_counter(
    "livemart_db_merged_sales_total", "Direct-sale commands (one product each) merged into one products_sell");
};

writer_metrics& write_metrics() {
  static writer_metrics m;
  return m;
}

void fail_all(std::vector<pending_write>& batch, const caf::error& err) {
  for (auto& p : batch)
    p.promise.deliver(err);
  write_metrics().failed.add(batch.size());
}

using writer_pointer = writer_actor::stateful_pointer<writer_state>;

void flush(writer_pointer self) {
  auto& st = self->state;
  st.policy.on_flush();
  if (st.batch.empty())
    return;
  auto batch = std::move(st.batch);
  st.batch.clear();
  auto* conn = st.conn->get();
  if (conn == nullptr) {
    fail_all(batch, unavailable());
    return;
  }
  auto started = clock::now();
  auto lost = [&](const pg_error&) {
    st.conn->drop();
    fail_all(batch, unavailable());
  };
  // Failure points (test builds): named after each command's first
  // statement, before its batch commits and after, before any reply.
  auto at_point = [&](std::string_view when) {
    bool fail = false;
    for (const auto& p : batch)
      if (!p.command.statements.empty())
        fail = failpoint::hit(std::string{when} + p.command.statements.front().name) || fail;
    return fail;
  };
  auto failed_at_point = [&] {
    conn->run_sql("ROLLBACK");
    fail_all(batch, unavailable());
  };
  auto committed = [&](std::vector<std::variant<db_result, caf::error>>& outcomes) {
    if (at_point("db.after_commit.")) {
      // Committed, yet answered as unknown: what a lost reply looks like.
      fail_all(batch, unavailable());
      return;
    }
    write_metrics().commit_latency.observe(std::chrono::duration<double>(clock::now() - started).count());
    write_metrics().batch_size.observe(static_cast<double>(batch.size()));
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (auto* err = std::get_if<caf::error>(&outcomes[i])) {
        write_metrics().failed.add();
        batch[i].promise.deliver(*err);
      } else {
        batch[i].promise.deliver(std::get<db_result>(std::move(outcomes[i])));
      }
    }
  };
  // A writer frozen before its batch, as a paused node's is: when it goes
  // on, the fence in each command decides whether it may still commit.
  if (at_point("db.before_batch.")) {
    fail_all(batch, unavailable());
    return;
  }
  // Most batches fail nowhere: send them whole in one round trip (pipeline
  // mode, no savepoints). If a statement fails, that transaction rolled
  // back and the batch runs again below, command by command.
  if (batch.size() > 1) {
    if (at_point("db.before_commit.")) {
      fail_all(batch, unavailable());
      return;
    }
    // Direct sales of several products become one products_sell (the
    // others are sent as they are); `from` maps what is sent to the batch.
    constexpr auto merged_at = static_cast<std::size_t>(-1);
    std::vector<const db_command*> sales;
    std::vector<std::size_t> sale_at;
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (mergeable_sale(batch[i].command)) {
        sales.push_back(&batch[i].command);
        sale_at.push_back(i);
      }
    std::optional<db_command> merged;
    if (sales.size() > 1)
      merged = merge_sales(sales);
    std::vector<const db_command*> commands;
    std::vector<std::size_t> from;
    commands.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (!merged || !mergeable_sale(batch[i].command)) {
        commands.push_back(&batch[i].command);
        from.push_back(i);
      }
    if (merged) {
      commands.push_back(&*merged);
      from.push_back(merged_at);
    }
    auto piped = conn->run_pipelined(commands);
    if (auto* results = std::get_if<std::vector<db_result>>(&piped)) {
      std::vector<std::variant<db_result, caf::error>> outcomes(batch.size());
      for (std::size_t k = 0; k < results->size(); ++k) {
        if (from[k] != merged_at) {
          outcomes[from[k]] = std::move((*results)[k]);
          continue;
        }
        auto split = split_sales((*results)[k].results.front(), sales.size());
        for (std::size_t j = 0; j < split.size(); ++j)
          outcomes[sale_at[j]] = std::move(split[j]);
        write_metrics().merged_sales.add(sales.size());
      }
      committed(outcomes);
      return;
    }
    auto& failure = std::get<pg_connection::pipeline_failure>(piped);
    if (!failure.statement_failed)
      return lost(failure.error);
  }
  if (auto r = conn->run_sql("BEGIN"); std::holds_alternative<pg_error>(r)) {
    // Nothing was done yet: a connection the server had dropped gets one
    // fresh replacement before the batch fails.
    st.conn->drop();
    conn = st.conn->get();
    if (conn == nullptr)
      return lost(std::get<pg_error>(r));
    if (auto again = conn->run_sql("BEGIN"); std::holds_alternative<pg_error>(again))
      return lost(std::get<pg_error>(again));
  }
  // Results wait here until COMMIT: nobody hears "done" before it is durable.
  std::vector<std::variant<db_result, caf::error>> outcomes;
  outcomes.reserve(batch.size());
  // A savepoint per command isolates failures; a lone command needs none.
  bool isolate = batch.size() > 1;
  for (auto& p : batch) {
    if (isolate)
      if (auto r = conn->run_sql("SAVEPOINT cmd"); std::holds_alternative<pg_error>(r))
        return lost(std::get<pg_error>(r));
    auto result = run_all(*conn, p.command);
    if (auto* e = std::get_if<pg_error>(&result)) {
      if (e->connection_lost)
        return lost(*e);
      outcomes.emplace_back(to_error(*e));
      auto undo = conn->run_sql(isolate ? "ROLLBACK TO SAVEPOINT cmd" : "ROLLBACK");
      if (auto* ue = std::get_if<pg_error>(&undo))
        return lost(*ue);
      if (!isolate) {
        p.promise.deliver(std::get<caf::error>(outcomes.back()));
        write_metrics().failed.add();
        return;
      }
    } else {
      outcomes.emplace_back(std::get<db_result>(std::move(result)));
      if (isolate)
        if (auto r = conn->run_sql("RELEASE SAVEPOINT cmd"); std::holds_alternative<pg_error>(r))
          return lost(std::get<pg_error>(r));
    }
    // (Test builds: the process may die with the transaction half done.)
    if (!p.command.statements.empty() && failpoint::hit("db.mid_batch." + p.command.statements.front().name))
      return failed_at_point();
  }
  if (batch.size() == 1 && at_point("db.before_commit."))
    return failed_at_point();
  if (auto r = conn->run_sql("COMMIT"); std::holds_alternative<pg_error>(r)) {
    // The outcome is unknown: report failure, never a false success.
    return lost(std::get<pg_error>(r));
  }
  committed(outcomes);
}

writer_actor::behavior_type writer(writer_pointer self, conf::database_settings cfg) {
  self->state.conn = std::make_unique<lazy_connection>(cfg, "write");
  self->state.policy = group_commit_policy{cfg.write_batch_max};
  // On shutdown, commit what is queued so no accepted write is dropped.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    flush(self);
    self->quit(msg.reason);
  });
  // Flush ticks are internal, so they are handled by the default handler
  // rather than widening the public interface.
  self->set_default_handler([self](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (msg.match_elements<caf::flush_atom, std::uint64_t>()) {
      if (self->state.policy.on_tick(msg.get_as<std::uint64_t>(1)))
        flush(self);
      return caf::message{};
    }
    return caf::sec::unexpected_message;
  });
  return {
    [self, cfg](write_atom, db_command& cmd) -> caf::result<db_result> {
      auto& st = self->state;
      if (st.batch.size() + self->mailbox().size() >= cfg.write_queue_max)
        return make_error(errc::overloaded, "the write queue is full");
      auto promise = self->make_response_promise<db_result>();
      st.batch.push_back(pending_write{std::move(cmd), promise});
      switch (st.policy.on_enqueue(st.batch.size())) {
        case group_commit_policy::action::flush_now:
          flush(self);
          break;
        case group_commit_policy::action::arm_tick:
          // With no interval the tick queues behind the writes already in
          // the mailbox, so a burst becomes one transaction without waiting.
          if (cfg.write_flush_interval_us == 0)
            caf::anon_send(caf::actor_cast<caf::actor>(self), caf::flush_atom::value, st.policy.generation());
          else
            caf::delayed_anon_send(caf::actor_cast<caf::actor>(self),
                                   std::chrono::microseconds{cfg.write_flush_interval_us}, caf::flush_atom::value,
                                   st.policy.generation());
          break;
        case group_commit_policy::action::none:
          break;
      }
      return promise;
    },
  };
}

// -- membership link ------------------------------------------------------------------

struct link_state {
  std::unique_ptr<lazy_connection> conn;
  static inline const char* name = "db_membership_link";
};

/// Each command in its own transaction, on the one connection that holds
/// the node's advisory lock. Nothing is retried: the caller decides (a
/// heartbeat that failed is simply sent again at the next beat).
membership_link_actor::behavior_type membership_link(membership_link_actor::stateful_pointer<link_state> self,
                                                     conf::database_settings cfg) {
  self->state.conn = std::make_unique<lazy_connection>(std::move(cfg), "membership");
  return {
    [self](write_atom, const db_command& cmd) -> caf::result<db_result> {
      auto* conn = self->state.conn->get();
      if (conn == nullptr)
        return unavailable();
      if (auto begun = conn->run_sql("BEGIN"); std::holds_alternative<pg_error>(begun)) {
        self->state.conn->drop();
        return unavailable();
      }
      auto result = run_all(*conn, cmd);
      if (auto* e = std::get_if<pg_error>(&result)) {
        if (e->connection_lost)
          self->state.conn->drop();
        else
          conn->run_sql("ROLLBACK");
        return to_error(*e);
      }
      if (auto committed = conn->run_sql("COMMIT"); auto* e = std::get_if<pg_error>(&committed)) {
        self->state.conn->drop();
        return to_error(*e);
      }
      return std::get<db_result>(std::move(result));
    },
  };
}

} // namespace

membership_link_actor start_membership_link(caf::actor_system& sys, const conf::database_settings& cfg) {
  return sys.spawn<caf::detached>(membership_link, cfg);
}

database start_database(caf::actor_system& sys, const conf::database_settings& cfg) {
  database db;
  worker_pool_options options{"db_read", cfg.read_connections, cfg.read_queue_max};
  auto pool = spawn_worker_pool(sys, options, [&sys, cfg](caf::actor owner) {
    return sys.spawn<caf::detached>(reader, cfg, owner);
  });
  db.reads = caf::actor_cast<reader_actor>(pool);
  db.writes = sys.spawn<caf::detached>(writer, cfg);
  return db;
}

void stop_database(database& db) {
  caf::anon_send_exit(db.reads, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(db.writes, caf::exit_reason::user_shutdown);
}

} // namespace livemart::persistence
