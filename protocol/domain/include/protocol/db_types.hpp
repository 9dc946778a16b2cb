#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

/// What crosses the boundary to the persistence actors: named statements
/// with text parameters in, rows of text out. SQL text never leaves
/// persistence/; callers name statements (see persistence/statements.hpp).
namespace livemart {

struct db_value {
  std::string text;
  bool is_null = false;
};

struct db_statement {
  std::string name;
  std::vector<db_value> params;
};

/// Statements run in order and atomically: all of them take effect or none.
/// A guard (a name, when set) runs first in the same transaction and its
/// rows are dropped: the cluster's fence (persistence::cluster_fence), whose
/// failure fails the command and only it.
struct db_command {
  std::vector<db_statement> statements;
  db_statement guard;

  bool guarded() const { return !guard.name.empty(); }
  /// Statements sent, the guard included.
  std::size_t size() const { return statements.size() + (guarded() ? 1 : 0); }
  /// The i-th statement sent: the guard first, when there is one.
  const db_statement& sent(std::size_t i) const { return guarded() ? (i == 0 ? guard : statements[i - 1]) : statements[i]; }
  /// Whether the i-th statement sent returns rows the caller sees.
  bool reported(std::size_t i) const { return !guarded() || i > 0; }
};

struct db_rows {
  std::vector<std::string> columns;
  std::vector<std::vector<db_value>> rows;

  /// Index of `column`, or -1. Every decoder looks a column up before it
  /// reads a row, so this is where a reader's rows are received.
  int column(std::string_view name) const {
    received();
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name)
        return static_cast<int>(i);
    return -1;
  }

  /// ThreadSanitizer builds only. Rows are built on a database reader's or
  /// writer's thread and read on a CAF worker; the happens-before between
  /// the two is CAF's mailbox, which the sanitizer cannot see (Debian's
  /// libcaf is not instrumented). Every byte read would then be a race
  /// report for tests/tsan.supp to drop, and for a catalog of thousands of
  /// products that took minutes at start-up. The thread that built the rows
  /// publishes them; the first lookup receives them. Nothing in other builds.
  void published() const {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(const_cast<db_rows*>(this));
#endif
  }
  void received() const {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(const_cast<db_rows*>(this));
#endif
  }
};

/// One db_rows per statement of the command, in order.
struct db_result {
  std::vector<db_rows> results;
};

inline db_value db_text(std::string text) { return db_value{std::move(text), false}; }
inline db_value db_null() { return db_value{{}, true}; }
inline db_value db_int(std::int64_t v) { return db_value{std::to_string(v), false}; }
inline db_value db_uint(std::uint64_t v) { return db_value{std::to_string(v), false}; }
inline db_value db_bool(bool v) { return db_value{v ? "t" : "f", false}; }

} // namespace livemart
