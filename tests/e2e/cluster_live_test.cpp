// A cluster of real livemart processes on loopback: what one node commits
// reaches the search index and the viewers of every node; a crashed
// owner's products and live streams are served by the survivors within
// seconds, viewers keeping their sockets; a paused owner that lost its
// slots cannot commit, and leaves.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "cluster_harness.hpp"
#include "ws_client.hpp"

using namespace livemart;
using namespace livemart::testing;
using livemart::json::value;

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t ms_since(clock_type::time_point from) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - from).count();
}

/// A client and an admin on one node: what open_shop and listing need.
struct front {
  http_client c;
  api_user admin;
};

/// A live stream featuring `featured`, opened by the shop's owner through `f`.
std::string open_stream(front& f, const shop& s, const std::vector<std::string>& featured) {
  std::string list;
  for (const auto& id : featured)
    list.append(list.empty() ? "" : ",").append(quote(id));
  auto r = f.c.post("/streams", "{\"title\":\"Cluster show\",\"featured\":[" + list + "],\"start_now\":true}",
                    s.owner.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json().find("stream")->string_or("id");
}

/// An anonymous viewer on `port` that got its snapshot.
std::unique_ptr<ws_client> watch(std::uint16_t port, const std::string& stream) {
  auto ws = std::make_unique<ws_client>(port, "/streams/" + stream + "/ws");
  REQUIRE(ws->status() == 101);
  ws->send(R"({"type":"hello"})");
  ws->await(of_type("snapshot"));
  return ws;
}

/// The units of `product` a product push or snapshot shows; -1 if absent.
std::int64_t available(const value& msg, const std::string& product) {
  if (msg.string_or("type") == "product")
    return msg.find("product")->string_or("id") == product ? integer_field(*msg.find("product"), "available") : -1;
  if (const auto* list = msg.find("products"))
    for (const auto& p : list->as_array())
      if (p.string_or("id") == product)
        return integer_field(p, "available");
  return -1;
}

/// Buys one unit through `port`, retrying 503 (what Retry-After asks, a
/// slot changing hands) with the same key for at most `limit`; the last status.
int buy_one(std::uint16_t port, const api_user& buyer, const std::string& product, const std::string& address,
            std::chrono::milliseconds limit = std::chrono::seconds{5}) {
  auto key = "cluster-buy-" + unique_suffix();
  auto started = clock_type::now();
  int status = 0;
  while (clock_type::now() - started < limit) {
    std::string error;
    auto c = http_client::try_connect(port, error);
    if (!c)
      return 0;
    auto r = c->try_request("POST", "/orders", checkout_body({{product, 1}}, address),
                            {{"Content-Type", "application/json"},
                             {"Authorization", "Bearer " + buyer.token},
                             {"Idempotency-Key", key}});
    status = r ? r->status : 0;
    if (status != 503 && status != 0)
      return status;
    ::poll(nullptr, 0, 50); // bounded pacing, as Retry-After asks
  }
  return status;
}

/// The ids of a search's hits.
std::vector<std::string> hits(http_client& c, const std::string& query) {
  auto r = c.get("/products?q=" + query);
  REQUIRE(r.status == 200);
  std::vector<std::string> out;
  for (const auto& item : r.json().find("items")->as_array())
    out.push_back(item.string_or("id"));
  return out;
}

/// Waits until node `port`'s search for `query` satisfies `ok`; the lag in
/// milliseconds since `from`, or -1 after 5 s.
template <class Ok>
std::int64_t searchable(std::uint16_t port, const std::string& query, clock_type::time_point from, Ok ok) {
  http_client c{port};
  while (ms_since(from) < 5000) {
    auto r = c.get("/products?q=" + query);
    if (r.status == 200 && ok(r.json()))
      return ms_since(from);
    ::poll(nullptr, 0, 5); // bounded pacing: the index has no push a client could await
  }
  return -1;
}

bool has(const value& page, const std::string& id, std::int64_t stock = -1) {
  for (const auto& item : page.find("items")->as_array())
    if (item.string_or("id") == id)
      return stock < 0 || integer_field(item, "stock") == stock;
  return false;
}

/// The state letter of a process (/proc/<pid>/stat): 'T' when stopped.
char process_state(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

} // namespace

TEST_CASE("cluster: what one node commits, every node's search, live list and viewers show", "[e2e][cluster]") {
  cluster_of_nodes cl{1, 2, 3};
  cl.await_settled({1, 2, 3});
  front via1{http_client{cl.nodes.at(1)->port()}, cl.admin};
  auto s = open_shop(via1);
  auto port = [&](int node) { return cl.nodes.at(node)->port(); };

  // A listing created on node 1 is searchable on the two others.
  auto product = listing(via1, s, "Rolleiflex twin lens", 90000, 40);
  auto made = clock_type::now(); // its 201 came after node 1's index had it
  for (int node : {2, 3}) {
    auto lag = searchable(port(node), "rolleiflex", made, [&](const value& page) { return has(page, product); });
    WARN("a new listing searchable on node " << node << " after " << lag << " ms");
    CHECK(lag >= 0);
    CHECK(lag < 1000);
  }

  // An edit through node 2 (whichever node owns the product) reaches node 1 and 3.
  http_client on2{port(2)};
  auto edited = clock_type::now();
  REQUIRE(on2.patch("/products/" + product, "{\"title\":\"Hasselblad medium format\"}", s.owner.token).status == 200);
  for (int node : {1, 3}) {
    auto lag = searchable(port(node), "hasselblad", edited, [&](const value& page) { return has(page, product); });
    WARN("an edit searchable on node " << node << " after " << lag << " ms");
    CHECK(lag >= 0);
    CHECK(lag < 1000);
    http_client on{port(node)};
    CHECK(hits(on, "rolleiflex").empty()); // the older title is gone, never back
  }

  // A live stream opened on node 3 is listed on every node, and its
  // viewers on all three see a purchase made through node 2.
  front via3{http_client{port(3)}, cl.admin};
  auto stream = open_stream(via3, s, {product});
  for (int node : {1, 2, 3}) {
    http_client on{port(node)};
    auto live = on.get("/streams/live");
    INFO("node " << node << ": " << live.body);
    CHECK(live.body.find(stream) != std::string::npos);
  }
  std::vector<std::unique_ptr<ws_client>> viewers;
  for (int node : {1, 2, 3})
    viewers.push_back(watch(port(node), stream));
  auto buyer = sign_up(via1.c, "buyer");
  auto address = add_address(via1.c, buyer);
  auto bought = clock_type::now();
  REQUIRE(buy_one(port(2), buyer, product, address) == 201);
  for (std::size_t i = 0; i < viewers.size(); ++i) {
    auto push = viewers[i]->await([&](const value& m) { return available(m, product) == 39; });
    CHECK(integer_field(push, "seq") >= 0);
    WARN("the purchase reached the viewer on node " << i + 1 << " after " << ms_since(bought) << " ms");
  }
  // And the search index of every node shows the new stock.
  for (int node : {1, 2, 3}) {
    auto lag = searchable(port(node), "hasselblad", bought, [&](const value& page) { return has(page, product, 39); });
    CHECK(lag >= 0);
  }

  // A burst of sales through all three nodes: every viewer ends on the
  // final stock within 2 s of the last sale, and its sequence numbers
  // never skip (an event is the next number, a state push the current one).
  constexpr int burst = 24;
  std::vector<std::thread> sellers_of;
  std::atomic<int> placed{0};
  for (int node : {1, 2, 3})
    sellers_of.emplace_back([&, node] {
      for (int i = 0; i < burst / 3; ++i)
        placed += buy_one(port(node), buyer, product, address) == 201 ? 1 : 0;
    });
  for (auto& t : sellers_of)
    t.join();
  auto last_sale = clock_type::now();
  REQUIRE(placed == burst);
  for (std::size_t i = 0; i < viewers.size(); ++i) {
    std::int64_t seq = -1;
    bool gapless = true;
    for (;;) {
      auto left = std::max<std::int64_t>(1, 2000 - ms_since(last_sale));
      auto msg = viewers[i]->next(std::chrono::milliseconds{left});
      REQUIRE(msg.find("type") != nullptr);
      if (const auto* n = msg.find("seq")) {
        auto now = n->as_integer();
        gapless &= seq < 0 || now == seq || now == seq + 1;
        seq = now;
      }
      if (available(msg, product) == 39 - burst)
        break;
    }
    INFO("viewer on node " << i + 1);
    CHECK(gapless);
    CHECK(ms_since(last_sale) < 2000);
  }
}

TEST_CASE("cluster: after kill -9 of the node owning a hot product and a live stream, the survivors serve both",
          "[e2e][cluster]") {
  cluster_of_nodes cl{1, 2, 3};
  cl.await_settled({1, 2, 3});
  auto port = [&](int node) { return cl.nodes.at(node)->port(); };
  front via1{http_client{port(1)}, cl.admin};
  auto s = open_shop(via1);

  // One product owned by each node, so that whichever node the stream
  // lands on also owns one of its products.
  std::map<int, std::string> product_of;
  for (int i = 0; i < 40 && product_of.size() < 3; ++i) {
    auto id = listing(via1, s, "Hot lens " + std::to_string(i), 5000, 100);
    product_of.emplace(cl.owner_of(id), id);
  }
  REQUIRE(product_of.size() == 3);
  std::vector<std::string> featured;
  for (const auto& [node, id] : product_of)
    featured.push_back(id);
  auto stream = open_stream(via1, s, featured);
  int victim = cl.owner_of(stream);
  REQUIRE(product_of.count(victim) == 1);
  auto hot = product_of.at(victim);
  std::vector<int> survivors;
  for (int node : {1, 2, 3})
    if (node != victim)
      survivors.push_back(node);

  // Viewers on the two survivors, and the epoch of the hot product's slot.
  std::vector<std::unique_ptr<ws_client>> viewers;
  for (int node : survivors)
    viewers.push_back(watch(port(node), stream));
  auto slot = placement::slot_of(*ids::parse(std::string_view{hot}), static_cast<std::uint32_t>(slots));
  auto epoch_sql = "SELECT node_id, epoch FROM slot_owners WHERE slot = " + std::to_string(slot);
  auto before = sql(cl.db.url(), epoch_sql).rows.at(0);
  REQUIRE(before[0].text == std::to_string(victim));
  auto buyer = sign_up(via1.c, "buyer");
  auto address = add_address(via1.c, buyer);

  cl.nodes.at(victim)->kill();
  auto killed = clock_type::now();

  // Requests for the hot product succeed on a survivor again.
  REQUIRE(buy_one(port(survivors[0]), buyer, hot, address, std::chrono::seconds{5}) == 201);
  auto product_back = ms_since(killed);
  // The viewers kept their sockets and got a fresh snapshot from the new owner.
  std::vector<std::int64_t> snapshot_after;
  for (auto& v : viewers) {
    auto snap = v->await(of_type("snapshot"), std::chrono::milliseconds{std::max<std::int64_t>(100, 5000 - ms_since(killed))});
    CHECK(snap.find("stream")->string_or("status") == "live");
    snapshot_after.push_back(ms_since(killed));
    CHECK_FALSE(v->close_code());
  }
  WARN("after kill -9 of node " << victim << ": the hot product sold on node " << survivors[0] << " after "
                                 << product_back << " ms; viewers' fresh snapshots after " << snapshot_after[0]
                                 << " and " << snapshot_after[1] << " ms");
  CHECK(product_back < 5000);
  for (auto ms : snapshot_after)
    CHECK(ms < 5000);
  // The slot has a new live owner with a higher epoch.
  auto after = sql(cl.db.url(), epoch_sql).rows.at(0);
  CHECK(after[0].text != std::to_string(victim));
  CHECK(std::stoll(after[1].text) > std::stoll(before[1].text));
  // The stream goes on: a purchase through the other survivor reaches both viewers.
  REQUIRE(buy_one(port(survivors[1]), buyer, hot, address) == 201);
  for (auto& v : viewers)
    v->await([&](const value& m) { return available(m, hot) == 98; });
  cl.await_owners(survivors[0], survivors);
}

TEST_CASE("cluster: an owner paused before its write loses its slots, the fence refuses the write, and it leaves",
          "[e2e][cluster]") {
  // Every node freezes (SIGSTOP) the first time its writer is about to run
  // a price change: only the product's owner ever runs it.
  cluster_of_nodes cl({1, 2, 3}, {"--cluster.member_ttl_ms=1500"},
                     {{"LIVEMART_FAILPOINTS", "db.before_batch.product_set_price=pause*1"}});
  cl.await_settled({1, 2, 3});
  front via1{http_client{cl.nodes.at(1)->port()}, cl.admin};
  auto s = open_shop(via1);
  auto product = listing(via1, s, "Paused camera", 5000, 10);
  int owner = cl.owner_of(product);
  auto& paused = *cl.nodes.at(owner);
  paused.expect_log_error("evicted");
  std::vector<int> survivors;
  for (int node : {1, 2, 3})
    if (node != owner)
      survivors.push_back(node);
  auto slot = placement::slot_of(*ids::parse(std::string_view{product}), static_cast<std::uint32_t>(slots));
  auto epoch_sql = "SELECT node_id, epoch FROM slot_owners WHERE slot = " + std::to_string(slot);
  auto before = sql(cl.db.url(), epoch_sql).rows.at(0);

  // The price change goes to the owner directly; its writer freezes the
  // whole process before the batch begins.
  std::optional<http_reply> repriced;
  std::thread writer{[&] {
    std::string error;
    auto c = http_client::try_connect(paused.port(), error);
    if (c)
      repriced = c->try_request("PUT", "/products/" + product + "/price", "{\"price_minor\":1}",
                                {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + s.owner.token}});
  }};
  // Whatever fails below, the node goes on and the thread is joined (a
  // joinable thread's destructor would abort the test binary).
  struct resume_and_join {
    std::thread& t;
    pid_t pid;
    ~resume_and_join() {
      ::kill(pid, SIGCONT);
      if (t.joinable())
        t.join();
    }
  } guard{writer, paused.pid()};
  auto started = clock_type::now();
  while (process_state(paused.pid()) != 'T') {
    REQUIRE(ms_since(started) < 10000);
    ::poll(nullptr, 0, 10); // bounded pacing: a stopped process sends nothing to await
  }

  // The survivors declare it dead and take its slots with a new epoch;
  // the product sells through them.
  cl.await_owners(survivors[0], survivors, std::chrono::seconds{10});
  auto taken = sql(cl.db.url(), epoch_sql).rows.at(0);
  CHECK(taken[0].text != std::to_string(owner));
  CHECK(std::stoll(taken[1].text) > std::stoll(before[1].text));
  http_client survivor{cl.nodes.at(survivors[0])->port()}; // node 1 may be the paused one
  auto buyer = sign_up(survivor, "buyer");
  auto address = add_address(survivor, buyer);
  CHECK(buy_one(cl.nodes.at(survivors[0])->port(), buyer, product, address) == 201);

  // Resumed, its write runs against the fence and is refused; it sees it
  // was evicted and exits (status 3) instead of serving stale state.
  REQUIRE(::kill(paused.pid(), SIGCONT) == 0);
  writer.join();
  REQUIRE(repriced);
  INFO(repriced->body);
  CHECK(repriced->status == 503);
  CHECK_FALSE(repriced->header("retry-after").empty());
  auto status = paused.await_exit(std::chrono::seconds{10});
  REQUIRE(status);
  CHECK(*status == 3);
  // Nothing it attempted after losing the slot is in the database.
  CHECK(sql(cl.db.url(), "SELECT price_minor FROM products WHERE id = " + product).rows[0][0].text == "5000");
  CHECK(sql(cl.db.url(), "SELECT count(*) FROM stock_ledger WHERE product_id = " + product + " AND kind = 'sale'")
          .rows[0][0]
          .text
        == "1");
  bool refused_by_fence = false;
  for (const auto& line : paused.output())
    refused_by_fence |= line.find("LM421") != std::string::npos || line.find("not_owner") != std::string::npos
                        || line.find("\"moved\"") != std::string::npos;
  CHECK(refused_by_fence);
}

