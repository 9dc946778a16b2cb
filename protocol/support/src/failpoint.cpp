#include <protocol/failpoint.hpp>

#ifdef LIVEMART_FAILPOINTS

#include <atomic>
#include <csignal>
#include <cstdint>
#include <memory>
#include <vector>

#include <protocol/log.hpp>

namespace livemart::failpoint {
namespace {

enum class action { crash, error, pause };

struct point {
  std::string name;
  action what = action::error;
  std::int64_t limit = -1;            ///< hits that act; -1: every one
  std::atomic<std::int64_t> hits{0};
};

// Armed once before the threads start, read-only afterwards (the counters
// are atomic): no lock on any path.
std::vector<std::unique_ptr<point>>& points() {
  static std::vector<std::unique_ptr<point>> all;
  return all;
}
std::atomic<bool> armed{false};

} // namespace

bool compiled_in() {
  return true;
}

std::string arm(std::string_view spec) {
  while (!spec.empty()) {
    auto end = spec.find(';');
    auto entry = spec.substr(0, end);
    spec = end == std::string_view::npos ? std::string_view{} : spec.substr(end + 1);
    if (entry.empty())
      continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return "failpoint \"" + std::string{entry} + "\" is not name=action";
    auto p = std::make_unique<point>();
    p->name = std::string{entry.substr(0, eq)};
    auto act = entry.substr(eq + 1);
    if (auto star = act.find('*'); star != std::string_view::npos) {
      auto count = act.substr(star + 1);
      if (count.empty() || count.find_first_not_of("0123456789") != std::string_view::npos)
        return "failpoint \"" + p->name + "\": the count after * must be a number";
      p->limit = std::stoll(std::string{count});
      act = act.substr(0, star);
    }
    if (act == "crash")
      p->what = action::crash;
    else if (act == "error")
      p->what = action::error;
    else if (act == "pause")
      p->what = action::pause;
    else
      return "failpoint \"" + p->name + "\": the action must be crash, error or pause";
    points().push_back(std::move(p));
  }
  armed.store(!points().empty());
  return {};
}

bool hit(std::string_view name) {
  if (!armed.load(std::memory_order_relaxed))
    return false;
  for (auto& p : points()) {
    if (p->name != name)
      continue;
    auto n = p->hits.fetch_add(1);
    if (p->limit >= 0 && n >= p->limit)
      return false;
    log::warn("failpoint hit", "\"failpoint\":\"" + p->name + "\"");
    switch (p->what) {
      case action::crash:
        log::stop(); // the harness reads that the point was reached
        std::raise(SIGKILL);
        return true;
      case action::pause:
        std::raise(SIGSTOP);
        return false; // resumed: carry on, as a node that was frozen does
      case action::error:
        return true;
    }
  }
  return false;
}

} // namespace livemart::failpoint

#else

namespace livemart::failpoint {

bool compiled_in() {
  return false;
}

std::string arm(std::string_view spec) {
  if (spec.empty())
    return {};
  return "this build has no failpoints (configure with -DLIVEMART_FAILPOINTS=ON)";
}

bool hit(std::string_view) {
  return false;
}

} // namespace livemart::failpoint

#endif
