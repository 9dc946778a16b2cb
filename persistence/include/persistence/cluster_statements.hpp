#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <protocol/cluster.hpp>
#include <protocol/db_types.hpp>

#include <persistence/statements.hpp>

/// Statements of the cluster's membership and slot ownership
/// (migrations/0015_cluster.sql). They run on a node's membership link
/// (start_membership_link), the connection that holds its lock.
namespace livemart::persistence {

std::span<const named_statement> cluster_statement_catalog();

/// Joins as a new incarnation; one row: outcome, slots.
db_statement cluster_join(const cluster_member& self, std::uint32_t slots);
join_result decode_join(const db_rows& rows);

/// Marks this incarnation alive; false when it was evicted or replaced. A
/// beat more than `gap_ms` after the previous one starts a new run of beats.
db_statement cluster_heartbeat(std::uint16_t node_id, std::uint64_t incarnation, std::uint32_t gap_ms);
bool decode_alive(const db_rows& rows);

/// Asked by `node_id`: marks dead the members silent for `ttl_ms`, or
/// silent for `grace_ms` with their lock free (a crashed process); the node
/// ids marked now. Nobody, unless `node_id` has been beating without a gap
/// for `ttl_ms` (after PostgreSQL was away, every mark is old).
db_statement cluster_evict(std::uint16_t node_id, std::uint32_t ttl_ms, std::uint32_t grace_ms);
std::vector<std::uint16_t> decode_node_ids(const db_rows& rows);

/// The version raised by every change of members or owners (one row).
db_statement cluster_version();
std::uint64_t decode_version(const db_rows& rows);

/// Every member, with how many slots each owns.
db_statement cluster_members();
std::vector<cluster_member> decode_members(const db_rows& rows);

/// The slots `node_id` owns, with their epochs.
db_statement cluster_owned(std::uint16_t node_id);
/// Claims, from nobody or the dead, those of `slots` it can; those it got.
db_statement cluster_claim(std::uint16_t node_id, const std::vector<std::uint32_t>& slots);
std::vector<owned_slot> decode_owned(const db_rows& rows);
/// Releases those of `slots` it owns; the slots released.
db_statement cluster_release(std::uint16_t node_id, const std::vector<std::uint32_t>& slots);
std::vector<std::uint32_t> decode_slots(const db_rows& rows);

/// Every slot's owner: slot, node_id (NULL: none), epoch.
db_statement cluster_slot_owners();
struct slot_owner_row {
  std::uint32_t slot = 0;
  int node_id = -1; ///< -1: nobody
  std::uint64_t epoch = 0;
};
std::vector<slot_owner_row> decode_slot_owners(const db_rows& rows);

/// Says this incarnation is leaving (others stop placing slots on it) or
/// gone (dead, after releasing its slots); false when it was evicted.
db_statement cluster_set_status(std::uint16_t node_id, std::uint64_t incarnation, member_status status);

/// The fence of a write of an entity in `slot`: fails with
/// db_refusal::not_owner unless `node_id` owns it at `epoch`.
db_statement cluster_fence(std::uint32_t slot, std::uint16_t node_id, std::uint64_t epoch);

} // namespace livemart::persistence
