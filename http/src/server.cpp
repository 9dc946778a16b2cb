#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <http/server.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <http/framing.hpp>
#include <protocol/crypto.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>

#include "context.hpp"
#include "websocket.hpp"

namespace livemart::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

/// How long after the request budget the session answers by itself.
constexpr std::uint32_t backstop_margin_ms = 1000;

/// Per-route request counters by status and a latency histogram.
class route_metrics {
public:
  explicit route_metrics(std::string route)
    : route_(std::move(route)),
      latency_(metrics::registry::global().make_histogram("livemart_http_request_seconds", "Request latency",
                                                           metrics::latency_buckets_s(),
                                                           "route=\"" + route_ + "\"")) {
    for (auto& c : by_status_)
      c.store(nullptr);
  }

  void observe(int status, double seconds) {
    latency_.observe(seconds);
    if (status < 100 || status > 599)
      status = 599;
    auto& slot = by_status_[static_cast<std::size_t>(status)];
    auto* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) {
      std::lock_guard lock{create_};
      c = slot.load(std::memory_order_acquire);
      if (c == nullptr) {
        c = &metrics::registry::global().make_counter(
          "livemart_http_requests_total", "Requests by route and status",
          "route=\"" + route_ + "\",status=\"" + std::to_string(status) + "\"");
        slot.store(c, std::memory_order_release);
      }
    }
    c->add();
  }

private:
  std::string route_;
  metrics::histogram& latency_;
  std::array<std::atomic<metrics::counter*>, 600> by_status_;
  std::mutex create_; // taken once per (route, status), never on the hot path after that
};

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

/// The unit a client controls: an IPv4 address, or an IPv6 /64 (one
/// subscriber usually holds a whole /64, so single v6 addresses are free).
std::string network_of(const std::string& address) {
  beast::error_code ec;
  auto parsed = asio::ip::make_address(address, ec);
  if (ec || !parsed.is_v6() || parsed.to_v6().is_v4_mapped())
    return address;
  auto bytes = parsed.to_v6().to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i)
    bytes[i] = 0;
  return asio::ip::address_v6{bytes}.to_string() + "/64";
}

/// The client's address: the peer, or with http.trust_forwarded_for the
/// last entry of X-Forwarded-For (our proxy appends the address it saw;
/// entries to its left came from the client and prove nothing).
std::string client_address(const std::string& peer, std::string_view forwarded, bool trust_forwarded) {
  if (!trust_forwarded)
    return peer;
  auto comma = forwarded.rfind(',');
  auto last = forwarded.substr(comma == std::string_view::npos ? 0 : comma + 1);
  while (!last.empty() && last.front() == ' ')
    last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ')
    last.remove_suffix(1);
  beast::error_code ec;
  auto parsed = asio::ip::make_address(std::string{last}, ec);
  return !last.empty() && !ec ? parsed.to_string() : peer;
}

std::string new_request_id() {
  return crypto::to_hex(crypto::random_bytes(8));
}

/// Every handler's route, in the order the router tries them.
void add_all_routes(router& r) {
  add_ops_routes(r);
  add_auth_routes(r);
  add_user_routes(r);
  add_seller_routes(r);
  add_catalog_routes(r);
  add_product_routes(r);
  add_order_routes(r);
  add_stream_routes(r);
}

} // namespace

class session;

struct server::impl {
  impl(caf::actor_system& sys, const conf::settings& c, jwt::config tokens, services& svc)
    : cfg(c), app{sys, c, std::move(tokens), svc, {}, {0}, {false}},
      in_flight(metrics::registry::global().make_gauge("livemart_http_in_flight_requests", "Requests being handled")),
      connections(metrics::registry::global().make_gauge("livemart_http_open_connections", "Open connections")),
      ioc(static_cast<int>(std::max<std::size_t>(1, c.http.threads))), acceptor(asio::make_strand(ioc)),
      signals(ioc, SIGINT, SIGTERM) {
    add_all_routes(routes);
    for (const auto& r : routes.routes())
      per_route.push_back(std::make_unique<route_metrics>(r->method + " " + r->pattern));
    unmatched = std::make_unique<route_metrics>("unmatched");
    // A few bridge actors per scheduler thread spread reply handling.
    for (std::size_t i = 0; i < std::max<std::size_t>(2, c.actors.scheduler_threads * 2); ++i)
      app.bridges.push_back(sys.spawn(bridge_actor, i));
    ws = std::make_unique<ws_runtime>(app, app.draining, ioc);
  }

