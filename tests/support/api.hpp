#pragma once

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <chrono>
#include <thread>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <protocol/clock.hpp>
#include <protocol/crypto.hpp>
#include <protocol/json.hpp>

#include "http_client.hpp"
#include "pg_harness.hpp"
#include "server_process.hpp"

/// Helpers for e2e tests that speak livemart's API.
namespace livemart::testing {

/// Seconds since the epoch, as the server under test reads its clock.
inline std::int64_t now_s() {
  return wall_clock::now_s();
}

/// base64url without padding, as in JWTs.
inline std::string b64(std::string_view bytes) {
  return crypto::base64url_encode(bytes);
}

inline std::string quote(std::string_view text) {
  std::string out;
  json::append_string(out, text);
  return out;
}

inline bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

/// An integer member; fails the test when it is missing or not an integer.
inline std::int64_t integer_field(const json::value& doc, std::string_view key) {
  const auto* v = doc.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_integer());
  return v->as_integer();
}

/// Checks an RFC 9457 reply: status, media type, the standard members, code.
inline void check_problem(const http_reply& r, int status, const std::string& code) {
  INFO("reply: " << r.status << " " << r.body);
  REQUIRE(r.status == status);
  CHECK(r.header("content-type").rfind("application/problem+json", 0) == 0);
  auto doc = r.json();
  for (const char* key : {"type", "title", "status", "code", "detail", "instance", "request_id"})
    CHECK(doc.find(key) != nullptr);
  CHECK(doc.string_or("code") == code);
  const auto* reported = doc.find("status");
  CHECK((reported != nullptr && reported->is_integer() && reported->as_integer() == status));
}

struct api_user {
  std::string email;
  std::string password;
  std::string id;
  std::string token; ///< access token
};

/// Registers a fresh buyer and logs it in.
inline api_user sign_up(http_client& c, const std::string& prefix = "user") {
  api_user u{prefix + "." + unique_suffix() + "@example.com", "correct horse battery staple", {}, {}};
  auto r = c.post("/auth/register", "{\"email\":" + quote(u.email) + ",\"password\":" + quote(u.password)
                                      + ",\"display_name\":\"Test\"}");
  INFO(r.body);
  REQUIRE(r.status == 201);
  u.id = r.json().string_or("id");
  auto login = c.post("/auth/login", "{\"email\":" + quote(u.email) + ",\"password\":" + quote(u.password) + "}");
  INFO(login.body);
  REQUIRE(login.status == 200);
  u.token = login.json().string_or("access_token");
  return u;
}

/// Makes an admin with `livemart create-admin` and logs it in.
inline api_user make_admin(const std::string& database_url, http_client& c) {
  api_user admin{"admin." + unique_suffix() + "@example.com", "an admin passphrase", {}, {}};
  auto [code, output] = server_process::run({"create-admin", admin.email},
                                            {{"DATABASE_URL", database_url}, {"LIVEMART_ADMIN_PASSWORD", admin.password}});
  INFO(output);
  REQUIRE(code == 0);
  auto login = c.post("/auth/login", "{\"email\":" + quote(admin.email) + ",\"password\":" + quote(admin.password) + "}");
  REQUIRE(login.status == 200);
  admin.id = login.json().string_or("user_id");
  admin.token = login.json().string_or("access_token");
  return admin;
}

/// The hash slots of a test cluster.
inline constexpr std::int64_t cluster_slots = 1024;

/// The flags of node `node` of a test cluster on loopback, joining through
/// `seed` (none: the first node). Fast beats, so that a test sees a crash
/// handled within a second or two (a crashed process frees its lock, and
/// the survivors see it at their next beat). The TTL catches only a silent
/// node; it is long enough that a node slowed by a loaded machine is not
/// declared dead.
inline std::vector<std::string> cluster_node_flags(int node, const std::string& seed = {}) {
  std::vector<std::string> flags{"--cluster.enabled=true",       "--node.id=" + std::to_string(node),
                                 "--cluster.port=0",             "--cluster.slots=" + std::to_string(cluster_slots),
                                 "--cluster.heartbeat_ms=200",   "--cluster.member_ttl_ms=4000",
                                 "--cluster.handoff_drain_ms=200"};
  if (!seed.empty())
    flags.push_back("--cluster.seeds=" + seed);
  return flags;
}

