#include "server_process.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <protocol/crypto.hpp>

#ifndef LIVEMART_BINARY
#error "LIVEMART_BINARY must name the livemart binary"
#endif

namespace livemart::testing {

namespace {

constexpr int start_timeout_ms = 30'000;

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
  jwt_keys_ = "test:" + crypto::to_hex(crypto::random_bytes(32));
  std::vector<std::string> args{"serve", "--http.port=0", "--http.access_log=false"};
  args.insert(args.end(), extra.begin(), extra.end());
  env.emplace_back("DATABASE_URL", database_url);
  env.emplace_back("LIVEMART_AUTH_JWT_KEYS", jwt_keys_);
  int in_fd = -1;
  pid_ = spawn(args, env, &out_fd_, &in_fd);
  ::close(in_fd);
  // Await the "listening" line.
  std::string pending;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{start_timeout_ms};
  const std::string marker = "livemart listening on http://127.0.0.1:";
  while (port_ == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0)
      FAIL("livemart did not start within " << start_timeout_ms << " ms; output: " << pending);
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char chunk[4096];
    auto n = ::read(out_fd_, chunk, sizeof(chunk));
    if (n <= 0)
      FAIL("livemart exited during start-up; output: " << pending);
    pending.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      auto line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      lines_.push_back(line);
      if (line.rfind(marker, 0) == 0)
        port_ = static_cast<std::uint16_t>(std::stoi(line.substr(marker.size())));
    }
  }
  if (!pending.empty())
    lines_.push_back(pending);
  reader_ = std::thread{[this] { reader_loop(); }};
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
      std::lock_guard lock{lines_mutex_};
      lines_.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
}

std::vector<std::string> server_process::output() const {
  std::lock_guard lock{lines_mutex_};
  return lines_;
}

int server_process::stop(int timeout_ms) {
  if (exited_)
    return 0;
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_)
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      exited_ = true;
      if (reader_.joinable())
        reader_.join();
      FAIL("livemart did not exit within " << timeout_ms << " ms of SIGTERM");
    }
    // waitpid cannot wait with a timeout; poll the child at a short interval.
    ::poll(nullptr, 0, 10);
  }
  exited_ = true;
  if (reader_.joinable())
    reader_.join();
  ::close(out_fd_);
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

server_process::~server_process() {
  if (!exited_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
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
  for (;;) {
    auto n = ::read(out_fd, chunk, sizeof(chunk));
    if (n <= 0)
      break;
    output.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(out_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

} // namespace livemart::testing
