#include <persistence/migrations.hpp>

#include <charconv>
#include <span>

#include <protocol/crypto.hpp>
#include <protocol/embedded_file.hpp>

#include "pg.hpp"

namespace livemart::persistence {

extern const std::span<const livemart::embedded_file> migration_files;

namespace {

// Any constant works; it only has to be the same for every livemart process.
constexpr const char* lock_sql = "SELECT pg_advisory_xact_lock(727465)";

std::string quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out.push_back(c);
  }
  return out + "'";
}

int version_of(std::string_view name) {
  int v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc{} || end == name.data() || *end != '_')
    return -1;
  return v;
}

} // namespace

std::variant<migration_report, std::string> migrate(const std::string& url, std::uint32_t connect_timeout_s) {
  auto opened = pg_connection::open(url, connect_timeout_s, 0, /*prepare=*/false);
  if (auto* e = std::get_if<pg_error>(&opened))
    return "cannot connect: " + e->message;
  auto& conn = *std::get<std::unique_ptr<pg_connection>>(opened);
  auto run = [&](const std::string& sql) -> std::variant<db_rows, std::string> {
    auto r = conn.run_sql(sql);
    if (auto* e = std::get_if<pg_error>(&r))
      return e->message;
    return std::get<db_rows>(std::move(r));
  };
  auto fail = [&](const std::string& what, const std::string& message) {
    conn.run_sql("ROLLBACK");
    return what + ": " + message;
  };
  // IF NOT EXISTS notices are noise on every run.
  conn.run_sql("SET client_min_messages = warning");
  for (const auto* sql : {"BEGIN", lock_sql,
                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now())",
                          "COMMIT"}) {
    if (auto r = run(sql); std::holds_alternative<std::string>(r))
      return fail("creating schema_migrations", std::get<std::string>(r));
  }
  migration_report report;
  int previous = 0;
  for (const auto& file : migration_files) {
    int version = version_of(file.name);
    if (version <= previous)
      return "migration " + std::string{file.name} + " is not numbered NNNN_name.sql in increasing order";
    previous = version;
    auto checksum = crypto::to_hex(crypto::sha256(file.contents));
    if (auto r = run("BEGIN"); std::holds_alternative<std::string>(r))
      return fail("BEGIN", std::get<std::string>(r));
    if (auto r = run(lock_sql); std::holds_alternative<std::string>(r))
      return fail("lock", std::get<std::string>(r));
    auto existing = run("SELECT checksum FROM schema_migrations WHERE version = " + std::to_string(version));
    if (auto* e = std::get_if<std::string>(&existing))
      return fail(std::string{file.name}, *e);
    const auto& rows = std::get<db_rows>(existing);
    if (!rows.rows.empty()) {
      run("ROLLBACK");
      if (rows.rows.front().front().text != checksum)
        return "migration " + std::string{file.name} + " was changed after it was applied; add a new one instead";
      ++report.already_applied;
      continue;
    }
    if (auto r = run(std::string{file.contents}); std::holds_alternative<std::string>(r))
      return fail(std::string{file.name}, std::get<std::string>(r));
    if (auto r = run("INSERT INTO schema_migrations (version, name, checksum) VALUES (" + std::to_string(version) + ", "
                     + quote(file.name) + ", " + quote(checksum) + ")");
        std::holds_alternative<std::string>(r))
      return fail(std::string{file.name}, std::get<std::string>(r));
    if (auto r = run("COMMIT"); std::holds_alternative<std::string>(r))
      return fail(std::string{file.name}, std::get<std::string>(r));
    report.applied.emplace_back(file.name);
  }
  return report;
}

} // namespace livemart::persistence
