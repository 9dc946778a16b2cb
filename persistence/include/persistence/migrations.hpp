#pragma once

#include <string>
#include <variant>
#include <vector>

/// Forward-only migrations: numbered SQL files under persistence/migrations/,
/// compiled into the binary, applied in order, each in its own transaction,
/// recorded in schema_migrations with a checksum. Blocking: call it from the
/// `migrate` subcommand or at start-up, before the actor system serves.
namespace livemart::persistence {

struct migration_report {
  std::vector<std::string> applied;   ///< file names applied by this call
  std::size_t already_applied = 0;
};

std::variant<migration_report, std::string> migrate(const std::string& url, std::uint32_t connect_timeout_s);

} // namespace livemart::persistence
