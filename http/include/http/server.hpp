#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include <actors/services.hpp>
#include <conf/settings.hpp>
#include <protocol/jwt.hpp>

/// The HTTP front door. Beast and Asio stay behind this interface.
namespace livemart::http {

class server {
public:
  server(caf::actor_system& sys, const conf::settings& cfg, jwt::config tokens, services& svc);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts the I/O threads; returns the bound port.
  /// Throws std::runtime_error when the address cannot be bound.
  std::uint16_t start();

  /// Blocks the calling thread until SIGINT or SIGTERM (or stop()), then
  /// drains: stops accepting, lets in-flight requests finish within
  /// http.shutdown_timeout_ms, closes idle connections, joins the threads.
  void run_until_stopped();

  /// Starts the drain from any thread.
  void stop();

  struct impl; ///< Beast and Asio live here (server.cpp, http_session.cpp)

private:
  std::unique_ptr<impl> impl_;
};

/// Every route the server answers, as "METHOD /pattern", in the router's
/// order, the WebSocket upgrades included (`livemart routes`; the test
/// `api_doc` compares it with docs/api.md).
std::vector<std::string> route_table();

} // namespace livemart::http
