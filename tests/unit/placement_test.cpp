#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include <protocol/placement.hpp>

using namespace livemart::placement;

namespace {
constexpr std::uint32_t slots = 16384;

std::map<node_id, std::size_t> counts(const std::vector<node_id>& table) {
  std::map<node_id, std::size_t> out;
  for (auto n : table)
    ++out[n];
  return out;
}
} // namespace

TEST_CASE("ids spread evenly over the slots", "[placement]") {
  // Ids made on one node close together in time differ in their low bits only.
  std::vector<std::size_t> per_slot(slots);
  constexpr std::uint64_t n = slots * 64;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto s = slot_of((std::uint64_t{1700000000000} << 22) + i, slots);
    REQUIRE(s < slots);
    ++per_slot[s];
  }
  auto [lo, hi] = std::minmax_element(per_slot.begin(), per_slot.end());
  CHECK(*lo >= 20);  // mean 64
  CHECK(*hi <= 120);
  CHECK(slot_of(42, 1) == 0);
  CHECK(valid_slot_count(16384));
  CHECK_FALSE(valid_slot_count(0));
  CHECK_FALSE(valid_slot_count(1000));
  CHECK_FALSE(valid_slot_count(std::uint64_t{1} << 21));
}

TEST_CASE("rendezvous hashing gives every member an even share", "[placement]") {
  std::vector<node_id> members{1, 2, 3};
  auto table = rendezvous_table(slots, members);
  auto share = counts(table);
  REQUIRE(share.size() == 3);
  for (const auto& [node, owned] : share) {
    INFO("node " << node << " owns " << owned);
    CHECK(owned > slots / 3 * 97 / 100);
    CHECK(owned < slots / 3 * 103 / 100);
  }
  // The order in which members are listed changes nothing.
  std::vector<node_id> shuffled{3, 1, 2};
  CHECK(rendezvous_table(slots, shuffled) == table);
}

TEST_CASE("a join moves about 1/(N+1) of the slots, all to the newcomer, and a leave only the leaver's", "[placement]") {
  std::vector<node_id> members{4, 9, 17, 300, 1023};
  auto before = rendezvous_table(slots, members);

  auto joined = members;
  joined.push_back(512);
  auto after = rendezvous_table(slots, joined);
  auto n = moved(before, after);
  CHECK(n > slots / 6 * 90 / 100);
  CHECK(n < slots / 6 * 110 / 100);
  for (std::uint32_t s = 0; s < slots; ++s)
    if (before[s] != after[s])
      REQUIRE(after[s] == 512);

  std::vector<node_id> left{4, 9, 300, 1023}; // 17 leaves
  auto shrunk = rendezvous_table(slots, left);
  for (std::uint32_t s = 0; s < slots; ++s)
    if (before[s] != 17)
      REQUIRE(shrunk[s] == before[s]);
  CHECK(moved(before, shrunk) == counts(before)[17]);

  // Modulo placement, the reference: a join moves almost every slot.
  auto mod_before = modulo_table(slots, members);
  std::vector<node_id> mod_joined{4, 9, 17, 300, 512, 1023};
  CHECK(moved(mod_before, modulo_table(slots, mod_joined)) > slots * 3 / 4);
}

TEST_CASE("a lone member owns every slot", "[placement]") {
  std::vector<node_id> one{7};
  auto table = rendezvous_table(64, one);
  CHECK(std::all_of(table.begin(), table.end(), [](node_id n) { return n == 7; }));
  CHECK(rendezvous_owner(5, one) == 7);
}
