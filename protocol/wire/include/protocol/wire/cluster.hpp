#pragma once

#include <string>

#include <protocol/cluster.hpp>

namespace livemart {

/// GET /admin/cluster: this node, and every member with its state, how
/// long ago it marked itself alive and how many slots it owns.
std::string encode_cluster_view(const cluster_view& v);

} // namespace livemart