/// The cluster address a node's listening line names.
inline std::string cluster_address(const server_process& node) {
  for (const auto& line : node.output()) {
    auto at = line.find("\"cluster\":\"");
    if (line.find("\"listening\"") != std::string::npos && at != std::string::npos) {
      auto from = at + 11;
      return line.substr(from, line.find('"', from) - from);
    }
  }
  FAIL("no cluster address in the listening line");
  return {};
}

/// How many nodes an e2e marketplace runs as: LIVEMART_E2E_CLUSTER=N makes
/// it a cluster of N on loopback (the test command runs the main scenarios
/// so); unset, one server.
inline int e2e_nodes() {
  const char* v = std::getenv("LIVEMART_E2E_CLUSTER");
  int n = v != nullptr ? std::atoi(v) : 1;
  return std::clamp(n, 1, 9);
}

/// A running server (with `flags`) on a fresh database, with an admin. As
/// a cluster (e2e_nodes() > 1), `srv` is node 1 and `c` sends each request
/// to a random node; a test that talks to `srv.port()` directly talks to
/// node 1, which forwards what other nodes own.
struct marketplace {
  explicit marketplace(std::vector<std::string> flags = {})
    : keys{e2e_nodes() > 1 ? "test:" + crypto::to_hex(crypto::random_bytes(32)) : std::string{}},
      srv{db.url(), node_flags(flags, 1), node_env()}, c{srv.port()}, admin{make_admin(db.url(), c)} {
    if (e2e_nodes() > 1)
      join_others(flags);
  }
  temp_database db;
  std::string keys; ///< a cluster's nodes sign and check tokens with one key
  server_process srv;
  http_client c;
  api_user admin;
  std::vector<std::unique_ptr<server_process>> others; ///< nodes 2..N of a cluster

private:
  std::vector<std::string> node_flags(std::vector<std::string> flags, int node, const std::string& seed = {}) const {
    if (e2e_nodes() == 1)
      return flags;
    auto cluster = cluster_node_flags(node, seed);
    flags.insert(flags.end(), cluster.begin(), cluster.end());
    return flags;
  }
  std::vector<std::pair<std::string, std::string>> node_env() const {
    if (keys.empty())
      return {};
    return {{"LIVEMART_AUTH_JWT_KEYS", keys}};
  }

  /// Starts nodes 2..N, waits until every node owns its share of the
  /// slots and links to the others, then spreads `c` over them.
  void join_others(const std::vector<std::string>& flags) {
    auto seed = cluster_address(srv);
    std::vector<std::uint16_t> ports{srv.port()};
    for (int node = 2; node <= e2e_nodes(); ++node) {
      others.push_back(std::make_unique<server_process>(db.url(), node_flags(flags, node, seed), node_env()));
      ports.push_back(others.back()->port());
    }
    auto started = std::chrono::steady_clock::now();
    // Settled: every member up, linked and owning its share, and every node
    // has read the latest members and owners (until a node has, it routes
    // a new owner's ids to itself, which answers `moved`).
    auto settled = [&] {
      auto version = sql(db.url(), "SELECT version FROM cluster_config").rows[0][0].text;
      for (auto port : ports) {
        http_client on{port};
        auto view = on.get("/admin/cluster", admin.token).json(); // kept: the members are read from it
        std::int64_t owned = 0, up = 0;
        for (const auto& m : view.find("members")->as_array()) {
          if (m.string_or("status") != "up")
            continue;
          ++up;
          owned += integer_field(m, "slots_owned");
          if (!m.find("connected")->as_bool())
            return false;
        }
        if (up != e2e_nodes() || owned != integer_field(view, "slots") || integer_field(view, "moving") != 0
            || std::to_string(integer_field(view, "version")) != version)
          return false;
      }
      return true;
    };
    while (!settled()) {
      REQUIRE(std::chrono::steady_clock::now() - started < std::chrono::seconds{20});
      ::poll(nullptr, 0, 20); // bounded pacing: nodes settle at their beats
    }
    c.spread_over(ports);
  }
};

