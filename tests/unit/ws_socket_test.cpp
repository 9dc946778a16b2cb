// The write gate below Beast's websocket stream (http/ws_socket.hpp), on a
// real TCP connection over 127.0.0.1: a connection's own frames and Beast's
// writes never cut into each other.

#include <utility> // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <http/ws_socket.hpp>

#include <memory>
#include <optional>
#include <string>
#include <thread>

using namespace livemart::http;
using namespace std::string_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::beast::error_code;

namespace {

/// A server-side socket wrapped in the gate, and its peer. Small buffers on
/// both sides (unless told otherwise): a large frame cannot go in one send().
struct connection {
  explicit connection(bool small_buffers = true) {
    tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
    peer.open(tcp::v4());
    if (small_buffers)
      peer.set_option(asio::socket_base::receive_buffer_size(4096));
    peer.connect(acceptor.local_endpoint());
    auto server = acceptor.accept();
    if (small_buffers)
      server.set_option(asio::socket_base::send_buffer_size(4096));
    gate = std::make_unique<ws_socket>(std::move(server));
  }

  /// Reads exactly `n` bytes on a thread of its own while the io_context
  /// runs the gate's writes on this one. The reading thread neither throws
  /// nor asserts (either would end the binary without a report): its error
  /// is checked here, after the join.
  std::string read_while_running(std::size_t n) {
    std::string got(n, '\0');
    error_code read_error;
    std::size_t read = 0;
    std::thread reading{[&] { read = asio::read(peer, asio::buffer(got), read_error); }};
    ioc.run();
    reading.join();
    INFO("reading: " << read_error.message());
    CHECK_FALSE(read_error);
    CHECK(read == n);
    return got.substr(0, read);
  }

  asio::io_context ioc;
  tcp::socket peer{ioc};
  std::unique_ptr<ws_socket> gate;
};

ws_message_ptr framed(std::string text) {
  auto frame = ws_text_frame(text);
  return std::make_shared<const ws_message>(ws_message{{}, std::move(text), std::move(frame)});
}

} // namespace

TEST_CASE("ws_text_frame: the length in 7, 16 or 64 bits, as RFC 6455 says", "[unit][streams]") {
  CHECK(ws_text_frame("") == std::string{"\x81\x00", 2});
  CHECK(ws_text_frame("hi") == "\x81\x02hi");
  CHECK(ws_text_frame(std::string(125, 'x')).substr(0, 2) == "\x81\x7d");
  CHECK(ws_text_frame(std::string(126, 'x')).substr(0, 4) == "\x81\x7e\x00\x7e"s);
  CHECK(ws_text_frame(std::string(65535, 'x')).substr(0, 4) == "\x81\x7e\xff\xff");
  auto big = ws_text_frame(std::string(65536, 'x'));
  CHECK(big.substr(0, 10) == "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"s);
  CHECK(big.size() == 65536 + 10);
}

TEST_CASE("ws_socket: a write of Beast's waits for the rest of a frame the kernel took in part", "[unit][streams]") {
  connection c;
  auto large = framed(std::string(1 << 20, 'a')); // far more than the buffers hold
  REQUIRE(c.gate->try_send(large)); // a part went at once, the rest is under way
  // Nothing of its own goes meanwhile...
  CHECK_FALSE(c.gate->try_send(framed("next")));
  // ...and a write of Beast's (a pong, say) goes after the whole frame.
  const std::string pong{"\x8a\x00", 2};
  bool written = false;
  c.gate->async_write_some(asio::buffer(pong), [&](error_code ec, std::size_t n) { written = !ec && n == 2; });
  auto got = c.read_while_running(large->frame.size() + pong.size());
  CHECK(written);
  CHECK(got.substr(0, large->frame.size()) == large->frame);
  CHECK(got.substr(large->frame.size()) == pong);
  // Then the gate is open again.
  CHECK(c.gate->try_send(framed("next")));
}

TEST_CASE("ws_socket: no frame of its own while Beast writes, none after a close frame", "[unit][streams]") {
  connection c;
  auto first = framed("first");
  REQUIRE(c.gate->try_send(first)); // idle: it goes whole, at once
  const std::string text{"\x81\x05" "beast"};
  c.gate->async_write_some(asio::buffer(text), [](error_code, std::size_t) {});
  CHECK_FALSE(c.gate->try_send(framed("while Beast writes")));
  c.ioc.run();
  c.ioc.restart();
  auto second = framed("second");
  CHECK(c.gate->try_send(second));
  const std::string close{"\x88\x02\x03\xe8", 4}; // 1000
  c.gate->async_write_some(asio::buffer(close), [](error_code, std::size_t) {});
  auto got = c.read_while_running(first->frame.size() + text.size() + second->frame.size() + close.size());
  CHECK(got == first->frame + text + second->frame + close);
  CHECK_FALSE(c.gate->try_send(framed("after the close")));
}

