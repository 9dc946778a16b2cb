#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <protocol/json.hpp>

/// A small WebSocket client for tests against the real server on
/// 127.0.0.1 (Beast underneath). Reads wait with a timeout, never sleep.
namespace livemart::testing {

class ws_client {
public:
  using header_list = std::vector<std::pair<std::string, std::string>>;

  /// Connects and upgrades `target`; `status()` tells whether the upgrade
  /// was accepted (101) or refused (the HTTP status, body in refusal()).
  /// A `receive_buffer_bytes` above 0 sets the socket's receive buffer
  /// (SO_RCVBUF) before connecting: a small one makes a slow reader.
  ws_client(std::uint16_t port, const std::string& target, const header_list& headers = {},
            std::size_t receive_buffer_bytes = 0);
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  int status() const { return status_; }
  const std::string& refusal() const { return refusal_; }
  /// A header of the refusal (lower-case name), or "".
  std::string refusal_header(const std::string& lower_name) const;

  void send(const std::string& text);
  /// The next message, or nullopt when none came in time or the server closed.
  /// A read that timed out is cancelled, and Beast then fails the stream:
  /// nothing more can be sent or read on it.
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds{5});
  /// The next message as JSON (fails the test on timeout).
  json::value next(std::chrono::milliseconds timeout = std::chrono::seconds{5});
  /// Reads until a message satisfies `match` (fails the test on timeout);
  /// the messages skipped are kept in skipped().
  json::value await(const std::function<bool(const json::value&)>& match,
                    std::chrono::milliseconds timeout = std::chrono::seconds{10});
  /// The close code the server sent (after a read returned nullopt).
  std::optional<int> close_code() const { return close_code_; }
  const std::vector<json::value>& skipped() const { return skipped_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  int status_ = 0;
  std::string refusal_;
  std::vector<std::pair<std::string, std::string>> refusal_headers_;
  std::optional<int> close_code_;
  std::vector<json::value> skipped_;
};

/// A message of `type`.
inline std::function<bool(const json::value&)> of_type(std::string type) {
  return [type](const json::value& m) { return m.string_or("type") == type; };
}

} // namespace livemart::testing
