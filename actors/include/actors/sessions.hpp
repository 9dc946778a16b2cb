#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <protocol/users.hpp>

/// Ended sessions, as every thread that checks an access token sees them.
/// Tokens are verified on the I/O threads (no actor hop per request), so
/// the list is an immutable snapshot, replaced whole by the sessions actor
/// and read without a lock. A node learns of its own revocations before
/// it answers the request that made them, and of other nodes' (and tools')
/// within auth.revocation_poll_ms, from PostgreSQL, where they are kept
/// until no access token they apply to can be valid.
namespace livemart {

class revocation_list {
public:
  struct entries {
    std::unordered_set<std::uint64_t> sessions;              ///< ended sessions
    std::unordered_map<std::uint64_t, std::uint64_t> cutoffs; ///< user: sessions below this id ended

    bool revoked(std::uint64_t user_id, std::uint64_t session_id) const {
      if (sessions.count(session_id) != 0)
        return true;
      auto it = cutoffs.find(user_id);
      return it != cutoffs.end() && session_id < it->second;
    }
  };

  /// What is in force: a base, rebuilt now and then, shared by the
  /// snapshots that follow it, and the few revocations made since. A logout
  /// copies only the latter, whatever the number in force.
  struct snapshot {
    std::shared_ptr<const entries> base = std::make_shared<const entries>();
    entries recent;
  };

  revocation_list() : current_(std::make_shared<const snapshot>()) {}

  /// True when the session `session_id` of `user_id` has ended.
  bool revoked(std::uint64_t user_id, std::uint64_t session_id) const {
    auto s = current_.load(std::memory_order_acquire);
    return s->recent.revoked(user_id, session_id) || s->base->revoked(user_id, session_id);
  }

  /// Replaces the snapshot (the sessions actor only).
  void publish(std::shared_ptr<const snapshot> next) {
    current_.store(std::move(next), std::memory_order_release);
    version_.fetch_add(1, std::memory_order_release);
  }

  /// Grows with every change: holders of long-lived connections look again
  /// at their sessions when it moved.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

private:
  std::atomic<std::shared_ptr<const snapshot>> current_;
  std::atomic<std::uint64_t> version_{0};
};

} // namespace livemart
