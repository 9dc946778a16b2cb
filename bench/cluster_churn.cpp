// Ownership churn in a cluster of 3 to 100 nodes, simulated (no network):
// how many hash slots change owner, and how many active entities must be
// reloaded by their new owner, when one node joins, one leaves gracefully,
// one crashes, and when every node restarts in turn (a rolling restart).
// Rendezvous hashing (what livemart uses) against modulo placement (the
// reference), in the same run.
//
//   bench_cluster_churn [--slots=16384] [--active=100000]
//
// A leave and a crash move the same slots (the leaver's); they differ in
// when the survivors take them (at once after a drain, or after the
// membership TTL), which this simulation does not model.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <protocol/placement.hpp>

using namespace livemart::placement;

namespace {

struct churn {
  std::size_t slots = 0;    ///< slots that changed owner
  std::size_t entities = 0; ///< active entities in those slots (reloaded)
};

using table_fn = std::vector<node_id> (*)(std::uint32_t, std::span<const node_id>);

churn compare(const std::vector<node_id>& before, const std::vector<node_id>& after,
              const std::vector<std::uint32_t>& active_slots) {
  churn c;
  c.slots = moved(before, after);
  for (auto s : active_slots)
    c.entities += before[s] != after[s] ? 1 : 0;
  return c;
}

struct row {
  churn join, leave, rolling;
};

row simulate(table_fn place, std::uint32_t slots, std::size_t n, const std::vector<std::uint32_t>& active) {
  // Node ids as an operator might give them: 1..n; the newcomer is n+1.
  std::vector<node_id> members;
  for (std::size_t i = 1; i <= n; ++i)
    members.push_back(static_cast<node_id>(i));
  auto base = place(slots, members);
  row r;

  auto joined = members;
  joined.push_back(static_cast<node_id>(n + 1));
  r.join = compare(base, place(slots, joined), active);

  auto left = members;
  left.erase(left.begin() + static_cast<std::ptrdiff_t>(n / 2));
  r.leave = compare(base, place(slots, left), active);

  // Rolling restart: each node in turn leaves, then comes back.
  for (std::size_t i = 0; i < n; ++i) {
    auto without = members;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
    auto down = place(slots, without);
    auto a = compare(base, down, active);
    auto b = compare(down, base, active);
    r.rolling.slots += a.slots + b.slots;
    r.rolling.entities += a.entities + b.entities;
  }
  return r;
}

double ratio(std::size_t reference, std::size_t ours) {
  return ours == 0 ? 0.0 : static_cast<double>(reference) / static_cast<double>(ours);
}

bool flag(const char* arg, const char* name, unsigned long& out) {
  auto len = std::strlen(name);
  if (std::strncmp(arg, name, len) != 0 || arg[len] != '=')
    return false;
  out = std::strtoul(arg + len + 1, nullptr, 10);
  return true;
}

} // namespace

int main(int argc, char** argv) {
  unsigned long slots = 16384;
  unsigned long active_count = 100000;
  for (int i = 1; i < argc; ++i) {
    if (!flag(argv[i], "--slots", slots) && !flag(argv[i], "--active", active_count)) {
      std::fprintf(stderr, "usage: bench_cluster_churn [--slots=16384] [--active=100000]\n");
      return 1;
    }
  }
  if (!valid_slot_count(slots) || active_count == 0 || active_count > 10000000) {
    std::fprintf(stderr, "bench_cluster_churn: --slots must be a power of two up to 2^20, --active 1..10^7\n");
    return 1;
  }
  auto s = static_cast<std::uint32_t>(slots);
  // Active entities: ids as livemart makes them (time in the high bits).
  std::vector<std::uint32_t> active;
  for (std::uint64_t i = 0; i < active_count; ++i)
    active.push_back(slot_of((std::uint64_t{1790000000000} << 22) + i * 7919, s));

  std::printf("slots=%u active_entities=%lu (moved = slots changing owner; reloaded = active entities in them)\n", s,
              active_count);
  std::printf("%5s  %-9s %12s %12s %8s  %12s %12s %8s\n", "nodes", "event", "rdv_moved", "mod_moved", "mod/rdv",
              "rdv_reload", "mod_reload", "mod/rdv");
  for (std::size_t n : {3, 5, 10, 25, 50, 100}) {
    auto rdv = simulate(rendezvous_table, s, n, active);
    auto mod = simulate(modulo_table, s, n, active);
    auto print = [&](const char* event, const churn& r, const churn& m) {
      std::printf("%5zu  %-9s %12zu %12zu %7.1fx  %12zu %12zu %7.1fx\n", n, event, r.slots, m.slots,
                  ratio(m.slots, r.slots), r.entities, m.entities, ratio(m.entities, r.entities));
    };
    print("join", rdv.join, mod.join);
    print("leave", rdv.leave, mod.leave);
    print("crash", rdv.leave, mod.leave);
    print("rolling", rdv.rolling, mod.rolling);
    std::printf("RESULT nodes=%zu join_moved=%zu join_ideal=%.0f leave_moved=%zu rolling_moved=%zu "
                "modulo_join_moved=%zu modulo_rolling_moved=%zu\n",
                n, rdv.join.slots, static_cast<double>(s) / static_cast<double>(n + 1), rdv.leave.slots,
                rdv.rolling.slots, mod.join.slots, mod.rolling.slots);
  }
  return 0;
}
