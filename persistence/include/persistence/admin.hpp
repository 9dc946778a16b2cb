#pragma once

#include <string>
#include <variant>

#include <protocol/db_types.hpp>
#include <protocol/users.hpp>

/// Start-up and command-line operations that talk to PostgreSQL directly
/// (blocking; never called from an actor).
namespace livemart::persistence {

/// Creates an admin account, or promotes an existing account with this
/// e-mail to admin and sets its password hash.
std::variant<user_profile, std::string> upsert_admin(const std::string& url, std::uint32_t connect_timeout_s,
                                                      const std::string& email, const std::string& password_hash,
                                                      const std::string& display_name);

/// Runs literal SQL on a fresh connection (tools and test harnesses:
/// creating databases, checking rows). Returns the last result's rows.
std::variant<db_rows, std::string> execute_sql(const std::string& url, const std::string& sql);

} // namespace livemart::persistence