TEST_CASE("ws_socket: nothing of its own between the frames of one message of Beast's", "[unit][streams]") {
  connection c;
  const std::string opening{"\x01\x03" "abc"};  // text, more frames to come
  const std::string ping{"\x89\x00", 2};         // a control frame may come between
  const std::string closing{"\x80\x03" "def"};  // continuation, the last
  auto write = [&](const std::string& bytes) {
    c.gate->async_write_some(asio::buffer(bytes), [](error_code, std::size_t) {});
    c.ioc.run();
    c.ioc.restart();
  };
  write(opening);
  REQUIRE_FALSE(c.gate->try_send(framed("inside the message"))); // else the reads below would wait
  write(ping);
  REQUIRE_FALSE(c.gate->try_send(framed("inside the message"))); // else the reads below would wait
  write(closing);
  auto after = framed("after the message");
  CHECK(c.gate->try_send(after));
  CHECK(c.read_while_running(opening.size() + ping.size() + closing.size() + after->frame.size())
        == opening + ping + closing + after->frame);
}

TEST_CASE("ws_socket: the rest of a frame Beast writes in parts is no frame's start", "[unit][streams]") {
  // A binary frame whose payload is all 0x88 bytes, the close opcode's: the
  // kernel takes it in parts, and the parts after the first must not seal
  // the gate (nor open or end a message).
  connection c;
  std::string frame{"\x82\x7f\x00\x00\x00\x00\x00\x10\x00\x00", 10};
  frame.append(std::size_t{1} << 20, '\x88');
  bool written = false;
  asio::async_write(*c.gate, asio::buffer(frame), [&](error_code ec, std::size_t n) { written = !ec && n == frame.size(); });
  CHECK(c.read_while_running(frame.size()) == frame);
  CHECK(written);
  c.ioc.restart();
  auto after = framed("after");
  CHECK(c.gate->try_send(after));
  CHECK(c.read_while_running(after->frame.size()) == after->frame);
}

TEST_CASE("ws_socket: a frame longer than one write is followed by its length, not its bytes", "[unit][streams]") {
  // Asio writes at most 64 KiB a call: with buffers large enough, each part
  // of this frame goes whole, and a part that began with 0x81 must not be
  // taken for a frame with FIN that ends the message.
  connection c{false};
  std::string frame{"\x01\x7f\x00\x00\x00\x00\x00\x03\x00\x00", 10}; // text, no FIN, 192 KiB
  frame.append(std::size_t{3} << 16, '\x81');
  asio::async_write(*c.gate, asio::buffer(frame), [](error_code, std::size_t) {});
  CHECK(c.read_while_running(frame.size()) == frame);
  c.ioc.restart();
  REQUIRE_FALSE(c.gate->try_send(framed("inside the message"))); // else the reads below would wait
  const std::string last{"\x80\x00", 2};
  c.gate->async_write_some(asio::buffer(last), [](error_code, std::size_t) {});
  CHECK(c.read_while_running(last.size()) == last);
  CHECK(c.gate->try_send(framed("after the message")));
}

TEST_CASE("ws_socket: writes still under way when the connection goes end without touching it", "[unit][streams]") {
  // Beast's idle ping holds no reference to the connection: its write may
  // complete after the connection is gone (run under ASan to see a use
  // after free). Likewise the rest of a frame of its own.
  connection c;
  auto large = framed(std::string(1 << 20, 'a'));
  REQUIRE(c.gate->try_send(large));
  std::optional<error_code> ping_result;
  const std::string ping{"\x89\x00", 2};
  c.gate->async_write_some(asio::buffer(ping), [&](error_code ec, std::size_t) { ping_result = ec; }); // waits
  c.gate.reset();
  c.ioc.run();
  CHECK_FALSE(ping_result); // it went with the connection, never run
  connection d;
  std::string big(1 << 20, 'b');
  std::optional<error_code> result;
  d.gate->async_write_some(asio::buffer(big), [&](error_code ec, std::size_t) { result = ec; });
  d.gate.reset();
  d.ioc.run();
  REQUIRE(result);
}
