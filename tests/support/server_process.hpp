#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <utility>
#include <vector>

/// The real `livemart` binary as a child process on a free loopback port.
/// Start-up is awaited by reading its "listening" log line, never by
/// sleeping. The destructor stops it with SIGTERM and checks what an
/// operator would: it exits within 20 s with status 0, and its log holds no
/// error line (nor a sanitizer's report) that the test did not expect.
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
  /// The same without a Catch assertion (for a thread other than the
  /// test's): nullopt when it did not exit in time (it is killed then).
  std::optional<int> try_stop(int timeout_ms = 20'000);

  /// Sends SIGKILL and reaps the child (crash tests); its log is not checked.
  void kill();

  /// Waits for a child that ends by itself (a crash point); its status, or
  /// nullopt after `timeout`. Its log is not checked afterwards.
  std::optional<int> await_exit(std::chrono::milliseconds timeout = std::chrono::seconds{20});

  /// An error line containing `substring` is part of the test (a database
  /// outage, a gateway that fails), not a defect.
  void expect_log_error(std::string substring);

  /// Error lines (and sanitizer reports) logged so far that no
  /// expect_log_error() covers.
  std::vector<std::string> unexpected_errors() const;

  /// Waits until a line satisfies `match` (true) or `timeout` passes (false).
  bool await_line(const std::function<bool(const std::string&)>& match,
                  std::chrono::milliseconds timeout = std::chrono::seconds{10}) const;

  /// Every line the server has written to standard output so far.
  std::vector<std::string> output() const;

  /// Runs the binary to completion with arguments and returns its exit
  /// status and output (stdout and stderr together).
  static std::pair<int, std::string> run(const std::vector<std::string>& args,
                                         const std::vector<std::pair<std::string, std::string>>& env = {},
                                         const std::string& stdin_text = {});

private:
  void reader_loop();
  int terminate(int signal, int timeout_ms, bool& timed_out);
  static std::uint16_t listening_port(const std::string& line);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string jwt_keys_;
  std::thread reader_;
  mutable std::mutex lines_mutex_;
  mutable std::condition_variable line_added_;
  std::vector<std::string> lines_;
  std::vector<std::string> expected_errors_;
  int exit_status_ = 0;
  bool exited_ = false;
  bool killed_ = false;
};

} // namespace livemart::testing
