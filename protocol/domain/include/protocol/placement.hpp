#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

/// Where an entity lives in a cluster: ids fall into hash slots, and each
/// slot should be owned by the live member that rendezvous hashing picks.
/// Pure functions: the cluster actor applies them to the members it reads
/// from PostgreSQL, tests and the churn simulation (bench/) to made-up ones.
namespace livemart::placement {

/// A node's configured id (node.id, 0..1023).
using node_id = std::uint16_t;

/// A 64-bit finaliser (SplitMix64's): every input bit moves every output bit.
constexpr std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

/// The slot of an entity id: the top bits of its mix, so ids made on one
/// node in one millisecond still spread. `slots` is a power of two.
constexpr std::uint32_t slot_of(std::uint64_t id, std::uint32_t slots) {
  return static_cast<std::uint32_t>((mix(id) >> 32) & (slots - 1));
}

/// A 64-bit id for a text key (FNV-1a), so keys (a login limit's e-mail
/// or address) fall in slots like entity ids do.
constexpr std::uint64_t key_id(std::string_view key) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

/// Whether `slots` can be a slot count: a power of two from 1 to 2^20.
constexpr bool valid_slot_count(std::uint64_t slots) {
  return slots >= 1 && slots <= (1u << 20) && (slots & (slots - 1)) == 0;
}

/// The weight of (slot, node) in rendezvous hashing.
constexpr std::uint64_t weight(std::uint32_t slot, node_id node) {
  return mix((static_cast<std::uint64_t>(slot) << 16 | node) ^ 0x9E3779B97F4A7C15ull);
}

/// The member a slot should belong to: the one with the highest weight
/// (ties, which need equal 64-bit mixes, go to the lower id). A join takes
/// about 1/(N+1) of the slots, each from one member; a leave hands only the
/// leaver's slots out. `members` must not be empty.
node_id rendezvous_owner(std::uint32_t slot, std::span<const node_id> members);

/// Every slot's owner by rendezvous_owner, slot by slot.
std::vector<node_id> rendezvous_table(std::uint32_t slots, std::span<const node_id> members);

/// The reference rendezvous is measured against: slot modulo the number of
/// members, over the members in ascending order (`members` sorted).
std::vector<node_id> modulo_table(std::uint32_t slots, std::span<const node_id> members);

/// How many slots have a different owner in `after` than in `before`.
std::size_t moved(std::span<const node_id> before, std::span<const node_id> after);

} // namespace livemart::placement
