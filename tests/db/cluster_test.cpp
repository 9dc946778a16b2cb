// The cluster's membership and slot ownership in PostgreSQL
// (migrations/0015_cluster.sql): one live process per node id, eviction
// by TTL and by a free lock, claims only from nobody or the dead, and the
// fence that refuses a write of an owner that lost its slot.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include <persistence/cluster_statements.hpp>
#include <persistence/database.hpp>
#include <protocol/ids.hpp>

#include "db_fixture.hpp"
#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;
namespace ps = livemart::persistence;

namespace {

struct cluster_fixture : db_fixture {
  explicit cluster_fixture(const std::string& url) : db_fixture(url) {}

  ps::membership_link_actor link() { return ps::start_membership_link(sys, settings); }

  outcome on(const ps::membership_link_actor& link, db_command cmd) {
    caf::scoped_actor self{sys};
    outcome out;
    self->request(link, std::chrono::seconds{10}, write_atom::value, std::move(cmd))
      .receive([&](db_result& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// Ends a link and waits until PostgreSQL has let go of its lock.
  void end(ps::membership_link_actor& link, std::uint16_t node) {
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
    link = nullptr;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (sql(settings.url, "SELECT cluster_lock_free(" + std::to_string(node) + ")").rows[0][0].text != "t") {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds{5}); // polling PostgreSQL's own view of the lock
    }
  }

  join_result join(const ps::membership_link_actor& link, std::uint16_t node, std::uint32_t slots = 64) {
    cluster_member m;
    m.node_id = node;
    m.incarnation = ids::next();
    m.cluster_address = "127.0.0.1:" + std::to_string(4000 + node);
    m.http_address = "127.0.0.1:" + std::to_string(8000 + node);
    m.version = cluster_protocol;
    last_incarnation = m.incarnation;
    return ps::decode_join(ok(on(link, {{ps::cluster_join(m, slots)}})).results.front());
  }

  std::uint64_t version() { return ps::decode_version(ok(read({{ps::cluster_version()}})).results.front()); }

  std::uint64_t last_incarnation = 0;
};

} // namespace

TEST_CASE("cluster: one live process per node id, and the first node fixes the slot count", "[db][cluster]") {
  temp_database db;
  cluster_fixture f(db.url());
  auto a = f.link();
  auto first = f.join(a, 1);
  CHECK(first.outcome == join_outcome::joined);
  CHECK(first.slots == 64);
  auto a_incarnation = f.last_incarnation;
  CHECK(sql(db.url(), "SELECT count(*) FROM slot_owners").rows[0][0].text == "64");

  auto b = f.link();
  CHECK(f.join(b, 1).outcome == join_outcome::taken); // a holds node 1's lock
  auto other = f.join(b, 2, 128);
  CHECK(other.outcome == join_outcome::slots);
  CHECK(other.slots == 64);
  CHECK(f.join(b, 2).outcome == join_outcome::joined);

  auto members = ps::decode_members(ok(f.read({{ps::cluster_members()}})).results.front());
  REQUIRE(members.size() == 2);
  CHECK(members[0].node_id == 1);
  CHECK(members[0].status == member_status::up);
  CHECK(members[0].http_address == "127.0.0.1:8001");
  CHECK(members[0].version == cluster_protocol);
  CHECK(members[1].node_id == 2);

  // The process of node 1 ends: its id may join again at once, as a new
  // incarnation, and the old one's heartbeat says it was evicted.
  f.end(a, 1);
  auto c = f.link();
  CHECK(f.join(c, 1).outcome == join_outcome::joined);
  CHECK(f.last_incarnation != a_incarnation);
  CHECK_FALSE(ps::decode_alive(ok(f.on(c, {{ps::cluster_heartbeat(1, a_incarnation, 400)}})).results.front()));
  CHECK(ps::decode_alive(ok(f.on(c, {{ps::cluster_heartbeat(1, f.last_incarnation, 400)}})).results.front()));
}

TEST_CASE("cluster: a silent member is evicted after the TTL, a crashed one (lock free) after the grace", "[db][cluster]") {
  temp_database db;
  cluster_fixture f(db.url());
  auto a = f.link();
  auto b = f.link();
  auto c = f.link();
  REQUIRE(f.join(a, 1).outcome == join_outcome::joined);
  auto a_incarnation = f.last_incarnation;
  REQUIRE(f.join(b, 2).outcome == join_outcome::joined);
  auto b_incarnation = f.last_incarnation;
  REQUIRE(f.join(c, 3).outcome == join_outcome::joined);
  auto before = f.version();

  // After PostgreSQL was away everyone's mark is old: a node that beats
  // again first judges nobody until it has been beating for the TTL.
  sql(db.url(), "UPDATE cluster_members SET heartbeat_at = now() - interval '6 seconds', "
                "joined_at = now() - interval '1 hour', beating_since = now() - interval '1 hour'");
  REQUIRE(ps::decode_alive(ok(f.on(b, {{ps::cluster_heartbeat(2, b_incarnation, 400)}})).results.front()));
  CHECK(ps::decode_node_ids(ok(f.on(b, {{ps::cluster_evict(2, 5'000, 1'000)}})).results.front()).empty());
  CHECK(f.version() == before);

  // Everyone marked themselves alive 2 s ago and node 2 has been beating
  // for an hour; node 3's process is gone.
  sql(db.url(), "UPDATE cluster_members SET heartbeat_at = now() - interval '2 seconds', "
                "joined_at = now() - interval '1 hour', beating_since = now() - interval '1 hour'");
  f.end(c, 3);
  auto evicted = ps::decode_node_ids(ok(f.on(b, {{ps::cluster_evict(2, 5'000, 1'000)}})).results.front());
  CHECK(evicted == std::vector<std::uint16_t>{3});
  CHECK(f.version() > before);

  // Node 1 (alive, lock held) falls silent past the TTL: evicted, and its
  // next heartbeat tells it so.
  sql(db.url(), "UPDATE cluster_members SET heartbeat_at = now() - interval '6 seconds' WHERE node_id = 1");
  evicted = ps::decode_node_ids(ok(f.on(b, {{ps::cluster_evict(2, 5'000, 1'000)}})).results.front());
  CHECK(evicted == std::vector<std::uint16_t>{1});
  CHECK_FALSE(ps::decode_alive(ok(f.on(a, {{ps::cluster_heartbeat(1, a_incarnation, 400)}})).results.front()));
  CHECK(ps::decode_node_ids(ok(f.on(b, {{ps::cluster_evict(2, 5'000, 1'000)}})).results.front()).empty());
}

TEST_CASE("cluster: slots are claimed only from nobody or the dead, and the fence refuses a lost owner", "[db][cluster]") {
  temp_database db;
  cluster_fixture f(db.url());
  auto a = f.link();
  auto b = f.link();
  REQUIRE(f.join(a, 1).outcome == join_outcome::joined);
  auto a_incarnation = f.last_incarnation;
  REQUIRE(f.join(b, 2).outcome == join_outcome::joined);

  auto claimed = ps::decode_owned(ok(f.on(a, {{ps::cluster_claim(1, {0, 1, 2})}})).results.front());
  REQUIRE(claimed.size() == 3);
  auto epoch_1 = claimed[1].epoch;
  // Node 2 cannot take a slot of a live owner.
  CHECK(ps::decode_owned(ok(f.on(b, {{ps::cluster_claim(2, {1, 5})}})).results.front()).size() == 1);
  CHECK(ps::decode_owned(ok(f.on(a, {{ps::cluster_owned(1)}})).results.front()).size() == 3);

  // The owner's write passes the fence; a stale epoch or another node does not.
  ok(f.write({{ps::cluster_fence(1, 1, epoch_1)}}));
  CHECK(refusal(f.write({{ps::cluster_fence(1, 1, epoch_1 - 1)}})) == db_refusal::not_owner);
  CHECK(refusal(f.write({{ps::cluster_fence(1, 2, epoch_1)}})) == db_refusal::not_owner);
  CHECK(to_problem(refusal(f.write({{ps::cluster_fence(1, 2, epoch_1)}}))).code == errc::moved);

  // A hand-off: node 1 releases slot 1, node 2 claims it with a higher
  // epoch, and node 1's write with its old epoch is refused.
  CHECK(ps::decode_slots(ok(f.on(a, {{ps::cluster_release(1, {1, 5})}})).results.front())
        == std::vector<std::uint32_t>{1});
  auto moved = ps::decode_owned(ok(f.on(b, {{ps::cluster_claim(2, {1})}})).results.front());
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].epoch > epoch_1);
  CHECK(refusal(f.write({{ps::cluster_fence(1, 1, epoch_1)}})) == db_refusal::not_owner);
  ok(f.write({{ps::cluster_fence(1, 2, moved[0].epoch)}}));

