// bench_conventional_orders: the comparison for bench/orders.sh, the way an
// order is commonly taken: one database transaction per order that locks
// the product row.
//
// A Beast HTTP/1.1 server (shaped like bench_fixed_server) hands each
// POST /orders to a pool of worker threads, each with its own blocking
// libpq connection, which runs
//
//   BEGIN;
//   UPDATE products SET stock = stock - n, sold = sold + n ... WHERE id = $1 AND stock >= n RETURNING ...;
//   INSERT INTO bench_conventional_orders (...)   -- the order, its price snapshot and its Idempotency-Key
//   INSERT INTO stock_ledger (...);
//   COMMIT;
//
// and answers 201 (or 409 when the stock ran out, 400 for a bad body). It
// verifies no tokens and keeps no idempotency replies, so it does less work
// per order than livemart; the ratio errs in its favour.
//
//   bench_conventional_orders --database-url=URL [--port=0] [--threads=2] [--workers=32]
//
// Body: {"product_id":"<id>","quantity":n,"buyer_id":"<id>"}. Binds
// 127.0.0.1 only and prints "listening on http://127.0.0.1:<port>".
// This is a measuring tool outside the product's modules, so it uses Beast
// and libpq directly.

#include <utility>  // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
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

constexpr auto kIdleTimeout = std::chrono::seconds(30);

struct Options {
  unsigned short port = 0;
  int threads = 2;
  int workers = 32;
  std::string database_url;
};

struct Order {
  std::string product_id;
  std::string buyer_id;
  std::string quantity;
  std::string key;
};

struct Reply {
  unsigned status = 500;
  std::string body;
};

/// A string member's value ("key":"value") or a number's digits ("key":n).
std::string member(std::string_view body, std::string_view key) {
  auto at = body.find("\"" + std::string{key} + "\"");
  if (at == std::string_view::npos)
    return {};
  at = body.find(':', at);
  if (at == std::string_view::npos)
    return {};
  ++at;
  while (at < body.size() && (body[at] == ' ' || body[at] == '"'))
    ++at;
  auto end = at;
  while (end < body.size() && body[end] >= '0' && body[end] <= '9')
    ++end;
  return std::string{body.substr(at, end - at)};
}

/// The blocking side: a queue of jobs and threads that each own a connection.
class Pool {
 public:
  using Job = std::function<void(PGconn*)>;

  Pool(const std::string& url, int workers) {
    for (int i = 0; i < workers; ++i) {
      PGconn* conn = PQconnectdb(url.c_str());
      if (PQstatus(conn) != CONNECTION_OK) {
        std::cerr << "bench_conventional_orders: cannot connect: " << PQerrorMessage(conn);
        std::exit(1);
      }
      prepare(conn);
      threads_.emplace_back([this, conn] { work(conn); });
    }
  }

