#include <actors/services.hpp>

#include <chrono>
#include <unordered_map>

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

limiter_actor::behavior_type limiter(limiter_actor::stateful_pointer<limiter_state> self, conf::auth_settings cfg) {
  return {
    [self, cfg](check_atom, const std::string& key, std::uint32_t max) -> std::uint32_t {
      auto& windows = self->state.windows;
      auto now = clock::now();
      auto length = std::chrono::seconds{cfg.login_window_s};
      auto it = windows.find(key);
      if (it == windows.end()) {
        if (windows.size() >= cfg.rate_limit_keys_max) {
          // Bounded memory: drop finished windows; if every key is still
          // active, refuse rather than forget (forgetting would let an
          // attacker reset counters by flooding with fresh keys).
          for (auto i = windows.begin(); i != windows.end();)
            i = now - i->second.started >= length ? windows.erase(i) : std::next(i);
          if (windows.size() >= cfg.rate_limit_keys_max)
            return cfg.login_window_s;
        }
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
