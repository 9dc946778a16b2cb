// bench_http_load: a closed-loop HTTP/1.1 keep-alive load generator.
//
//   bench_http_load --url=http://127.0.0.1:PORT/path [--connections=64]
//                   [--threads=1] [--duration-s=10] [--warmup-s=1]
//                   [--header="Name: value"]... [--label=TEXT]
//                   [--paths-file=FILE]
//                   [--requests-file=FILE] [--unique-header=NAME]
//
// With --paths-file, each line of FILE is a path (and query) on the --url's
// host; every connection walks the list round-robin from its own offset, so
// a mixed workload (say, many different searches) is spread evenly.
//
// With --requests-file, each line is a whole request instead:
// METHOD<TAB>PATH<TAB>BEARER-TOKEN or -<TAB>JSON-BODY or - (walked the same
// way). --unique-header=NAME adds "NAME: <label>-<connection>-<n>" to every
// request sent, unique within the run (an Idempotency-Key per attempt).
//
// Each connection sends its request, reads the whole response, records its latency
// and immediately sends the next one, until the deadline (warm-up + duration).
// Only responses completed inside the measured window (after warm-up) count
// towards requests, rps, latencies, non2xx and errors. At the end it prints
// exactly one line to stdout:
//
//   RESULT label=<label> requests=<n> rps=<r> p50_us=<n> p99_us=<n> max_us=<n> non2xx=<n> errors=<n>
//
// Loopback only: the host must be 127.0.0.1 or localhost (which is taken to
// mean 127.0.0.1, never resolved). The run is bounded: --duration-s is capped
// at 120 and --warmup-s at 60, and at the deadline every socket is closed,
// so a stalled server cannot keep it running.
//
// Plain Asio with a small hand-written response parser (status line,
// Content-Length, chunked, Connection: close, read-until-EOF), which is
// cheaper per request than a full Beast parser: the generator should not be
// the bottleneck when it shares the cores with the server.
//
// Exit status: 0 when at least one request completed in the window, 1 when
// none did (the RESULT line is printed either way), 2 on bad arguments.

#include <utility>  // before Asio: Boost 1.74 + g++ 12 + C++20 needs std::exchange

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr double kMaxDurationS = 120.0;
constexpr double kMaxWarmupS = 60.0;
constexpr int kMaxConnections = 10000;
constexpr int kMaxThreads = 256;
constexpr std::size_t kBufferSize = 64 * 1024;
constexpr std::size_t kMaxHeaderBytes = 32 * 1024;
constexpr std::size_t kMaxChunkLine = 1024;
constexpr auto kErrorBackoff = std::chrono::milliseconds(10);

// ---------------------------------------------------------------- options --

struct Options {
  std::string url;
  std::string path = "/";
  unsigned short port = 80;
  int connections = 64;
  int threads = 1;
  double duration_s = 10.0;
  double warmup_s = 1.0;
  std::vector<std::string> headers;
  std::string label = "bench";
  std::vector<std::string> paths; ///< from --paths-file; empty: the --url's path
  std::vector<std::string> request_lines; ///< from --requests-file
  std::string unique_header;
};

[[noreturn]] void usage(int status) {
  (status == 0 ? std::cout : std::cerr)
      << "usage: bench_http_load --url=http://127.0.0.1:PORT/path [options]\n"
         "  --url=URL             http://127.0.0.1 or http://localhost only\n"
         "  --connections=N       concurrent keep-alive connections (default 64)\n"
         "  --threads=N           io threads (default 1)\n"
         "  --duration-s=S        measured window in seconds (default 10, max 120)\n"
         "  --warmup-s=S          warm-up before measuring (default 1, max 60)\n"
         "  --header='Name: v'    extra request header (repeatable)\n"
         "  --label=TEXT          label for the RESULT line (whitespace -> '_')\n"
         "  --paths-file=FILE     request these paths (one per line) round-robin instead\n"
         "  --requests-file=FILE  whole requests, one per line: METHOD<TAB>PATH<TAB>TOKEN|-<TAB>BODY|-\n"
         "  --unique-header=NAME  add 'NAME: <unique>' to every request sent\n";
  std::exit(status);
}

[[noreturn]] void bad_arg(const std::string& msg) {
  std::cerr << "bench_http_load: " << msg << '\n';
  usage(2);
}

