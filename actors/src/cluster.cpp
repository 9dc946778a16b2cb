// This node as a member of a cluster: the beat that keeps its membership
// (PostgreSQL is the authority, see migrations/0015_cluster.sql), the
// slots it claims and releases as members come and go, and its links to
// the other members through CAF's io middleman.
#include <actors/cluster.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <actors/services.hpp>
#include <persistence/cluster_statements.hpp>
#include <persistence/database.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/placement.hpp>

namespace livemart {
namespace {

namespace ps = persistence;
using clock = std::chrono::steady_clock;

/// "host:port" split at its last colon; nullopt when malformed.
std::optional<std::pair<std::string, std::uint16_t>> split_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return std::nullopt;
  unsigned long port = 0;
  for (auto c : address.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535)
      return std::nullopt;
  }
  if (port == 0)
    return std::nullopt;
  return std::make_pair(address.substr(0, colon), static_cast<std::uint16_t>(port));
}

std::string json_text(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20)
      out += c;
  }
  return out + "\"";
}

/// A member this node links to: the gateway of its current incarnation.
struct peer {
  std::uint64_t incarnation = 0;
  node_gateway_actor gateway; ///< null while connecting
  node_hello hello;
  bool connecting = false;
  clock::time_point tried_at{};
};

struct cluster_state {
  conf::cluster_settings cfg;
  std::uint16_t me = 0;
  std::uint64_t incarnation = 0;
  std::uint32_t slots = 0;
  std::string cluster_address; ///< host:port, as published and joined with
  ps::membership_link_actor link;
  node_hello hello; ///< what a peer's hello gets (its incarnation once joined)
  std::shared_ptr<routing_cell> routing; ///< what directories and registries route by
  std::function<void()> on_evicted;
  std::chrono::milliseconds step_timeout{0};

  std::uint64_t beat_generation = 0; ///< a beat message of another generation is stale
  bool beating = false;              ///< a beat's steps are in flight
  std::uint64_t version = 0;         ///< of members and owners, as last read
  bool read_once = false;
  std::vector<cluster_member> members;
  std::vector<std::int32_t> owners;                            ///< slot → node, -1: nobody
  std::unordered_map<std::uint32_t, std::uint64_t> owned;      ///< slot → epoch, this node's
  std::unordered_map<std::uint32_t, clock::time_point> moving; ///< owned slots to release at that time
  std::map<std::uint16_t, peer> peers;
  bool leaving = false;
  bool evicted = false;
  bool unreachable = false; ///< the last beat could not reach PostgreSQL (logged once)
  static inline const char* name = "cluster";
};

using cluster_pointer = cluster_actor::stateful_pointer<cluster_state>;

/// Publishes who owns which slot, this node's epochs and its peers'
/// registries for the directories and registries of this node: after
/// every change of owners, epochs or links.
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
  for (const auto& [node, p] : st.peers)
    if (p.gateway)
      table->peers.emplace(node, p.hello);
  st.routing->publish(std::move(table));
}

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

const cluster_member* member(const cluster_state& st, std::int32_t node) {
  for (const auto& m : st.members)
    if (m.node_id == node)
      return &m;
  return nullptr;
}

bool is_live(const cluster_state& st, std::int32_t node) {
  const auto* m = member(st, node);
  return m != nullptr && m->status != member_status::dead;
}

/// Connects to the cluster port at `target` (asynchronously, through the
/// middleman) and asks the gateway there for its hello; `on_error` when
/// either step fails or nothing is published there.
template <class OnHello, class OnError>
void ask_hello(cluster_pointer self, const std::pair<std::string, std::uint16_t>& target, OnHello on_hello,
               OnError on_error) {
  auto timeout = std::chrono::milliseconds{self->state.cfg.connect_timeout_ms};
  self->request(self->home_system().middleman().actor_handle(), timeout, caf::connect_atom::value, target.first,
                target.second)
    .then(
      [self, timeout, on_hello, on_error](const caf::node_id&, caf::strong_actor_ptr ptr,
                                          const std::set<std::string>&) mutable {
        auto gateway = caf::actor_cast<node_gateway_actor>(ptr);
        if (!gateway) {
          caf::error none = caf::sec::no_actor_published_at_port;
          on_error(none);
          return;
        }
        self->request(gateway, timeout, hello_atom::value, self->state.me, self->state.incarnation)
          .then([gateway, on_hello](node_hello& hello) mutable { on_hello(gateway, std::move(hello)); }, on_error);
      },
      on_error);
}

