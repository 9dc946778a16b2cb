#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "websocket.hpp"

#include <http/framing.hpp>
#include <http/ws_outbox.hpp>
#include <http/ws_socket.hpp>

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>
#include <protocol/streams.hpp>

namespace livemart::http {

using ws_out = ws_message;
using ws_out_ptr = ws_message_ptr;

/// What hubs and relays see of a connection: thread-safe, never blocks.
class ws_sink {
public:
  virtual ~ws_sink() = default;
  virtual void push(ws_out_ptr message) = 0;
  virtual void close_with(std::uint16_t code, std::string reason) = 0;
  /// The lane the connection runs on, and a push from a handler already
  /// running on that lane's strand.
  virtual std::size_t lane() const = 0;
  virtual void push_on_lane(const ws_out_ptr& message) = 0;
};

/// A viewer joining a hub (or asking it for a fresh snapshot).
struct hub_join {
  std::uint64_t serial = 0;
  std::weak_ptr<ws_sink> sink;
  std::uint64_t user = 0; ///< 0: anonymous
  std::size_t lane = 0;
};

} // namespace livemart::http

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(livemart::http::hub_join)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::weak_ptr<livemart::http::ws_sink>)

namespace livemart::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

/// Close codes of livemart's WebSocket protocol (docs/api.md).
constexpr std::uint16_t close_unauthorized = 4401;
constexpr std::uint16_t close_not_found = 4404;
constexpr std::uint16_t close_too_slow = 4408;
constexpr std::uint16_t close_rate_limited = 4429;

/// One access-log line for an upgrade: accepted (101) or refused.
void log_upgrade(const app_context& app, std::string_view path, std::string_view client, int status,
                 std::string_view detail);

using report_atom = caf::atom_constant<caf::atom("hub_report")>;
using linger_atom = caf::atom_constant<caf::atom("hub_linger")>;

metrics::gauge& viewer_gauge() {
  static auto& g = metrics::registry::global().make_gauge("livemart_ws_connections", "Open WebSocket connections");
  return g;
}

metrics::counter& slow_closes() {
  static auto& c = metrics::registry::global().make_counter("livemart_ws_slow_closes_total",
                                                            "WebSocket connections closed for falling behind");
  return c;
}

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
  std::vector<std::uint64_t> new_users;
  std::int64_t new_anonymous = 0;
  bool report_armed = false;
  std::int64_t reported = -1;
  std::uint64_t joins = 0; ///< joins forwarded by the directory, for the passivation handshake
  static inline const char* name = "ws_hub";
};

using hub_pointer = caf::stateful_actor<hub_state>*;

std::int64_t hub_viewers(const hub_state& st) {
  return static_cast<std::int64_t>(st.active.size() + st.pending.size());
}