TEST_CASE("cluster: a node that missed changes (its links down, or itself down) catches up", "[e2e][cluster]") {
  // Links that time out quickly, and a TTL long enough for a node paused a
  // second to stay a member.
  cluster_of_nodes cl({1, 2, 3}, {"--cluster.link_heartbeat_ms=100", "--cluster.link_timeout_ms=400",
                                  "--cluster.member_ttl_ms=4000"});
  cl.await_settled({1, 2, 3});
  auto port = [&](int node) { return cl.nodes.at(node)->port(); };
  front via1{http_client{port(1)}, cl.admin};
  // A seller and a product node 3 does not own: the seller edits the
  // product while node 3 is away (a user's profile, which every request of
  // theirs reads, lives on the node that owns the user's slot).
  auto s = open_shop(via1);
  for (int i = 0; i < 30 && cl.owner_of(s.owner.id) == 3; ++i)
    s = open_shop(via1);
  REQUIRE(cl.owner_of(s.owner.id) != 3);
  std::string product;
  for (int i = 0; i < 30 && (product.empty() || cl.owner_of(product) == 3); ++i)
    product = listing(via1, s, "Nikon rangefinder", 70000, 5);
  REQUIRE(cl.owner_of(product) != 3);
  REQUIRE(searchable(port(3), "nikon", clock_type::now(), [&](const value& page) { return has(page, product); }) >= 0);

  SECTION("its links dropped while it was paused: on the new links it reads what it missed") {
    auto& paused = *cl.nodes.at(3);
    REQUIRE(::kill(paused.pid(), SIGSTOP) == 0);
    // Nodes 1 and 2 drop their links to node 3; what they commit now
    // cannot reach it. (Their logs say so: /admin/cluster needs the admin's
    // profile, whose owner may be node 3.)
    auto lost_node_3 = [](const std::string& line) {
      return line.find("lost the link to a member") != std::string::npos && line.find("\"node\":3") != std::string::npos;
    };
    bool unlinked = cl.nodes.at(1)->await_line(lost_node_3, std::chrono::seconds{3})
                    && cl.nodes.at(2)->await_line(lost_node_3, std::chrono::seconds{3});
    if (!unlinked)
      ::kill(paused.pid(), SIGCONT);
    REQUIRE(unlinked);
    http_client on1{port(1)};
    REQUIRE(on1.patch("/products/" + product, "{\"title\":\"Contax rangefinder\"}", s.owner.token).status == 200);
    REQUIRE(::kill(paused.pid(), SIGCONT) == 0);
    auto resumed = clock_type::now();
    auto lag = searchable(port(3), "contax", resumed, [&](const value& page) { return has(page, product); });
    WARN("node 3 found the edit it missed " << lag << " ms after it went on");
    CHECK(lag >= 0);
    CHECK(paused.await_line([](const std::string& line) { return line.find("the search index caught up") != std::string::npos; },
                            std::chrono::seconds{5}));
    http_client on3{port(3)};
    CHECK_FALSE(has(on3.get("/products?q=nikon").json(), product));
  }

  SECTION("it was down: it loads the index again when it rejoins") {
    REQUIRE(cl.nodes.at(3)->stop() == 0);
    cl.await_owners(1, {1, 2});
    http_client on2{port(2)};
    REQUIRE(on2.patch("/products/" + product, "{\"title\":\"Minolta rangefinder\"}", s.owner.token).status == 200);
    cl.start(3);
    auto back = clock_type::now();
    auto lag = searchable(port(3), "minolta", back, [&](const value& page) { return has(page, product); });
    CHECK(lag >= 0);
    http_client on3{port(3)};
    CHECK_FALSE(has(on3.get("/products?q=nikon").json(), product));
  }
}

