#include "server_process.hpp"
#include "pg_harness.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <protocol/json.hpp>

#include <protocol/crypto.hpp>

#ifndef LIVEMART_BINARY
#error "LIVEMART_BINARY must name the livemart binary"
#endif

namespace livemart::testing {

namespace {

constexpr int start_timeout_ms = 30'000;
constexpr int run_timeout_ms = 120'000; ///< a command (migrate, seed, reconcile) run to completion

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
            int* out_fd, int* in_fd) {
  int out[2];
  int in[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::dup2(in[0], STDIN_FILENO);
    for (const auto& [k, v] : env)
      ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    std::string binary = LIVEMART_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  *out_fd = out[0];
  *in_fd = in[1];
  return pid;
}

} // namespace

server_process::server_process(const std::string& database_url, std::vector<std::string> extra,
                               std::vector<std::pair<std::string, std::string>> env) {
  // Fresh keys, unless the test gives its own (a restart with the same keys).
  jwt_keys_ = "test:" + crypto::to_hex(crypto::random_bytes(32));
  for (const auto& [name, value] : env)
    if (name == "LIVEMART_AUTH_JWT_KEYS")
      jwt_keys_ = value;
  std::vector<std::string> args{"serve", "--http.port=0", "--http.access_log=false"};
  args.insert(args.end(), extra.begin(), extra.end());
  env.emplace_back("DATABASE_URL", database_url);
  env.emplace_back("LIVEMART_AUTH_JWT_KEYS", jwt_keys_);
  int in_fd = -1;
  pid_ = spawn(args, env, &out_fd_, &in_fd);
  ::close(in_fd);
  // Await the "listening" line. A failed start-up must not leave the child
  // running: the destructor does not run when the constructor throws.
  std::string pending;
  // Scaled like every budget of the tests (LIVEMART_TEST_TIME_SCALE): under
  // ThreadSanitizer, loading a seeded catalog once took longer than 30 s.
  const int start_within_ms = start_timeout_ms * time_scale();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{start_within_ms};
  auto give_up = [&](const std::string& why) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(out_fd_);
    out_fd_ = -1;
    FAIL(why << "; output: " << pending);
  };
  while (port_ == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0)
      give_up("livemart did not start within " + std::to_string(start_within_ms) + " ms");
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char chunk[4096];
    auto n = ::read(out_fd_, chunk, sizeof(chunk));
    if (n <= 0)
      give_up("livemart exited during start-up");
    pending.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      auto line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      lines_.push_back(line);
      port_ = listening_port(line);
    }
  }
  if (!pending.empty())
    lines_.push_back(pending);
  reader_ = std::thread{[this] { reader_loop(); }};
}

std::uint16_t server_process::listening_port(const std::string& line) {
  if (line.find("\"msg\":\"listening\"") == std::string::npos)
    return 0;
  auto parsed = json::parse(line);
  if (!std::holds_alternative<json::value>(parsed))
    return 0;
  const auto* port = std::get<json::value>(parsed).find("port");
  return port != nullptr && port->is_integer() ? static_cast<std::uint16_t>(port->as_integer()) : 0;
}

void server_process::reader_loop() {
  std::string pending;
  char chunk[4096];
  for (;;) {
    auto n = ::read(out_fd_, chunk, sizeof(chunk));
    if (n <= 0)
      break;
    pending.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      {
        std::lock_guard lock{lines_mutex_};
        lines_.push_back(pending.substr(0, nl));
      }
      line_added_.notify_all();
      pending.erase(0, nl + 1);
    }
  }
  line_added_.notify_all();
}

bool server_process::await_line(const std::function<bool(const std::string&)>& match,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock{lines_mutex_};
  std::size_t seen = 0;
  return line_added_.wait_for(lock, timeout, [&] {
    for (; seen < lines_.size(); ++seen)
      if (match(lines_[seen]))
        return true;
    return false;
  });
}

std::vector<std::string> server_process::output() const {
  std::lock_guard lock{lines_mutex_};
  return lines_;
}

int server_process::terminate(int signal, int timeout_ms, bool& timed_out) {
  ::kill(pid_, signal);
  int status = 0;
  timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_)
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    // waitpid cannot wait with a timeout; poll the child at a short interval.
    ::poll(nullptr, 0, 10);
  }
  exited_ = true;
  if (reader_.joinable())
    reader_.join(); // the pipe ends with the child
  if (out_fd_ >= 0)
    ::close(out_fd_);
  out_fd_ = -1;
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

