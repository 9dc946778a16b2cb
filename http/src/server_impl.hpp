#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <http/router.hpp>
#include <http/server.hpp>
#include <protocol/metrics.hpp>

#include "context.hpp"
#include "websocket.hpp"

/// What the server's files share: server.cpp (the listener, the drain and
/// the server's interface) and http_session.cpp (one HTTP/1.1 connection).
namespace livemart::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace detail {

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

} // namespace detail

class session;

struct server::impl {
  impl(caf::actor_system& sys, const conf::settings& c, jwt::config tokens, services& svc);

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
  std::vector<std::unique_ptr<detail::route_metrics>> per_route;
  std::unique_ptr<ws_runtime> ws; ///< WebSocket connections (viewers, user channels)
  std::unique_ptr<detail::route_metrics> unmatched;
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

} // namespace livemart::http