template <class Num>
bool parse_num(std::string_view text, Num& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc{} && ptr == end;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// http://HOST[:PORT][/path]; HOST must be 127.0.0.1 or localhost.
void parse_url(Options& opt) {
  std::string_view u = opt.url;
  constexpr std::string_view scheme = "http://";
  if (u.substr(0, scheme.size()) != scheme) bad_arg("--url must start with http:// (no TLS)");
  u.remove_prefix(scheme.size());
  const std::size_t slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  opt.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  if (opt.path.find_first_of(" \r\n\t") != std::string::npos) bad_arg("--url path contains whitespace");
  const std::size_t at = authority.find('@');
  if (at != std::string_view::npos) bad_arg("--url must not contain userinfo");
  std::string_view host = authority;
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    if (!parse_num(authority.substr(colon + 1), opt.port) || opt.port == 0)
      bad_arg("--url has a bad port");
  }
  if (host != "127.0.0.1" && !iequals(host, "localhost"))
    bad_arg("refusing host '" + std::string(host) + "': loopback only (127.0.0.1 or localhost)");
}

Options parse_args(int argc, char** argv) {
  Options opt;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(0);
    std::string_view value;
    auto flag = [&](std::string_view name) {
      if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
        value = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    if (flag("--url")) {
      opt.url = std::string(value);
      have_url = true;
    } else if (flag("--connections")) {
      if (!parse_num(value, opt.connections) || opt.connections < 1 || opt.connections > kMaxConnections)
        bad_arg("bad --connections (1.." + std::to_string(kMaxConnections) + ")");
    } else if (flag("--threads")) {
      if (!parse_num(value, opt.threads) || opt.threads < 1 || opt.threads > kMaxThreads)
        bad_arg("bad --threads (1.." + std::to_string(kMaxThreads) + ")");
    } else if (flag("--duration-s")) {
      if (!parse_num(value, opt.duration_s) || !(opt.duration_s > 0.0) || opt.duration_s > kMaxDurationS)
        bad_arg("bad --duration-s (0 < S <= 120)");
    } else if (flag("--warmup-s")) {
      if (!parse_num(value, opt.warmup_s) || !(opt.warmup_s >= 0.0) || opt.warmup_s > kMaxWarmupS)
        bad_arg("bad --warmup-s (0 <= S <= 60)");
    } else if (flag("--header")) {
      const std::size_t colon = value.find(':');
      if (colon == std::string_view::npos || colon == 0 ||
          value.find_first_of("\r\n") != std::string_view::npos ||
          trim(value.substr(0, colon)).size() != colon)
        bad_arg("bad --header, want 'Name: value'");
      opt.headers.emplace_back(std::string(value.substr(0, colon)) + ": " +
                               std::string(trim(value.substr(colon + 1))));
    } else if (flag("--paths-file")) {
      std::ifstream in{std::string(value)};
      if (!in) bad_arg("cannot read --paths-file " + std::string(value));
      for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        if (line.front() != '/' || line.find_first_of(" \r\n\t") != std::string::npos)
          bad_arg("--paths-file: every line must be a path starting with / and without whitespace");
        opt.paths.push_back(line);
      }
      if (opt.paths.empty()) bad_arg("--paths-file has no paths");
    } else if (flag("--requests-file")) {
      std::ifstream in{std::string(value)};
      if (!in) bad_arg("cannot read --requests-file " + std::string(value));
      for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        if (std::count(line.begin(), line.end(), '\t') != 3 || line.find('\r') != std::string::npos)
          bad_arg("--requests-file: every line must be METHOD<TAB>PATH<TAB>TOKEN|-<TAB>BODY|-");
        opt.request_lines.push_back(line);
      }
      if (opt.request_lines.empty()) bad_arg("--requests-file has no requests");
    } else if (flag("--unique-header")) {
      opt.unique_header = std::string(value);
      if (opt.unique_header.empty() || opt.unique_header.find_first_of(" :\r\n\t") != std::string::npos)
        bad_arg("bad --unique-header, want a header name");
    } else if (flag("--label")) {
      opt.label = std::string(value);
      for (char& c : opt.label)
        if (std::isspace(static_cast<unsigned char>(c))) c = '_';
      if (opt.label.empty()) opt.label = "bench";
    } else {
      bad_arg("unknown argument: " + std::string(arg));
    }
  }
  if (!have_url) bad_arg("--url is required");
  parse_url(opt);
  opt.threads = std::min(opt.threads, opt.connections);
  return opt;
}

// ------------------------------------------------------------ statistics --

// One per io thread; only that thread touches it until the merge.
struct Stats {
  std::vector<std::uint32_t> latencies_us;
  std::uint64_t non2xx = 0;
  std::uint64_t errors = 0;
};

