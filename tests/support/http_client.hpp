#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <protocol/json.hpp>

/// A small blocking HTTP/1.1 client over POSIX sockets, for tests against
/// the real server on 127.0.0.1. Keeps the connection alive between calls.
namespace livemart::testing {

struct http_reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lower-cased
  std::string body;

  std::string header(const std::string& lower_name) const;
  /// The body as JSON; fails the test when it is not.
  json::value json() const;
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

  http_reply get(const std::string& target, const std::string& bearer = {});
  /// JSON body with Content-Type: application/json.
  http_reply post(const std::string& target, const std::string& json, const std::string& bearer = {});
  http_reply patch(const std::string& target, const std::string& json, const std::string& bearer = {});
  http_reply del(const std::string& target, const std::string& bearer = {});

  /// Sends raw bytes and reads one reply (malformed requests, limits).
  http_reply raw(const std::string& bytes);

  /// True when the server closed the connection after the last reply.
  bool closed_by_server() const { return closed_; }

private:
  void connect();
  http_reply read_reply();
  std::uint16_t port_;
  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

} // namespace livemart::testing
