#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "ws_session.hpp"

#include <unordered_set>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>
#include <protocol/streams.hpp>
#include <protocol/clock.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/wire/problem.hpp>
#include <protocol/wire/streams.hpp>

namespace livemart::http {

namespace {

metrics::gauge& viewer_gauge() {
  static auto& g = metrics::registry::global().make_gauge("livemart_ws_connections", "Open WebSocket connections");
  return g;
}

metrics::counter& slow_closes() {
  static auto& c = metrics::registry::global().make_counter("livemart_ws_slow_closes_total",
                                                            "WebSocket connections closed for falling behind");
  return c;
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

ws_session::ws_session(ws_runtime& rt, tcp::socket socket, std::size_t lane, kind k, std::uint64_t stream_id,
                       std::uint64_t user, std::uint64_t session, std::int64_t token_expires_s, std::string client,
                       std::string path)
  : rt_(rt), lane_(lane), client_(std::move(client)), ws_(std::move(socket)), hello_timer_(ws_.get_executor()), close_timer_(ws_.get_executor()), kind_(k),
    outbox_(rt.app.cfg.ws.outbox_max, std::chrono::milliseconds{rt.app.cfg.ws.behind_max_ms}), stream_id_(stream_id),
    user_(user), path_(std::move(path)), serial_(rt.next_serial.fetch_add(1)),
    tokens_(static_cast<double>(rt.app.cfg.ws.messages_burst)), refilled_(steady::now()) {
  rt_.open_.fetch_add(1);
  viewer_gauge().add(1);
  token_expires_s_ = token_expires_s;
  session_ = session;
}

ws_session::~ws_session() {
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

void ws_session::run(bhttp::request<bhttp::string_body> req, std::list<std::weak_ptr<ws_session>>::iterator entry) {
  entry_ = entry;
  auto req_ptr = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(req));
  asio::dispatch(ws_.get_executor(), [self = shared_from_this(), req_ptr] { self->accept(req_ptr); });
}

void ws_session::accept(const std::shared_ptr<bhttp::request<bhttp::string_body>>& req_ptr) {
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

void ws_session::push(ws_out_ptr message) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)]() mutable {
    self->enqueue(std::move(message));
  });
}

void ws_session::push_on_lane(const ws_out_ptr& message) {
  if (!writing_ && outbox_.empty() && !closing_ && !accepting_ && ws_.is_open()
      && ws_.next_layer().try_send(message))
    return;
  enqueue(message);
}

void ws_session::close_with(std::uint16_t code, std::string reason) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->close_now(code, std::move(reason));
  });
}

void ws_session::on_accept(beast::error_code ec) {
  accepting_ = false;
  if (ec || closing_) {
    ws::log_upgrade(rt_.app, path_, client_, ec ? 400 : 101, ec ? ec.message() : "closed before it began");
    finish();
    return;
  }
  ws::log_upgrade(rt_.app, path_, client_, 101, "");
  opened_ = steady::now();
  if (user_ != 0) {
    join();
  } else {
    // The token comes in the first message ({"type":"hello","token":...}),
    // never in the URL. Anonymous viewers say hello without one.
    hello_timer_.expires_after(std::chrono::milliseconds{rt_.app.cfg.ws.hello_timeout_ms});
    hello_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && !self->joined_)
        self->close_now(ws::close_unauthorized, "no hello within ws.hello_timeout_ms");
    });
  }
  do_read();
}