  /// Ends the bridges and waits until they are gone: a bridge may hold the
  /// last reference to a session (in a pending reply), and a session must
  /// not outlive the state below or the io_context.
  void stop_bridges() {
    // Blocking is fine here: this runs on the thread that owns the server,
    // after the I/O threads have been joined, never on an Asio or CAF thread.
    ws->stop();
    caf::scoped_actor self{app.system};
    for (auto& b : app.bridges) {
      self->monitor(b);
      caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
    }
    for (std::size_t n = 0; n < app.bridges.size(); ++n)
      self->receive([](caf::down_msg&) {});
    app.bridges.clear();
  }

  void do_accept();
  void begin_drain();
  void check_drained();
  void close_all_sessions();
  std::vector<std::shared_ptr<session>> live_sessions();
  void ignore_further_signals() {
    signals.async_wait([this](beast::error_code ec, int) {
      if (!ec)
        ignore_further_signals();
    });
  }

  // Declared first, destroyed last: sessions use all of these until the
  // io_context below has destroyed the last of them.
  const conf::settings& cfg;
  router routes;
  app_context app;
  std::vector<std::unique_ptr<route_metrics>> per_route;
  std::unique_ptr<ws_runtime> ws; ///< WebSocket connections (viewers, user channels)
  std::unique_ptr<route_metrics> unmatched;
  metrics::gauge& in_flight;
  metrics::gauge& connections;
  std::mutex sessions_mutex; // guards `sessions`; taken at connect, disconnect and shutdown only
  std::list<std::weak_ptr<session>> sessions;
  std::atomic<std::size_t> open_sessions{0};
  std::once_flag drain_once;
  clock::time_point drain_deadline;
  bool forced_close = false;
  std::vector<std::thread> threads;

  // Destroyed first: destroying the io_context destroys pending handlers,
  // and with them any session they still hold.
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::unique_ptr<asio::steady_timer> drain_timer;
};

/// One HTTP/1.1 connection, in the manner of Beast's advanced server: all of
/// its handlers run on its strand; a reply from the actors is posted there.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, server::impl& srv)
    : stream_(std::move(socket)), backstop_(stream_.get_executor()), srv_(srv) {
    srv_.open_sessions.fetch_add(1);
    srv_.connections.add(1);
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? std::string{"unknown"} : endpoint.address().to_string();
  }

  ~session() {
    {
      std::lock_guard lock{srv_.sessions_mutex};
      srv_.sessions.erase(self_entry_);
    }
    srv_.connections.add(-1);
    srv_.open_sessions.fetch_sub(1);
  }

  void run(std::list<std::weak_ptr<session>>::iterator entry) {
    self_entry_ = entry;
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  /// Called when the drain times out: close now, whatever is in flight.
  void force_close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->close_after_reply_ = true;
      self->close();
    });
  }

  /// Called on shutdown: idle connections close now, busy ones after their reply.
  void drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->close_after_reply_ = true;
      if (!self->busy_)
        self->close();
    });
  }

