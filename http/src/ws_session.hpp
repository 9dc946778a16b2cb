#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <http/ws_outbox.hpp>
#include <http/ws_socket.hpp>
#include <protocol/streams.hpp>

#include "ws_internal.hpp"

/// One WebSocket connection (ws_session.cpp): a stream viewer or a user
/// channel, from the handshake to the close.
namespace livemart::http {

namespace websocket = boost::beast::websocket;

class ws_session : public ws_sink, public std::enable_shared_from_this<ws_session> {
public:
  enum class kind { viewer, user };

  ws_session(ws_runtime& rt, tcp::socket socket, std::size_t lane, kind k, std::uint64_t stream_id, std::uint64_t user,
             std::uint64_t session, std::int64_t token_expires_s, std::string client, std::string path);
  ~ws_session() override;

  /// Starts on the connection's own strand (its lane), where everything
  /// else about it runs.
  void run(bhttp::request<bhttp::string_body> req, std::list<std::weak_ptr<ws_session>>::iterator entry);

  void push(ws_out_ptr message) override;
  std::size_t lane() const override { return lane_; }
  /// From a handler on this connection's lane strand (its own strand).
  /// With nothing queued, a framed message is sent at once, below Beast.
  void push_on_lane(const ws_out_ptr& message) override;
  void close_with(std::uint16_t code, std::string reason) override;

  /// The list of ended sessions changed: look again at this one's.
  void recheck_session();

  /// Shutdown: 1001 going away.
  void going_away();

private:
  void accept(const std::shared_ptr<bhttp::request<bhttp::string_body>>& req_ptr);
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec);

  /// Token bucket: ws.messages_per_s sustained, ws.messages_burst at once.
  bool take_token();

  void reply(std::string text) { enqueue(std::make_shared<const ws_out>(ws_out{{}, std::move(text)})); }

  void handle(const std::string& text);
  void hello(const ws_client_message& msg);

  /// Joins the stream's hub (after checking the stream exists and allows
  /// this viewer), or starts the user channel's relay.
  void join();

  void bid(const ws_client_message& msg);
  void buy(const ws_client_message& msg);

  /// Asks the stream's actor from a bridge actor within `time` (as a route's
  /// budget); `done(reply, error)` runs on this connection's strand.
  template <class Reply, class Done, class... Args>
  void call_stream(budget time, Done done, Args... args);

  // -- the outbox -----------------------------------------------------------------------------

  void enqueue(ws_out_ptr message);
  void write_next();
  void close_now(std::uint16_t code, std::string reason);

  /// Leaves the hub or stops the relay; idempotent.
  void leave();

  void finish();

  /// One access-log line when an accepted connection ends: who closed it,
  /// with which code and why.
  void log_close();

  /// Closes the connection (4401) when its user's session has ended
  /// (logout, a password change, a suspension); true when it did.
  bool session_ended();

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

} // namespace livemart::http
