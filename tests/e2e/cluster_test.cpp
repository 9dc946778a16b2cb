// A cluster of real livemart processes on loopback sharing one PostgreSQL:
// membership, one live owner per slot, an even spread, a refused duplicate
// node id, a graceful leave and a crash handing their slots over.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <protocol/placement.hpp>

#include "cluster_harness.hpp"

using namespace livemart;
using namespace livemart::testing;

TEST_CASE("cluster: three nodes share the slots evenly, each slot with one live owner", "[e2e][cluster]") {
  cluster_of_nodes cl{1, 2, 3};
  cl.await_owners(1, {1, 2, 3});
  // Every node sees the same members and the same spread.
  auto seen = cl.owners(1);
  for (int id : {2, 3})
    CHECK(cl.owners(id) == seen);
  for (const auto& [node, owned] : seen) {
    INFO("node " << node << " owns " << owned << " of " << slots);
    CHECK(owned > slots / 3 * 85 / 100);
    CHECK(owned < slots / 3 * 115 / 100);
  }
  CHECK(cl.orphans() == "0");
  auto v = cl.view(2);
  CHECK(v.find("enabled")->as_bool());
  CHECK(integer_field(v, "node") == 2);
  CHECK(integer_field(v, "slots") == slots);
  CHECK(v.string_or("protocol") == "livemart-cluster-1");
  // A full mesh through CAF's middleman: every node links to the others.
  for (int id : {1, 2, 3})
    cl.await_links(id);

  SECTION("a peer that speaks another cluster protocol is refused at the handshake") {
    auto colon = cl.seed.rfind(':');
    auto host = cl.seed.substr(0, colon);
    auto port = static_cast<std::uint16_t>(std::stoi(cl.seed.substr(colon + 1)));
    auto try_with = [&](const std::string& protocol) {
      caf::actor_system_config cfg;
      cfg.load<caf::io::middleman>();
      cfg.set("middleman.app-identifiers", std::vector<std::string>{protocol});
      caf::actor_system sys{cfg};
      auto remote = sys.middleman().remote_actor(host, port); // blocking: the test's own thread
      return remote ? caf::error{} : remote.error();
    };
    CHECK(try_with("livemart-cluster-0") == caf::sec::incompatible_application_ids);
    // Our protocol passes the handshake; the gateway is typed, so an
    // untyped handle is refused only for its interface.
    auto same = try_with("livemart-cluster-1");
    INFO(to_string(same));
    CHECK((!same || same == caf::sec::unexpected_actor_messaging_interface));
  }

  SECTION("a second process with a live node id is refused at start-up") {
    auto flags = cluster_node_flags(2);
    flags.insert(flags.begin(), "serve");
    flags.push_back("--http.port=0");
    auto [status, output] = server_process::run(flags, {{"DATABASE_URL", cl.db.url()}, {"LIVEMART_AUTH_JWT_KEYS", cl.keys}});
    INFO(output);
    CHECK(status != 0);
    CHECK(output.find("node.id 2 belongs to a live process") != std::string::npos);
    CHECK(cl.owners(1) == seen); // nothing moved
  }

  SECTION("a node that leaves hands its slots over; one that crashes loses them to the survivors") {
    // It releases its slots before it exits; the others claim them at
    // their next beat.
    REQUIRE(cl.nodes.at(3)->stop() == 0);
    auto handed = cl.await_owners(1, {1, 2});
    WARN("slots of a node that left owned again " << handed.count() << " ms after its exit");
    CHECK(cl.orphans() == "0");

    cl.nodes.at(2)->kill();
    // The bound: within 5 s of kill -9 (the lock frees at once;
    // the survivors see it at their next beat).
    auto claimed = cl.await_owners(1, {1}, std::chrono::seconds{5});
    WARN("slots of a killed node owned again after " << claimed.count() << " ms");
    CHECK(cl.orphans() == "0");
    auto members = cl.view(1).find("members")->as_array();
    REQUIRE(members.size() == 3);
    for (const auto& m : members)
      CHECK(m.string_or("status") == (integer_field(m, "node") == 1 ? "up" : "dead"));

    // The crashed node's id comes back as a new incarnation and gets its share.
    cl.start(2);
    cl.await_owners(1, {1, 2});
  }
}

namespace {

/// What open_shop and listing need: a client and an admin, on one node.
struct front {
  http_client c;
  api_user admin;
};

} // namespace