  ~Pool() {
    {
      std::lock_guard lock{mutex_};
      stop_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  void submit(Job job) {
    {
      std::lock_guard lock{mutex_};
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  static void prepare(PGconn* conn) {
    auto run = [conn](const char* sql) {
      PGresult* r = PQexec(conn, sql);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        std::cerr << "bench_conventional_orders: " << PQerrorMessage(conn);
        std::exit(1);
      }
      PQclear(r);
    };
    run("CREATE TABLE IF NOT EXISTS bench_conventional_orders (id bigint PRIMARY KEY, buyer_id bigint NOT NULL, "
        "seller_id bigint NOT NULL, product_id bigint NOT NULL, title text NOT NULL, unit_price_minor bigint NOT NULL, "
        "quantity integer NOT NULL, total_minor bigint NOT NULL, idempotency_key text NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (buyer_id, idempotency_key))");
    auto prep = [conn](const char* name, const char* sql, int params) {
      PGresult* r = PQprepare(conn, name, sql, params, nullptr);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        std::cerr << "bench_conventional_orders: prepare " << name << ": " << PQerrorMessage(conn);
        std::exit(1);
      }
      PQclear(r);
    };
    prep("take",
         "UPDATE products SET stock = stock - $2::bigint, sold = sold + $2::bigint, stock_version = stock_version + 1 "
         "WHERE id = $1 AND status = 'active' AND stock >= $2::bigint RETURNING price_minor, seller_id, title",
         2);
    prep("order",
         "INSERT INTO bench_conventional_orders (id, buyer_id, seller_id, product_id, title, unit_price_minor, quantity, "
         "total_minor, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $6::bigint * $7::integer, $8)",
         8);
    prep("ledger",
         "INSERT INTO stock_ledger (id, product_id, kind, quantity, reason) VALUES ($1, $2, 'commit', $3, 'conventional order')",
         3);
  }

  void work(PGconn* conn) {
    for (;;) {
      Job job;
      {
        std::unique_lock lock{mutex_};
        ready_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_ && jobs_.empty())
          break;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job(conn);
    }
    PQfinish(conn);
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

std::atomic<std::uint64_t> next_id{0};

/// One order, one transaction; the product row is locked until COMMIT.
Reply place(PGconn* conn, const Order& o) {
  auto exec = [conn](const char* sql) { PQclear(PQexec(conn, sql)); };
  auto prepared = [conn](const char* name, std::vector<std::string> values) {
    std::vector<const char*> params;
    for (const auto& v : values)
      params.push_back(v.c_str());
    return PQexecPrepared(conn, name, static_cast<int>(params.size()), params.data(), nullptr, nullptr, 0);
  };
  exec("BEGIN");
  PGresult* taken = prepared("take", {o.product_id, o.quantity});
  if (PQresultStatus(taken) != PGRES_TUPLES_OK || PQntuples(taken) != 1) {
    bool sold_out = PQresultStatus(taken) == PGRES_TUPLES_OK;
    PQclear(taken);
    exec("ROLLBACK");
    return sold_out ? Reply{409, R"({"error":"sold out"})"} : Reply{500, R"({"error":"database"})"};
  }
  std::string price = PQgetvalue(taken, 0, 0);
  std::string seller = PQgetvalue(taken, 0, 1);
  std::string title = PQgetvalue(taken, 0, 2);
  PQclear(taken);
  auto id = std::to_string(next_id.fetch_add(2));
  auto ledger = std::to_string(std::stoull(id) + 1);
  PGresult* order = prepared("order", {id, o.buyer_id, seller, o.product_id, title, price, o.quantity, o.key});
  bool ok = PQresultStatus(order) == PGRES_COMMAND_OK;
  PQclear(order);
  if (ok) {
    PGresult* entry = prepared("ledger", {ledger, o.product_id, o.quantity});
    ok = PQresultStatus(entry) == PGRES_COMMAND_OK;
    PQclear(entry);
  }
  if (!ok) {
    exec("ROLLBACK");
    return {500, R"({"error":"database"})"};
  }
  PGresult* commit = PQexec(conn, "COMMIT");
  ok = PQresultStatus(commit) == PGRES_COMMAND_OK;
  PQclear(commit);
  if (!ok)
    return {500, R"({"error":"commit"})"};
  return {201, "{\"id\":\"" + id + "\",\"unit_price_minor\":" + price + "}"};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Pool& pool) : stream_(std::move(socket)), pool_(pool) {}

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    req_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec)
      return;
    Order o{member(req_.body(), "product_id"), member(req_.body(), "buyer_id"), member(req_.body(), "quantity"),
            std::string{req_["Idempotency-Key"]}};
    if (req_.method() != http::verb::post || o.product_id.empty() || o.buyer_id.empty() || o.quantity.empty()
        || o.key.empty())
      return write({400, R"({"error":"bad request"})"});
    stream_.expires_never();
    auto self = shared_from_this();
    pool_.submit([self, o](PGconn* conn) {
      auto reply = place(conn, o);
      asio::post(self->stream_.get_executor(), [self, reply] { self->write(reply); });
    });
  }

  void write(const Reply& reply) {
    res_ = {};
    res_.result(reply.status);
    res_.version(req_.version());
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = reply.body;
    res_.prepare_payload();
    http::async_write(stream_, res_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec)
      return;
    if (!res_.keep_alive()) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    do_read();
  }

  beast::tcp_stream stream_;
  Pool& pool_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor&& acceptor, Pool& pool)
    : ioc_(ioc), acceptor_(std::move(acceptor)), pool_(pool) {}

  void run() { do_accept(); }

 private:
  void do_accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted)
      return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), pool_)->run();
    }
    do_accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  Pool& pool_;
};

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size() && !text.empty();
}

[[noreturn]] void usage(int status) {
  (status == 0 ? std::cout : std::cerr)
    << "usage: bench_conventional_orders --database-url=URL [--port=0] [--threads=2] [--workers=32]\n";
  std::exit(status);
}

Options parse_args(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = arg.substr(arg.find('=') == std::string_view::npos ? arg.size() : arg.find('=') + 1);
    if (arg == "--help")
      usage(0);
    else if (arg.rfind("--port=", 0) == 0 && parse_int(value, opt.port))
      continue;
    else if (arg.rfind("--threads=", 0) == 0 && parse_int(value, opt.threads) && opt.threads >= 1 && opt.threads <= 64)
      continue;
    else if (arg.rfind("--workers=", 0) == 0 && parse_int(value, opt.workers) && opt.workers >= 1 && opt.workers <= 256)
      continue;
    else if (arg.rfind("--database-url=", 0) == 0 && !value.empty())
      opt.database_url = std::string{value};
    else
      usage(2);
  }
  if (opt.database_url.empty())
    usage(2);
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  // Ids far from livemart's (which carry a timestamp in their high bits).
  next_id = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) & 0xFFFFFFFFFFull;
  Pool pool{opt.database_url, opt.workers};
  asio::io_context ioc{opt.threads};
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  const tcp::endpoint endpoint{asio::ip::make_address_v4("127.0.0.1"), opt.port};
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "bench_conventional_orders: listen: " << ec.message() << '\n';
    return 1;
  }
  const unsigned short port = acceptor.local_endpoint().port();
  std::make_shared<Listener>(ioc, std::move(acceptor), pool)->run();
  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });
  std::cout << "listening on http://127.0.0.1:" << port << std::endl;
  std::vector<std::thread> threads;
  for (int i = 1; i < opt.threads; ++i)
    threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  return 0;
}
