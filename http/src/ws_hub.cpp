#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "ws_internal.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>

#include <boost/asio/post.hpp>

#include <protocol/streams.hpp>

namespace livemart::http {

namespace {

using report_atom = caf::atom_constant<caf::atom("hub_report")>;
using linger_atom = caf::atom_constant<caf::atom("hub_linger")>;
using retry_atom = caf::atom_constant<caf::atom("hub_retry")>;

/// A snapshot asked of a stream whose owner may have just changed waits at
/// most this long on its first try (then one more of these per failure, up
/// to one step): a request to another node goes through its relay, which
/// answers `moved` when the link drops, but one sent in the very moment the
/// node died may still go unanswered.
constexpr std::chrono::milliseconds snapshot_first_wait{1000};
/// Failed snapshots are asked again after this, doubling per failure up to
/// snapshot_first_wait.
constexpr std::chrono::milliseconds snapshot_retry_base{50};
/// After the stream's actor ended, the new owner is asked after this: the
/// cluster actor hears of a lost node at the same moment, and its routes
/// change first.
constexpr std::chrono::milliseconds resnapshot_delay{50};

// -- hubs: one per stream per node ---------------------------------------------------------

using lane_members = std::shared_ptr<const std::vector<std::weak_ptr<ws_sink>>>;

struct hub_state {
  std::uint64_t stream_id = 0;
  const services* svc = nullptr;
  caf::actor_addr watched; ///< the stream's actor that answered last (monitored)
  std::vector<ws_lane> lanes;
  std::unordered_map<std::uint64_t, hub_join> active;
  std::vector<lane_members> by_lane; ///< `active` grouped by lane, rebuilt after a change
  bool members_changed = true;
  std::vector<hub_join> pending; ///< waiting for a snapshot
  bool snapshot_in_flight = false;
  /// Since when snapshots fail (the stream's owner changing hands), if they do.
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  std::uint32_t failures = 0;
  std::vector<std::uint64_t> new_users;
  std::int64_t new_anonymous = 0;
  bool report_armed = false;
  std::int64_t reported = -1;
  std::uint64_t joins = 0; ///< joins forwarded by the directory, for the passivation handshake
  ws::hub_timing timing{};
  static inline const char* name = "ws_hub";
};

using hub_pointer = caf::stateful_actor<hub_state>*;

std::int64_t hub_viewers(const hub_state& st) {
  return static_cast<std::int64_t>(st.active.size() + st.pending.size());
}

/// Tells the stream actor this node's viewer count, at most every
/// ws.viewer_report_ms.
void report_soon(hub_pointer self) {
  auto& st = self->state;
  if (st.report_armed)
    return;
  st.report_armed = true;
  self->delayed_send(self, st.timing.report, report_atom::value);
}

void fetch_snapshot(hub_pointer self, std::chrono::milliseconds timeout);

void close_pending(hub_pointer self, std::uint16_t code, const std::string& reason) {
  for (auto& j : self->state.pending)
    if (auto s = j.sink.lock())
      s->close_with(code, reason);
  self->state.pending.clear();
  report_soon(self);
}

/// Where the stream's requests go (the route is asked each time: it may move).
stream_registry_actor route(hub_pointer self) {
  return self->state.svc->streams.route(self->state.stream_id);
}

/// Monitors the stream's actor that sent the current reply, so that when
/// it ends (passivated or crashed) this hub reports its viewers again.
void watch_sender(hub_pointer self) {
  auto& st = self->state;
  auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!sender || sender == st.watched)
    return;
  if (st.watched)
    self->demonitor(st.watched);
  st.watched = sender;
  self->monitor(sender);
}

void fetch_snapshot(hub_pointer self, std::chrono::milliseconds timeout) {
  auto& st = self->state;
  if (st.snapshot_in_flight || st.pending.empty())
    return;
  st.snapshot_in_flight = true;
  auto wait = std::min<std::chrono::milliseconds>(timeout, snapshot_first_wait * (1 + st.failures));
  self->request(route(self), wait, st.stream_id, snapshot_atom::value)
    .then(
      [self, timeout](const stream_snapshot& snap) {
        watch_sender(self);
        auto& s = self->state;
        s.snapshot_in_flight = false;
        s.failing_since.reset();
        s.failures = 0;
        auto message = std::make_shared<const ws_out>(ws_out{{}, snap.json});
        for (auto& j : s.pending) {
          if (auto sink = j.sink.lock()) {
            sink->push(message);
            s.active[j.serial] = j;
            s.members_changed = true;
          }
        }
        s.pending.clear();
        fetch_snapshot(self, timeout);
      },
      [self, timeout](caf::error& err) {
        auto& s = self->state;
        s.snapshot_in_flight = false;
        if (to_problem(err).code == errc::not_found) {
          close_pending(self, ws::close_not_found, "no such stream");
          return;
        }
        // The stream's node is gone or its slot changes hands: its new
        // owner answers within a few beats. The viewers keep waiting on
        // their sockets until two steps have passed, then are told to
        // come back.
        auto now = std::chrono::steady_clock::now();
        if (!s.failing_since)
          s.failing_since = now;
        if (now - *s.failing_since >= 2 * timeout) {
          s.failing_since.reset();
          s.failures = 0;
          close_pending(self, 1013, "the stream is not available; try again");
          return;
        }
        auto pause = std::min<std::chrono::milliseconds>(snapshot_first_wait,
                                                        snapshot_retry_base * (1 << std::min<std::uint32_t>(s.failures, 5)));
        ++s.failures;
        self->delayed_send(self, pause, retry_atom::value);
      });
}

/// Groups the active viewers by lane (after joins and leaves only).
void regroup(hub_state& st) {
  std::vector<std::vector<std::weak_ptr<ws_sink>>> groups(st.lanes.size());
  for (const auto& [serial, j] : st.active)
    groups[j.lane % groups.size()].push_back(j.sink);
  st.by_lane.clear();
  for (auto& g : groups)
    st.by_lane.push_back(std::make_shared<const std::vector<std::weak_ptr<ws_sink>>>(std::move(g)));
  st.members_changed = false;
}

caf::behavior stream_hub(hub_pointer self, std::uint64_t stream_id, const services* svc, ws::hub_timing timing,
                         caf::actor directory, std::vector<ws_lane> lanes) {
  auto timeout = timing.step;
  auto& st = self->state;
  st.timing = timing;
  st.stream_id = stream_id;
  st.svc = svc;
  st.lanes = std::move(lanes);
  self->join(self->home_system().groups().get_local(stream_group_name(stream_id)));
  // The stream's actor ended (passivated, crashed, or its node is gone):
  // tell the next one this node's viewers again, and give every viewer a
  // fresh snapshot from it (its state and numbering start from what was
  // committed). The sockets stay open meanwhile.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    if (msg.source != s.watched)
      return;
    s.watched = caf::actor_addr{};
    s.reported = -1;
    for (auto& [serial, j] : s.active) {
      if (j.user != 0)
        s.new_users.push_back(j.user);
      s.pending.push_back(std::move(j));
    }
    s.members_changed |= !s.active.empty();
    s.active.clear();
    report_soon(self);
    self->delayed_send(self, resnapshot_delay, retry_atom::value);
  });
  return {
    [self, timeout](join_atom, const hub_join& j) {
      auto& s = self->state;
      ++s.joins;
      s.pending.push_back(j);
      if (j.user != 0)
        s.new_users.push_back(j.user);
      else
        ++s.new_anonymous;
      report_soon(self);
      fetch_snapshot(self, timeout);
    },
    [self, timeout](retry_atom) { fetch_snapshot(self, timeout); },
    [self, timeout](snapshot_atom, const hub_join& j) {
      // A resync: the viewer gets a fresh snapshot, then the events after it.
      auto& s = self->state;
      s.members_changed |= s.active.erase(j.serial) != 0;
      s.pending.push_back(j);
      fetch_snapshot(self, timeout);
    },
    [self](leave_atom, std::uint64_t serial) {
      auto& s = self->state;
      s.members_changed |= s.active.erase(serial) != 0;
      s.pending.erase(std::remove_if(s.pending.begin(), s.pending.end(),
                                     [serial](const hub_join& j) { return j.serial == serial; }),
                      s.pending.end());
      report_soon(self);
    },
    [self](const stream_push& push) {
      // One handler per lane: it runs on the lane's strand, where its
      // connections live, and hands each the same message, framed once.
      auto& s = self->state;
      if (s.members_changed)
        regroup(s);
      auto message = std::make_shared<const ws_out>(ws_out{push.key, push.json, ws_text_frame(push.json)});
      for (std::size_t lane = 0; lane < s.by_lane.size(); ++lane) {
        const auto& members = s.by_lane[lane];
        if (members->empty())
          continue;
        asio::post(s.lanes[lane], [members, message] {
          for (const auto& w : *members)
            if (auto sink = w.lock())
              sink->push_on_lane(message);
        });
      }
    },
    [self, timeout](report_atom) {
      auto& s = self->state;
      s.report_armed = false;
      auto count = hub_viewers(s);
      if (count != s.reported || !s.new_users.empty() || s.new_anonymous != 0) {
        self->request(route(self), timeout, s.stream_id, viewers_atom::value, caf::actor_cast<caf::actor>(self), count,
                      s.new_users, s.new_anonymous)
          .then([self](caf::ok_atom) { watch_sender(self); },
                [self, users = s.new_users, anonymous = s.new_anonymous](caf::error&) {
                  // Not told: told again shortly, the joins included.
                  auto& hub = self->state;
                  hub.reported = -1;
                  hub.new_users.insert(hub.new_users.end(), users.begin(), users.end());
                  hub.new_anonymous += anonymous;
                  report_soon(self);
                });
        s.reported = count;
        s.new_users.clear();
        s.new_anonymous = 0;
      }
      if (count == 0)
        self->delayed_send(self, s.timing.linger, linger_atom::value);
    },
    [self, directory](linger_atom) {
      // Empty for a while: ask the directory to forget this hub. It agrees
      // only if it forwarded no join since (its count equals ours).
      if (hub_viewers(self->state) != 0)
        return;
      self->request(directory, self->state.timing.step, idle_atom::value, self->state.stream_id, self->state.joins)
        .then(
          [self](bool agreed) {
            if (agreed)
              self->quit();
          },
          [](caf::error&) {});
    },
  };
}