private:
  void do_read() {
    if (srv_.app.draining.load()) {
      close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_.cfg.http.header_bytes_max));
    parser_->body_limit(srv_.cfg.http.body_bytes_max);
    parser_->on_chunk_header(chunk_header_);
    // Every byte held for the connection is bounded: while a header
    // arrives, the buffer holds at most its limit (Beast answers
    // header_limit first). Bytes already buffered are the next pipelined
    // request's, bounded when they were read.
    buffer_.max_size(std::max(srv_.cfg.http.header_bytes_max, buffer_.size()));
    chunk_line_too_long_ = false;
    auto wait = requests_ == 0 ? srv_.cfg.http.read_timeout_ms : srv_.cfg.http.idle_timeout_ms;
    stream_.expires_after(std::chrono::milliseconds{wait});
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    started_ = clock::now();
    busy_ = true;
    if (auto refusal = check_framing(parser_->get())) {
      reply_and_close(refusal->code, std::move(refusal->detail));
      return;
    }
    // A body's data goes straight into the message; what the buffer holds
    // whole is a chunk-size line or the trailer section, each bounded.
    if (parser_->chunked())
      buffer_.max_size(std::max({srv_.cfg.http.chunk_line_bytes_max + 2, srv_.cfg.http.trailer_bytes_max, buffer_.size()}));
    // The whole request, body included, must arrive within read_timeout_ms.
    stream_.expires_after(std::chrono::milliseconds{srv_.cfg.http.read_timeout_ms});
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  /// RFC 9112's framing rules that Beast leaves to us (http/framing.hpp).
  static std::optional<framing_refusal> check_framing(const bhttp::request<bhttp::string_body>& msg) {
    std::vector<std::string_view> codings;
    for (auto [it, end] = msg.equal_range(bhttp::field::transfer_encoding); it != end; ++it)
      codings.emplace_back(it->value().data(), it->value().size());
    if (auto refusal = check_transfer_encoding(codings, msg.version()))
      return refusal;
    return check_host(msg.count(bhttp::field::host), msg.version());
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    ++requests_;
    auto msg = parser_->release();
    if (beast::websocket::is_upgrade(msg)) {
      // The connection becomes a WebSocket: it leaves this session.
      busy_ = false;
      auto forwarded = msg["X-Forwarded-For"];
      auto client = network_of(client_address(peer_, std::string_view{forwarded.data(), forwarded.size()},
                                              srv_.cfg.http.trust_forwarded_for));
      srv_.ws->accept(stream_.release_socket(), std::move(msg), client);
      return;
    }
    handle(std::move(msg));
  }

  void on_read_error(beast::error_code ec) {
    // Limits broken by the client get an answer; a vanished client does not.
    const auto& limits = srv_.cfg.http;
    if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !parser_->is_header_done()))
      reply_and_close(errc::header_too_large, "headers exceed http.header_bytes_max");
    else if (ec == bhttp::error::body_limit && chunk_line_too_long_)
      reply_and_close(errc::body_too_large, "a chunk-size line exceeds http.chunk_line_bytes_max ("
                                              + std::to_string(limits.chunk_line_bytes_max) + " bytes)");
    else if (ec == bhttp::error::body_limit)
      reply_and_close(errc::body_too_large,
                      "the body exceeds http.body_bytes_max (" + std::to_string(limits.body_bytes_max) + " bytes)");
    else if (ec == bhttp::error::buffer_overflow) {
      auto pending = buffer_.cdata();
      if (pending_is_trailer({static_cast<const char*>(pending.data()), pending.size()}))
        reply_and_close(errc::header_too_large, "the trailer section exceeds http.trailer_bytes_max ("
                                                  + std::to_string(limits.trailer_bytes_max) + " bytes)");
      else
        reply_and_close(errc::body_too_large, "a chunk-size line exceeds http.chunk_line_bytes_max ("
                                                + std::to_string(limits.chunk_line_bytes_max) + " bytes)");
    } else if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted
             || ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::bad_descriptor)
      close();
    else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() || ec == bhttp::error::partial_message)
      reply_and_close(errc::bad_request, "malformed HTTP request");
    else
      close();
  }

  void reply_and_close(errc code, std::string detail) {
    busy_ = true;
    answered_ = true;
    close_after_reply_ = true;
    started_ = clock::now();
    current_ = request{};
    current_.request_id = new_request_id();
    current_.client_address = peer_;
    auto p = make_problem(code, std::move(detail));
    response r;
    r.status = info(code).status;
    r.content_type = "application/problem+json";
    r.body = render(p, "", current_.request_id);
    route_ = srv_.unmatched.get();
    write(std::move(r));
  }

  void handle(bhttp::request<bhttp::string_body>&& msg) {
    srv_.in_flight.add(1);
    request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos)
      req.query = req.target.substr(q + 1);
    for (const auto& field : msg) {
      std::string name{field.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string{field.value()});
    }
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    auto incoming_id = req.header("x-request-id");
    req.request_id = valid_request_id(incoming_id) ? std::string{incoming_id} : new_request_id();
    req.client_address = client_address(peer_, req.header("x-forwarded-for"), srv_.cfg.http.trust_forwarded_for);
    req.client_network = network_of(req.client_address);
    current_ = req; // kept for the access log; the handler gets its own copy

    auto m = srv_.routes.find(req.method, req.path);
    route_ = m.found != nullptr ? srv_.per_route[m.found->index].get() : srv_.unmatched.get();
    answered_ = false;
    auto sequence = ++sequence_;
    // A backstop in case no answer ever comes (a bridge lost its task):
    // the client gets a 503 instead of a connection that hangs.
    backstop_.expires_after(std::chrono::milliseconds{srv_.cfg.http.request_timeout_ms + backstop_margin_ms});
    backstop_.async_wait([self = shared_from_this(), sequence](beast::error_code ec) {
      if (!ec)
        self->answer(sequence, timeout_reply(self->current_));
    });
    auto send = [self = shared_from_this(), sequence](response r) {
      asio::post(self->stream_.get_executor(),
                 [self, sequence, r = std::move(r)]() mutable { self->answer(sequence, std::move(r)); });
    };
    auto ctx = std::make_shared<request_context>(srv_.app, std::move(req), std::move(m.params), std::move(send));
    switch (m.result) {
      case router::outcome::not_found:
        ctx->respond_problem(make_problem(errc::not_found, "no route for " + current_.path));
        return;
      case router::outcome::method_not_allowed: {
        auto p = make_problem(errc::method_not_allowed, current_.method + " is not allowed on " + current_.path);
        p.allow = std::move(m.allow);
        ctx->respond_problem(std::move(p));
        return;
      }
      case router::outcome::found:
        break;
    }
    if (srv_.app.draining.load()) {
      ctx->respond_problem(make_problem(errc::shutting_down, "the server is shutting down"));
      return;
    }
    try {
      m.found->fn(ctx);
    } catch (const std::exception& e) {
      // Handlers report errors as values; an exception here is a bug, but it
      // must not take the connection down without an answer.
      log::error("handler threw", "\"error\":" + [&] {
        std::string s;
        json::append_string(s, e.what());
        return s;
      }());
      ctx->respond_problem(make_problem(errc::internal));
    }
  }

  /// The one answer to request `sequence`; later ones are dropped.
  void answer(std::uint64_t sequence, response r) {
    if (sequence != sequence_ || answered_)
      return;
    answered_ = true;
    backstop_.cancel();
    write(std::move(r));
  }

  static response timeout_reply(const request& req) {
    response r;
    auto p = make_problem(errc::timeout, "no answer within http.request_timeout_ms");
    r.status = info(p.code).status;
    r.content_type = "application/problem+json";
    r.headers.emplace_back("Retry-After", "1");
    r.body = render(p, req.path, req.request_id);
    return r;
  }

  void write(response r) {
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>();
    msg->version(11);
    msg->result(static_cast<unsigned>(r.status));
    msg->set(bhttp::field::server, "livemart");
    msg->set("X-Request-Id", current_.request_id);
    msg->set(bhttp::field::cache_control, "no-store");
    if (!r.content_type.empty())
      msg->set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers)
      msg->set(name, value);
    // Every 429 and 503 tells the client when to come back, whichever path
    // produced it (a stored reply, a forwarded one, a backstop).
    if ((r.status == 429 || r.status == 503) && msg->find(bhttp::field::retry_after) == msg->end())
      msg->set(bhttp::field::retry_after, std::to_string(srv_.cfg.database.retry_after_s));
    msg->body() = std::move(r.body);
    bool keep = keep_alive_ && !close_after_reply_ && !srv_.app.draining.load();
    msg->keep_alive(keep);
    msg->prepare_payload();
    status_ = r.status;
    bytes_out_ = msg->body().size();
    stream_.expires_after(std::chrono::milliseconds{srv_.cfg.http.write_timeout_ms});
    bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
      self->on_write(ec, keep);
    });
  }

  void on_write(beast::error_code ec, bool keep) {
    finish_request();
    if (ec || !keep) {
      close();
      return;
    }
    do_read();
  }

  void finish_request() {
    if (!busy_)
      return;
    busy_ = false;
    auto elapsed = std::chrono::duration<double>(clock::now() - started_).count();
    if (route_ != nullptr)
      route_->observe(status_, elapsed);
    if (!current_.method.empty())
      srv_.in_flight.add(-1);
    if (srv_.cfg.http.access_log) {
      json::writer w;
      w.begin_object()
        .field("ts", log::timestamp())
        .field("level", "info")
        .field("msg", "request")
        .field("request_id", current_.request_id)
        .field("method", current_.method)
        .field("path", current_.path)
        .field("status", status_)
        .field("duration_ms", elapsed * 1000.0)
        .field("bytes_in", current_.body.size())
        .field("bytes_out", bytes_out_)
        .field("client", current_.client_address)
        .end_object();
      log::line(w.take());
    }
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  asio::steady_timer backstop_; ///< answers 503 if the actors never do
  server::impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool chunk_line_too_long_ = false;
  /// Beast hands over a chunk's extensions once their line is whole; the
  /// buffer bounds the line's bytes, this its configured length.
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> chunk_header_ =
    [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      if (extensions.size() > srv_.cfg.http.chunk_line_bytes_max) {
        chunk_line_too_long_ = true;
        ec = bhttp::error::body_limit;
      }
    };
  std::list<std::weak_ptr<session>>::iterator self_entry_;
  std::string peer_;
  request current_;
  route_metrics* route_ = nullptr;
  clock::time_point started_{};
  std::size_t requests_ = 0;
  std::size_t bytes_out_ = 0;
  int status_ = 0;
  std::uint64_t sequence_ = 0; ///< which request an answer belongs to
  bool answered_ = true;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool close_after_reply_ = false;
};