/// An approved seller with a token, and an active category of its own.
struct shop {
  api_user owner;
  std::string category;
  std::string seller_id;
};

/// (Any marketplace-like fixture: a server `srv`, a client `c` and an `admin`.)
template <class Market>
shop open_shop(Market& m) {
  shop s{sign_up(m.c, "seller"), {}, {}};
  auto applied = m.c.post("/sellers/apply",
                          "{\"shop_name\":" + quote("Shop " + unique_suffix()) +
                            ",\"contact_email\":\"s@example.com\",\"country\":\"DE\",\"business_type\":\"company\"}",
                          s.owner.token);
  REQUIRE(applied.status == 201);
  s.seller_id = applied.json().string_or("id");
  REQUIRE(m.c.post("/admin/sellers/" + s.seller_id + "/approve", "", m.admin.token).status == 200);
  auto category = m.c.post("/admin/categories", "{\"name\":" + quote("Cameras " + unique_suffix()) + "}", m.admin.token);
  REQUIRE(category.status == 201);
  s.category = category.json().string_or("id");
  return s;
}

inline std::string product_body(const std::string& category, int stock, const std::string& status = "active",
                                const std::string& title = "Leica M6", std::int64_t price_minor = 249900) {
  return "{\"category_id\":" + quote(category) + ",\"title\":" + quote(title) + ",\"description\":\"Film camera\","
         "\"price_minor\":" + std::to_string(price_minor) + ",\"currency\":\"EUR\",\"stock\":" + std::to_string(stock) +
         ",\"status\":" + quote(status) + ",\"image_urls\":[\"https://img.example/m6.jpg\"]}";
}

inline std::string add_address(http_client& c, const api_user& u) {
  auto r = c.post("/users/addresses",
                  R"({"name":"Ada Lovelace","line1":"Unter den Linden 1","city":"Berlin","postal_code":"10115",)"
                  R"("country":"DE"})",
                  u.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

template <class Market>
std::string listing(Market& m, const shop& s, const std::string& title, std::int64_t price, int stock) {
  auto r = m.c.post("/products", product_body(s.category, stock, "active", title, price), s.owner.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().string_or("id");
}

inline std::string checkout_body(const std::vector<std::pair<std::string, int>>& items, const std::string& address) {
  std::string body = "{\"items\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    body.append(i ? "," : "").append("{\"product_id\":").append(quote(items[i].first));
    body.append(",\"quantity\":").append(std::to_string(items[i].second)).append("}");
  }
  body.append("],\"address_id\":").append(quote(address)).append("}");
  return body;
}

template <class Market>
std::int64_t stock_of(Market& m, const std::string& product) {
  return integer_field(m.c.get("/products/" + product).json(), "stock");
}

/// The stock after units came back through a transaction other than the
/// product's actor (a cancelled order, a checkout that failed or expired):
/// on one node at once, since the product's actor hears of the return
/// before the answer goes out. Across nodes the notice travels on its own and
/// may land a moment after that answer (docs/architecture.md, "The
/// cluster", "Noticed, not fixed"):
/// read until it shows `expected`, at most 5 s.
template <class Market>
std::int64_t stock_after_return(Market& m, const std::string& product, std::int64_t expected) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  auto stock = stock_of(m, product);
  while (e2e_nodes() > 1 && stock != expected && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 10); // bounded pacing: the notice has no push to await
    stock = stock_of(m, product);
  }
  return stock;
}

/// A series' value in the server's /metrics (0 before its first count),
/// e.g. `livemart_actor_passivations_total{kind="order"}`.
template <class Market>
double metric_value(Market& m, const std::string& series) {
  auto r = m.c.get("/metrics");
  REQUIRE(r.status == 200);
  auto text = "\n" + r.body;
  auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

/// Waits (at most 15 s) until the product shows `expected` units: the
/// sweeper's release has no push over HTTP to await.
template <class Market>
bool await_stock(Market& m, const std::string& product, std::int64_t expected) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  while (stock_of(m, product) != expected && std::chrono::steady_clock::now() < deadline)
    ::poll(nullptr, 0, 20); // bounded retry pacing: there is nothing to await
  return stock_of(m, product) == expected;
}

} // namespace livemart::testing