struct directory_state {
  std::unordered_map<std::uint64_t, std::pair<caf::actor, std::uint64_t>> hubs; ///< stream -> hub, joins forwarded
  static inline const char* name = "ws_hub_directory";
};

caf::behavior hub_directory(caf::stateful_actor<directory_state>* self, services* svc, ws::hub_timing timing,
                            std::vector<ws_lane> lanes) {
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [id, hub] : self->state.hubs)
      self->send_exit(hub.first, msg.reason);
    self->state.hubs.clear();
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& hubs = self->state.hubs;
    for (auto it = hubs.begin(); it != hubs.end(); ++it)
      if (it->second.first.address() == msg.source) {
        hubs.erase(it);
        return;
      }
  });
  return {
    [self, svc, timing, lanes](join_atom, std::uint64_t stream_id, const hub_join& j) {
      auto& hubs = self->state.hubs;
      auto it = hubs.find(stream_id);
      if (it == hubs.end()) {
        auto hub = self->spawn(stream_hub, stream_id, svc, timing, caf::actor_cast<caf::actor>(self), lanes);
        self->monitor(hub);
        it = hubs.emplace(stream_id, std::make_pair(hub, std::uint64_t{0})).first;
      }
      ++it->second.second;
      self->send(it->second.first, join_atom::value, j);
    },
    [self](snapshot_atom, std::uint64_t stream_id, const hub_join& j) {
      if (auto it = self->state.hubs.find(stream_id); it != self->state.hubs.end())
        self->send(it->second.first, snapshot_atom::value, j);
    },
    [self](leave_atom, std::uint64_t stream_id, std::uint64_t serial) {
      if (auto it = self->state.hubs.find(stream_id); it != self->state.hubs.end())
        self->send(it->second.first, leave_atom::value, serial);
    },
    [self](get_atom) -> std::vector<caf::actor> {
      std::vector<caf::actor> all;
      for (const auto& [id, hub] : self->state.hubs)
        all.push_back(hub.first);
      return all;
    },
    [self](idle_atom, std::uint64_t stream_id, std::uint64_t joins) -> bool {
      auto& hubs = self->state.hubs;
      auto it = hubs.find(stream_id);
      if (it == hubs.end() || it->second.second != joins
          || it->second.first.address() != caf::actor_cast<caf::actor_addr>(self->current_sender()))
        return false;
      hubs.erase(it);
      return true;
    },
  };
}

} // namespace

namespace ws {

caf::actor spawn_hub_directory(caf::actor_system& system, services* svc, hub_timing timing,
                               std::vector<ws_lane> lanes) {
  return system.spawn(hub_directory, svc, timing, std::move(lanes));
}

} // namespace ws

} // namespace livemart::http
