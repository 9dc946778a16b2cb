#pragma once

#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
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
/// Beast writes nothing and is not halfway through a frame, and a Beast
/// write that comes while the rest of such a frame is still going waits
/// for it. After a close frame, nothing of its own goes any more.
/// Everything here runs on the connection's strand.
class ws_socket {
public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  explicit ws_socket(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

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
        if (rest_) {
          // The rest of a frame of ours goes first.
          auto held = std::make_shared<decltype(done)>(std::move(done));
          waiting_.push_back([this, held, b] { write(std::move(*held), b); });
          return;
        }
        write(std::move(done), b);
      },
      on_written, buffers);
  }

  /// Sends `m->frame` now, unless another write is under way: false when
  /// nothing was sent (the caller queues it for Beast). A frame the kernel
  /// takes only in part is finished asynchronously, `keep_alive` held
  /// until then, before any other write. The caller calls it only while no
  /// message of its own is being written through Beast: Beast may split a
  /// message into frames, and no other message may come between them.
  bool try_send(const ws_message_ptr& m, std::shared_ptr<void> keep_alive) {
    if (writes_ != 0 || partial_ || rest_ || sealed_ || m->frame.empty())
      return false;
    auto n = ::send(socket_.native_handle(), m->frame.data(), m->frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0)
      return false; // full (EAGAIN), or broken: Beast's write will tell
    auto sent = static_cast<std::size_t>(n);
    if (sent == m->frame.size())
      return true;
    rest_ = m;
    boost::asio::async_write(socket_, boost::asio::buffer(m->frame.data() + sent, m->frame.size() - sent),
                      [this, keep_alive = std::move(keep_alive)](boost::beast::error_code, std::size_t) {
                        // On an error too: the waiting writes fail on their own.
                        rest_.reset();
                        auto waiting = std::move(waiting_);
                        waiting_.clear();
                        for (auto& w : waiting)
                          w();
                      });
    return true;
  }

private:
  template <class Handler, class Buffers>
  void write(Handler done, const Buffers& buffers) {
    auto size = boost::asio::buffer_size(buffers);
    // A write that starts a frame with the close opcode seals the gate.
    if (!partial_ && size != 0 && first_byte(buffers) == 0x88)
      sealed_ = true;
    ++writes_;
    socket_.async_write_some(buffers, [this, size, done = std::move(done)](boost::beast::error_code ec, std::size_t n) mutable {
      --writes_;
      partial_ = !ec && n < size; // Beast writes the rest next
      done(ec, n);
    });
  }

  template <class Buffers>
  static std::uint8_t first_byte(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() != 0)
        return *static_cast<const std::uint8_t*>(b.data());
    }
    return 0;
  }

  boost::asio::ip::tcp::socket socket_;
  int writes_ = 0;       ///< Beast's writes under way
  bool partial_ = false; ///< Beast's last write left part of a frame
  bool sealed_ = false;  ///< a close frame was written
  ws_message_ptr rest_;  ///< a frame of ours still being finished
  std::vector<std::function<void()>> waiting_; ///< Beast's writes behind it
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
