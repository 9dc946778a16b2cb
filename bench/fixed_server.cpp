// bench_fixed_server: the "best case" baseline for bench/run.sh.
//
// A minimal Boost.Beast HTTP/1.1 server, shaped like Beast's "advanced server"
// example with everything but plain HTTP removed: async accept, one session
// per connection (keep-alive), tcp_stream + flat_buffer, and a fixed
// 200 application/json {"status":"ok"} reply to every request. It measures
// what Beast + Asio alone cost on this machine, so livemart's numbers can be
// read as a fraction of it.
//
//   bench_fixed_server [--port=N] [--threads=N]
//
// Binds 127.0.0.1 only. --port=0 (the default) picks an ephemeral port. Once
// listening it prints exactly one line to stdout and flushes:
//   listening on http://127.0.0.1:<port>
// SIGINT/SIGTERM stop it cleanly (exit status 0).

#include <utility>  // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kBody = R"({"status":"ok"})";
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::uint32_t kBodyLimit = 1024 * 1024;

void log_error(beast::error_code ec, std::string_view what) {
  std::cerr << "bench_fixed_server: " << what << ": " << ec.message() << '\n';
}

// One HTTP/1.1 connection: read a request, write the fixed reply, repeat
// while the client keeps the connection alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void run() {
    // The socket was accepted onto a strand; start on it.
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec) {
      if (ec != beast::error::timeout && ec != asio::error::operation_aborted &&
          ec != asio::error::connection_reset)
        log_error(ec, "read");
      return;
    }
    const http::request<http::string_body>& req = parser_->get();

    res_ = {};
    res_.result(http::status::ok);
    res_.version(req.version());
    res_.set(http::field::server, "bench_fixed_server");
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req.keep_alive());
    res_.body().assign(kBody.data(), kBody.size());
    res_.prepare_payload();

    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      if (ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
          ec != asio::error::broken_pipe)
        log_error(ec, "write");
      return;
    }
    if (!res_.keep_alive()) return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

// Accepts connections and launches a Session for each.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor&& acceptor)
      : ioc_(ioc), acceptor_(std::move(acceptor)) {}

  void run() {
    asio::dispatch(acceptor_.get_executor(),
                   beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
  }

 private:
  void do_accept() {
    // Each connection gets its own strand.
    acceptor_.async_accept(asio::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      log_error(ec, "accept");
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket))->run();
    }
    do_accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
};

struct Options {
  unsigned short port = 0;
  int threads = 2;
};

[[noreturn]] void usage(int status) {
  (status == 0 ? std::cout : std::cerr)
      << "usage: bench_fixed_server [--port=N] [--threads=N]\n"
         "  --port=N      TCP port on 127.0.0.1 (0 = ephemeral, default 0)\n"
         "  --threads=N   io threads (default 2)\n";
  std::exit(status);
}

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && !text.empty();
}

Options parse_args(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(0);
    auto value_of = [&](std::string_view flag, std::string_view& value) {
      if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag &&
          arg[flag.size()] == '=') {
        value = arg.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string_view value;
    if (value_of("--port", value)) {
      if (!parse_int(value, opt.port)) {
        std::cerr << "bench_fixed_server: bad --port: " << value << '\n';
        usage(2);
      }
    } else if (value_of("--threads", value)) {
      if (!parse_int(value, opt.threads) || opt.threads < 1 || opt.threads > 256) {
        std::cerr << "bench_fixed_server: bad --threads (1..256): " << value << '\n';
        usage(2);
      }
    } else {
      std::cerr << "bench_fixed_server: unknown argument: " << arg << '\n';
      usage(2);
    }
  }
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);

  asio::io_context ioc{opt.threads};

  tcp::acceptor acceptor{asio::make_strand(ioc)};
  const tcp::endpoint endpoint{asio::ip::make_address_v4("127.0.0.1"), opt.port};
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    log_error(ec, "listen on 127.0.0.1:" + std::to_string(opt.port));
    return 1;
  }
  const unsigned short port = acceptor.local_endpoint().port();

  std::make_shared<Listener>(ioc, std::move(acceptor))->run();

  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  std::cout << "listening on http://127.0.0.1:" << port << std::endl;  // endl flushes

  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(opt.threads - 1));
  for (int i = 1; i < opt.threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : workers) t.join();
  return 0;
}
