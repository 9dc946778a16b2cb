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
// With --viewer-ports=P1,P2,... viewer i connects to the i-th port of the
// list (round robin): the nodes of a cluster, each holding some viewers of
// a stream another node owns; buyers and the final read use --port.
//
// With --server-pid it reads the server's resident memory before the
// viewers connect and after, for the memory per connection, and the CPU
// time the server and this client used over the measured seconds (cores,
// and microseconds per stock push delivered): on a shared 2-core machine
// the client's reading is part of the load.
//
// The viewers are read by --reader-threads threads (default 1), each with
// its own epoll; the buyers run on a thread of their own (buy_lag_p99_ms:
// how late a buy left against its schedule).
//
// Prints one line:
//   RESULT label=... viewers=N connected=N messages=N msgs_per_s=X delay_p50_ms=X delay_p99_ms=X
//          delay_max_ms=X staleness_p99_ms=X fanout_p50_ms=X fanout_p99_ms=X wait_p50_ms=X wait_p99_ms=X
//          push_bytes=N pushes_per_viewer_s_max=N messages_per_viewer_s_max=N final=N viewers_on_final=N
//          buys=N buy_errors=N buy_lag_p99_ms=X server_cores=X client_cores=X server_cpu_us_per_msg=X
//          client_cpu_us_per_msg=X rss_per_conn_kib=X

#include <utility> // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <http/ws_outbox.hpp> // the frame header's reader (Beast-free)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using livemart::http::read_ws_frame_head;

namespace {

struct options {
  unsigned short port = 0;
  std::vector<unsigned short> viewer_ports; ///< empty: every viewer on `port`
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
  int reader_threads = 1;
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

/// CPU time (user + system) a process has used so far, in microseconds.
double cpu_us(long pid) {
  std::ifstream in{pid != 0 ? "/proc/" + std::to_string(pid) + "/stat" : std::string{"/proc/self/stat"}};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  auto close = text.rfind(')'); // the command name may hold spaces
  if (close == std::string::npos)
    return 0;
  std::istringstream fields{text.substr(close + 2)};
  std::string field;
  double user = 0, system = 0;
  for (int i = 3; fields >> field; ++i) { // field 3 is the state; 14 utime, 15 stime
    if (i == 14)
      user = std::stod(field);
    if (i == 15) {
      system = std::stod(field);
      break;
    }
  }
  return (user + system) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct stats {
  std::vector<std::int32_t> delays_us;
  std::vector<std::int32_t> staleness_us; ///< from the oldest change a coalesced push stands for
  std::vector<std::int32_t> fanout_us;    ///< from the moment the stream sent the push (sent_us)
  std::vector<std::int32_t> wait_us;      ///< from the commit to the moment the stream sent it
  long messages = 0;
  long push_bytes = 0; ///< of the stock pushes measured
  bool measuring = false; ///< set before the reader's thread starts
  steady::time_point started;
  std::atomic<steady::rep> last_message_ns{0}; ///< read by the main thread: when to stop
};

/// One viewer: a WebSocket client on a plain non-blocking socket. The
/// viewers are read with epoll and a hand-written frame parser rather than
/// Beast's client stream: on a machine where a system call is expensive,
/// Beast's read (a receive, a second one that finds nothing, a completion
/// through the io_context) cost the load client about twice what one
/// receive per ready socket does, and the client shares the 2 cores with
/// the server it measures. Both servers are measured with this client.
struct viewer {
  enum class phase { upgrading, waiting_snapshot, open, closed };
  int fd = -1;
  phase at = phase::upgrading;
  std::string in;       ///< bytes received and not parsed yet
  std::string fragments; ///< a fragmented message so far
  std::optional<std::int64_t> last_available;
  std::vector<int> per_second;     ///< stock pushes in each second
  std::vector<int> all_per_second; ///< every message in each second
};

/// Sends all of `data` on a socket that may be non-blocking (small control
/// writes: the upgrade request, hello, pongs).
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// A client frame (masked, with a zero key: the server unmasks to the same bytes).
std::string client_frame(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>((payload.size() >> 8) & 0xff));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  f.append(4, '\0');
  f.append(payload);
  return f;
}

/// The viewers one thread reads, with what it measured.
class reader {
public:
  reader(const options& o, stats& st) : o_(o), st_(st), ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
  ~reader() { ::close(ep_); }
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  void add(viewer& v) {
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP; // level-triggered: one receive per ready socket
    e.data.ptr = &v;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, v.fd, &e);
  }

