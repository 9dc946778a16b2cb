#include <actors/services.hpp>

#include <chrono>
#include <algorithm>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

namespace livemart {
namespace {

using clock = std::chrono::steady_clock;

struct window {
  clock::time_point started;
  std::uint32_t count = 0;
};

struct limiter_state {
  std::unordered_map<std::string, window> windows;
  static inline const char* name = "rate_limiter";
};

/// Bounded memory without locking anyone out: drop finished windows, and if
/// every window is still running, forget the oldest eighth. An attacker who
/// floods fresh keys to push a victim's window out must first spend the
/// per-address budget on each of those keys; refusing new keys instead would
/// let the same flood lock every other user out of login.
void make_room(std::unordered_map<std::string, window>& windows, clock::time_point now, clock::duration length) {
  for (auto i = windows.begin(); i != windows.end();)
    i = now - i->second.started >= length ? windows.erase(i) : std::next(i);
  if (windows.size() < 8)
    return;
  std::vector<std::pair<clock::time_point, const std::string*>> by_age;
  by_age.reserve(windows.size());
  for (const auto& [key, w] : windows)
    by_age.emplace_back(w.started, &key);
  auto evict = by_age.size() / 8;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(evict), by_age.end());
  std::vector<std::string> doomed;
  for (std::size_t i = 0; i < evict; ++i)
    doomed.push_back(*by_age[i].second);
  for (const auto& key : doomed)
    windows.erase(key);
}

limiter_actor::behavior_type limiter(limiter_actor::stateful_pointer<limiter_state> self, conf::auth_settings cfg) {
  return {
    [self, cfg](check_atom, const std::string& key, std::uint32_t max) -> std::uint32_t {
      auto& windows = self->state.windows;
      auto now = clock::now();
      auto length = std::chrono::seconds{cfg.login_window_s};
      auto it = windows.find(key);
      if (it == windows.end()) {
        if (windows.size() >= cfg.rate_limit_keys_max)
          make_room(windows, now, length);
        it = windows.emplace(key, window{now, 0}).first;
      } else if (now - it->second.started >= length) {
        it->second = window{now, 0};
      }
      auto& w = it->second;
      if (w.count >= max) {
        auto left = std::chrono::duration_cast<std::chrono::seconds>(w.started + length - now).count();
        return static_cast<std::uint32_t>(std::max<std::int64_t>(1, left + 1));
      }
      ++w.count;
      return 0;
    },
  };
}

} // namespace

limiter_actor spawn_limiter(caf::actor_system& sys, const conf::auth_settings& cfg) {
  return sys.spawn(limiter, cfg);
}

} // namespace livemart
