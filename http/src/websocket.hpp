#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http.hpp>

#include "context.hpp"

/// WebSocket connections: stream viewers (GET /streams/:id/ws) and user
/// channels (GET /users/me/ws). See docs/architecture.md, "Live streams".
namespace livemart::http {

class ws_session;

/// The WebSocket endpoints ws_runtime::accept answers (upgrades never
/// reach the router).
inline constexpr std::array<std::string_view, 2> websocket_endpoints{"/streams/:id/ws", "/users/me/ws"};

/// The strands WebSocket connections are spread over. A connection runs on
/// its lane's strand, so a push reaches every viewer of a lane with one
/// handler on that strand instead of one per connection.
using ws_lane = boost::asio::strand<boost::asio::io_context::executor_type>;

/// What the WebSocket side of one server shares: the hub directory (one
/// hub actor per stream per node fans pushes out to its viewers), the
/// lanes and the open connections, for shutdown.
class ws_runtime {
public:
  ws_runtime(app_context& app, std::atomic<bool>& draining, boost::asio::io_context& ioc);
  ~ws_runtime();

  /// Takes over a connection whose request asks for an upgrade: checks the
  /// path, the Origin, a token in the Authorization header and the client's
  /// connection count, then accepts it, or answers with a problem and closes.
  void accept(boost::asio::ip::tcp::socket socket, boost::beast::http::request<boost::beast::http::string_body> req,
              std::string client);

  /// Shutdown: every connection gets a close frame (1001, going away).
  void close_all();
  /// Connections still open.
  std::size_t open() const { return open_.load(); }
  /// Ends the hub directory and its hubs and waits until they are gone
  /// (after the I/O threads stopped, before the io_context goes away: hubs
  /// post to the lanes). Blocks; call it from the thread owning the server.
  void stop();

  // Used by the connections themselves.
  app_context& app;
  std::atomic<bool>& draining;
  caf::actor hubs; ///< the hub directory
  std::vector<ws_lane> lanes;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> next_serial{1};
  std::mutex sessions_mutex; ///< connect, disconnect and shutdown only
  std::list<std::weak_ptr<ws_session>> sessions;
  std::unordered_map<std::string, std::size_t> per_client; ///< open connections by client address

private:
  void watch_sessions();
  /// Notices ended sessions (logout) for open connections; reset by stop(),
  /// since a timer must not outlive its io_context (this runtime does).
  std::optional<boost::asio::steady_timer> session_timer_;
  std::uint64_t sessions_seen_ = 0;         ///< the revocation list's version last looked at
};

} // namespace livemart::http