  /// Waits up to `timeout_ms` for ready viewers and reads them; calls
  /// `opened` for each viewer that is in (its upgrade done, and with
  /// --hello its snapshot read).
  void poll(int timeout_ms, const std::function<void(viewer&, bool)>& opened) {
    std::array<epoll_event, 512> events;
    int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i)
      read(*static_cast<viewer*>(events[static_cast<std::size_t>(i)].data.ptr), opened);
  }

private:
  void read(viewer& v, const std::function<void(viewer&, bool)>& opened) {
    auto n = ::recv(v.fd, buffer_.data(), buffer_.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n <= 0)
      return fail(v, opened);
    v.in.append(buffer_.data(), static_cast<std::size_t>(n));
    if (v.at == viewer::phase::upgrading) {
      auto end = v.in.find("\r\n\r\n");
      if (end == std::string::npos)
        return;
      if (v.in.rfind("HTTP/1.1 101", 0) != 0)
        return fail(v, opened);
      v.in.erase(0, end + 4);
      if (o_.hello) {
        v.at = viewer::phase::waiting_snapshot;
        if (!send_all(v.fd, client_frame(0x1, R"({"type":"hello"})")))
          return fail(v, opened);
      } else {
        // A bare server sends nothing until everyone is in: in now.
        v.at = viewer::phase::open;
        opened(v, true);
      }
    }
    std::size_t off = 0;
    while (v.at != viewer::phase::closed) {
      auto head = read_ws_frame_head(std::string_view{v.in}.substr(off));
      if (!head)
        break;
      if (head->masked) // a server never masks
        return fail(v, opened);
      if (v.in.size() - off < head->header_bytes + head->payload_bytes)
        break;
      std::string_view payload{v.in.data() + off + head->header_bytes, static_cast<std::size_t>(head->payload_bytes)};
      off += head->header_bytes + static_cast<std::size_t>(head->payload_bytes);
      bool fin = head->fin;
      switch (head->opcode) {
      case 0x0: // continuation
        v.fragments.append(payload);
        if (fin)
          message(v, std::exchange(v.fragments, {}), opened);
        break;
      case 0x1:
      case 0x2:
        if (fin)
          message(v, payload, opened);
        else
          v.fragments.assign(payload);
        break;
      case 0x8:
        return fail(v, opened);
      case 0x9:
        send_all(v.fd, client_frame(0xA, payload));
        break;
      default:
        break;
      }
    }
    if (v.at != viewer::phase::closed)
      v.in.erase(0, off);
  }

  void fail(viewer& v, const std::function<void(viewer&, bool)>& opened) {
    bool was_open = v.at == viewer::phase::open;
    v.at = viewer::phase::closed;
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, v.fd, nullptr);
    if (!was_open)
      opened(v, false);
  }

  void message(viewer& v, std::string_view text, const std::function<void(viewer&, bool)>& opened) {
    if (v.at == viewer::phase::waiting_snapshot) {
      // The first message (livemart: the snapshot) means the viewer is in.
      v.at = viewer::phase::open;
      if (auto a = number_after(text, "\"available\":"))
        v.last_available = *a;
      opened(v, true);
      return;
    }
    auto received = steady::now();
    st_.last_message_ns.store(received.time_since_epoch().count(), std::memory_order_relaxed);
    bool push = text.find("\"at_us\":") != std::string_view::npos && text.find("\"product\":") != std::string_view::npos;
    if (push)
      if (auto a = number_after(text, "\"available\":"))
        v.last_available = *a;
    if (!st_.measuring)
      return;
    auto second = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(received - st_.started).count());
    if (v.all_per_second.size() <= second)
      v.all_per_second.resize(second + 1);
    ++v.all_per_second[second];
    auto at = push ? number_after(text, "\"at_us\":") : std::nullopt;
    if (!at)
      return;
    auto now = now_us();
    auto first = number_after(text, "\"first_at_us\":").value_or(*at);
    auto sent = number_after(text, "\"sent_us\":").value_or(*at);
    auto clamp = [](std::int64_t x) { return static_cast<std::int32_t>(std::clamp<std::int64_t>(x, 0, INT32_MAX)); };
    st_.delays_us.push_back(clamp(now - *at));
    st_.staleness_us.push_back(clamp(now - first));
    st_.fanout_us.push_back(clamp(now - sent));
    st_.wait_us.push_back(clamp(sent - *at));
    ++st_.messages;
    st_.push_bytes += static_cast<long>(text.size());
    if (v.per_second.size() <= second)
      v.per_second.resize(second + 1);
    ++v.per_second[second];
  }

  const options& o_;
  stats& st_;
  int ep_;
  std::array<char, 256 * 1024> buffer_{};
};

