// This node as a member of a cluster: the beat that keeps its membership
// (PostgreSQL is the authority, see migrations/0015_cluster.sql), the
// slots it claims and releases as members come and go, and its links to
// the other members through CAF's io middleman.
#include "cluster_internal.hpp"

#include <algorithm>

#include <caf/io/all.hpp>

#include <actors/cluster.hpp>
#include <actors/services.hpp>
#include <persistence/database.hpp>
#include <protocol/clock.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/placement.hpp>

namespace livemart {
namespace cluster_impl {

/// After every change of owners, epochs, drains or links. The registries
/// then stop the actors of slots that left this node.
void publish_routes(cluster_pointer self) {
  auto& st = self->state;
  if (!st.routing || st.incarnation == 0)
    return;
  auto table = std::make_unique<routing_table>();
  table->me = st.me;
  table->slots = st.slots;
  table->owners = st.owners;
  table->epochs.assign(st.slots, 0);
  for (const auto& [slot, epoch] : st.owned)
    table->epochs[slot] = epoch;
  table->draining.assign(st.slots, 0);
  for (const auto& [slot, at] : st.moving)
    table->draining[slot] = 1;
  for (const auto& [node, p] : st.peers)
    if (p.gateway)
      table->peers.emplace(node, p.routed);
  st.routing->publish(std::move(table));
  auto stop_moved = [self](const auto& shards) {
    for (const auto& shard : shards)
      self->send(shard, release_atom::value);
  };
  stop_moved(st.hello.products);
  stop_moved(st.hello.orders);
  stop_moved(st.hello.streams);
}

namespace {

/// Ends the beat in flight and arms the next one. A newer generation
/// makes any beat message already on its way stale, so there is always
/// exactly one beat pending.
void beat_done(cluster_pointer self, std::chrono::milliseconds after) {
  auto& st = self->state;
  st.beating = false;
  self->delayed_send(self, after, beat_atom::value, ++st.beat_generation);
}

void next_beat(cluster_pointer self) {
  beat_done(self, std::chrono::milliseconds{self->state.cfg.heartbeat_ms});
}

/// One step of the beat failed to reach PostgreSQL: said once, then the
/// next beat tries again. A node that cannot mark itself alive for the
/// TTL is evicted by the others; its writes then fail at the fence.
void unreachable(cluster_pointer self, const caf::error& err) {
  if (!self->state.unreachable)
    log::warn("cluster: PostgreSQL unreachable", "\"error\":\"" + to_string(to_problem(err).code) + "\"");
  self->state.unreachable = true;
  next_beat(self);
}

/// Claims the slots rendezvous hashing gives this node whose owner is
/// nobody or dead; marks for release (after the drain) those it owns that
/// belong elsewhere now, and releases those whose drain is over. A slot
/// that drains takes no new work here (its requests are answered `moved`
/// and retried), while the work in flight for it commits.
void rebalance(cluster_pointer self) {
  auto& st = self->state;
  std::vector<placement::node_id> up;
  for (const auto& m : st.members)
    if (m.status == member_status::up)
      up.push_back(m.node_id);
  std::sort(up.begin(), up.end());
  auto now = clock::now();
  std::vector<std::uint32_t> claim;
  std::vector<std::uint32_t> release;
  bool drains_changed = false;
  for (std::uint32_t s = 0; s < st.slots; ++s) {
    auto owner = st.owners[s];
    auto want = up.empty() || st.leaving ? -1 : static_cast<std::int32_t>(placement::rendezvous_owner(s, up));
    if (want == st.me && owner != st.me && (owner < 0 || !is_live(st, owner))) {
      claim.push_back(s);
    } else if (owner == st.me && want != st.me) {
      auto [it, fresh] = st.moving.emplace(s, now + std::chrono::milliseconds{st.cfg.handoff_drain_ms});
      drains_changed |= fresh;
      if (st.leaving || it->second <= now)
        release.push_back(s);
    } else if (owner == st.me) {
      drains_changed |= st.moving.erase(s) != 0; // it came back before it left
    }
  }
  if (drains_changed)
    publish_routes(self);
  if (claim.empty() && release.empty()) {
    next_beat(self);
    return;
  }
  db_command cmd{{ps::cluster_claim(st.me, claim), ps::cluster_release(st.me, release)}};
  self->request(st.link, st.step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self](const db_result& r) {
        auto& s = self->state;
        auto claimed = ps::decode_owned(r.results.at(0));
        for (const auto& got : claimed) {
          s.owned[got.slot] = got.epoch;
          s.owners[got.slot] = s.me;
        }
        for (auto slot : ps::decode_slots(r.results.at(1))) {
          s.owned.erase(slot);
          s.moving.erase(slot);
          s.owners[slot] = -1;
        }
        publish_routes(self);
        if (!claimed.empty() && s.on_claimed)
          s.on_claimed(); // the live streams of these slots run here now
        next_beat(self);
      },
      [self](caf::error& err) { unreachable(self, err); });
}

/// Reads members and owners again when their version moved, then links to
/// new members and rebalances.
void refresh(cluster_pointer self) {
  const auto& link = self->state.link;
  self->request(link, self->state.step_timeout, write_atom::value, db_command{{ps::cluster_version()}})
    .then(
      [self](const db_result& r) {
        auto version = ps::decode_version(r.results.front());
        auto& st = self->state;
        if (st.read_once && version == st.version) {
          connect_peers(self);
          rebalance(self);
          return;
        }
        db_command read{{ps::cluster_members(), ps::cluster_slot_owners()}};
        self->request(st.link, st.step_timeout, write_atom::value, std::move(read))
          .then(
            [self, version](const db_result& rows) {
              auto& s = self->state;
              s.members = ps::decode_members(rows.results.at(0));
              // A member never linked to committed unheard since it appeared
              // (it claims at its first beat), or since this index began
              // loading for those that were there at the start.
              for (const auto& m : s.members)
                if (m.node_id != s.me && m.status != member_status::dead && s.linked_once.count(m.node_id) == 0)
                  s.unheard_since.emplace(m.node_id, s.read_once ? wall_clock::now_ms() - 2 * s.cfg.heartbeat_ms : 0);
              s.owned.clear();
              for (const auto& row : ps::decode_slot_owners(rows.results.at(1))) {
                if (row.slot >= s.slots)
                  continue;
                s.owners[row.slot] = row.node_id;
                if (row.node_id == s.me)
                  s.owned[row.slot] = row.epoch;
              }
              for (auto it = s.moving.begin(); it != s.moving.end();)
                it = s.owned.count(it->first) != 0 ? std::next(it) : s.moving.erase(it);
              s.version = version;
              s.read_once = true;
              publish_routes(self);
              connect_peers(self);
              rebalance(self);
            },
            [self](caf::error& err) { unreachable(self, err); });
      },
      [self](caf::error& err) { unreachable(self, err); });
}

/// The beat: marks this node alive, declares silent members dead, and
/// follows what changed.
void beat(cluster_pointer self) {
  auto& st = self->state;
  if (st.evicted || st.leaving || st.incarnation == 0 || st.beating)
    return;
  st.beating = true;
  db_command cmd{{ps::cluster_heartbeat(st.me, st.incarnation, 2 * st.cfg.heartbeat_ms),
                  ps::cluster_evict(st.me, st.cfg.member_ttl_ms, st.cfg.heartbeat_ms)}};
  self->request(st.link, st.step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self](const db_result& r) {
        auto& s = self->state;
        if (s.leaving) {
          // A beat sent before this node asked to leave: whatever it found,
          // the node is on its way out, not evicted.
          s.beating = false;
          return;
        }
        if (!ps::decode_alive(r.results.at(0))) {
          s.evicted = true;
          s.beating = false;
          // Nothing is this node's any more: every request is answered `moved`.
          s.owned.clear();
          std::fill(s.owners.begin(), s.owners.end(), -1);
          publish_routes(self);
          log::error("cluster: this node was evicted (declared dead by the others); it stops serving",
                     "\"node\":" + std::to_string(s.me) + ",\"incarnation\":\"" + ids::format(s.incarnation) + "\"");
          if (s.on_evicted)
            s.on_evicted();
          return;
        }
        if (s.unreachable)
          log::info("cluster: PostgreSQL reachable again");
        s.unreachable = false;
        for (auto node : ps::decode_node_ids(r.results.at(1)))
          log::warn("cluster: a member was declared dead", "\"node\":" + std::to_string(node));
        refresh(self);
      },
      [self](caf::error& err) { unreachable(self, err); });
}

/// Joins as a new incarnation of this node id, once its seeds agree on the
/// protocol; answers the view.
caf::result<cluster_view> join(cluster_pointer self, std::string cluster_address, std::string http_address) {
  auto& st = self->state;
  if (st.incarnation != 0)
    return make_error(errc::conflict, "this node joined already");
  st.cluster_address = std::move(cluster_address);
  std::vector<std::string> seeds;
  std::string list = st.cfg.seeds;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty() && item != st.cluster_address)
      seeds.push_back(item);
    list = comma == std::string::npos ? std::string{} : list.substr(comma + 1);
  }
  auto rp = self->make_response_promise<cluster_view>();
  check_seeds(self, std::move(seeds), [self, rp, http_address](caf::error refused) mutable {
    if (refused) {
      rp.deliver(std::move(refused));
      return;
    }
    const auto& joining = self->state;
    cluster_member me;
    me.node_id = joining.me;
    me.incarnation = ids::next();
    me.cluster_address = joining.cluster_address;
    me.http_address = http_address;
    me.version = cluster_protocol;
    self->request(joining.link, joining.step_timeout, write_atom::value,
                  db_command{{ps::cluster_join(me, joining.cfg.slots)}})
      .then(
        [self, rp, me](const db_result& r) mutable {
          auto joined = ps::decode_join(r.results.front());
          auto& s = self->state;
          switch (joined.outcome) {
            case join_outcome::taken:
              rp.deliver(make_error(errc::conflict, "node.id " + std::to_string(me.node_id)
                                                      + " belongs to a live process of the cluster"));
              return;
            case join_outcome::slots:
              rp.deliver(make_error(errc::conflict, "the cluster was made with cluster.slots = "
                                                      + std::to_string(joined.slots) + ", not "
                                                      + std::to_string(s.cfg.slots)));
              return;
            case join_outcome::joined: break;
          }
          s.incarnation = me.incarnation;
          s.hello.incarnation = me.incarnation;
          s.slots = joined.slots;
          s.owners.assign(s.slots, -1);
          log::info("cluster: joined", "\"node\":" + std::to_string(me.node_id) + ",\"incarnation\":\""
                                         + ids::format(me.incarnation) + "\",\"slots\":" + std::to_string(s.slots)
                                         + ",\"cluster_address\":" + json_text(s.cluster_address));
          cluster_view v;
          v.enabled = true;
          v.node_id = s.me;
          v.incarnation = s.incarnation;
          v.slots = s.slots;
          rp.deliver(std::move(v));
          beat(self);
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  });
  return rp;
}

cluster_actor::behavior_type cluster_member_actor(cluster_pointer self, cluster_state init) {
  self->state = std::move(init);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->send_exit(self->state.link, msg.reason);
    for (const auto& [node, p] : self->state.peers)
      p.unlink(self);
    self->quit(msg.reason);
  });
  // A member's process is gone (its link dropped, or stayed silent past
  // cluster.link_timeout_ms): look at once instead of at the next beat,
  // so that its slots are claimed as soon as PostgreSQL agrees.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (auto it = st.peers.begin(); it != st.peers.end(); ++it) {
      if (it->second.gateway && it->second.gateway.address() == msg.source) {
        log::warn("cluster: lost the link to a member", "\"node\":" + std::to_string(it->first));
        unheard_from(self, it->first);
        it->second.unlink(self);
        st.peers.erase(it);
        publish_routes(self);
        break;
      }
    }
    if (!st.beating)
      beat(self);
  });
  return {
    [self](join_atom, std::string cluster_address, std::string http_address) -> caf::result<cluster_view> {
      return join(self, std::move(cluster_address), std::move(http_address));
    },
    [self](hello_atom, std::uint16_t, std::uint64_t) -> caf::result<node_hello> {
      if (self->state.incarnation == 0)
        return make_error(errc::database_unavailable, "this node is still joining");
      return self->state.hello;
    },
    [self](beat_atom, std::uint64_t generation) {
      if (generation == self->state.beat_generation)
        beat(self);
    },
    [self](get_atom) -> caf::result<cluster_view> {
      auto rp = self->make_response_promise<cluster_view>();
      auto& st = self->state;
      self->request(st.link, st.step_timeout, write_atom::value, db_command{{ps::cluster_members()}})
        .then(
          [self, rp](const db_result& r) mutable {
            auto& s = self->state;
            cluster_view v;
            v.enabled = true;
            v.node_id = s.me;
            v.incarnation = s.incarnation;
            v.slots = s.slots;
            v.owned = static_cast<std::uint32_t>(s.owned.size());
            v.moving = static_cast<std::uint32_t>(s.moving.size());
            v.version = s.version;
            v.members = ps::decode_members(r.results.front());
            for (auto& m : v.members) {
              auto it = s.peers.find(m.node_id);
              m.connected = m.node_id == s.me
                            || (it != s.peers.end() && it->second.gateway && it->second.incarnation == m.incarnation);
            }
            rp.deliver(std::move(v));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](leave_atom) -> caf::result<bool> {
      // Others stop placing slots here; this node gives back what it owns
      // and is gone. Its beat stops.
      auto& st = self->state;
      if (st.incarnation == 0 || st.evicted)
        return false;
      auto rp = self->make_response_promise<bool>();
      st.leaving = true;
      std::vector<std::uint32_t> all;
      for (const auto& [slot, epoch] : st.owned)
        all.push_back(slot);
      db_command cmd{{ps::cluster_set_status(st.me, st.incarnation, member_status::leaving),
                      ps::cluster_release(st.me, all),
                      ps::cluster_set_status(st.me, st.incarnation, member_status::dead)}};
      self->request(st.link, st.step_timeout, write_atom::value, std::move(cmd))
        .then(
          [self, rp](const db_result&) mutable {
            auto& s = self->state;
            s.evicted = true; // no more beats: this incarnation is over
            s.owned.clear();
            s.moving.clear();
            std::fill(s.owners.begin(), s.owners.end(), -1);
            publish_routes(self);
            log::info("cluster: left", "\"node\":" + std::to_string(s.me));
            rp.deliver(true);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

/// The actor published on the cluster port: it hands a peer's hello to
/// the member actor, and ends with it.
node_gateway_actor::behavior_type gateway(node_gateway_actor::pointer self, cluster_actor member) {
  self->link_to(member);
  return {
    [self, member](hello_atom, std::uint16_t node, std::uint64_t incarnation) -> caf::result<node_hello> {
      return self->delegate(member, hello_atom::value, node, incarnation);
    },
  };
}

} // namespace
} // namespace cluster_impl

using namespace cluster_impl;

void add_cluster_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<node_hello>("node_hello");
  cfg.add_message_type<std::vector<product_registry_actor>>("std::vector<product_registry_actor>");
  cfg.add_message_type<std::vector<order_registry_actor>>("std::vector<order_registry_actor>");
  cfg.add_message_type<std::vector<stream_registry_actor>>("std::vector<stream_registry_actor>");
  cfg.add_message_type<std::vector<user_shard_actor>>("std::vector<user_shard_actor>");
}

void cluster_config(const conf::settings& cfg, caf::actor_system_config& caf_cfg) {
  caf_cfg.load<caf::io::middleman>();
  caf_cfg.set("middleman.app-identifiers", std::vector<std::string>{cluster_protocol});
  caf_cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds{cfg.cluster.link_heartbeat_ms}});
  caf_cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds{cfg.cluster.link_timeout_ms}});
  // A full mesh of our own: proxies reached through a lost middle node
  // would never be told it is gone.
  caf_cfg.set("middleman.enable-automatic-connections", false);
}