void ws_session::do_read() {
  ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void ws_session::on_read(beast::error_code ec) {
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

bool ws_session::take_token() {
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

void ws_session::handle(const std::string& text) {
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
      close_now(ws::close_rate_limited, "too many messages refused (ws.refusals_max within ws.refusal_window_ms)");
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
    close_now(ws::close_unauthorized, "say hello first");
    return;
  }
  if (user_ != 0 && token_expires_s_ != 0
      && wall_clock::now_s()
           > token_expires_s_) {
    close_now(ws::close_unauthorized, "the access token expired; connect again with a fresh one");
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

void ws_session::hello(const ws_client_message& msg) {
  if (joined_ || hello_seen_) {
    reply(problem_reply(msg.ref, make_problem(errc::conflict, "hello was said already"), path_));
    return;
  }
  hello_seen_ = true;
  hello_timer_.cancel();
  if (!msg.token.empty()) {
    auto now = wall_clock::now_s();
    auto verified = jwt::verify(rt_.app.tokens, msg.token, now);
    if (std::holds_alternative<std::string>(verified)) {
      close_now(ws::close_unauthorized, "the access token is invalid or expired");
      return;
    }
    user_ = std::get<jwt::claims>(verified).user_id;
    session_ = std::get<jwt::claims>(verified).session_id;
    token_expires_s_ = std::get<jwt::claims>(verified).expires_at_s + static_cast<std::int64_t>(rt_.app.tokens.clock_skew_s);
    if (session_ended())
      return;
  }
  if (kind_ == kind::user && user_ == 0) {
    close_now(ws::close_unauthorized, "a user channel needs an access token");
    return;
  }
  join();
}

void ws_session::join() {
  joined_ = true;
  if (kind_ == kind::user) {
    relay_ = rt_.app.system.spawn(user_relay, std::weak_ptr<ws_sink>{weak_from_this()}, user_, rt_.app.svc.sellers,
                                  std::chrono::milliseconds{rt_.app.cfg.actors.step_timeout_ms});
    return;
  }
  call_stream<stream_info>(
    budget::request,
    [self = shared_from_this()](const stream_info* s, const caf::error* err) {
      if (self->closing_ || self->finished_)
        return;
      if (err != nullptr || s == nullptr) {
        self->close_now(ws::close_not_found, "no such stream");
        return;
      }
      if (!s->allow_anonymous && self->user_ == 0) {
        self->close_now(ws::close_unauthorized, "this stream is for signed-in viewers");
        return;
      }
      caf::anon_send(self->rt_.hubs, join_atom::value, self->stream_id_,
                     hub_join{self->serial_, self->weak_from_this(), self->user_, self->lane_});
      self->in_hub_ = true;
    },
    get_atom::value);
}

void ws_session::bid(const ws_client_message& msg) {
  if (user_ == 0) {
    reply(problem_reply(msg.ref, make_problem(errc::unauthenticated, "sign in to bid"), path_));
    return;
  }
  call_stream<stream_auction>(
    budget::request,
    [self = shared_from_this(), ref = msg.ref](const stream_auction* a, const caf::error* err) {
      if (err != nullptr)
        self->reply(problem_reply(ref, to_problem_with_fields(*err), self->path_));
      else
        self->reply(encode_ws_reply(ref, 201, encode_auction(*a)));
    },
    bid_atom::value, user_, msg.auction_id, msg.amount_minor);
}

void ws_session::buy(const ws_client_message& msg) {
  if (user_ == 0) {
    reply(problem_reply(msg.ref, make_problem(errc::unauthenticated, "sign in to buy"), path_));
    return;
  }
  auto request = drop_buy_request(msg.address_id, msg.quantity);
  purchase_key purchase{user_, msg.key, purchase_fingerprint(request, msg.drop_id), {path_, {}}};
  call_stream<purchase_outcome>(
    budget::order_change, // the stream places the order through the order service
    [self = shared_from_this(), ref = msg.ref](const purchase_outcome* outcome, const caf::error* err) {
      if (err != nullptr) {
        self->reply(problem_reply(ref, to_problem_with_fields(*err), self->path_));
      } else {
        auto r = render_outcome(*outcome);
        self->reply(encode_ws_reply(ref, r.status, r.body));
      }
    },
    buy_atom::value, msg.drop_id, std::move(purchase), std::move(request));
}

template <class Reply, class Done, class... Args>
void ws_session::call_stream(budget time, Done done, Args... args) {
  auto self = shared_from_this();
  auto registry = rt_.app.svc.streams.route(stream_id_);
  auto id = stream_id_;
  auto timeout = budget_of(rt_.app.cfg, time);
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

void ws_session::enqueue(ws_out_ptr message) {
  if (closing_)
    return;
  switch (outbox_.push(std::move(message), steady::now())) {
    case ws_outbox::result::behind:
      slow_closes().add();
      close_now(ws::close_too_slow, "too slow: messages waited over ws.behind_max_ms");
      return;
    case ws_outbox::result::overflow:
      slow_closes().add();
      close_now(ws::close_too_slow, "too slow: more than ws.outbox_max messages waiting");
      return;
    case ws_outbox::result::replaced:
      return;
    case ws_outbox::result::queued:
      break;
  }
  if (!writing_)
    write_next();
}

void ws_session::write_next() {
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

void ws_session::close_now(std::uint16_t code, std::string reason) {
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

void ws_session::leave() {
  if (in_hub_) {
    in_hub_ = false;
    caf::anon_send(rt_.hubs, leave_atom::value, stream_id_, serial_);
  }
  if (relay_) {
    caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
    relay_ = nullptr;
  }
}

void ws_session::finish() {
  if (finished_)
    return;
  finished_ = true;
  log_close();
  hello_timer_.cancel();
  leave();
  std::lock_guard lock{rt_.sessions_mutex};
  rt_.sessions.erase(entry_);
}

void ws_session::log_close() {
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

bool ws_session::session_ended() {
  if (user_ == 0 || !rt_.app.svc.revocations->revoked(user_, session_))
    return false;
  close_now(ws::close_unauthorized, "the session has ended; log in again");
  return true;
}

void ws_session::recheck_session() {
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    if (!self->closing_)
      self->session_ended();
  });
}

void ws_session::going_away() {
  asio::post(ws_.get_executor(), [self = shared_from_this()] { self->close_now(1001, "the server is shutting down"); });
}

} // namespace livemart::http
