#include <protocol/placement.hpp>

#include <cassert>

namespace livemart::placement {

node_id rendezvous_owner(std::uint32_t slot, std::span<const node_id> members) {
  assert(!members.empty());
  node_id best = members.front();
  auto best_weight = weight(slot, best);
  for (auto m : members.subspan(1)) {
    auto w = weight(slot, m);
    if (w > best_weight || (w == best_weight && m < best)) {
      best = m;
      best_weight = w;
    }
  }
  return best;
}

std::vector<node_id> rendezvous_table(std::uint32_t slots, std::span<const node_id> members) {
  std::vector<node_id> out(slots);
  for (std::uint32_t s = 0; s < slots; ++s)
    out[s] = rendezvous_owner(s, members);
  return out;
}

std::vector<node_id> modulo_table(std::uint32_t slots, std::span<const node_id> members) {
  assert(!members.empty());
  std::vector<node_id> out(slots);
  for (std::uint32_t s = 0; s < slots; ++s)
    out[s] = members[s % members.size()];
  return out;
}

std::size_t moved(std::span<const node_id> before, std::span<const node_id> after) {
  assert(before.size() == after.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < before.size(); ++i)
    n += before[i] != after[i] ? 1 : 0;
  return n;
}

} // namespace livemart::placement