/// Tells the stream actor this node's viewer count, at most every 200 ms.
void report_soon(hub_pointer self) {
  auto& st = self->state;
  if (st.report_armed)
    return;
  st.report_armed = true;
  self->delayed_send(self, std::chrono::milliseconds{200}, report_atom::value);
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
const stream_registry_actor& route(hub_pointer self) {
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
  self->request(route(self), timeout, st.stream_id, snapshot_atom::value)
    .then(
      [self, timeout](const stream_snapshot& snap) {
        watch_sender(self);
        auto& s = self->state;
        s.snapshot_in_flight = false;
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
      [self](caf::error& err) {
        self->state.snapshot_in_flight = false;
        if (to_problem(err).code == errc::not_found)
          close_pending(self, close_not_found, "no such stream");
        else
          close_pending(self, 1013, "the stream is not available; try again");
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

caf::behavior stream_hub(hub_pointer self, std::uint64_t stream_id, const services* svc,
                         std::chrono::milliseconds timeout, caf::actor directory, std::vector<ws_lane> lanes) {
  auto& st = self->state;
  st.stream_id = stream_id;
  st.svc = svc;
  st.lanes = std::move(lanes);
  self->join(self->home_system().groups().get_local(stream_group_name(stream_id)));
  // The stream's actor ended (passivated or crashed): tell the next one
  // this node's viewers again.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    if (msg.source != s.watched)
      return;
    s.watched = caf::actor_addr{};
    s.reported = -1;
    for (const auto& [serial, j] : s.active)
      if (j.user != 0)
        s.new_users.push_back(j.user);
    report_soon(self);
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
                [self](caf::error&) { self->state.reported = -1; }); // told again with the next change
        s.reported = count;
        s.new_users.clear();
        s.new_anonymous = 0;
      }
      if (count == 0)
        self->delayed_send(self, std::chrono::seconds{5}, linger_atom::value);
    },
    [self, directory](linger_atom) {
      // Empty for a while: ask the directory to forget this hub. It agrees
      // only if it forwarded no join since (its count equals ours).
      if (hub_viewers(self->state) != 0)
        return;
      self->request(directory, std::chrono::seconds{5}, idle_atom::value, self->state.stream_id, self->state.joins)
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

caf::behavior hub_directory(caf::stateful_actor<directory_state>* self, services* svc, std::chrono::milliseconds timeout,
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
    [self, svc, timeout, lanes](join_atom, std::uint64_t stream_id, const hub_join& j) {
      auto& hubs = self->state.hubs;
      auto it = hubs.find(stream_id);
      if (it == hubs.end()) {
        auto hub = self->spawn(stream_hub, stream_id, svc, timeout,
                               caf::actor_cast<caf::actor>(self), lanes);
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

// -- user channels ----------------------------------------------------------------------------

/// A user's personal events: its own group (outbid, auction won, order
/// status) and followed sellers going live.
caf::behavior user_relay(caf::event_based_actor* self, std::weak_ptr<ws_sink> sink, std::uint64_t user,
                         seller_actor sellers, std::chrono::milliseconds timeout) {
  auto follows = std::make_shared<std::unordered_set<std::uint64_t>>();
  auto& groups = self->home_system().groups();
  self->join(groups.get_local(user_group_name(user)));
  self->join(groups.get_local(seller_live_group_name()));
  auto send = [sink](std::string text) {
    if (auto s = sink.lock())
      s->push(std::make_shared<const ws_out>(ws_out{{}, std::move(text)}));
  };
  // Ready once the follows are known, so no go-live is missed after it.
  self->request(sellers, timeout, following_atom::value, user, std::uint64_t{0}, std::uint32_t{1'000})
    .then(
      [follows, send](const std::vector<seller>& list) {
        for (const auto& s : list)
          follows->insert(s.id);
        send("{\"type\":\"ready\"}");
      },
      [send](caf::error&) { send("{\"type\":\"ready\",\"follows\":false}"); });
  return {
    [send](push_atom, const std::string& json) { send(json); },
    [send, follows](start_atom, std::uint64_t seller_id, const stream_info& stream) {
      if (follows->count(seller_id) == 0)
        return;
      json::writer w;
      w.begin_object().field("type", "seller_live").key("stream").raw(encode_stream(stream, false)).end_object();
      send(w.take());
    },
    [follows](follow_atom, std::uint64_t seller_id, bool on) {
      if (on)
        follows->insert(seller_id);
      else
        follows->erase(seller_id);
    },
  };
}

std::string problem_reply(std::string_view ref, const problem& p, std::string_view path) {
  return encode_ws_reply(ref, info(p.code).status, render(p, path, ""));
}

} // namespace

// -- a connection -------------------------------------------------------------------------------

class ws_session : public ws_sink, public std::enable_shared_from_this<ws_session> {
public:
  enum class kind { viewer, user };

  ws_session(ws_runtime& rt, tcp::socket socket, std::size_t lane, kind k, std::uint64_t stream_id, std::uint64_t user,
             std::uint64_t session, std::int64_t token_expires_s, std::string client, std::string path)
    : rt_(rt), lane_(lane), client_(std::move(client)), ws_(std::move(socket)), hello_timer_(ws_.get_executor()), close_timer_(ws_.get_executor()), kind_(k),
      outbox_(rt.app.cfg.ws.outbox_max, std::chrono::milliseconds{rt.app.cfg.ws.behind_max_ms}), stream_id_(stream_id),
      user_(user), path_(std::move(path)), serial_(rt.next_serial.fetch_add(1)),
      tokens_(static_cast<double>(rt.app.cfg.ws.messages_burst)), refilled_(steady::now()) {
    rt_.open_.fetch_add(1);
    viewer_gauge().add(1);
    token_expires_s_ = token_expires_s;
    session_ = session;
  }

  ~ws_session() override {
    // A relay is a group member: it must not outlive its connection (and
    // would keep the actor system from shutting down).
    if (relay_)
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
    {
      std::lock_guard lock{rt_.sessions_mutex};
      if (auto it = rt_.per_client.find(client_); it != rt_.per_client.end() && --it->second == 0)
        rt_.per_client.erase(it);
    }
    rt_.open_.fetch_sub(1);
    viewer_gauge().add(-1);
  }

  /// Starts on the connection's own strand (its lane), where everything
  /// else about it runs.
  void run(bhttp::request<bhttp::string_body> req, std::list<std::weak_ptr<ws_session>>::iterator entry) {
    entry_ = entry;
    auto req_ptr = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(req));
    asio::dispatch(ws_.get_executor(), [self = shared_from_this(), req_ptr] { self->accept(req_ptr); });
  }

private:
  void accept(const std::shared_ptr<bhttp::request<bhttp::string_body>>& req_ptr) {
    if (closing_) {
      finish();
      return;
    }
    const auto& cfg = rt_.app.cfg;
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::milliseconds{cfg.http.read_timeout_ms};
    t.idle_timeout = std::chrono::milliseconds{cfg.ws.idle_timeout_ms};
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(bhttp::field::server, "livemart"); }));
    ws_.read_message_max(cfg.ws.message_bytes_max);
    accepting_ = true;
    ws_.async_accept(*req_ptr, [self = shared_from_this(), req_ptr](beast::error_code ec) { self->on_accept(ec); });
  }

public:

  void push(ws_out_ptr message) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)]() mutable {
      self->enqueue(std::move(message));
    });
  }

  std::size_t lane() const override { return lane_; }

  /// From a handler on this connection's lane strand (its own strand).
  /// With nothing queued, a framed message is sent at once, below Beast.
  void push_on_lane(const ws_out_ptr& message) override {
    if (!writing_ && outbox_.empty() && !closing_ && !accepting_ && ws_.is_open()
        && ws_.next_layer().try_send(message))
      return;
    enqueue(message);
  }

  void close_with(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->close_now(code, std::move(reason));
    });
  }