TEST_CASE("cluster: any node serves any product, and a flash sale over three nodes sells exactly the stock",
          "[e2e][cluster]") {
  cluster_of_nodes cl{1, 2, 3};
  cl.await_settled({1, 2, 3});
  front via1{http_client{cl.nodes.at(1)->port()}, cl.admin};
  auto s = open_shop(via1);
  constexpr int stock = 40;
  auto product = listing(via1, s, "Drop " + unique_suffix(), 1500, stock);

  // Every node answers for it, whichever owns it.
  for (int id : {1, 2, 3}) {
    http_client on{cl.nodes.at(id)->port()};
    auto r = on.get("/products/" + product);
    INFO("node " << id << ": " << r.body);
    REQUIRE(r.status == 200);
    CHECK(integer_field(r.json(), "stock") == stock);
  }

  // One Idempotency-Key sent to two nodes at once: one order, the same reply.
  {
    auto buyer = sign_up(via1.c, "twice");
    auto address = add_address(via1.c, buyer);
    auto send = [&](int node, std::optional<http_reply>& out) {
      std::string error;
      auto c = http_client::try_connect(cl.nodes.at(node)->port(), error);
      for (int attempt = 0; c && attempt < 20; ++attempt) {
        out = c->try_request("POST", "/orders", checkout_body({{product, 1}}, address),
                             {{"Content-Type", "application/json"},
                              {"Authorization", "Bearer " + buyer.token},
                              {"Idempotency-Key", "same-key-" + buyer.id}});
        if (!out || out->status != 503)
          return;
        ::poll(nullptr, 0, 50); // what Retry-After asks, bounded
      }
    };
    std::optional<http_reply> on2, on3;
    std::thread t2{send, 2, std::ref(on2)};
    std::thread t3{send, 3, std::ref(on3)};
    t2.join();
    t3.join();
    REQUIRE(on2);
    REQUIRE(on3);
    INFO(on2->body << " / " << on3->body);
    CHECK(on2->status == 201);
    CHECK(on3->status == 201);
    CHECK(on2->body == on3->body);
    CHECK(sql(cl.db.url(), "SELECT count(*) FROM orders WHERE buyer_id = " + buyer.id).rows[0][0].text == "1");
  }
  constexpr int left = stock - 1;

  // 12 buyers, four per node, each trying to buy 5 units one at a time.
  constexpr int buyers = 12;
  constexpr int tries = 5;
  std::vector<api_user> who;
  std::vector<std::string> addresses;
  for (int i = 0; i < buyers; ++i) {
    who.push_back(sign_up(via1.c, "buyer"));
    addresses.push_back(add_address(via1.c, who.back()));
  }
  std::atomic<int> placed{0}, sold_out{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < buyers; ++i) {
    threads.emplace_back([&, i] {
      std::string error;
      auto c = http_client::try_connect(cl.nodes.at(1 + i % 3)->port(), error);
      if (!c) {
        other += tries;
        return;
      }
      for (int t = 0; t < tries; ++t) {
        auto key = "flash-" + std::to_string(i) + "-" + std::to_string(t);
        // A 503 (a slot moving, the database busy) is retried with the same key.
        for (int attempt = 0; attempt < 20; ++attempt) {
          auto reply = c->try_request("POST", "/orders", checkout_body({{product, 1}}, addresses[i]),
                                      {{"Content-Type", "application/json"},
                                       {"Authorization", "Bearer " + who[i].token},
                                       {"Idempotency-Key", key}});
          if (!reply) {
            other += 1;
            break;
          }
          const auto& r = *reply;
          if (r.status == 503) {
            ::poll(nullptr, 0, 50); // what Retry-After asks, bounded
            continue;
          }
          (r.status == 201 ? placed : r.status == 409 ? sold_out : other) += 1;
          break;
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(placed == left);
  CHECK(sold_out == buyers * tries - left);
  CHECK(other == 0);
  auto row = sql(cl.db.url(), "SELECT p.stock, p.sold, (SELECT count(*) FROM order_items i WHERE i.product_id = p.id) "
                              "FROM products p WHERE p.id = " + product);
  CHECK(row.rows[0][0].text == "0");
  CHECK(row.rows[0][1].text == std::to_string(stock));
  CHECK(row.rows[0][2].text == std::to_string(stock));
  // The sales went to the product's one actor, on its owner: the two other
  // nodes sent theirs over, one hop each.
  int forwarding = 0;
  for (int id : {1, 2, 3}) {
    http_client on{cl.nodes.at(id)->port()};
    CHECK(integer_field(on.get("/products/" + product).json(), "stock") == 0);
    auto metrics = on.get("/metrics").body;
    auto at = metrics.find("\nlivemart_cluster_forwarded_total ");
    if (at != std::string::npos && std::stod(metrics.substr(at + 33)) > 0)
      ++forwarding;
  }
  CHECK(forwarding >= 2);
}

TEST_CASE("cluster: failed logins for one account over three nodes hit 429 at the limit, not at three times it",
          "[e2e][cluster]") {
  constexpr int limit = 5;
  cluster_of_nodes cl({1, 2, 3}, {"--auth.login_attempts_per_account_max=" + std::to_string(limit)});
  cl.await_settled({1, 2, 3});
  auto victim = sign_up(*cl.c, "victim"); // its login is the account's first attempt
  int refused = 0;
  int limited_at = 0;
  for (int attempt = 2; attempt <= 3 * limit && limited_at == 0; ++attempt) {
    http_client on{cl.nodes.at(1 + attempt % 3)->port()};
    auto r = on.post("/auth/login", "{\"email\":" + quote(victim.email) + ",\"password\":\"not the password\"}");
    INFO("attempt " << attempt << " on node " << 1 + attempt % 3 << ": " << r.status << " " << r.body);
    if (r.status == 429) {
      CHECK_FALSE(r.header("retry-after").empty());
      limited_at = attempt;
    } else {
      CHECK(r.status == 401);
      ++refused;
    }
  }
  // Counted once for the cluster: the attempt after the limit is refused,
  // whichever node it reaches.
  CHECK(limited_at == limit + 1);
  CHECK(refused == limit - 1);
}