namespace {

/// What a flash sale's buyers saw: the orders acknowledged (201) and how
/// the other attempts ended.
struct sale_outcome {
  std::mutex lock;
  std::vector<std::string> orders; ///< ids from 201 replies
  std::atomic<int> sold_out{0};
  std::atomic<int> other{0};
  std::atomic<int> acknowledged{0};
};

/// `buyers` buy one unit at a time of `product` until it is sold out, each
/// from a thread with its own connection to a node (spread over `ports`'s
/// live nodes). A request without an answer, or answered 503, is sent again
/// with the same key, to a live node, until it has an outcome.
void flash_sale(const std::vector<api_user>& buyers, const std::vector<std::string>& addresses,
                const std::string& product, const std::function<std::vector<std::uint16_t>()>& ports,
                sale_outcome& out) {
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < buyers.size(); ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<http_client> c;
      auto connect = [&](std::size_t turn) {
        c.reset();
        auto live = ports();
        if (live.empty())
          return;
        std::string error;
        c = http_client::try_connect(live[(i + turn) % live.size()], error);
      };
      connect(0);
      for (int n = 0; n < 100; ++n) {
        auto key = "flash-" + product + "-" + std::to_string(i) + "-" + std::to_string(n);
        int status = 0;
        std::optional<http_reply> reply;
        for (int attempt = 0; attempt < 200 && (status == 0 || status == 503); ++attempt) {
          reply = c ? c->try_request("POST", "/orders", checkout_body({{product, 1}}, addresses[i]),
                                     {{"Content-Type", "application/json"},
                                      {"Authorization", "Bearer " + buyers[i].token},
                                      {"Idempotency-Key", key}})
                    : std::nullopt;
          status = reply ? reply->status : 0;
          if (status == 0) {
            connect(static_cast<std::size_t>(attempt) + 1); // its node is gone: another one
            ::poll(nullptr, 0, 20); // bounded pacing while a node's slots move
          } else if (status == 503) {
            ::poll(nullptr, 0, 20); // what Retry-After asks, bounded
          }
        }
        if (status == 201) {
          auto doc = reply->try_json();
          if (!doc || doc->find("orders") == nullptr) {
            ++out.other;
            return;
          }
          std::lock_guard<std::mutex> guard{out.lock};
          for (const auto& o : doc->find("orders")->as_array())
            out.orders.push_back(o.string_or("id"));
          ++out.acknowledged;
        } else if (status == 409) {
          ++out.sold_out;
          return;
        } else {
          ++out.other;
          return;
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
}

} // namespace

TEST_CASE("cluster: 256 buyers over three nodes buy 1,000 units: exactly 1,000 orders, also when nodes are killed mid-sale",
          "[e2e][cluster]") {
  // 256 accounts sign up from this one address first.
  cluster_of_nodes cl({1, 2, 3}, {"--auth.registrations_per_address_max=100000",
                                  "--auth.login_attempts_per_address_max=100000"});
  cl.await_settled({1, 2, 3});
  front via1{http_client{cl.nodes.at(1)->port()}, cl.admin};
  auto s = open_shop(via1);
  constexpr int buyers_n = 256;
  constexpr int stock = 1000;
  std::vector<api_user> buyers;
  std::vector<std::string> addresses;
  for (int i = 0; i < buyers_n; ++i) {
    buyers.push_back(sign_up(via1.c, "flash"));
    addresses.push_back(add_address(via1.c, buyers.back()));
  }
  std::atomic<unsigned> killed{0}; // a bit per node id, read by every buyer's thread
  auto dead = [&](int id) { return (killed.load() & (1u << id)) != 0; };
  auto ports = [&] {
    std::vector<std::uint16_t> out;
    for (const auto& [id, node] : cl.nodes)
      if (!dead(id))
        out.push_back(node->port());
    return out;
  };
  // Checks what the database holds against what the buyers were told.
  auto audit = [&](const std::string& product, sale_outcome& out) {
    INFO("product " << product << ": " << out.acknowledged << " acknowledged, " << out.sold_out << " sold out, "
                    << out.other << " other");
    CHECK(out.other == 0);
    auto row = sql(cl.db.url(), "SELECT p.stock, p.reserved, p.sold, (SELECT count(*) FROM order_items i WHERE "
                                "i.product_id = p.id), (SELECT coalesce(sum(quantity), 0) FROM stock_ledger l WHERE "
                                "l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = " + product);
    auto stock_now = std::stoll(row.rows[0][0].text);
    auto reserved = std::stoll(row.rows[0][1].text);
    auto sold = std::stoll(row.rows[0][2].text);
    CHECK(stock_now >= 0);
    CHECK(stock_now + reserved + sold == std::stoll(row.rows[0][4].text)); // the ledger balances
    // Exactly the stock was sold, each unit to an order a buyer was told of.
    CHECK(sold == stock);
    CHECK(out.acknowledged == stock);
    CHECK(row.rows[0][3].text == std::to_string(stock));
    std::set<std::string> told(out.orders.begin(), out.orders.end());
    CHECK(told.size() == static_cast<std::size_t>(stock));
    auto rows = sql(cl.db.url(), "SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = "
                                   + product);
    std::set<std::string> stored;
    for (const auto& r : rows.rows)
      stored.insert(r[0].text);
    CHECK(stored == told); // no acknowledged order without its row, no row nobody was told of
  };
  enum class victim { none, bystander, owner };
  auto run = [&](const std::string& label, victim who) {
    // The survivors of the last run have taken over the dead node's slots
    // (until then a listing may land on one and be answered `moved`).
    std::vector<int> alive;
    for (const auto& [id, node] : cl.nodes)
      if (!dead(id))
        alive.push_back(id);
    cl.await_settled(alive);
    // Listed through a live node; its owner decides which node dies.
    auto live = ports();
    front via{http_client{live.front()}, cl.admin};
    auto product = listing(via, s, label, 2500, stock);
    int owner = cl.owner_of(product);
    int kill_node = 0;
    for (const auto& [id, node] : cl.nodes)
      if (!dead(id) && kill_node == 0
          && ((who == victim::owner && id == owner) || (who == victim::bystander && id != owner)))
        kill_node = id;
    REQUIRE((who == victim::none || kill_node > 0));
    sale_outcome out;
    std::thread killer;
    if (kill_node > 0) {
      killer = std::thread{[&, kill_node] {
        // Mid-sale: once a fifth of the stock is sold.
        auto started = clock_type::now();
        while (out.acknowledged < stock / 5 && ms_since(started) < 30000)
          ::poll(nullptr, 0, 5); // bounded pacing: the sale's progress has no push
        killed |= 1u << kill_node;
        cl.nodes.at(kill_node)->kill();
      }};
    }
    auto started = clock_type::now();
    flash_sale(buyers, addresses, product, ports, out);
    auto took = ms_since(started);
    if (killer.joinable())
      killer.join();
    WARN(label << ": " << out.acknowledged << " orders in " << took << " ms"
               << (kill_node > 0 ? ", node " + std::to_string(kill_node) + (kill_node == owner ? " (the owner)" : " (not the owner)")
                                     + " killed mid-sale"
                                 : std::string{}));
    audit(product, out);
  };

  run("Flash lens", victim::none);
  run("Flash body", victim::bystander);
  run("Flash grip", victim::owner);
}

TEST_CASE("cluster: a profile changed through one node reads the same through every node at once", "[e2e][cluster]") {
  // Each node would otherwise keep its own cached copy for a minute.
  cluster_of_nodes cl({1, 2, 3}, {"--actors.user_cache_ttl_s=3600"});
  cl.await_settled({1, 2, 3});
  auto user = sign_up(*cl.c, "profile");
  auto name_on = [&](int node) {
    http_client on{cl.nodes.at(node)->port()};
    auto r = on.get("/auth/me", user.token);
    REQUIRE(r.status == 200);
    return r.json().string_or("display_name");
  };
  for (int node : {1, 2, 3})
    CHECK(name_on(node) == "Test"); // read, and cached, through every node
  for (int via : {1, 2, 3}) {
    http_client on{cl.nodes.at(via)->port()};
    auto name = "Name set through node " + std::to_string(via);
    REQUIRE(on.patch("/auth/profile", "{\"display_name\":" + quote(name) + "}", user.token).status == 200);
    for (int node : {1, 2, 3}) {
      INFO("read through node " << node);
      CHECK(name_on(node) == name);
    }
  }
}