struct Schedule {
  Clock::time_point measure_from;  // end of warm-up
  Clock::time_point deadline;      // end of the run
  bool measured(Clock::time_point t) const { return t >= measure_from && t < deadline; }
};

// ------------------------------------------------------------- response --

// Incremental HTTP/1.x response parser over a caller-owned byte range. The
// body is skipped, never stored.
class ResponseParser {
 public:
  enum class Result { need_more, complete, error };

  void reset() {
    phase_ = Phase::head;
    status_ = 0;
    close_ = false;
    remaining_ = 0;
  }

  int status() const { return status_; }
  bool close() const { return close_; }
  bool reads_until_eof() const { return phase_ == Phase::until_eof; }

  // Consumes bytes from [data + begin, data + end); advances begin.
  Result advance(const char* data, std::size_t& begin, std::size_t end) {
    for (;;) {
      const std::string_view avail(data + begin, end - begin);
      switch (phase_) {
        case Phase::head: {
          const std::size_t pos = avail.find("\r\n\r\n");
          if (pos == std::string_view::npos)
            return avail.size() > kMaxHeaderBytes ? Result::error : Result::need_more;
          if (!parse_head(avail.substr(0, pos + 2))) return Result::error;
          begin += pos + 4;
          if (status_ >= 100 && status_ < 200) {  // interim response: skip it
            reset();
            continue;
          }
          if (status_ == 204 || status_ == 304) return Result::complete;
          if (chunked_) {
            phase_ = Phase::chunk_size;
          } else if (has_length_) {
            if (remaining_ == 0) return Result::complete;
            phase_ = Phase::body;
          } else {
            close_ = true;
            phase_ = Phase::until_eof;
          }
          continue;
        }
        case Phase::body:
        case Phase::chunk_data: {
          const std::size_t take = static_cast<std::size_t>(
              std::min<std::uint64_t>(remaining_, avail.size()));
          begin += take;
          remaining_ -= take;
          if (remaining_ > 0) return Result::need_more;
          if (phase_ == Phase::body) return Result::complete;
          phase_ = Phase::chunk_crlf;
          continue;
        }
        case Phase::chunk_crlf:
          if (avail.size() < 2) return Result::need_more;
          if (avail.substr(0, 2) != "\r\n") return Result::error;
          begin += 2;
          phase_ = Phase::chunk_size;
          continue;
        case Phase::chunk_size: {
          const std::size_t eol = avail.find("\r\n");
          if (eol == std::string_view::npos)
            return avail.size() > kMaxChunkLine ? Result::error : Result::need_more;
          std::string_view line = avail.substr(0, eol);
          line = trim(line.substr(0, line.find(';')));
          std::uint64_t size = 0;
          const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
          if (line.empty() || ec != std::errc{} || ptr != line.data() + line.size()) return Result::error;
          begin += eol + 2;
          remaining_ = size;
          phase_ = size == 0 ? Phase::trailers : Phase::chunk_data;
          continue;
        }
        case Phase::trailers: {
          const std::size_t eol = avail.find("\r\n");
          if (eol == std::string_view::npos)
            return avail.size() > kMaxHeaderBytes ? Result::error : Result::need_more;
          begin += eol + 2;
          if (eol == 0) return Result::complete;
          continue;
        }
        case Phase::until_eof:
          begin = end;
          return Result::need_more;
      }
    }
  }

 private:
  enum class Phase { head, body, chunk_size, chunk_data, chunk_crlf, trailers, until_eof };

  // head: status line and header lines, each ending in CRLF.
  bool parse_head(std::string_view head) {
    std::size_t eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, eol);
    // "HTTP/1.x SSS reason"
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ')
      return false;
    const bool http10 = status_line[7] == '0';
    if (!parse_num(status_line.substr(9, 3), status_) || status_ < 100 || status_ > 999) return false;

    chunked_ = false;
    has_length_ = false;
    bool keep_alive = false;
    bool close = false;
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
      eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return false;
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        std::uint64_t n = 0;
        if (!parse_num(value, n)) return false;
        if (has_length_ && n != remaining_) return false;
        has_length_ = true;
        remaining_ = n;
      } else if (iequals(name, "transfer-encoding")) {
        chunked_ = icontains(value, "chunked");
      } else if (iequals(name, "connection")) {
        close = close || icontains(value, "close");
        keep_alive = keep_alive || icontains(value, "keep-alive");
      }
    }
    if (chunked_) has_length_ = false;  // RFC 9112 6.3: chunked wins
    close_ = close || (http10 && !keep_alive);
    return true;
  }

  Phase phase_ = Phase::head;
  int status_ = 0;
  bool close_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  std::uint64_t remaining_ = 0;
};

