// bench_ws_bare: a bare Boost.Beast WebSocket broadcast server, the baseline
// of bench/streams.sh.
//
// Accepts WebSocket connections on 127.0.0.1 (any path), and once --viewers
// are connected broadcasts messages shaped like livemart's product pushes
// ({"type":"product","seq":0,"at_us":...,"product":{"available":N}}, N
// counting down) to every connection: --rate per second for --count
// messages, or with --rate=0 as fast as the slowest connection takes them
// (at most 64 waiting per connection) for --duration-s. Each connection has
// its own strand and write queue, as in Beast's websocket examples; nothing
// is coalesced or dropped. The final value is the last N sent. With
// --message-bytes each message is padded (a "pad" string) to about that
// size, to compare with pushes of livemart's size.
//
//   bench_ws_bare [--port=0] [--threads=2] --viewers=N [--rate=R --count=C | --rate=0 --duration-s=S]
//                 [--message-bytes=B]
//
// Prints "listening on <port>" once bound, and "done <messages sent> <final>" when
// broadcasting ends. SIGINT/SIGTERM stop it.

#include <utility> // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct options {
  unsigned short port = 0;
  int threads = 2;
  int viewers = 1;
  int rate = 0;
  long count = 0;
  int duration_s = 5;
  int message_bytes = 0; ///< pad each message to about this size (livemart's pushes carry a product and a drop)
};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class session : public std::enable_shared_from_this<session> {
public:
  explicit session(tcp::socket&& s) : ws_(std::move(s)) {}

  void run(std::function<void(std::shared_ptr<session>)> on_open) {
    ws_.async_accept([self = shared_from_this(), on_open](beast::error_code ec) {
      if (ec)
        return;
      on_open(self);
      self->read();
    });
  }

  void push(std::shared_ptr<const std::string> m) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), m] {
      self->queue_.push_back(m);
      if (self->queue_.size() == 1)
        self->write();
    });
  }

  std::size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec)
        return;
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  void write() {
    waiting_.store(queue_.size(), std::memory_order_relaxed);
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec)
        return;
      self->queue_.pop_front();
      self->waiting_.store(self->queue_.size(), std::memory_order_relaxed);
      if (!self->queue_.empty())
        self->write();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::atomic<std::size_t> waiting_{0};
};

bool parse(std::string_view arg, std::string_view name, auto& out) {
  if (arg.substr(0, name.size()) != name)
    return false;
  auto v = arg.substr(name.size());
  return std::from_chars(v.data(), v.data() + v.size(), out).ec == std::errc{};
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (!(parse(a, "--port=", o.port) || parse(a, "--threads=", o.threads) || parse(a, "--viewers=", o.viewers)
          || parse(a, "--rate=", o.rate) || parse(a, "--count=", o.count) || parse(a, "--duration-s=", o.duration_s)
          || parse(a, "--message-bytes=", o.message_bytes))) {
      std::cerr << "bench_ws_bare: unknown argument " << a << "\n";
      return 1;
    }
  }
  asio::io_context ioc{o.threads};
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), o.port}};
  std::mutex mutex;
  std::vector<std::weak_ptr<session>> sessions;
  std::atomic<bool> started{false};
  asio::steady_timer timer{ioc};
  long sent = 0;
  std::int64_t available = 1'000'000'000;

  auto broadcast = [&] {
    auto body = "{\"type\":\"product\",\"seq\":0,\"at_us\":" + std::to_string(now_us()) + ",\"product\":{\"available\":" +
                std::to_string(--available) + "}";
    if (static_cast<int>(body.size()) + 12 < o.message_bytes)
      body += ",\"pad\":\"" + std::string(static_cast<std::size_t>(o.message_bytes) - body.size() - 10, 'x') + "\"";
    auto text = std::make_shared<const std::string>(body + "}");
    std::lock_guard lock{mutex};
    for (auto& w : sessions)
      if (auto s = w.lock())
        s->push(text);
    ++sent;
  };
  std::function<void()> paced;
  auto finish = [&] {
    std::cout << "done " << sent << " " << available << std::endl;
  };
  auto deadline = std::chrono::steady_clock::now();
  paced = [&] {
    if (o.rate > 0) {
      if (sent >= o.count) {
        finish();
        return;
      }
      broadcast();
      timer.expires_at(timer.expiry() + std::chrono::microseconds{1'000'000 / o.rate});
    } else {
      if (std::chrono::steady_clock::now() >= deadline) {
        finish();
        return;
      }
      // As fast as the slowest connection: at most 64 waiting anywhere.
      std::size_t most = 0;
      {
        std::lock_guard lock{mutex};
        for (auto& w : sessions)
          if (auto s = w.lock())
            most = std::max(most, s->waiting());
      }
      if (most < 64)
        for (int i = 0; i < 8; ++i)
          broadcast();
      timer.expires_after(std::chrono::microseconds{200});
    }
    timer.async_wait([&](beast::error_code ec) {
      if (!ec)
        paced();
    });
  };
  auto on_open = [&](std::shared_ptr<session> s) {
    std::size_t n;
    {
      std::lock_guard lock{mutex};
      sessions.push_back(s);
      n = sessions.size();
    }
    if (static_cast<int>(n) == o.viewers && !started.exchange(true)) {
      asio::post(timer.get_executor(), [&] {
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds{o.duration_s};
        timer.expires_after(std::chrono::milliseconds{0});
        paced();
      });
    }
  };
  std::function<void()> accept = [&] {
    acceptor.async_accept(asio::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
      if (!ec)
        std::make_shared<session>(std::move(socket))->run(on_open);
      accept();
    });
  };
  accept();
  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;
  std::vector<std::thread> pool;
  for (int i = 1; i < o.threads; ++i)
    pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool)
    t.join();
  return 0;
}