private:
  void on_accept(beast::error_code ec) {
    accepting_ = false;
    if (ec || closing_) {
      log_upgrade(rt_.app, path_, client_, ec ? 400 : 101, ec ? ec.message() : "closed before it began");
      finish();
      return;
    }
    log_upgrade(rt_.app, path_, client_, 101, "");
    opened_ = steady::now();
    if (user_ != 0) {
      join();
    } else {
      // The token comes in the first message ({"type":"hello","token":...}),
      // never in the URL. Anonymous viewers say hello without one.
      hello_timer_.expires_after(std::chrono::milliseconds{rt_.app.cfg.ws.hello_timeout_ms});
      hello_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e && !self->joined_)
          self->close_now(close_unauthorized, "no hello within ws.hello_timeout_ms");
      });
    }
    do_read();
  }

  void do_read() {
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      // Gone, or failed by Beast: no write may wait on this socket any
      // more (a peer that stopped reading would keep the connection). A
      // close of ours, under way, ends it itself within ws.close_timeout_ms.
      if (!closing_) {
        beast::error_code ignored;
        ws_.next_layer().socket().close(ignored);
        // For the access log: the peer closed, or the read failed (Beast
        // answers a message over ws.message_bytes_max with 1009 itself).
        if (ec == websocket::error::closed) {
          closed_by_ = "client";
          close_code_ = static_cast<std::uint16_t>(ws_.reason().code);
        } else {
          closed_by_ = "error";
          close_code_ = ec == websocket::error::message_too_big ? 1009 : 1006;
          close_reason_ = ec.message();
        }
      }
      finish();
      return;
    }
    auto text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    if (!closing_)
      handle(text);
    if (!closing_)
      do_read();
  }

  /// Token bucket: ws.messages_per_s sustained, ws.messages_burst at once.
  bool take_token() {
    const auto& cfg = rt_.app.cfg.ws;
    auto now = steady::now();
    tokens_ = std::min<double>(cfg.messages_burst, tokens_ + std::chrono::duration<double>(now - refilled_).count()
                                                               * cfg.messages_per_s);
    refilled_ = now;
    if (tokens_ < 1.0)
      return false;
    tokens_ -= 1.0;
    return true;
  }

  void reply(std::string text) { enqueue(std::make_shared<const ws_out>(ws_out{{}, std::move(text)})); }

  void handle(const std::string& text) {
    if (!take_token()) {
      // Each message over the rate is refused; more than ws.refusals_max
      // refusals within ws.refusal_window_ms close the connection, so a
      // client that keeps flooding at any rate is cut off.
      const auto& cfg = rt_.app.cfg.ws;
      auto now = steady::now();
      if (refusals_ == 0 || now - refusals_since_ > std::chrono::milliseconds{cfg.refusal_window_ms}) {
        refusals_since_ = now;
        refusals_ = 0;
      }
      if (++refusals_ > cfg.refusals_max) {
        close_now(close_rate_limited, "too many messages refused (ws.refusals_max within ws.refusal_window_ms)");
        return;
      }
      reply(problem_reply("", make_problem(errc::rate_limited, "too many messages (ws.messages_per_s)"), path_));
      return;
    }
    if (!ws_.got_text()) {
      reply(problem_reply("", make_problem(errc::bad_request, "send text messages (JSON)"), path_));
      return;
    }
    auto decoded = decode_ws_message(text, rt_.app.cfg);
    if (auto* p = std::get_if<problem>(&decoded)) {
      reply(problem_reply("", *p, path_));
      return;
    }
    auto msg = std::get<ws_client_message>(std::move(decoded));
    using k = ws_client_message::kind;
    if (!joined_ && msg.type != k::hello) {
      close_now(close_unauthorized, "say hello first");
      return;
    }
    if (user_ != 0 && token_expires_s_ != 0
        && std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()
             > token_expires_s_) {
      close_now(close_unauthorized, "the access token expired; connect again with a fresh one");
      return;
    }
    if (session_ended())
      return;
    switch (msg.type) {
      case k::hello: return hello(msg);
      case k::ping: return reply(encode_ws_reply(msg.ref, 200, "{\"type\":\"pong\"}"));
      case k::resync:
        if (in_hub_)
          caf::anon_send(rt_.hubs, snapshot_atom::value, stream_id_, hub_join{serial_, weak_from_this(), user_, lane_});
        return;
      case k::bid: return bid(msg);
      case k::buy: return buy(msg);
    }
  }

  void hello(const ws_client_message& msg) {
    if (joined_ || hello_seen_) {
      reply(problem_reply(msg.ref, make_problem(errc::conflict, "hello was said already"), path_));
      return;
    }
    hello_seen_ = true;
    hello_timer_.cancel();
    if (!msg.token.empty()) {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      auto verified = jwt::verify(rt_.app.tokens, msg.token, now);
      if (std::holds_alternative<std::string>(verified)) {
        close_now(close_unauthorized, "the access token is invalid or expired");
        return;
      }
      user_ = std::get<jwt::claims>(verified).user_id;
      session_ = std::get<jwt::claims>(verified).session_id;
      token_expires_s_ = std::get<jwt::claims>(verified).expires_at_s + static_cast<std::int64_t>(rt_.app.tokens.clock_skew_s);
      if (session_ended())
        return;
    }
    if (kind_ == kind::user && user_ == 0) {
      close_now(close_unauthorized, "a user channel needs an access token");
      return;
    }
    join();
  }

  /// Joins the stream's hub (after checking the stream exists and allows
  /// this viewer), or starts the user channel's relay.
  void join() {
    joined_ = true;
    if (kind_ == kind::user) {
      relay_ = rt_.app.system.spawn(user_relay, std::weak_ptr<ws_sink>{weak_from_this()}, user_, rt_.app.svc.sellers,
                                    std::chrono::milliseconds{rt_.app.cfg.actors.step_timeout_ms});
      return;
    }
    call_stream<stream_info>(
      [self = shared_from_this()](const stream_info* s, const caf::error* err) {
        if (self->closing_ || self->finished_)
          return;
        if (err != nullptr || s == nullptr) {
          self->close_now(close_not_found, "no such stream");
          return;
        }
        if (!s->allow_anonymous && self->user_ == 0) {
          self->close_now(close_unauthorized, "this stream is for signed-in viewers");
          return;
        }
        caf::anon_send(self->rt_.hubs, join_atom::value, self->stream_id_,
                       hub_join{self->serial_, self->weak_from_this(), self->user_, self->lane_});
        self->in_hub_ = true;
      },
      get_atom::value);
  }

  void bid(const ws_client_message& msg) {
    if (user_ == 0) {
      reply(problem_reply(msg.ref, make_problem(errc::unauthenticated, "sign in to bid"), path_));
      return;
    }
    call_stream<stream_auction>(
      [self = shared_from_this(), ref = msg.ref](const stream_auction* a, const caf::error* err) {
        if (err != nullptr)
          self->reply(problem_reply(ref, to_problem_with_fields(*err), self->path_));
        else
          self->reply(encode_ws_reply(ref, 201, encode_auction(*a)));
      },
      bid_atom::value, user_, msg.auction_id, msg.amount_minor);
  }

  void buy(const ws_client_message& msg) {
    if (user_ == 0) {
      reply(problem_reply(msg.ref, make_problem(errc::unauthenticated, "sign in to buy"), path_));
      return;
    }
    auto request = drop_buy_request(msg.address_id, msg.quantity);
    auto hash = purchase_fingerprint(request, msg.drop_id);
    call_stream<stored_reply>(
      [self = shared_from_this(), ref = msg.ref](const stored_reply* r, const caf::error* err) {
        if (err != nullptr)
          self->reply(problem_reply(ref, to_problem_with_fields(*err), self->path_));
        else
          self->reply(encode_ws_reply(ref, r->status, r->body));
      },
      buy_atom::value, msg.drop_id, user_, msg.key, hash, path_, std::string{}, std::move(request));
  }

  /// Asks the stream's actor from a bridge actor; `done(reply, error)` runs
  /// on this connection's strand.
  template <class Reply, class Done, class... Args>
  void call_stream(Done done, Args... args) {
    auto self = shared_from_this();
    auto registry = rt_.app.svc.streams.route(stream_id_);
    auto id = stream_id_;
    auto timeout = std::chrono::milliseconds{rt_.app.cfg.http.request_timeout_ms};
    auto on_strand = [self, done](std::optional<Reply> reply, std::optional<caf::error> err) {
      asio::post(self->ws_.get_executor(), [done, reply = std::move(reply), err = std::move(err)]() mutable {
        done(reply ? &*reply : nullptr, err ? &*err : nullptr);
      });
    };
    bridge_task task{[registry, id, timeout, on_strand, args...](caf::event_based_actor* bridge) {
      bridge->request(registry, timeout, id, args...)
        .then([on_strand](const Reply& r) { on_strand(r, std::nullopt); },
              [on_strand](caf::error& e) { on_strand(std::nullopt, e); });
    }};
    caf::anon_send(rt_.app.bridge(), run_atom::value, std::move(task));
  }

  // -- the outbox -----------------------------------------------------------------------------

  void enqueue(ws_out_ptr message) {
    if (closing_)
      return;
    switch (outbox_.push(std::move(message), steady::now())) {
      case ws_outbox::result::behind:
        slow_closes().add();
        close_now(close_too_slow, "too slow: messages waited over ws.behind_max_ms");
        return;
      case ws_outbox::result::overflow:
        slow_closes().add();
        close_now(close_too_slow, "too slow: more than ws.outbox_max messages waiting");
        return;
      case ws_outbox::result::replaced:
        return;
      case ws_outbox::result::queued:
        break;
    }
    if (!writing_)
      write_next();
  }

  void write_next() {
    if (outbox_.empty() || closing_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    ws_.text(true);
    auto message = outbox_.start_writing();
    ws_.async_write(asio::buffer(message->text),
                    [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                      if (ec) {
                        self->writing_ = false;
                        self->finish();
                        return;
                      }
                      if (self->closing_) {
                        self->writing_ = false;
                        return;
                      }
                      self->outbox_.done_writing();
                      self->write_next();
                    });
  }

  void close_now(std::uint16_t code, std::string reason) {
    if (closing_)
      return;
    closing_ = true;
    closed_by_ = "server";
    close_code_ = code;
    close_reason_ = reason;
    if (accepting_ || !ws_.is_open()) {
      // Not a WebSocket yet (or any more): no close frame to send.
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
      leave();
      return;
    }
    hello_timer_.cancel();
    outbox_.clear();
    leave();
    // A peer that does not read may never take the close frame: the
    // socket closes after ws.close_timeout_ms anyway.
    close_timer_.expires_after(std::chrono::milliseconds{rt_.app.cfg.ws.close_timeout_ms});
    close_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().close(ignored);
      }
    });
    // Beast lets a close wait for a write in flight (one read, one write
    // and one control operation may be outstanding at once).
    ws_.async_close(websocket::close_reason{static_cast<websocket::close_code>(code), reason},
                    [self = shared_from_this()](beast::error_code) {
                      self->close_timer_.cancel();
                      self->finish();
                    });
  }

  /// Leaves the hub or stops the relay; idempotent.
  void leave() {
    if (in_hub_) {
      in_hub_ = false;
      caf::anon_send(rt_.hubs, leave_atom::value, stream_id_, serial_);
    }
    if (relay_) {
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
      relay_ = nullptr;
    }
  }

  void finish() {
    if (finished_)
      return;
    finished_ = true;
    log_close();
    hello_timer_.cancel();
    leave();
    std::lock_guard lock{rt_.sessions_mutex};
    rt_.sessions.erase(entry_);
  }

  /// One access-log line when an accepted connection ends: who closed it,
  /// with which code and why.
  void log_close() {
    if (!rt_.app.cfg.http.access_log || opened_ == steady::time_point{})
      return;
    json::writer w;
    w.begin_object()
      .field("ts", log::timestamp())
      .field("level", "info")
      .field("msg", "websocket closed")
      .field("path", path_)
      .field("client", client_)
      .field("closed_by", closed_by_)
      .field("code", static_cast<std::int64_t>(close_code_))
      .field("duration_ms", std::chrono::duration<double, std::milli>(steady::now() - opened_).count());
    if (!close_reason_.empty())
      w.field("reason", close_reason_);
    log::line(w.end_object().take());
  }

  /// Closes the connection (4401) when its user's session has ended
  /// (logout, a password change, a suspension); true when it did.
  bool session_ended() {
    if (user_ == 0 || !rt_.app.svc.revocations->revoked(user_, session_))
      return false;
    close_now(close_unauthorized, "the session has ended; log in again");
    return true;
  }

