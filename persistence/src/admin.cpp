#include <persistence/admin.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

#include "pg.hpp"

namespace livemart::persistence {

std::variant<user_profile, std::string> upsert_admin(const std::string& url, std::uint32_t connect_timeout_s,
                                                      const std::string& email, const std::string& password_hash,
                                                      const std::string& display_name) {
  auto opened = pg_connection::open(url, connect_timeout_s, 10'000);
  if (auto* e = std::get_if<pg_error>(&opened))
    return "cannot connect: " + e->message;
  auto& conn = *std::get<std::unique_ptr<pg_connection>>(opened);
  auto rows = conn.run(user_upsert_admin(ids::next(), email, password_hash, display_name));
  if (auto* e = std::get_if<pg_error>(&rows))
    return e->message;
  auto user = decode_user(std::get<db_rows>(rows));
  if (!user)
    return std::string{"no row returned"};
  return *user;
}

std::variant<db_rows, std::string> execute_sql(const std::string& url, const std::string& sql) {
  auto opened = pg_connection::open(url, 5, 0, /*prepare=*/false);
  if (auto* e = std::get_if<pg_error>(&opened))
    return "cannot connect: " + e->message;
  auto rows = std::get<std::unique_ptr<pg_connection>>(opened)->run_sql(sql);
  if (auto* e = std::get_if<pg_error>(&rows))
    return e->sqlstate + ": " + e->message;
  return std::get<db_rows>(std::move(rows));
}

} // namespace livemart::persistence
