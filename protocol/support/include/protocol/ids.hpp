#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// 64-bit ids that say which node made them, so a cluster can route any id
/// to its owner without a lookup:
///
///   | 41 bits: ms since 2024-01-01 | 10 bits: node id | 12 bits: sequence |
///
/// Ids grow with time (good for B-tree inserts and keyset pagination) and are
/// unique per node without coordination. They travel as decimal strings in
/// JSON because JavaScript numbers lose precision above 2^53.
namespace livemart::ids {

inline constexpr std::uint32_t node_id_max = 1023;

/// Sets this process's node id (0..1023). Call once at start-up.
void set_node(std::uint32_t node);

/// A fresh id; lock-free and safe from any thread.
std::uint64_t next();

/// The node that made `id`.
constexpr std::uint32_t owner_node(std::uint64_t id) {
  return static_cast<std::uint32_t>((id >> 12) & node_id_max);
}

/// Parses a decimal id from a path or body; nullopt unless 1..2^63-1 digits only.
std::optional<std::uint64_t> parse(std::string_view text);

inline std::string format(std::uint64_t id) { return std::to_string(id); }

} // namespace livemart::ids
