// This node's links to the other members of its cluster, through CAF's io
// middleman: asynchronous connects from the cluster actor, a hello with
// each peer's gateway, and the seeds' check before joining.
#include "cluster_internal.hpp"

#include <caf/io/all.hpp>

#include <actors/cluster.hpp>
#include <protocol/clock.hpp>
#include <protocol/log.hpp>

#include "peer_relay.hpp"

namespace livemart::cluster_impl {

namespace {

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

} // namespace

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

void peer::unlink(caf::local_actor* self) const {
  auto end = [self](const auto& relays) {
    for (const auto& r : relays)
      self->send_exit(r, caf::exit_reason::user_shutdown);
  };
  end(routed.products);
  end(routed.orders);
  end(routed.streams);
  end(routed.users);
}

void unheard_from(cluster_pointer self, std::uint16_t node) {
  self->state.unheard_since.emplace(node, wall_clock::now_ms());
}

void connect_peers(cluster_pointer self) {
  auto& st = self->state;
  for (auto it = st.peers.begin(); it != st.peers.end();) {
    const auto* m = member(st, it->first);
    bool gone = m == nullptr || m->status == member_status::dead || m->incarnation != it->second.incarnation;
    if (gone && !it->second.connecting) {
      if (it->second.gateway) {
        self->demonitor(it->second.gateway.address());
        it->second.unlink(self);
        unheard_from(self, it->first);
      }
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
        auto& sys = self->home_system();
        auto wait = 2 * s.step_timeout; // beyond any caller's own timeout
        auto& routed = it->second.routed;
        routed = hello;
        routed.products = {relay::spawn_peer_registry<product_actor>(sys, hello.products, gateway.address(), wait)};
        routed.orders = {relay::spawn_peer_registry<order_actor>(sys, hello.orders, gateway.address(), wait)};
        routed.streams = {relay::spawn_peer_registry<stream_actor>(sys, hello.streams, gateway.address(), wait)};
        routed.users = {relay::spawn_peer_users(sys, hello.users, gateway.address(), wait)};
        it->second.hello = std::move(hello);
        self->monitor(gateway);
        log::info("cluster: linked to a member", "\"node\":" + std::to_string(node));
        publish_routes(self);
        // What it committed before this link reached nobody here.
        auto since = s.unheard_since.count(node) != 0 ? s.unheard_since[node] : 0;
        s.unheard_since.erase(node);
        s.linked_once.insert(node);
        if (s.search)
          self->send(s.search, refresh_atom::value, since);
      },
      failed);
  }
}

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

} // namespace livemart::cluster_impl
