// bench_ws_fanout: N WebSocket viewers of one stream, and buyers, for
// bench/streams.sh.
//
// Connects --viewers WebSocket clients to 127.0.0.1:--port --target (with
// --hello they say {"type":"hello"} first, as livemart's viewers do), then,
// with --buy-path, buys at --rate per second for --duration-s through
// livemart's API (POST --buy-path with the tokens and addresses of
// --buyers-file, one "token address" per line, an Idempotency-Key each).
// Without --buy-path it only listens for --duration-s (the bare server
// broadcasts by itself).
//
// Every stock push is a delivery: its delay is the receipt time minus at_us
// (the commit time of the value it shows, on the same machine's clock); its
// staleness is the receipt time minus first_at_us (the oldest change a
// coalesced push replaced); its fan-out delay is the receipt time minus
// sent_us (when the stream actor sent it; a bare server's at_us is that
// moment too), so coalescing's wait is left out; its wait is sent_us
// minus at_us (from the commit to the push leaving the stream actor);
// push_bytes is the mean size of the pushes. At the end it reads
// until nothing arrived for --settle-ms, reads --final-url (the product's
// stock; or takes --final) and checks each viewer's last "available".
//
// With --server-pid it reads the server's resident memory before the
// viewers connect and after, for the memory per connection.
//
// Prints one line:
//   RESULT label=... viewers=N connected=N messages=N msgs_per_s=X delay_p50_ms=X delay_p99_ms=X
//          delay_max_ms=X staleness_p99_ms=X fanout_p50_ms=X fanout_p99_ms=X wait_p50_ms=X wait_p99_ms=X
//          push_bytes=N pushes_per_viewer_s_max=N messages_per_viewer_s_max=N final=N viewers_on_final=N
//          buys=N buy_errors=N rss_per_conn_kib=X

#include <utility> // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

struct options {
  unsigned short port = 0;
  std::string target = "/";
  int viewers = 100;
  bool hello = false;
  int rate = 50;
  int duration_s = 10;
  int settle_ms = 2000;
  int connect_concurrency = 200;
  std::string buy_path;
  std::string buyers_file;
  std::string final_url;
  long final_value = -1;
  long server_pid = 0;
  std::string label = "fanout";
};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::int64_t> number_after(std::string_view text, std::string_view key) {
  auto at = text.find(key);
  if (at == std::string_view::npos)
    return std::nullopt;
  at += key.size();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), v);
  if (ec != std::errc{})
    return std::nullopt;
  return v;
}

long rss_kib(long pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

struct stats {
  std::vector<std::int32_t> delays_us;
  std::vector<std::int32_t> staleness_us; ///< from the oldest change a coalesced push stands for
  std::vector<std::int32_t> fanout_us;    ///< from the moment the stream sent the push (sent_us)
  std::vector<std::int32_t> wait_us;      ///< from the commit to the moment the stream sent it
  long messages = 0;
  long push_bytes = 0; ///< of the stock pushes measured
  bool measuring = false;
  steady::time_point started;
  steady::time_point last_message;
};

class viewer : public std::enable_shared_from_this<viewer> {
public:
  viewer(asio::io_context& ioc, const options& o, stats& st) : ws_(ioc), o_(o), st_(st) {}

  void start(std::function<void(bool)> connected) {
    connected_ = std::move(connected);
    beast::get_lowest_layer(ws_).async_connect(
      tcp::endpoint{asio::ip::make_address("127.0.0.1"), o_.port}, [self = shared_from_this()](beast::error_code ec) {
        if (ec)
          return self->connected_(false);
        self->ws_.async_handshake("127.0.0.1", self->o_.target, [self](beast::error_code e) {
          if (e)
            return self->connected_(false);
          if (self->o_.hello) {
            self->ws_.text(true);
            self->ws_.async_write(asio::buffer(std::string_view{R"({"type":"hello"})"}),
                                  [self](beast::error_code, std::size_t) {});
          } else {
            // A bare server sends nothing until everyone is in: in now.
            self->open = true;
            self->connected_(true);
          }
          self->read();
        });
      });
  }

  std::optional<std::int64_t> last_available;
  std::vector<int> per_second;     ///< stock pushes in each second
  std::vector<int> all_per_second; ///< every message in each second
  bool open = false;

private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        if (!self->open)
          self->connected_(false);
        self->open = false;
        return;
      }
      self->on_message();
      self->read();
    });
  }

  void on_message() {
    auto data = buffer_.data();
    std::string_view text{static_cast<const char*>(data.data()), data.size()};
    if (!open) {
      // The first message (livemart: the snapshot) means the viewer is in.
      open = true;
      if (auto v = number_after(text, "\"available\":"))
        last_available = *v;
      connected_(true);
      return buffer_.consume(buffer_.size());
    }
    st_.last_message = steady::now();
    if (st_.measuring) {
      auto second = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(st_.last_message - st_.started).count());
      if (all_per_second.size() <= second)
        all_per_second.resize(second + 1);
      ++all_per_second[second];
    }
    if (text.find("\"at_us\":") != std::string_view::npos && text.find("\"product\":") != std::string_view::npos) {
      auto at = number_after(text, "\"at_us\":");
      if (auto v = number_after(text, "\"available\":"))
        last_available = *v;
      if (st_.measuring && at) {
        auto now = now_us();
        auto first = number_after(text, "\"first_at_us\":").value_or(*at);
        st_.delays_us.push_back(static_cast<std::int32_t>(std::min<std::int64_t>(now - *at, INT32_MAX)));
        st_.staleness_us.push_back(static_cast<std::int32_t>(std::min<std::int64_t>(now - first, INT32_MAX)));
        auto sent = number_after(text, "\"sent_us\":").value_or(*at);
        st_.fanout_us.push_back(static_cast<std::int32_t>(std::min<std::int64_t>(now - sent, INT32_MAX)));
        st_.wait_us.push_back(static_cast<std::int32_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(sent - *at, INT32_MAX))));
        ++st_.messages;
        st_.push_bytes += static_cast<long>(text.size());
        auto second = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(steady::now() - st_.started).count());
        if (per_second.size() <= second)
          per_second.resize(second + 1);
        ++per_second[second];
      }
    }
    buffer_.consume(buffer_.size());
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  const options& o_;
  stats& st_;
  std::function<void(bool)> connected_;
};

