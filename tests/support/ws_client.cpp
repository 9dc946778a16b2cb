#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "ws_client.hpp"
#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <catch2/catch.hpp>

namespace livemart::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

struct ws_client::impl {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
};

namespace {

/// How long a connect, handshake or send may take before the test fails.
constexpr std::chrono::seconds io_timeout{10};

/// Runs `ioc` until the one operation started on it completes, or fails
/// the test after io_timeout (the operation is cancelled first).
void run_one(asio::io_context& ioc, asio::ip::tcp::socket& socket, const bool& done, const char* what) {
  ioc.restart();
  ioc.run_for(io_timeout);
  if (!done) {
    beast::error_code ignored;
    socket.cancel(ignored);
    ioc.restart();
    ioc.run();
    FAIL(what << " did not complete within " << io_timeout.count() << " s");
  }
}

} // namespace

ws_client::ws_client(std::uint16_t port, const std::string& target, const header_list& headers,
                     std::size_t receive_buffer_bytes)
  : impl_(std::make_unique<impl>()) {
  auto& s = *impl_;
  auto& socket = beast::get_lowest_layer(s.ws).socket();
  socket.open(asio::ip::tcp::v4());
  if (receive_buffer_bytes != 0) // before connecting: the window is offered in the handshake
    socket.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(receive_buffer_bytes)));
  beast::error_code ec;
  bool done = false;
  socket.async_connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port},
                       [&](beast::error_code e) { ec = e; done = true; });
  run_one(s.ioc, socket, done, "connecting");
  REQUIRE_FALSE(ec);
  s.ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers)
      req.set(name, value);
  }));
  websocket::response_type res;
  done = false;
  s.ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), target, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  run_one(s.ioc, socket, done, "the WebSocket handshake");
  status_ = 101;
  if (ec) {
    // Beast keeps a refusal to itself: ask again over plain HTTP to learn
    // the status, the headers and the problem.
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (const auto& [name, value] : headers)
      request += name + ": " + value + "\r\n";
    http_client probe{port};
    auto r = probe.raw(request + "\r\n");
    status_ = r.status;
    refusal_ = r.body;
    refusal_headers_ = r.headers;
  }
}

std::string ws_client::refusal_header(const std::string& lower_name) const {
  for (const auto& [name, value] : refusal_headers_)
    if (name == lower_name)
      return value;
  return {};
}

ws_client::~ws_client() {
  beast::error_code ignored;
  beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

void ws_client::send(const std::string& text) {
  auto& s = *impl_;
  s.ws.text(true);
  beast::error_code ec;
  bool done = false;
  s.ws.async_write(asio::buffer(text), [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_one(s.ioc, beast::get_lowest_layer(s.ws).socket(), done, "sending a message");
  REQUIRE_FALSE(ec);
}

std::optional<std::string> ws_client::read(std::chrono::milliseconds timeout) {
  auto& s = *impl_;
  std::optional<std::string> out;
  bool done = false;
  s.ws.async_read(s.buffer, [&](beast::error_code ec, std::size_t) {
    done = true;
    if (ec) {
      if (s.ws.reason().code != websocket::close_code::none || ec == websocket::error::closed)
        close_code_ = static_cast<int>(s.ws.reason().code);
      return;
    }
    out = beast::buffers_to_string(s.buffer.data());
    s.buffer.consume(s.buffer.size());
  });
  s.ioc.restart();
  s.ioc.run_for(timeout);
  if (!done) {
    // Give up on this read: cancel it and let the handler run.
    beast::error_code ignored;
    beast::get_lowest_layer(s.ws).socket().cancel(ignored);
    s.ioc.restart();
    s.ioc.run();
    return std::nullopt;
  }
  return out;
}

json::value ws_client::next(std::chrono::milliseconds timeout) {
  auto text = read(timeout);
  INFO("close code: " << close_code_.value_or(0));
  REQUIRE(text.has_value());
  auto parsed = json::parse(*text);
  INFO(*text);
  REQUIRE(std::holds_alternative<json::value>(parsed));
  return std::get<json::value>(std::move(parsed));
}

json::value ws_client::await(const std::function<bool(const json::value&)>& match, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    REQUIRE(left.count() > 0);
    auto m = next(left);
    if (match(m))
      return m;
    skipped_.push_back(std::move(m));
  }
}

} // namespace livemart::testing
