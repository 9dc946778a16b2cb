#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <protocol/json.hpp>

/// A small blocking HTTP/1.1 client over POSIX sockets, for tests against
/// the real server on 127.0.0.1. Keeps the connection alive between calls.
///
/// Catch2 v2 is not thread-safe: an assertion on any thread but the test's
/// ends the binary without a report. The constructor, request() and its
/// shorthands fail the test on a lost connection or a time-out, so a worker
/// thread uses a client made on the test's thread (or try_connect()) and
/// only try_request(), which reports every failure as a value.
namespace livemart::testing {

struct http_reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
  std::string body;

  std::string header(const std::string& lower_name) const;
  /// The body as JSON; fails the test when it is not.
  json::value json() const;
  /// The body as JSON, or nullopt when it is not (no Catch assertion: for
  /// a thread other than the test's).
  std::optional<json::value> try_json() const;
  /// The "field" names listed in a problem's "errors".
  std::vector<std::string> error_fields() const;
};

/// The header lines of an HTTP head (after its first line, which ends at
/// `from`): names lower-cased, values trimmed on the left.
std::vector<std::pair<std::string, std::string>> parse_header_lines(const std::string& head, std::size_t from);

class http_client {
public:
  explicit http_client(std::uint16_t port);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  using header_list = std::vector<std::pair<std::string, std::string>>;

  http_reply request(const std::string& method, const std::string& target, const std::string& body = {},
                     const header_list& headers = {});

  /// request() without a Catch assertion: nullopt when there was no
  /// complete reply (no connection, closed early, or none within the
  /// time-out); last_error() then says why.
  std::optional<http_reply> try_request(const std::string& method, const std::string& target,
                                        const std::string& body = {}, const header_list& headers = {});
  /// Why the last try_request() (or try_connect()) failed.
  const std::string& last_error() const { return last_error_; }

  /// A client connected to `port` without a Catch assertion: nullptr (and
  /// `error` says why) when it cannot connect.
  static std::unique_ptr<http_client> try_connect(std::uint16_t port, std::string& error);

  http_reply get(const std::string& target, const std::string& bearer = {});
  /// JSON body with Content-Type: application/json.
  http_reply post(const std::string& target, const std::string& json, const std::string& bearer = {});
  http_reply patch(const std::string& target, const std::string& json, const std::string& bearer = {});
  http_reply del(const std::string& target, const std::string& bearer = {});

  /// Sends raw bytes and reads one reply (malformed requests, limits).
  http_reply raw(const std::string& bytes);

  /// True when the server closed the connection after the last reply.
  bool closed_by_server() const { return closed_; }

  /// From now on request() and try_request() send each request to a
  /// random one of `ports` (the nodes of a cluster), reconnecting when it
  /// changes; raw() stays on the current connection.
  void spread_over(std::vector<std::uint16_t> ports) { spread_ = std::move(ports); }

private:
  struct unconnected {};
  http_client(std::uint16_t port, unconnected) : port_(port) {}
  void connect();
  /// Connects afresh; false (and last_error_) on failure.
  bool open_connection();
  /// Sends `bytes` and reads one reply; nullopt (and last_error_) on failure.
  std::optional<http_reply> exchange(const std::string& bytes);
  std::optional<http_reply> read_reply();
  /// Moves to a random port of spread_ (if any): false when that fails.
  bool pick_port();
  std::uint16_t port_;
  std::vector<std::uint16_t> spread_;
  std::uint64_t picks_ = 0;
  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
  std::string last_error_;
};

} // namespace livemart::testing