/// Links to every live member it has no link to (or a link to an older
/// incarnation of), and drops the links to members that are gone.
void connect_peers(cluster_pointer self) {
  auto& st = self->state;
  for (auto it = st.peers.begin(); it != st.peers.end();) {
    const auto* m = member(st, it->first);
    bool gone = m == nullptr || m->status == member_status::dead || m->incarnation != it->second.incarnation;
    if (gone && !it->second.connecting) {
      if (it->second.gateway)
        self->demonitor(it->second.gateway.address());
      it = st.peers.erase(it);
    } else {
      ++it;
    }
  }
  auto now = clock::now();
  for (const auto& m : st.members) {
    if (m.node_id == st.me || m.status == member_status::dead)
      continue;
    auto& p = st.peers[m.node_id];
    if (p.connecting || (p.gateway && p.incarnation == m.incarnation))
      continue;
    if (now - p.tried_at < std::chrono::milliseconds{st.cfg.connect_timeout_ms})
      continue;
    auto target = split_address(m.cluster_address);
    if (!target)
      continue;
    p.incarnation = m.incarnation;
    p.connecting = true;
    p.tried_at = now;
    auto node = m.node_id;
    auto incarnation = m.incarnation;
    auto failed = [self, node, incarnation](caf::error& err) {
      auto& s = self->state;
      if (auto it = s.peers.find(node); it != s.peers.end() && it->second.incarnation == incarnation)
        it->second.connecting = false;
      log::warn("cluster: no link to a member", "\"node\":" + std::to_string(node) + ",\"error\":"
                                                  + json_text(self->home_system().render(err)));
    };
    ask_hello(
      self, *target,
      [self, node, incarnation, failed](node_gateway_actor gateway, node_hello hello) mutable {
        auto& s = self->state;
        auto it = s.peers.find(node);
        if (it == s.peers.end() || it->second.incarnation != incarnation)
          return; // it left meanwhile
        if (hello.node_id != node || hello.incarnation != incarnation || hello.protocol != cluster_protocol) {
          caf::error other = make_error(errc::conflict, "another node or protocol answered");
          failed(other);
          return;
        }
        it->second.connecting = false;
        it->second.gateway = gateway;
        it->second.hello = std::move(hello);
        self->monitor(gateway);
        log::info("cluster: linked to a member", "\"node\":" + std::to_string(node));
        publish_routes(self);
      },
      failed);
  }
}

/// Claims the slots rendezvous hashing gives this node whose owner is
/// nobody or dead; marks for release (after the drain) those it owns that
/// belong elsewhere now, and releases those whose drain is over.
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
  for (std::uint32_t s = 0; s < st.slots; ++s) {
    auto owner = st.owners[s];
    auto want = up.empty() || st.leaving ? -1 : static_cast<std::int32_t>(placement::rendezvous_owner(s, up));
    if (want == st.me && owner != st.me && (owner < 0 || !is_live(st, owner))) {
      claim.push_back(s);
    } else if (owner == st.me && want != st.me) {
      auto [it, fresh] = st.moving.emplace(s, now + std::chrono::milliseconds{st.cfg.handoff_drain_ms});
      if (st.leaving || it->second <= now)
        release.push_back(s);
    } else if (owner == st.me) {
      st.moving.erase(s); // it came back before it left
    }
  }
  if (claim.empty() && release.empty()) {
    next_beat(self);
    return;
  }
  db_command cmd{{ps::cluster_claim(st.me, claim), ps::cluster_release(st.me, release)}};
  self->request(st.link, st.step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self](const db_result& r) {
        auto& s = self->state;
        for (const auto& got : ps::decode_owned(r.results.at(0))) {
          s.owned[got.slot] = got.epoch;
          s.owners[got.slot] = s.me;
        }
        for (auto slot : ps::decode_slots(r.results.at(1))) {
          s.owned.erase(slot);
          s.moving.erase(slot);
          s.owners[slot] = -1;
        }
        publish_routes(self);
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
  if (st.evicted || st.incarnation == 0 || st.beating)
    return;
  st.beating = true;
  db_command cmd{{ps::cluster_heartbeat(st.me, st.incarnation),
                  ps::cluster_evict(st.cfg.member_ttl_ms, st.cfg.heartbeat_ms)}};
  self->request(st.link, st.step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self](const db_result& r) {
        auto& s = self->state;
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

/// Asks each seed for its hello before joining: a seed that speaks another
/// protocol (or refuses ours at CAF's handshake) makes joining fail; seeds
/// that cannot be reached are skipped (PostgreSQL knows the members).
void check_seeds(cluster_pointer self, std::vector<std::string> seeds, std::function<void(caf::error)> done) {
  if (seeds.empty()) {
    done(caf::error{});
    return;
  }
  auto seed = seeds.back();
  seeds.pop_back();
  auto next = [self, seeds, done]() mutable { check_seeds(self, std::move(seeds), std::move(done)); };
  auto target = split_address(seed);
  if (!target) {
    done(make_error(errc::validation_failed, "cluster.seeds: \"" + seed + "\" is not host:port"));
    return;
  }
  auto refused = [self, seed, next, done](caf::error& err) mutable {
    if (err == caf::sec::incompatible_application_ids || err == caf::sec::incompatible_versions) {
      done(make_error(errc::conflict, "the seed " + seed + " speaks another cluster protocol than "
                                        + std::string{cluster_protocol}));
      return;
    }
    log::warn("cluster: a seed did not answer", "\"seed\":" + json_text(seed) + ",\"error\":"
                                                   + json_text(self->home_system().render(err)));
    next();
  };
  ask_hello(
    self, *target,
    [seed, next, done](node_gateway_actor, const node_hello& hello) mutable {
      if (hello.protocol != cluster_protocol) {
        done(make_error(errc::conflict, "the seed " + seed + " speaks " + hello.protocol + ", not "
                                          + std::string{cluster_protocol}));
        return;
      }
      next();
    },
    refused);
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