// ------------------------------------------------------------ connection --

// A request as bytes: the head up to its last header line, and the rest
// (blank line and body), so a unique header can go in between.
struct Request {
  std::string head;
  std::string tail;
};

// One closed-loop client connection. All of a Worker's connections run on
// that worker's single-threaded io_context, so nothing here is shared.
class Connection {
 public:
  Connection(asio::io_context& ioc, const tcp::endpoint& endpoint, const std::vector<Request>& requests,
             std::size_t first, const Schedule& schedule, Stats& stats, std::string unique_prefix)
      : socket_(ioc), backoff_(ioc), endpoint_(endpoint), requests_(requests), next_(first),
        schedule_(schedule), stats_(stats), buffer_(kBufferSize), unique_prefix_(std::move(unique_prefix)) {}

  void start() { do_connect(); }

  // At the deadline: abandon whatever is in flight (not counted).
  void stop() {
    stopped_ = true;
    error_code ignored;
    socket_.close(ignored);
    backoff_.cancel();
  }

 private:
  void do_connect() {
    if (stopped_ || Clock::now() >= schedule_.deadline) return stop();
    error_code ignored;
    socket_.close(ignored);
    begin_ = end_ = 0;
    socket_.async_connect(endpoint_, [this](error_code ec) {
      if (stopped_) return;
      if (ec) return fail();
      error_code ignored2;
      socket_.set_option(tcp::no_delay(true), ignored2);
      send();
    });
  }

  void send() {
    if (stopped_ || Clock::now() >= schedule_.deadline) return stop();
    parser_.reset();
    sent_at_ = Clock::now();
    const Request& request = requests_[next_++ % requests_.size()];
    outgoing_ = request.head;
    if (!unique_prefix_.empty())
      outgoing_ += unique_prefix_ + std::to_string(++sent_count_) + "\r\n";
    outgoing_ += request.tail;
    asio::async_write(socket_, asio::buffer(outgoing_), [this](error_code ec, std::size_t) {
      if (stopped_) return;
      if (ec) return fail();
      on_bytes();
    });
  }

  void do_read() {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (end_ == buffer_.size()) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    socket_.async_read_some(
        asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
        [this](error_code ec, std::size_t n) {
          if (stopped_) return;
          if (ec == asio::error::eof && parser_.reads_until_eof()) return complete(true);
          if (ec) return fail();
          end_ += n;
          on_bytes();
        });
  }

  void on_bytes() {
    switch (parser_.advance(buffer_.data(), begin_, end_)) {
      case ResponseParser::Result::need_more:
        return do_read();
      case ResponseParser::Result::error:
        return fail();
      case ResponseParser::Result::complete:
        // Bytes beyond the response we asked for: the stream is out of sync.
        if (begin_ != end_) return fail();
        return complete(parser_.close());
    }
  }

  void complete(bool close) {
    const Clock::time_point now = Clock::now();
    if (schedule_.measured(now)) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_).count();
      stats_.latencies_us.push_back(static_cast<std::uint32_t>(
          std::clamp<std::int64_t>(us, 0, std::numeric_limits<std::uint32_t>::max())));
      const int status = parser_.status();
      if (status < 200 || status > 299) ++stats_.non2xx;
    }
    if (close) return do_connect();
    send();
  }

  // Any transport or protocol error: count it, drop the connection and
  // reconnect after a short pause (so a dead server is not hammered).
  void fail() {
    if (stopped_) return;
    if (schedule_.measured(Clock::now())) ++stats_.errors;
    error_code ignored;
    socket_.close(ignored);
    backoff_.expires_after(kErrorBackoff);
    backoff_.async_wait([this](error_code ec) {
      if (stopped_ || ec) return;
      do_connect();
    });
  }

  tcp::socket socket_;
  asio::steady_timer backoff_;
  const tcp::endpoint endpoint_;
  const std::vector<Request>& requests_;
  std::size_t next_;
  const Schedule& schedule_;
  Stats& stats_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  ResponseParser parser_;
  Clock::time_point sent_at_;
  bool stopped_ = false;
  std::string unique_prefix_; ///< "Name: label-conn-" or empty
  std::uint64_t sent_count_ = 0;
  std::string outgoing_;
};

