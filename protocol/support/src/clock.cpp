#include <protocol/clock.hpp>

#include <atomic>
#include <chrono>

namespace livemart::wall_clock {
namespace {

std::atomic<source> replaced{nullptr};

} // namespace

std::int64_t now_us() {
  if (auto s = replaced.load(std::memory_order_acquire))
    return s();
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void set_source(source replacement) {
  replaced.store(replacement, std::memory_order_release);
}

} // namespace livemart::wall_clock
