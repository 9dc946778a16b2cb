#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <conf/settings.hpp>
#include <protocol/db_types.hpp>
#include <protocol/messages.hpp>

/// The persistence actors. All libpq calls happen on their detached threads.
namespace livemart::persistence {

/// Reads: a pool of connections (database.read_connections); each command
/// runs in one read-only transaction. Fails fast with database_unavailable
/// while PostgreSQL is away, and overloaded when the queue is full.
using reader_actor = caf::typed_actor<caf::replies_to<query_atom, db_command>::with<db_result>>;

/// Writes: one connection that groups concurrent commands into one
/// transaction (group commit). Each command runs inside a savepoint, so one
/// failing command (a duplicate e-mail) fails alone. Every reply is sent only
/// after COMMIT returned: a success is durable, an unknown outcome is an error.
using writer_actor = caf::typed_actor<caf::replies_to<write_atom, db_command>::with<db_result>>;

struct database {
  reader_actor reads;
  writer_actor writes;
};

database start_database(caf::actor_system& sys, const conf::database_settings& cfg);

/// A cluster node's membership link: one connection of its own, which holds
/// the node's advisory lock while the process lives (a lock that is free
/// tells the others it died) and runs the membership and ownership
/// statements (cluster_statements.hpp), each command in one transaction.
/// Its own connection, so a busy writer never delays a heartbeat.
using membership_link_actor = caf::typed_actor<caf::replies_to<write_atom, db_command>::with<db_result>>;
membership_link_actor start_membership_link(caf::actor_system& sys, const conf::database_settings& cfg);

/// Asks both to stop; the writer commits what it has queued first.
void stop_database(database& db);

} // namespace livemart::persistence
