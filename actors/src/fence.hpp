#pragma once

#include <actors/routing.hpp>
#include <persistence/cluster_statements.hpp>
#include <protocol/db_types.hpp>

namespace livemart {

/// `cmd` guarded by an entity's fence: in a cluster it commits only while
/// this node owns the entity's slot at the epoch the actor was spawned in
/// (persistence::cluster_fence). Without a cluster it is `cmd` as it is.
inline db_command fenced(db_command cmd, const entity_fence& fence) {
  if (fence.slot >= 0)
    cmd.guard = persistence::cluster_fence(static_cast<std::uint32_t>(fence.slot), fence.node, fence.epoch);
  return cmd;
}

} // namespace livemart