public:
  /// The list of ended sessions changed: look again at this one's.
  void recheck_session() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      if (!self->closing_)
        self->session_ended();
    });
  }

  /// Shutdown: 1001 going away.
  void going_away() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->close_now(1001, "the server is shutting down"); });
  }

private:
  ws_runtime& rt_;
  std::size_t lane_;
  std::string client_; ///< the client's address (its connections are counted)
  websocket::stream<ws_socket> ws_;
  beast::flat_buffer in_;
  asio::steady_timer hello_timer_;
  asio::steady_timer close_timer_;
  kind kind_;
  ws_outbox outbox_;
  std::uint64_t stream_id_;
  std::uint64_t user_;
  std::string path_;
  std::uint64_t serial_;
  caf::actor relay_;
  double tokens_;
  steady::time_point refilled_;
  steady::time_point opened_{};         ///< when the upgrade completed (for the access log)
  const char* closed_by_ = "client";    ///< server, client or error (a failed read)
  std::uint16_t close_code_ = 0;        ///< the close code sent or received
  std::string close_reason_;
  std::uint32_t refusals_ = 0;           ///< messages refused for rate since refusals_since_
  steady::time_point refusals_since_{};
  std::int64_t token_expires_s_ = 0; ///< seconds since the epoch; 0: anonymous
  std::uint64_t session_ = 0;        ///< the access token's session (login)
  std::list<std::weak_ptr<ws_session>>::iterator entry_;
  bool writing_ = false;
  bool accepting_ = false;
  bool joined_ = false;
  bool hello_seen_ = false;
  bool in_hub_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

