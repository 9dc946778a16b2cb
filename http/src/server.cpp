#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <http/server.hpp>

#include <algorithm>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <protocol/log.hpp>
#include <protocol/metrics.hpp>

#include "context.hpp"
#include "http_session.hpp"
#include "server_impl.hpp"
#include "websocket.hpp"

namespace livemart::http {

namespace {

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

server::impl::impl(caf::actor_system& sys, const conf::settings& c, jwt::config tokens, services& svc)
  : cfg(c), app{sys, c, std::move(tokens), svc, {}, {0}, {false}},
    in_flight(metrics::registry::global().make_gauge("livemart_http_in_flight_requests", "Requests being handled")),
    connections(metrics::registry::global().make_gauge("livemart_http_open_connections", "Open connections")),
    ioc(static_cast<int>(std::max<std::size_t>(1, c.http.threads))), acceptor(asio::make_strand(ioc)),
    signals(ioc, SIGINT, SIGTERM) {
  add_all_routes(routes);
  for (const auto& r : routes.routes())
    per_route.push_back(std::make_unique<detail::route_metrics>(r->method + " " + r->pattern));
  unmatched = std::make_unique<detail::route_metrics>("unmatched");
  // A few bridge actors per scheduler thread spread reply handling.
  for (std::size_t i = 0; i < std::max<std::size_t>(2, c.actors.scheduler_threads * 2); ++i)
    app.bridges.push_back(sys.spawn(bridge_actor, i));
  ws = std::make_unique<ws_runtime>(app, app.draining, ioc);
}

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
    drain_deadline = clock::now() + std::chrono::milliseconds{cfg.http.shutdown_unwind_ms};
  }
  drain_timer->expires_after(std::chrono::milliseconds{cfg.http.shutdown_poll_ms});
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
