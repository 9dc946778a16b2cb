#pragma once

#include <cstdint>

/// The wall clock every rule of the domain and the front door reads:
/// deadlines, expiry, token lifetimes, timestamps in rows and pushes. One
/// place, so that tests can set the time (set_source) instead of waiting for
/// it. Timeouts and idleness use std::chrono::steady_clock (durations, not
/// dates); ids and log lines keep the system clock (their order must not go
/// back in a test).
namespace livemart::wall_clock {

/// Microseconds since the Unix epoch.
std::int64_t now_us();

inline std::int64_t now_ms() {
  return now_us() / 1'000;
}

inline std::int64_t now_s() {
  return now_us() / 1'000'000;
}

/// A replacement clock: microseconds since the Unix epoch.
using source = std::int64_t (*)();

/// Replaces the clock for the whole process (nullptr: the system clock).
void set_source(source replacement);

} // namespace livemart::wall_clock