// -- the runtime ----------------------------------------------------------------------------------

ws_runtime::ws_runtime(app_context& a, std::atomic<bool>& d, asio::io_context& ioc)
  : app(a), draining(d), session_timer_(std::in_place, ioc) {
  for (std::size_t i = 0; i < std::max<std::size_t>(2, 2 * app.cfg.http.threads); ++i)
    lanes.push_back(asio::make_strand(ioc));
  hubs = app.system.spawn(hub_directory, &app.svc, std::chrono::milliseconds{app.cfg.actors.step_timeout_ms}, lanes);
  watch_sessions();
}

/// A connection holds its token for hours: when the list of ended sessions
/// changes, every connection of a user looks again at its session, so a
/// logout closes the user's sockets too (within a tenth of a second).
void ws_runtime::watch_sessions() {
  session_timer_->expires_after(std::chrono::milliseconds{100});
  session_timer_->async_wait([this](beast::error_code ec) {
    if (ec || draining.load())
      return;
    auto version = app.svc.revocations->version();
    if (version != sessions_seen_) {
      sessions_seen_ = version;
      std::vector<std::shared_ptr<ws_session>> live;
      {
        std::lock_guard lock{sessions_mutex};
        for (auto& w : sessions)
          if (auto s = w.lock())
            live.push_back(std::move(s));
      }
      for (auto& s : live)
        s->recheck_session();
    }
    watch_sessions();
  });
}