/// Buys over keep-alive HTTP connections, one request in flight per connection.
class buyer_pool {
public:
  buyer_pool(asio::io_context& ioc, const options& o, std::vector<std::pair<std::string, std::string>> buyers)
    : ioc_(ioc), o_(o), buyers_(std::move(buyers)) {}

  void buy() {
    auto conn = std::make_shared<connection>(ioc_);
    auto& b = buyers_[next_++ % buyers_.size()];
    auto req = std::make_shared<http::request<http::string_body>>(http::verb::post, o_.buy_path, 11);
    req->set(http::field::host, "127.0.0.1");
    req->set(http::field::content_type, "application/json");
    req->set(http::field::authorization, "Bearer " + b.first);
    req->set("Idempotency-Key", "fanout-" + std::to_string(now_us()) + "-" + std::to_string(next_));
    req->body() = "{\"address_id\":\"" + b.second + "\",\"quantity\":1}";
    req->prepare_payload();
    ++issued;
    conn->stream.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), o_.port},
                               [this, conn, req](beast::error_code ec) {
                                 if (ec) {
                                   ++errors;
                                   return;
                                 }
                                 http::async_write(conn->stream, *req, [this, conn, req](beast::error_code e, std::size_t) {
                                   if (e) {
                                     ++errors;
                                     return;
                                   }
                                   http::async_read(conn->stream, conn->buffer, conn->res,
                                                    [this, conn](beast::error_code e2, std::size_t) {
                                                      if (e2 || conn->res.result_int() != 201)
                                                        ++errors;
                                                      else
                                                        ++ok;
                                                    });
                                 });
                               });
  }

  long issued = 0, ok = 0, errors = 0;

private:
  struct connection {
    explicit connection(asio::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
  };
  asio::io_context& ioc_;
  const options& o_;
  std::vector<std::pair<std::string, std::string>> buyers_;
  std::size_t next_ = 0;
};

