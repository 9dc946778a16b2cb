#include <protocol/cluster.hpp>

namespace livemart {

const char* to_string(member_status s) {
  switch (s) {
    case member_status::up: return "up";
    case member_status::leaving: return "leaving";
    case member_status::dead: return "dead";
  }
  return "dead";
}

member_status member_status_of(std::string_view text) {
  if (text == "up")
    return member_status::up;
  if (text == "leaving")
    return member_status::leaving;
  return member_status::dead;
}

} // namespace livemart