void server::impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        return;
      do_accept();
      return;
    }
    if (app.draining.load() || open_sessions.load() >= cfg.http.connections_max) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      auto s = std::make_shared<session>(std::move(socket), *this);
      std::list<std::weak_ptr<session>>::iterator entry;
      {
        std::lock_guard lock{sessions_mutex};
        entry = sessions.insert(sessions.end(), s);
      }
      s->run(entry);
    }
    do_accept();
  });
}

void server::impl::begin_drain() {
  std::call_once(drain_once, [this] {
    asio::post(acceptor.get_executor(), [this] {
      log::info("shutting down: draining connections");
      app.draining.store(true);
      beast::error_code ec;
      acceptor.close(ec);
      // Keep catching signals while draining, so a second Ctrl-C cannot
      // kill the process before in-flight work has finished.
      ignore_further_signals();
      for (auto& s : live_sessions())
        s->drain();
      ws->close_all();
      drain_deadline = clock::now() + std::chrono::milliseconds{cfg.http.shutdown_timeout_ms};
      drain_timer = std::make_unique<asio::steady_timer>(ioc);
      check_drained();
    });
  });
}

std::vector<std::shared_ptr<session>> server::impl::live_sessions() {
  std::vector<std::shared_ptr<session>> live;
  std::lock_guard lock{sessions_mutex};
  for (auto& w : sessions)
    if (auto s = w.lock())
      live.push_back(std::move(s));
  return live;
}

