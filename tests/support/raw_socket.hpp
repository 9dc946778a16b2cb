#pragma once

#include <arpa/inet.h>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace livemart::testing {

/// A plain loopback TCP connection, for what http_client cannot express:
/// replies that may never come and watching the server close.
class raw_socket {
public:
  explicit raw_socket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~raw_socket() { ::close(fd_); }
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  /// Sends everything, or stops when the server closed the connection
  /// (returns false); what it said before closing is still readable.
  bool send_all(std::string_view bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Reads until the server closes the connection (true) or `timeout_ms`
  /// passes without it (false). Everything received is in `received`.
  bool read_until_closed(std::string& received, int timeout_ms = 10'000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0)
        return false;
      char chunk[4096];
      auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0)
        return true; // orderly close or reset: either way, closed
      received.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Reads one complete reply with a Content-Length body; "" if the connection closed first.
  std::string read_reply(int timeout_ms = 10'000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
    for (;;) {
      auto end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto head = buffer_.substr(0, end);
        std::size_t length = 0;
        std::string lower = head;
        for (auto& ch : lower)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos)
          length = std::stoul(head.substr(cl + 17));
        if (buffer_.size() >= end + 4 + length) {
          auto reply = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return reply;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      REQUIRE(left > 0);
      pollfd p{fd_, POLLIN, 0};
      REQUIRE(::poll(&p, 1, static_cast<int>(left)) > 0);
      char chunk[4096];
      auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0)
        return {};
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

private:
  int fd_ = -1;
  std::string buffer_;
};

} // namespace livemart::testing
