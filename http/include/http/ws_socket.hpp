#pragma once

#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <http/ws_outbox.hpp>

namespace livemart::http {

/// The stream a connection's websocket::stream writes to: a TCP socket whose
/// writes pass one gate, so that the connection may also send a message
/// framed once for all its viewers (ws_message::frame) by itself: one
/// non-blocking send() and no handler when the kernel takes it whole, which
/// is what fans a push out to thousands of viewers cheaply. The gate keeps
/// the bytes of the two writers apart: a frame of its own goes only while
/// Beast writes nothing and is neither halfway through a frame nor between
/// the frames of one message, and a Beast write that comes while the rest
/// of such a frame is still going waits for it. After a close frame,
/// nothing of its own goes any more.
/// Everything here runs on the connection's strand.
class ws_socket {
public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  explicit ws_socket(boost::asio::ip::tcp::socket socket)
    : socket_(std::move(socket)), gate_(std::make_shared<gate>()) {}
  ~ws_socket() { gate_->alive = false; }
  ws_socket(const ws_socket&) = delete;
  ws_socket& operator=(const ws_socket&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& buffers, Handler&& on_read) {
    return socket_.async_read_some(buffers, std::forward<Handler>(on_read));
  }

  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& buffers, Handler&& on_written) {
    return boost::asio::async_initiate<Handler, void(boost::beast::error_code, std::size_t)>(
      [this](auto done, const Buffers& b) {
        if (gate_->rest) {
          // The rest of a frame of ours goes first.
          auto held = std::make_shared<decltype(done)>(std::move(done));
          gate_->waiting.push_back([this, held, b] { write(std::move(*held), b); });
          return;
        }
        write(std::move(done), b);
      },
      on_written, buffers);
  }

  /// Sends `m->frame` now, unless another write is under way or Beast is
  /// between the frames of one message: false when nothing was sent (the
  /// caller queues it for Beast). A frame the kernel takes only in part is
  /// finished asynchronously, before any other write.
  bool try_send(const ws_message_ptr& m) {
    auto& g = *gate_;
    if (g.writes != 0 || g.frame_left != 0 || g.in_message || g.rest || g.sealed || m->frame.empty())
      return false;
    auto n = ::send(socket_.native_handle(), m->frame.data(), m->frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0)
      return false; // full (EAGAIN), or broken: Beast's write will tell
    auto sent = static_cast<std::size_t>(n);
    if (sent == m->frame.size())
      return true;
    g.rest = m;
    finish_rest(sent);
    return true;
  }

private:
  /// What the writes share. Completions hold it, never the ws_socket: a
  /// write of Beast's (an idle ping) may finish after the connection is gone.
  struct gate {
    int writes = 0;             ///< Beast's writes under way
    std::uint64_t frame_left = 0; ///< bytes of Beast's current frame not written yet (0: the next write starts a frame)
    bool in_message = false;    ///< Beast wrote a frame of a message whose last frame has not started
    bool sealed = false;     ///< a close frame was written
    bool alive = true;       ///< the ws_socket still exists
    ws_message_ptr rest;     ///< a frame of ours still being finished
    std::vector<std::function<void()>> waiting; ///< Beast's writes behind it
  };

  /// Writes the rest of `rest` from `offset`, then lets the writes that
  /// waited for it go. The completion holds the gate, not the ws_socket
  /// (no composed write: it would refer to the socket once it is gone).
  void finish_rest(std::size_t offset) {
    const auto& frame = gate_->rest->frame;
    socket_.async_write_some(boost::asio::buffer(frame.data() + offset, frame.size() - offset),
                             [this, kept = gate_, offset](boost::beast::error_code ec, std::size_t n) {
                               if (!ec && kept->alive && offset + n < kept->rest->frame.size()) {
                                 finish_rest(offset + n);
                                 return;
                               }
                               kept->rest.reset();
                               auto waiting = std::move(kept->waiting);
                               kept->waiting.clear();
                               // On an error too: the waiting writes fail on
                               // their own. Gone with the connection otherwise.
                               if (kept->alive)
                                 for (auto& w : waiting)
                                   w();
                             });
  }

  template <class Handler, class Buffers>
  void write(Handler done, const Buffers& buffers) {
    auto& g = *gate_;
    if (g.frame_left == 0 && boost::asio::buffer_size(buffers) != 0)
      start_frame(g, buffers);
    ++g.writes;
    socket_.async_write_some(buffers, [kept = gate_, done = std::move(done)](boost::beast::error_code ec,
                                                                              std::size_t n) mutable {
      --kept->writes;
      kept->frame_left -= std::min<std::uint64_t>(kept->frame_left, ec ? 0 : n);
      done(ec, n);
    });
  }

  /// A write of Beast's starts a frame: reads its header (RFC 6455, 5.2)
  /// for its length, so that the writes that finish it are not taken for
  /// frames' starts. A close seals the gate; a data frame without FIN
  /// opens a message that only a frame with FIN ends; control frames may
  /// come in between and change nothing. A header that cannot be read
  /// seals the gate too: nothing of its own goes rather than a wrong guess.
  template <class Buffers>
  static void start_frame(gate& g, const Buffers& buffers) {
    std::array<char, 14> bytes{}; // the longest header
    auto got = boost::asio::buffer_copy(boost::asio::buffer(bytes), buffers);
    auto head = read_ws_frame_head({bytes.data(), got});
    if (!head) {
      g.sealed = true;
      return;
    }
    g.frame_left = head->header_bytes + head->payload_bytes;
    if (head->opcode == 0x8)
      g.sealed = true;
    else if (head->opcode < 0x8)
      g.in_message = !head->fin;
  }

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<gate> gate_;
};

// Beast's customisation points for the stream: closing on a timeout, and
// the TCP teardown after the closing handshake.
inline void beast_close_socket(ws_socket& s) {
  boost::beast::close_socket(s.socket());
}

inline void teardown(boost::beast::role_type role, ws_socket& s, boost::beast::error_code& ec) {
  boost::beast::websocket::teardown(role, s.socket(), ec);
}

template <class Handler>
void async_teardown(boost::beast::role_type role, ws_socket& s, Handler&& on_done) {
  boost::beast::websocket::async_teardown(role, s.socket(), std::forward<Handler>(on_done));
}

} // namespace livemart::http