std::variant<cluster_node, std::string> spawn_cluster(caf::actor_system& sys, const conf::settings& cfg,
                                                      const services& svc, std::function<void()> on_evicted) {
  cluster_state init;
  init.cfg = cfg.cluster;
  init.me = static_cast<std::uint16_t>(cfg.node.id);
  init.on_evicted = std::move(on_evicted);
  init.step_timeout = std::chrono::milliseconds{cfg.actors.step_timeout_ms};
  init.hello.node_id = init.me;
  init.hello.protocol = cluster_protocol;
  init.hello.products = svc.products.shards;
  init.hello.orders = svc.order_actors.shards;
  init.hello.streams = svc.streams.shards;
  init.hello.users = svc.users.shards;
  init.hello.limiter = svc.limiter.local;
  init.hello.bus = svc.bus;
  init.search = svc.search;
  init.on_claimed = svc.wake_live_streams;
  init.routing = svc.routing;
  init.link = ps::start_membership_link(sys, cfg.database);
  auto member = sys.spawn(cluster_member_actor, std::move(init));
  auto gw = sys.spawn(gateway, member);
  auto port = sys.middleman().publish(gw, cfg.cluster.port, cfg.cluster.address.c_str(), true);
  if (!port) {
    caf::anon_send_exit(member, caf::exit_reason::user_shutdown);
    return "cannot publish the cluster port " + cfg.cluster.address + ":" + std::to_string(cfg.cluster.port) + ": "
           + sys.render(port.error());
  }
  auto advertise = cfg.cluster.advertise.empty() ? cfg.cluster.address : cfg.cluster.advertise;
  return cluster_node{member, advertise + ":" + std::to_string(*port)};
}

void leave_cluster(caf::actor_system& sys, const cluster_actor& cluster, std::chrono::milliseconds timeout) {
  caf::scoped_actor caller{sys};
  caller->request(cluster, timeout, leave_atom::value)
    .receive([](bool) {},
             [](caf::error& err) {
               log::warn("cluster: leaving failed", "\"error\":\"" + to_string(to_problem(err).code) + "\"");
             });
}

} // namespace livemart