/// Opens a viewer's connection and sends its upgrade request (the answer
/// is read by a reader). Loopback only.
bool open_viewer(viewer& v, const options& o, int index) {
  auto port = o.viewer_ports.empty() ? o.port : o.viewer_ports[static_cast<std::size_t>(index) % o.viewer_ports.size()];
  v.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (v.fd < 0)
    return false;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(v.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
    return false;
  std::string request = "GET " + o.target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
                        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
  if (!send_all(v.fd, request))
    return false;
  return ::fcntl(v.fd, F_SETFL, ::fcntl(v.fd, F_GETFL) | O_NONBLOCK) == 0;
}

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
    if (a.substr(0, 15) == "--viewer-ports=") {
      auto list = a.substr(15);
      while (!list.empty()) {
        auto comma = list.find(',');
        auto item = list.substr(0, comma);
        unsigned short port = 0;
        if (std::from_chars(item.data(), item.data() + item.size(), port).ec != std::errc{} || port == 0) {
          std::cerr << "bench_ws_fanout: --viewer-ports needs ports separated by commas\n";
          return 1;
        }
        o.viewer_ports.push_back(port);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
      continue;
    }
    if (!(arg(a, "--port=", o.port) || arg(a, "--target=", o.target) || arg(a, "--viewers=", o.viewers)
          || arg(a, "--rate=", o.rate) || arg(a, "--duration-s=", o.duration_s) || arg(a, "--settle-ms=", o.settle_ms)
          || arg(a, "--connect-concurrency=", o.connect_concurrency) || arg(a, "--buy-path=", o.buy_path)
          || arg(a, "--buyers-file=", o.buyers_file) || arg(a, "--final-url=", o.final_url)
          || arg(a, "--final=", o.final_value) || arg(a, "--server-pid=", o.server_pid) || arg(a, "--label=", o.label) || arg(a, "--reader-threads=", o.reader_threads))) {
      std::cerr << "bench_ws_fanout: unknown argument " << a << "\n";
      return 1;
    }
  }
  o.reader_threads = std::clamp(o.reader_threads, 1, 16);
  long rss_before = o.server_pid != 0 ? rss_kib(o.server_pid) : 0;

  // Connect at most --connect-concurrency at a time; each counts as in once
  // its upgrade is done (with --hello: once its snapshot arrived).
  std::vector<viewer> viewers(static_cast<std::size_t>(std::max(0, o.viewers)));
  std::vector<std::unique_ptr<stats>> per_reader;
  for (int i = 0; i < o.reader_threads; ++i)
    per_reader.push_back(std::make_unique<stats>());
  int started = 0, done = 0, connected = 0;
  {
    reader connecting{o, *per_reader[0]};
    std::function<void(viewer&, bool)> opened;
    auto start_one = [&] {
      while (started < o.viewers) {
        auto index = started++;
        auto& v = viewers[static_cast<std::size_t>(index)];
        if (open_viewer(v, o, index)) {
          connecting.add(v);
          return;
        }
        v.at = viewer::phase::closed;
        ++done;
      }
    };
    opened = [&](viewer&, bool ok) {
      ++done;
      connected += ok ? 1 : 0;
      start_one();
    };
    for (int i = 0; i < std::min(o.connect_concurrency, o.viewers); ++i)
      start_one();
    auto give_up = steady::now() + std::chrono::seconds{120};
    while (done < o.viewers && steady::now() < give_up)
      connecting.poll(100, opened);
  }
  long rss_after = o.server_pid != 0 ? rss_kib(o.server_pid) : 0;
  std::cerr << "bench_ws_fanout: " << connected << " of " << o.viewers << " viewers in\n";

  // The viewers, spread over --reader-threads threads, each with its epoll.
  std::vector<std::unique_ptr<reader>> readers;
  for (int i = 0; i < o.reader_threads; ++i)
    readers.push_back(std::make_unique<reader>(o, *per_reader[static_cast<std::size_t>(i)]));
  for (std::size_t i = 0; i < viewers.size(); ++i)
    if (viewers[i].at == viewer::phase::open)
      readers[i % readers.size()]->add(viewers[i]);
  auto measure_start = steady::now();
  double server_cpu_before = o.server_pid != 0 ? cpu_us(o.server_pid) : 0, client_cpu_before = cpu_us(0);
  for (auto& st : per_reader) {
    st->measuring = true;
    st->started = measure_start;
    st->last_message_ns = measure_start.time_since_epoch().count();
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> reading;
  for (auto& r : readers)
    reading.emplace_back([&stop, rd = r.get()] {
      std::function<void(viewer&, bool)> ignore = [](viewer&, bool) {};
      while (!stop.load(std::memory_order_relaxed))
        rd->poll(50, ignore);
    });

  std::vector<std::pair<std::string, std::string>> buyers;
  if (!o.buyers_file.empty()) {
    std::ifstream in{o.buyers_file};
    std::string token, address;
    while (in >> token >> address)
      buyers.emplace_back(token, address);
  }
  // The buyers have their own thread and event loop: their pace must not
  // depend on how busy reading the viewers' pushes keeps this one (on a
  // shared loop, buys that fell due while a push was being read left in a
  // burst right after it, and so always waited a whole push interval).
  asio::io_context buy_ioc{1};
  buyer_pool pool{buy_ioc, o, buyers};
  std::vector<std::int32_t> buy_lag_us; ///< how late each buy left, against its schedule
  auto end = measure_start + std::chrono::seconds{o.duration_s};
  std::thread buying{[&] {
    asio::steady_timer pace{buy_ioc};
    std::function<void()> tick = [&] {
      if (steady::now() >= end)
        return;
      buy_lag_us.push_back(static_cast<std::int32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - pace.expiry()).count()));
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
    buy_ioc.run_for(std::chrono::seconds{o.duration_s + 10}); // the last answers, at most 10 s late
  }};
  std::this_thread::sleep_until(end);
  double server_cpu = o.server_pid != 0 ? cpu_us(o.server_pid) - server_cpu_before : 0;
  double client_cpu = cpu_us(0) - client_cpu_before; // buyers included
  // Then read until nothing came for --settle-ms (at most 60 s): what is
  // still in flight counts, and the final value is the last one.
  auto give_up = steady::now() + std::chrono::seconds{60};
  auto quiet = [&] {
    auto now = steady::now().time_since_epoch().count();
    auto settle = std::chrono::duration_cast<steady::duration>(std::chrono::milliseconds{o.settle_ms}).count();
    return std::all_of(per_reader.begin(), per_reader.end(), [&](const auto& st) { return now - st->last_message_ns.load() >= settle; });
  };
  while (!quiet() && steady::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  stop = true;
  for (auto& t : reading)
    t.join();
  buying.join(); // its loop ends when the last buy was answered

  stats st; // every reader's figures together
  for (auto& r : per_reader) {
    st.delays_us.insert(st.delays_us.end(), r->delays_us.begin(), r->delays_us.end());
    st.staleness_us.insert(st.staleness_us.end(), r->staleness_us.begin(), r->staleness_us.end());
    st.fanout_us.insert(st.fanout_us.end(), r->fanout_us.begin(), r->fanout_us.end());
    st.wait_us.insert(st.wait_us.end(), r->wait_us.begin(), r->wait_us.end());
    st.messages += r->messages;
    st.push_bytes += r->push_bytes;
  }
  for (auto& v : viewers)
    if (v.fd >= 0)
      ::close(v.fd);

  long final_value = o.final_value;
  if (!o.final_url.empty()) {
    asio::io_context ioc{1};
    if (auto v = read_final(ioc, o))
      final_value = *v;
  }
  int on_final = 0, max_per_second = 0, max_all_per_second = 0;
  for (auto& v : viewers) {
    if (v.last_available && *v.last_available == final_value)
      ++on_final;
    for (int n : v.per_second)
      max_per_second = std::max(max_per_second, n);
    for (int n : v.all_per_second)
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
      << " buy_errors=" << pool.errors << " buy_lag_p99_ms=" << percentile(buy_lag_us, 0.99)
      << " server_cores=" << server_cpu / 1e6 / std::max(1, o.duration_s)
      << " client_cores=" << client_cpu / 1e6 / std::max(1, o.duration_s)
      << " server_cpu_us_per_msg=" << (messages > 0 ? server_cpu / static_cast<double>(messages) : 0.0)
      << " client_cpu_us_per_msg=" << (messages > 0 ? client_cpu / static_cast<double>(messages) : 0.0) << " rss_per_conn_kib="
      << (o.viewers > 0 && o.server_pid != 0 ? static_cast<double>(rss_after - rss_before) / o.viewers : 0.0);
  std::cout << out.str() << std::endl;
  return 0;
}