ws_runtime::~ws_runtime() = default;

void ws_runtime::stop() {
  if (!hubs)
    return;
  // Hubs post to the lanes: they must be gone before the io_context is.
  caf::scoped_actor self{app.system};
  std::vector<caf::actor> all;
  self->request(hubs, std::chrono::seconds{5}, get_atom::value)
    .receive([&](std::vector<caf::actor>& list) { all = std::move(list); }, [](caf::error&) {});
  all.push_back(hubs);
  for (auto& a : all) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  for (std::size_t n = 0; n < all.size(); ++n)
    self->receive([](caf::down_msg&) {});
  hubs = nullptr;
  // Strands and timers must not outlive their io_context (this runtime
  // does: the connections it destroys refer to it).
  lanes.clear();
  session_timer_.reset();
}

void ws_runtime::close_all() {
  asio::post(session_timer_->get_executor(), [this] { session_timer_->cancel(); });
  std::vector<std::shared_ptr<ws_session>> live;
  {
    std::lock_guard lock{sessions_mutex};
    for (auto& w : sessions)
      if (auto s = w.lock())
        live.push_back(std::move(s));
  }
  for (auto& s : live)
    s->going_away();
}

namespace {

/// One access-log line for an upgrade: accepted (101) or refused.
void log_upgrade(const app_context& app, std::string_view path, std::string_view client, int status,
                 std::string_view detail) {
  if (!app.cfg.http.access_log)
    return;
  json::writer w;
  w.begin_object()
    .field("ts", log::timestamp())
    .field("level", "info")
    .field("msg", "websocket upgrade")
    .field("path", path)
    .field("status", status)
    .field("client", client);
  if (!detail.empty())
    w.field("detail", detail);
  log::line(w.end_object().take());
}

/// Answers a refused upgrade with a problem and closes. A 429 or 503 says
/// when to come back, as every other one does.
void refuse(const app_context& app, tcp::socket socket, const bhttp::request<bhttp::string_body>& req,
            std::string_view client, errc code, std::string detail) {
  std::string path{req.target().substr(0, req.target().find('?'))};
  auto status = info(code).status;
  log_upgrade(app, path, client, status, detail);
  auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(status), req.version());
  res->set(bhttp::field::server, "livemart");
  res->set(bhttp::field::content_type, "application/problem+json");
  if (status == 429 || status == 503)
    res->set(bhttp::field::retry_after, std::to_string(app.cfg.database.retry_after_s));
  res->body() = render(make_problem(code, std::move(detail)), path, "");
  res->keep_alive(false);
  res->prepare_payload();
  stream->expires_after(std::chrono::milliseconds{app.cfg.http.write_timeout_ms});
  bhttp::async_write(*stream, *res, [stream, res](beast::error_code, std::size_t) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

/// The same origin (Origin's host is the Host header) or one configured.
bool origin_allowed(std::string_view origin, std::string_view host, std::string_view allowed) {
  if (origin.empty())
    return true; // not a browser: Origin protects browsers' users from other sites
  for (std::string_view scheme : {"http://", "https://"})
    if (origin.size() == scheme.size() + host.size() && origin.substr(0, scheme.size()) == scheme
        && origin.substr(scheme.size()) == host)
      return true;
  while (!allowed.empty()) {
    auto comma = allowed.find(',');
    auto entry = allowed.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ')
      entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ')
      entry.remove_suffix(1);
    if (!entry.empty() && entry == origin)
      return true;
    allowed = comma == std::string_view::npos ? std::string_view{} : allowed.substr(comma + 1);
  }
  return false;
}

} // namespace

void ws_runtime::accept(tcp::socket socket, bhttp::request<bhttp::string_body> req, std::string client) {
  std::string path{req.target().substr(0, req.target().find('?'))};
  if (draining.load()) {
    refuse(app, std::move(socket), req, client, errc::shutting_down, "the server is shutting down");
    return;
  }
  if (req.method() != bhttp::verb::get) {
    refuse(app, std::move(socket), req, client, errc::method_not_allowed, "a WebSocket upgrade is a GET");
    return;
  }
  if (req.count(bhttp::field::sec_websocket_key) != 1 || !valid_websocket_key(view(req[bhttp::field::sec_websocket_key]))) {
    refuse(app, std::move(socket), req, client, errc::bad_request,
           "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 section 4.2.1)");
    return;
  }
  ws_session::kind kind = ws_session::kind::viewer;
  std::uint64_t stream_id = 0;
  // The endpoints as websocket_endpoints names them (and `livemart routes`
  // prints): "/streams/:id/ws" around its id, "/users/me/ws" as it is.
  constexpr std::string_view stream_endpoint = websocket_endpoints[0];
  constexpr std::string_view prefix = stream_endpoint.substr(0, stream_endpoint.find(":id"));
  constexpr std::string_view suffix = stream_endpoint.substr(stream_endpoint.find(":id") + 3);
  if (path == websocket_endpoints[1]) {
    kind = ws_session::kind::user;
  } else if (path.size() > prefix.size() + suffix.size() && path.compare(0, prefix.size(), prefix) == 0
             && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    auto id = ids::parse(std::string_view{path}.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
    if (!id) {
      refuse(app, std::move(socket), req, client, errc::not_found, "no such stream");
      return;
    }
    stream_id = *id;
  } else {
    refuse(app, std::move(socket), req, client, errc::not_found, "no WebSocket endpoint at " + path);
    return;
  }
  auto origin = view(req[bhttp::field::origin]);
  if (!origin_allowed(origin, view(req[bhttp::field::host]), app.cfg.ws.allowed_origins)) {
    refuse(app, std::move(socket), req, client, errc::forbidden, "this Origin may not open a WebSocket here (ws.allowed_origins)");
    return;
  }
  std::uint64_t user = 0;
  std::uint64_t session = 0;
  std::int64_t token_expires_s = 0;
  auto authorization = view(req[bhttp::field::authorization]);
  if (!authorization.empty()) {
    constexpr std::string_view scheme = "Bearer ";
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto verified = authorization.substr(0, scheme.size()) == scheme
                      ? jwt::verify(app.tokens, authorization.substr(scheme.size()), now)
                      : std::variant<jwt::claims, std::string>{std::string{"not a bearer token"}};
    if (std::holds_alternative<std::string>(verified)) {
      refuse(app, std::move(socket), req, client, errc::unauthenticated, "the access token is invalid or expired");
      return;
    }
    user = std::get<jwt::claims>(verified).user_id;
    session = std::get<jwt::claims>(verified).session_id;
    token_expires_s = std::get<jwt::claims>(verified).expires_at_s + static_cast<std::int64_t>(app.tokens.clock_skew_s);
    if (app.svc.revocations->revoked(user, session)) {
      refuse(app, std::move(socket), req, client, errc::unauthenticated, "the session has ended; log in again");
      return;
    }
  }
  if (open_.load() >= app.cfg.ws.connections_max) {
    refuse(app, std::move(socket), req, client, errc::overloaded, "too many WebSocket connections (ws.connections_max)");
    return;
  }
  {
    std::lock_guard lock{sessions_mutex};
    auto& mine = per_client[client];
    if (mine >= app.cfg.ws.connections_per_client_max) {
      if (mine == 0)
        per_client.erase(client);
      refuse(app, std::move(socket), req, client, errc::rate_limited, "too many WebSocket connections from this client (ws.connections_per_client_max)");
      return;
    }
    ++mine;
  }
  // The connection moves to its lane's strand.
  auto lane = next_serial.load() % lanes.size();
  beast::error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  tcp::socket on_lane{lanes[lane], protocol, socket.release(ec)};
  if (ec) {
    std::lock_guard lock{sessions_mutex};
    if (--per_client[client] == 0)
      per_client.erase(client);
    return;
  }
  // Pushes are small and must leave at once, not wait for an ACK (Nagle).
  on_lane.set_option(tcp::no_delay(true), ec);
  if (app.cfg.ws.send_buffer_bytes != 0) {
    on_lane.set_option(asio::socket_base::send_buffer_size(static_cast<int>(app.cfg.ws.send_buffer_bytes)), ec);
    if (ec)
      log::warn("ws.send_buffer_bytes not applied: " + ec.message());
  }
  auto connection = std::make_shared<ws_session>(*this, std::move(on_lane), lane, kind, stream_id, user, session,
                                                 token_expires_s, client, path);
  std::list<std::weak_ptr<ws_session>>::iterator entry;
  {
    std::lock_guard lock{sessions_mutex};
    entry = sessions.insert(sessions.end(), connection);
  }
  connection->run(std::move(req), entry);
}

} // namespace livemart::http
