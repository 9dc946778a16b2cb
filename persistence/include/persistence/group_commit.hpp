#pragma once

#include <cstddef>
#include <cstdint>

/// When the writer flushes its batch (group commit), separated from libpq so
/// the rule is unit-tested alone:
///  - a full batch (write_batch_max) flushes at once;
///  - the first command of a batch arms one flush tick; the tick queues
///    behind the commands already in the mailbox, so a burst that arrived
///    while the previous transaction ran becomes one transaction;
///  - a tick armed for a batch that was already flushed (because it filled
///    up) is stale and ignored, recognised by its generation.
namespace livemart::persistence {

class group_commit_policy {
public:
  enum class action { none, flush_now, arm_tick };

  explicit group_commit_policy(std::size_t batch_max) : batch_max_(batch_max < 1 ? 1 : batch_max) {}

  /// A command joined the batch, which now holds `batch_size` commands.
  action on_enqueue(std::size_t batch_size) {
    if (batch_size >= batch_max_)
      return action::flush_now;
    if (tick_armed_)
      return action::none;
    tick_armed_ = true;
    return action::arm_tick;
  }

  /// A tick armed with `generation` arrived: flush if it is still current.
  bool on_tick(std::uint64_t generation) const { return tick_armed_ && generation == generation_; }

  /// The batch was flushed: ticks armed before are stale from now on.
  void on_flush() {
    ++generation_;
    tick_armed_ = false;
  }

  /// The generation a tick armed now must carry.
  std::uint64_t generation() const { return generation_; }

private:
  std::size_t batch_max_;
  std::uint64_t generation_ = 0;
  bool tick_armed_ = false;
};

} // namespace livemart::persistence
