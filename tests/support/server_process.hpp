#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <utility>
#include <vector>

/// The real `livemart` binary as a child process on a free loopback port.
/// Start-up is awaited by reading its "listening on" line, never by sleeping.
namespace livemart::testing {

class server_process {
public:
  /// Starts `livemart serve --http.port=0` against `database_url` with a
  /// fresh JWT key; `extra` are more flags, `env` more variables.
  server_process(const std::string& database_url, std::vector<std::string> extra = {},
                 std::vector<std::pair<std::string, std::string>> env = {});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// The JWT keys it was started with ("kid:hex").
  const std::string& jwt_keys() const { return jwt_keys_; }

  /// Sends SIGTERM and waits for the exit; returns the exit status (or
  /// 128 + signal). Fails the test if it does not exit within the timeout.
  int stop(int timeout_ms = 20'000);

  /// Every line the server has written to standard output so far.
  std::vector<std::string> output() const;

  /// Runs the binary to completion with arguments and returns its exit
  /// status and output (stdout and stderr together).
  static std::pair<int, std::string> run(const std::vector<std::string>& args,
                                         const std::vector<std::pair<std::string, std::string>>& env = {},
                                         const std::string& stdin_text = {});

private:
  void reader_loop();
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string jwt_keys_;
  std::thread reader_;
  mutable std::mutex lines_mutex_;
  std::vector<std::string> lines_;
  bool exited_ = false;
};

} // namespace livemart::testing