void server::impl::close_all_sessions() {
  for (auto& s : live_sessions())
    s->force_close();
}

void server::impl::check_drained() {
  if (open_sessions.load() == 0 && ws->open() == 0) {
    ioc.stop();
    return;
  }
  if (clock::now() >= drain_deadline) {
    if (forced_close) {
      // Sessions still waiting for an actor reply are released when the
      // bridges stop (server::~server).
      ioc.stop();
      return;
    }
    log::warn("shutdown timeout: closing connections with requests in flight");
    forced_close = true;
    close_all_sessions();
    // Give the cancelled operations a moment to unwind on their strands.
    drain_deadline = clock::now() + std::chrono::milliseconds{500};
  }
  drain_timer->expires_after(std::chrono::milliseconds{20});
  drain_timer->async_wait([this](beast::error_code) { check_drained(); });
}

server::server(caf::actor_system& sys, const conf::settings& cfg, jwt::config tokens, services& svc)
  : impl_(std::make_unique<impl>(sys, cfg, std::move(tokens), svc)) {}

server::~server() {
  stop();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
  impl_->stop_bridges();
}

std::uint16_t server::start() {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = asio::ip::make_address(i.cfg.http.address, ec);
  if (ec)
    throw std::runtime_error("http.address is not an IP address: " + i.cfg.http.address);
  tcp::endpoint endpoint{address, i.cfg.http.port};
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    i.acceptor.bind(endpoint, ec);
  if (!ec)
    i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + i.cfg.http.address + ":" + std::to_string(i.cfg.http.port) + ": "
                             + ec.message());
  auto port = i.acceptor.local_endpoint().port();
  i.signals.async_wait([this](beast::error_code e, int) {
    if (!e)
      impl_->begin_drain();
  });
  i.do_accept();
  for (std::size_t n = 0; n < std::max<std::size_t>(1, i.cfg.http.threads); ++n)
    i.threads.emplace_back([&i] { i.ioc.run(); });
  return port;
}

void server::run_until_stopped() {
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
}

void server::stop() {
  impl_->begin_drain();
}

std::vector<std::string> route_table() {
  router r;
  add_all_routes(r);
  std::vector<std::string> out;
  for (const auto& route : r.routes())
    out.push_back(route->method + " " + route->pattern);
  for (auto endpoint : websocket_endpoints)
    out.push_back("GET " + std::string{endpoint});
  return out;
}

} // namespace livemart::http