// One io thread with its own io_context and its share of the connections.
struct Worker {
  asio::io_context ioc{1};
  Stats stats;
  std::vector<std::unique_ptr<Connection>> connections;
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);

  const tcp::endpoint endpoint{asio::ip::make_address_v4("127.0.0.1"), opt.port};
  std::vector<Request> requests;
  const std::string host = "Host: 127.0.0.1:" + std::to_string(opt.port) + "\r\nUser-Agent: livemart-bench\r\nAccept: */*\r\n";
  if (!opt.request_lines.empty()) {
    for (const std::string& line : opt.request_lines) {
      std::vector<std::string> part;
      std::size_t from = 0;
      for (int i = 0; i < 4; ++i) {
        const std::size_t tab = i < 3 ? line.find('\t', from) : line.size();
        part.push_back(line.substr(from, tab - from));
        from = tab + 1;
      }
      Request r;
      r.head = part[0] + " " + part[1] + " HTTP/1.1\r\n" + host;
      for (const std::string& h : opt.headers) r.head += h + "\r\n";
      if (part[2] != "-") r.head += "Authorization: Bearer " + part[2] + "\r\n";
      if (part[3] != "-")
        r.head += "Content-Type: application/json\r\nContent-Length: " + std::to_string(part[3].size()) + "\r\n";
      r.tail = "\r\n" + (part[3] == "-" ? std::string{} : part[3]);
      requests.push_back(std::move(r));
    }
  } else {
    for (const std::string& path : opt.paths.empty() ? std::vector<std::string>{opt.path} : opt.paths) {
      Request r;
      r.head = "GET " + path + " HTTP/1.1\r\n" + host;
      for (const std::string& h : opt.headers) r.head += h + "\r\n";
      r.tail = "\r\n";
      requests.push_back(std::move(r));
    }
  }

  const auto to_clock = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point start = Clock::now();
  Schedule schedule;
  schedule.measure_from = start + to_clock(opt.warmup_s);
  schedule.deadline = schedule.measure_from + to_clock(opt.duration_s);

  std::cerr << "bench_http_load: " << opt.label << ": " << requests.size() << " request(s) to " << opt.url << " connections="
            << opt.connections << " threads=" << opt.threads << " warmup_s=" << opt.warmup_s
            << " duration_s=" << opt.duration_s << '\n';

  // Unique headers are unique across runs too (the server keeps them).
  const std::string run_id =
      opt.label + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < opt.threads; ++i) workers.push_back(std::make_unique<Worker>());
  for (int c = 0; c < opt.connections; ++c) {
    Worker& w = *workers[static_cast<std::size_t>(c % opt.threads)];
    w.connections.push_back(
        std::make_unique<Connection>(w.ioc, endpoint, requests,
                                     static_cast<std::size_t>(c) * 7919 % requests.size(), schedule, w.stats,
                                     opt.unique_header.empty() ? std::string{}
                                                               : opt.unique_header + ": " + run_id + "-" +
                                                                     std::to_string(c) + "-"));
  }

  std::vector<std::thread> threads;
  for (auto& wp : workers) {
    threads.emplace_back([&w = *wp, &schedule] {
      asio::steady_timer deadline{w.ioc, schedule.deadline};
      deadline.async_wait([&w](error_code) {
        for (auto& c : w.connections) c->stop();
      });
      for (auto& c : w.connections) c->start();
      w.ioc.run();
    });
  }
  for (auto& t : threads) t.join();

  std::vector<std::uint32_t> all;
  std::uint64_t non2xx = 0;
  std::uint64_t errors = 0;
  for (auto& w : workers) {
    all.insert(all.end(), w->stats.latencies_us.begin(), w->stats.latencies_us.end());
    non2xx += w->stats.non2xx;
    errors += w->stats.errors;
  }
  std::sort(all.begin(), all.end());
  // Nearest-rank percentile.
  const auto pct = [&all](double p) -> std::uint32_t {
    if (all.empty()) return 0;
    std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(all.size())));
    rank = std::clamp<std::size_t>(rank, 1, all.size());
    return all[rank - 1];
  };
  const double window_s = std::chrono::duration<double>(schedule.deadline - schedule.measure_from).count();
  const double rps = static_cast<double>(all.size()) / window_s;

  std::printf("RESULT label=%s requests=%zu rps=%.1f p50_us=%" PRIu32 " p99_us=%" PRIu32
              " max_us=%" PRIu32 " non2xx=%" PRIu64 " errors=%" PRIu64 "\n",
              opt.label.c_str(), all.size(), rps, pct(0.50), pct(0.99),
              all.empty() ? std::uint32_t{0} : all.back(), non2xx, errors);
  std::fflush(stdout);
  return all.empty() ? 1 : 0;
}
