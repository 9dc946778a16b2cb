#include "http_client.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace livemart::testing {

namespace {
constexpr int reply_timeout_ms = 15'000;
}

std::vector<std::pair<std::string, std::string>> parse_header_lines(const std::string& head, std::size_t pos) {
  std::vector<std::pair<std::string, std::string>> out;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    auto line = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? head.size() : next + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::string http_reply::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name)
      return v;
  return {};
}

std::optional<json::value> http_reply::try_json() const {
  auto parsed = json::parse(body);
  if (std::holds_alternative<json::parse_error>(parsed))
    return std::nullopt;
  return std::get<json::value>(std::move(parsed));
}

json::value http_reply::json() const {
  auto parsed = json::parse(body);
  if (auto* err = std::get_if<json::parse_error>(&parsed))
    FAIL("reply is not JSON (" << err->message << "): " << body);
  return std::get<json::value>(std::move(parsed));
}

std::vector<std::string> http_reply::error_fields() const {
  std::vector<std::string> out;
  auto doc = json();
  if (const auto* errors = doc.find("errors"); errors != nullptr && errors->is_array())
    for (const auto& e : errors->as_array())
      out.push_back(e.string_or("field"));
  return out;
}

http_client::http_client(std::uint16_t port) : port_(port) {
  connect();
}

http_client::~http_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::unique_ptr<http_client> http_client::try_connect(std::uint16_t port, std::string& error) {
  std::unique_ptr<http_client> client{new http_client{port, unconnected{}}};
  if (!client->open_connection()) {
    error = client->last_error_;
    return nullptr;
  }
  return client;
}

bool http_client::open_connection() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  buffer_.clear();
  closed_ = false;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    last_error_ = "socket(): " + std::system_category().message(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    last_error_ = "cannot connect to 127.0.0.1:" + std::to_string(port_) + ": " + std::system_category().message(errno);
    ::close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

void http_client::connect() {
  if (!open_connection())
    FAIL(last_error_);
}

http_reply http_client::raw(const std::string& bytes) {
  auto reply = exchange(bytes);
  if (!reply)
    FAIL(last_error_);
  return std::move(*reply);
}

std::optional<http_reply> http_client::exchange(const std::string& bytes) {
  if (closed_ && !open_connection())
    return std::nullopt;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the server may close early (limits); read what it answered
    sent += static_cast<std::size_t>(n);
  }
  auto reply = read_reply();
  if (!reply) {
    // What is left of this connection is unusable: the next call starts afresh.
    ::close(fd_);
    fd_ = -1;
    closed_ = true;
  }
  return reply;
}

namespace {
/// A decimal number without exceptions (a worker thread must not throw).
std::optional<std::size_t> decimal(std::string_view text) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data())
    return std::nullopt;
  return value;
}
} // namespace

std::optional<http_reply> http_client::read_reply() {
  // 1: more bytes arrived; 0: the server closed the connection; -1: none in time.
  auto fill = [this]() -> int {
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, reply_timeout_ms);
    if (ready <= 0)
      return -1;
    char chunk[16384];
    auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0)
      return 0;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return 1;
  };
  auto failed = [this](std::string why) -> std::optional<http_reply> {
    last_error_ = std::move(why);
    return std::nullopt;
  };
  const auto timeout = "no reply from the server within " + std::to_string(reply_timeout_ms) + " ms";
  std::size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos)
    if (auto got = fill(); got <= 0)
      return failed(got < 0 ? timeout : "connection closed before a reply; received: " + buffer_);
  http_reply reply;
  std::string head = buffer_.substr(0, header_end);
  auto line_end = head.find("\r\n");
  auto status_line = head.substr(0, line_end);
  auto status = status_line.size() >= 12 ? decimal(std::string_view{status_line}.substr(9, 3)) : std::nullopt;
  if (status_line.rfind("HTTP/1.1 ", 0) != 0 || !status)
    return failed("not an HTTP/1.1 status line: " + status_line);
  reply.status = static_cast<int>(*status);
  std::size_t content_length = 0;
  reply.headers = parse_header_lines(head, line_end == std::string::npos ? head.size() : line_end + 2);
  if (auto length = reply.header("content-length"); !length.empty()) {
    auto parsed = decimal(length);
    if (!parsed)
      return failed("a bad Content-Length: " + length);
    content_length = *parsed;
  }
  buffer_.erase(0, header_end + 4);
  while (buffer_.size() < content_length)
    if (auto got = fill(); got <= 0)
      return failed(got < 0 ? timeout : "connection closed inside a body");
  reply.body = buffer_.substr(0, content_length);
  buffer_.erase(0, content_length);
  if (reply.header("connection") == "close") {
    closed_ = true;
    ::close(fd_);
    fd_ = -1;
  }
  return reply;
}

namespace {
std::string request_bytes(const std::string& method, const std::string& target, const std::string& body,
                          const http_client::header_list& headers) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers)
    out += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT")
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;
  return out;
}
} // namespace

bool http_client::pick_port() {
  if (spread_.empty())
    return true;
  // SplitMix64 over a counter: every node gets requests, in no fixed order.
  auto z = (picks_++ + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  auto next = spread_[(z ^ (z >> 31)) % spread_.size()];
  if (next == port_ && fd_ >= 0)
    return true;
  port_ = next;
  return open_connection();
}

http_reply http_client::request(const std::string& method, const std::string& target, const std::string& body,
                                const header_list& headers) {
  if (!pick_port())
    FAIL(last_error_);
  return raw(request_bytes(method, target, body, headers));
}

std::optional<http_reply> http_client::try_request(const std::string& method, const std::string& target,
                                                   const std::string& body, const header_list& headers) {
  if (!pick_port())
    return std::nullopt;
  return exchange(request_bytes(method, target, body, headers));
}

namespace {
http_client::header_list auth(const std::string& bearer, bool json_body) {
  http_client::header_list h;
  if (!bearer.empty())
    h.emplace_back("Authorization", "Bearer " + bearer);
  if (json_body)
    h.emplace_back("Content-Type", "application/json");
  return h;
}
} // namespace

http_reply http_client::get(const std::string& target, const std::string& bearer) {
  return request("GET", target, {}, auth(bearer, false));
}

http_reply http_client::post(const std::string& target, const std::string& json, const std::string& bearer) {
  return request("POST", target, json, auth(bearer, true));
}

http_reply http_client::patch(const std::string& target, const std::string& json, const std::string& bearer) {
  return request("PATCH", target, json, auth(bearer, true));
}

http_reply http_client::del(const std::string& target, const std::string& bearer) {
  return request("DELETE", target, {}, auth(bearer, false));
}

} // namespace livemart::testing
