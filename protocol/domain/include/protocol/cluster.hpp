#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// A cluster's members and slot owners, as PostgreSQL records them
/// (persistence/migrations/0015_cluster.sql) and GET /admin/cluster shows.
namespace livemart {

/// The cluster protocol this build speaks. Nodes compare it twice: CAF's
/// handshake (middleman.app-identifiers) refuses a peer without it, and a
/// member row records it. Raise it with any change to a message that
/// crosses nodes.
inline constexpr const char* cluster_protocol = "livemart-cluster-1";

enum class member_status : std::uint8_t { up = 0, leaving = 1, dead = 2 };

const char* to_string(member_status s);
member_status member_status_of(std::string_view text); ///< dead when unknown

struct cluster_member {
  std::uint16_t node_id = 0;
  std::uint64_t incarnation = 0; ///< one run of the node's process
  std::string cluster_address;   ///< host:port of its cluster port
  std::string http_address;      ///< host:port of its HTTP port
  std::string version;           ///< the cluster protocol it speaks
  member_status status = member_status::dead;
  std::int64_t heartbeat_age_ms = 0; ///< since it last marked itself alive (PostgreSQL's clock)
  std::uint32_t slots_owned = 0;
  bool connected = false; ///< this node holds a link to its cluster port (itself: true)
};

/// A slot this node owns, and the epoch of that ownership (the fence).
struct owned_slot {
  std::uint32_t slot = 0;
  std::uint64_t epoch = 0;
};

/// What joining said: joined, taken (a live process has this node id),
/// or slots (the cluster was made with another slot count: `slots`).
enum class join_outcome : std::uint8_t { joined = 0, taken = 1, slots = 2 };

struct join_result {
  join_outcome outcome = join_outcome::taken;
  std::uint32_t slots = 0;
};

/// A node's view of its cluster (GET /admin/cluster).
struct cluster_view {
  bool enabled = false;
  std::uint16_t node_id = 0;
  std::uint64_t incarnation = 0;
  std::uint32_t slots = 0;        ///< slots in the cluster
  std::uint32_t owned = 0;        ///< slots this node owns now
  std::uint32_t moving = 0;       ///< of those, slots draining before their release
  std::uint64_t version = 0;      ///< of members and owners, as last read
  std::vector<cluster_member> members;
};

} // namespace livemart