  // A dead member's slots go to whoever claims them.
  ok(f.on(a, {{ps::cluster_set_status(1, a_incarnation, member_status::dead)}}));
  CHECK(ps::decode_owned(ok(f.on(b, {{ps::cluster_claim(2, {0, 2})}})).results.front()).size() == 2);
  auto owners = ps::decode_slot_owners(ok(f.read({{ps::cluster_slot_owners()}})).results.front());
  REQUIRE(owners.size() == 64);
  CHECK(owners[0].node_id == 2);
  CHECK(owners[3].node_id == -1);
  auto members = ps::decode_members(ok(f.read({{ps::cluster_members()}})).results.front());
  REQUIRE(members.size() == 2);
  CHECK(members[0].status == member_status::dead);
  CHECK(members[1].slots_owned == 4);
}

TEST_CASE("cluster: the fence guards a write, and a guard that fails fails its command alone", "[db][cluster]") {
  temp_database db;
  cluster_fixture f(db.url());
  auto a = f.link();
  REQUIRE(f.join(a, 1).outcome == join_outcome::joined);
  auto owned = ps::decode_owned(ok(f.on(a, {{ps::cluster_claim(1, {7})}})).results.front());
  REQUIRE(owned.size() == 1);
  auto epoch = owned[0].epoch;

  // Each command claims one more slot (a change we can look for), guarded
  // by the fence of slot 7; the second with a stale epoch.
  auto guarded = [&](std::uint32_t slot, std::uint64_t with_epoch) {
    db_command cmd{{ps::cluster_claim(1, {slot})}};
    cmd.guard = ps::cluster_fence(7, 1, with_epoch);
    return cmd;
  };
  // Sent together, so the writer may take them in one batch: the stale one
  // fails alone, the others commit, and the guard's rows are not reported.
  caf::scoped_actor self{f.sys};
  auto first = self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, guarded(20, epoch));
  auto stale = self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, guarded(21, epoch - 1));
  auto third = self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, guarded(22, epoch));
  auto claimed_by = [&](auto& handle) {
    db_fixture::outcome out;
    handle.receive([&](db_result& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  auto r1 = claimed_by(first);
  auto r2 = claimed_by(stale);
  auto r3 = claimed_by(third);
  REQUIRE(ok(r1).results.size() == 1);
  CHECK(ps::decode_owned(ok(r1).results.front()).size() == 1);
  CHECK(refusal(r2) == db_refusal::not_owner);
  CHECK(ps::decode_owned(ok(r3).results.front()).size() == 1);
  auto mine = ps::decode_owned(ok(f.on(a, {{ps::cluster_owned(1)}})).results.front());
  std::vector<std::uint32_t> slots;
  for (const auto& o : mine)
    slots.push_back(o.slot);
  CHECK(slots == std::vector<std::uint32_t>{7, 20, 22});
}