int server_process::stop(int timeout_ms) {
  if (exited_)
    return exit_status_;
  bool timed_out = false;
  exit_status_ = terminate(SIGTERM, timeout_ms, timed_out);
  if (timed_out)
    FAIL("livemart did not exit within " << timeout_ms << " ms of SIGTERM");
  return exit_status_;
}

std::optional<int> server_process::try_stop(int timeout_ms) {
  if (exited_)
    return exit_status_;
  bool timed_out = false;
  exit_status_ = terminate(SIGTERM, timeout_ms, timed_out);
  if (timed_out)
    return std::nullopt;
  return exit_status_;
}

void server_process::kill() {
  if (exited_)
    return;
  bool timed_out = false;
  exit_status_ = terminate(SIGKILL, 10'000, timed_out);
  killed_ = true;
}

std::optional<int> server_process::await_exit(std::chrono::milliseconds timeout) {
  if (exited_)
    return exit_status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline)
      return std::nullopt;
    ::poll(nullptr, 0, 10); // waitpid cannot wait with a timeout
  }
  exited_ = true;
  killed_ = true;
  if (reader_.joinable())
    reader_.join();
  if (out_fd_ >= 0)
    ::close(out_fd_);
  out_fd_ = -1;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

void server_process::expect_log_error(std::string substring) {
  std::lock_guard lock{lines_mutex_};
  expected_errors_.push_back(std::move(substring));
}

std::vector<std::string> server_process::unexpected_errors() const {
  std::lock_guard lock{lines_mutex_};
  std::vector<std::string> found;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    const auto& line = lines_[i];
    // A sanitizer's report is one entry, whole: the line that names it is
    // rarely enough to find the cause.
    bool report = line.find("Sanitizer:") != std::string::npos
                  && (line.find("WARNING:") != std::string::npos || line.find("ERROR:") != std::string::npos);
    if (report) {
      std::string whole = line;
      for (++i; i < lines_.size(); ++i) {
        whole.append("\n").append(lines_[i]);
        if (lines_[i].rfind("SUMMARY:", 0) == 0)
          break;
      }
      found.push_back(std::move(whole));
      continue;
    }
    bool error = line.find("\"level\":\"error\"") != std::string::npos
                 || line.find("AddressSanitizer") != std::string::npos
                 || line.find("ThreadSanitizer") != std::string::npos
                 || line.find("LeakSanitizer") != std::string::npos
                 || line.find("runtime error:") != std::string::npos // UBSan
                 || line.find("*** unhandled exception") != std::string::npos; // CAF
    if (!error)
      continue;
    bool expected = std::any_of(expected_errors_.begin(), expected_errors_.end(),
                                [&](const std::string& e) { return line.find(e) != std::string::npos; });
    if (!expected)
      found.push_back(line);
  }
  return found;
}

server_process::~server_process() {
  if (!exited_) {
    // Every server stops the way an operator stops it, so a crash at
    // shutdown or a sanitizer's report fails the test that caused it.
    bool timed_out = false;
    exit_status_ = terminate(SIGTERM, 20'000, timed_out);
    if (std::uncaught_exceptions() == 0) {
      CHECK_FALSE(timed_out);
      CHECK(exit_status_ == 0);
    }
  }
  if (std::uncaught_exceptions() == 0 && !killed_) {
    auto errors = unexpected_errors();
    for (const auto& line : errors)
      FAIL_CHECK("livemart logged an error no test expected: " << line);
  }
  if (reader_.joinable())
    reader_.join();
  if (out_fd_ >= 0)
    ::close(out_fd_);
}

std::pair<int, std::string> server_process::run(const std::vector<std::string>& args,
                                                const std::vector<std::pair<std::string, std::string>>& env,
                                                const std::string& stdin_text) {
  int out_fd = -1;
  int in_fd = -1;
  pid_t pid = spawn(args, env, &out_fd, &in_fd);
  if (!stdin_text.empty())
    (void)::write(in_fd, stdin_text.data(), stdin_text.size());
  ::close(in_fd);
  std::string output;
  char chunk[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{run_timeout_ms};
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{out_fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    auto n = ::read(out_fd, chunk, sizeof(chunk));
    if (n <= 0)
      break;
    output.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(out_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out)
    FAIL("livemart " << (args.empty() ? std::string{} : args.front()) << " did not finish within " << run_timeout_ms
                     << " ms; output: " << output);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

} // namespace livemart::testing
