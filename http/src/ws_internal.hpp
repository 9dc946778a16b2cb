#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <http/ws_outbox.hpp>

#include "context.hpp"
#include "websocket.hpp"

/// What the WebSocket side's files share: websocket.cpp (the runtime and
/// the upgrade), ws_hub.cpp (the hubs) and ws_session.cpp (a connection).
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
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace ws {

/// Close codes of livemart's WebSocket protocol (docs/api.md).
inline constexpr std::uint16_t close_unauthorized = 4401;
inline constexpr std::uint16_t close_not_found = 4404;
inline constexpr std::uint16_t close_too_slow = 4408;
inline constexpr std::uint16_t close_rate_limited = 4429;

/// One access-log line for an upgrade: accepted (101) or refused.
void log_upgrade(const app_context& app, std::string_view path, std::string_view client, int status,
                 std::string_view detail);

/// The hub directory (ws_hub.cpp): one hub actor per stream per node, made
/// at the stream's first join and forgotten once it has stayed empty a
/// while. Connections send it (join_atom, stream, hub_join), (snapshot_atom,
/// stream, hub_join) and (leave_atom, stream, serial); get_atom lists its
/// hubs (for shutdown).
/// The hubs' clocks.
struct hub_timing {
  std::chrono::milliseconds step;   ///< one request to the stream's actor (actors.step_timeout_ms)
  std::chrono::milliseconds report; ///< the viewer count goes to the stream at most this often (ws.viewer_report_ms)
  std::chrono::milliseconds linger; ///< an empty hub ends after this (ws.hub_linger_ms)
};

caf::actor spawn_hub_directory(caf::actor_system& system, services* svc, hub_timing timing,
                               std::vector<ws_lane> lanes);

} // namespace ws

} // namespace livemart::http
