#pragma once

// A cluster of real livemart processes on loopback sharing one throwaway
// PostgreSQL, for the e2e tests of the cluster.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <poll.h>

#include <protocol/ids.hpp>
#include <protocol/placement.hpp>

#include "api.hpp"

namespace livemart::testing {

inline constexpr std::int64_t slots = cluster_slots;

struct cluster_of_nodes {
  temp_database db;
  std::string keys = "test:" + crypto::to_hex(crypto::random_bytes(32)); // every node signs and checks with it
  std::map<int, std::unique_ptr<server_process>> nodes;
  std::unique_ptr<http_client> c;
  api_user admin;

  std::string seed; ///< the first node's cluster address: the others join through it
  std::vector<std::string> extra; ///< more flags for every node
  std::vector<std::pair<std::string, std::string>> env; ///< more variables for every node

  explicit cluster_of_nodes(std::initializer_list<int> ids, std::vector<std::string> more = {},
                            std::vector<std::pair<std::string, std::string>> more_env = {})
    : extra(std::move(more)), env(std::move(more_env)) {
    for (int id : ids)
      start(id);
    c = std::make_unique<http_client>(nodes.begin()->second->port());
    admin = make_admin(db.url(), *c);
  }

  /// A test that fails (REQUIRE throws) shows what each node logged about
  /// the cluster, which the failure alone rarely explains.
  ~cluster_of_nodes() {
    if (std::uncaught_exceptions() == 0)
      return;
    for (const auto& [id, node] : nodes) {
      if (!node)
        continue;
      for (const auto& line : node->output())
        if (line.find("\"level\":\"info\"") == std::string::npos || line.find("cluster") != std::string::npos)
          std::fprintf(stderr, "node %d: %s\n", id, line.c_str());
    }
  }

  void start(int id) {
    auto flags = cluster_node_flags(id, seed);
    flags.insert(flags.end(), extra.begin(), extra.end());
    auto vars = env;
    vars.emplace_back("LIVEMART_AUTH_JWT_KEYS", keys);
    nodes[id] = std::make_unique<server_process>(db.url(), flags, vars);
    if (seed.empty())
      seed = cluster_address(*nodes[id]);
  }

  /// The slots rendezvous hashing gives each of `live`.
  static std::map<int, std::int64_t> shares(const std::vector<int>& live) {
    std::vector<placement::node_id> members(live.begin(), live.end());
    std::map<int, std::int64_t> out;
    for (auto n : placement::rendezvous_table(slots, members))
      ++out[n];
    return out;
  }

  /// Whether a node's view shows a link to every live member.
  static bool linked_to_all(const json::value& view) {
    for (const auto& m : view.find("members")->as_array())
      if (m.string_or("status") == "up" && !m.find("connected")->as_bool())
        return false;
    return true;
  }

  /// Waits until node `id` holds a link to every other live member.
  void await_links(int id) {
    auto started = std::chrono::steady_clock::now();
    while (!linked_to_all(view(id))) {
      REQUIRE(std::chrono::steady_clock::now() - started < std::chrono::seconds{15});
      ::poll(nullptr, 0, 20); // bounded pacing: links are made at a node's beat
    }
  }

  /// GET /admin/cluster on node `id`. The admin's profile lives on the
  /// node that owns its slot: while that node is gone and its slots not
  /// yet claimed, the answer is 503 (moved), asked again as Retry-After says.
  json::value view(int id) {
    http_client on{nodes.at(id)->port()};
    auto started = std::chrono::steady_clock::now();
    for (;;) {
      auto r = on.get("/admin/cluster", admin.token);
      if (r.status == 503 && std::chrono::steady_clock::now() - started < std::chrono::seconds{10}) {
        ::poll(nullptr, 0, 50); // bounded pacing, as Retry-After asks
        continue;
      }
      INFO(r.body);
      REQUIRE(r.status == 200);
      return r.json();
    }
  }

  /// Slots owned per live member, as node `id` reports them.
  std::map<int, std::int64_t> owners(int id) {
    std::map<int, std::int64_t> out;
    auto v = view(id);
    for (const auto& m : v.find("members")->as_array())
      if (m.string_or("status") == "up")
        out[static_cast<int>(integer_field(m, "node"))] = integer_field(m, "slots_owned");
    return out;
  }

  /// Waits (at most `limit`) until node `id` reports exactly `live` up,
  /// each owning the slots rendezvous hashing gives it; how long that took.
  std::chrono::milliseconds await_owners(int id, const std::vector<int>& live,
                                         std::chrono::milliseconds limit = std::chrono::seconds{15}) {
    auto expected = shares(live);
    auto started = std::chrono::steady_clock::now();
    auto settled = [&] { return owners(id) == expected; };
    while (!settled()) {
      REQUIRE(std::chrono::steady_clock::now() - started < limit);
      ::poll(nullptr, 0, 20); // bounded pacing: membership changes have no push to await
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  }

  /// Waits until every node of `live` routes as PostgreSQL says: each owns
  /// its share, has read the latest version of members and owners, and is
  /// linked to the others. Until then a node may still count on its own
  /// what another owns.
  void await_settled(const std::vector<int>& live) {
    auto expected = shares(live);
    auto started = std::chrono::steady_clock::now();
    auto settled = [&] {
      auto version = sql(db.url(), "SELECT version FROM cluster_config").rows[0][0].text;
      for (int id : live) {
        auto v = view(id);
        if (integer_field(v, "owned") != expected[id] || std::to_string(integer_field(v, "version")) != version
            || !linked_to_all(v))
          return false;
      }
      return true;
    };
    while (!settled()) {
      REQUIRE(std::chrono::steady_clock::now() - started < std::chrono::seconds{15});
      ::poll(nullptr, 0, 20); // bounded pacing: nodes follow changes at their beat
    }
  }

  /// The node that owns the slot of entity `id`, as PostgreSQL records it (-1: nobody).
  int owner_of(const std::string& id) {
    auto parsed = ids::parse(std::string_view{id});
    REQUIRE(parsed);
    auto slot = placement::slot_of(*parsed, static_cast<std::uint32_t>(slots));
    auto r = sql(db.url(), "SELECT node_id FROM slot_owners WHERE slot = " + std::to_string(slot));
    return r.rows.empty() ? -1 : std::stoi(r.rows[0][0].text);
  }

  /// Slots whose owner is not a live member (PostgreSQL's view).
  std::string orphans() {
    return sql(db.url(), "SELECT count(*) FROM slot_owners s LEFT JOIN cluster_members m ON m.node_id = s.node_id "
                         "AND m.status = 'up' WHERE m.node_id IS NULL")
      .rows[0][0]
      .text;
  }
};

} // namespace livemart::testing