std::optional<long> read_final(asio::io_context& ioc, const options& o) {
  try {
    beast::tcp_stream s{ioc};
    s.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), o.port});
    http::request<http::empty_body> req{http::verb::get, o.final_url, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    if (auto v = number_after(res.body(), "\"stock\":"))
      return *v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

bool arg(std::string_view a, std::string_view name, auto& out) {
  if (a.substr(0, name.size()) != name)
    return false;
  auto v = a.substr(name.size());
  if constexpr (std::is_same_v<std::decay_t<decltype(out)>, std::string>) {
    out = std::string{v};
    return true;
  } else {
    return std::from_chars(v.data(), v.data() + v.size(), out).ec == std::errc{};
  }
}

double percentile(std::vector<std::int32_t>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--hello") {
      o.hello = true;
      continue;
    }
    if (!(arg(a, "--port=", o.port) || arg(a, "--target=", o.target) || arg(a, "--viewers=", o.viewers)
          || arg(a, "--rate=", o.rate) || arg(a, "--duration-s=", o.duration_s) || arg(a, "--settle-ms=", o.settle_ms)
          || arg(a, "--connect-concurrency=", o.connect_concurrency) || arg(a, "--buy-path=", o.buy_path)
          || arg(a, "--buyers-file=", o.buyers_file) || arg(a, "--final-url=", o.final_url)
          || arg(a, "--final=", o.final_value) || arg(a, "--server-pid=", o.server_pid) || arg(a, "--label=", o.label))) {
      std::cerr << "bench_ws_fanout: unknown argument " << a << "\n";
      return 1;
    }
  }
  asio::io_context ioc{1};
  stats st;
  std::vector<std::shared_ptr<viewer>> viewers;
  long rss_before = o.server_pid != 0 ? rss_kib(o.server_pid) : 0;

  // Connect at most --connect-concurrency at a time; each counts as in once
  // its first message (the snapshot) arrived.
  int started = 0, done = 0, connected = 0;
  std::function<void()> start_one = [&] {
    if (started >= o.viewers)
      return;
    ++started;
    auto v = std::make_shared<viewer>(ioc, o, st);
    viewers.push_back(v);
    v->start([&](bool ok) {
      ++done;
      connected += ok ? 1 : 0;
      start_one();
      if (done == o.viewers)
        ioc.stop();
    });
  };
  for (int i = 0; i < std::min(o.connect_concurrency, o.viewers); ++i)
    start_one();
  ioc.run();
  ioc.restart();
  long rss_after = o.server_pid != 0 ? rss_kib(o.server_pid) : 0;
  std::cerr << "bench_ws_fanout: " << connected << " of " << o.viewers << " viewers in\n";

  std::vector<std::pair<std::string, std::string>> buyers;
  if (!o.buyers_file.empty()) {
    std::ifstream in{o.buyers_file};
    std::string token, address;
    while (in >> token >> address)
      buyers.emplace_back(token, address);
  }
  buyer_pool pool{ioc, o, buyers};
  st.measuring = true;
  st.started = steady::now();
  asio::steady_timer pace{ioc};
  auto end = steady::now() + std::chrono::seconds{o.duration_s};
  std::function<void()> tick = [&] {
    if (steady::now() >= end)
      return;
    if (!o.buy_path.empty() && !buyers.empty())
      pool.buy();
    pace.expires_at(pace.expiry() + std::chrono::microseconds{1'000'000 / std::max(1, o.rate)});
    pace.async_wait([&](beast::error_code ec) {
      if (!ec)
        tick();
    });
  };
  pace.expires_after(std::chrono::milliseconds{0});
  tick();
  ioc.run_for(std::chrono::seconds{o.duration_s});
  // Then read until nothing came for --settle-ms (at most 60 s): what is
  // still in flight counts, and the final value is the last one.
  auto give_up = steady::now() + std::chrono::seconds{60};
  while (steady::now() - st.last_message < std::chrono::milliseconds{o.settle_ms} && steady::now() < give_up) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds{100});
  }
  st.measuring = false;

  long final_value = o.final_value;
  if (!o.final_url.empty()) {
    ioc.restart();
    if (auto v = read_final(ioc, o))
      final_value = *v;
  }
  int on_final = 0, max_per_second = 0, max_all_per_second = 0;
  for (auto& v : viewers) {
    if (v->last_available && *v->last_available == final_value)
      ++on_final;
    for (int n : v->per_second)
      max_per_second = std::max(max_per_second, n);
    for (int n : v->all_per_second)
      max_all_per_second = std::max(max_all_per_second, n);
  }
  auto messages = st.messages;
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out << "RESULT label=" << o.label << " viewers=" << o.viewers << " connected=" << connected << " messages=" << messages
      << " msgs_per_s=" << static_cast<double>(messages) / std::max(1, o.duration_s)
      << " delay_p50_ms=" << percentile(st.delays_us, 0.50) << " delay_p99_ms=" << percentile(st.delays_us, 0.99)
      << " delay_max_ms=" << percentile(st.delays_us, 1.0)
      << " staleness_p99_ms=" << percentile(st.staleness_us, 0.99)
      << " fanout_p50_ms=" << percentile(st.fanout_us, 0.50) << " fanout_p99_ms=" << percentile(st.fanout_us, 0.99)
      << " wait_p50_ms=" << percentile(st.wait_us, 0.50) << " wait_p99_ms=" << percentile(st.wait_us, 0.99)
      << " push_bytes=" << (st.messages > 0 ? st.push_bytes / st.messages : 0)
      << " pushes_per_viewer_s_max=" << max_per_second
      << " messages_per_viewer_s_max=" << max_all_per_second
      << " final=" << final_value << " viewers_on_final=" << on_final << " buys=" << pool.ok
      << " buy_errors=" << pool.errors << " rss_per_conn_kib="
      << (o.viewers > 0 && o.server_pid != 0 ? static_cast<double>(rss_after - rss_before) / o.viewers : 0.0);
  std::cout << out.str() << std::endl;
  return 0;
}
