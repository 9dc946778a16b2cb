#include <protocol/ids.hpp>

#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>

namespace livemart::ids {
namespace {

constexpr std::int64_t epoch_ms = 1'704'067'200'000; // 2024-01-01T00:00:00Z
constexpr std::uint64_t sequence_mask = 0xFFF;

std::atomic<std::uint32_t> node_{0};
std::atomic<std::uint64_t> last_{0};

std::uint64_t now_ms() {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::system_clock::now().time_since_epoch());
  return static_cast<std::uint64_t>(now.count() - epoch_ms);
}

} // namespace

void set_node(std::uint32_t node) {
  assert(node <= node_id_max);
  node_.store(node);
}

std::uint64_t next() {
  const std::uint64_t node_bits = static_cast<std::uint64_t>(node_.load(std::memory_order_relaxed)) << 12;
  auto last = last_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t candidate = (now_ms() << 22) | node_bits;
    if (candidate <= last) {
      // Same millisecond (or the clock stepped back): count up, and borrow
      // the next millisecond when the sequence is exhausted.
      candidate = (last & sequence_mask) == sequence_mask ? (((last >> 22) + 1) << 22) | node_bits : last + 1;
    }
    if (last_.compare_exchange_weak(last, candidate, std::memory_order_relaxed))
      return candidate;
  }
}

std::optional<std::uint64_t> parse(std::string_view text) {
  if (text.empty() || text.size() > 19)
    return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0
      || value > static_cast<std::uint64_t>(INT64_MAX))
    return std::nullopt;
  return value;
}

} // namespace livemart::ids
