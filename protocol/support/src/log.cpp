#include <protocol/log.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include <protocol/json.hpp>

namespace livemart::log {
namespace {

struct sink {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::string> queue;
  std::size_t queue_max = 0;
  bool running = false;
  bool stopping = false;
  std::thread thread;
  std::atomic<std::size_t> dropped{0};

  void run() {
    std::unique_lock lock{mutex};
    for (;;) {
      ready.wait(lock, [this] { return stopping || !queue.empty(); });
      std::deque<std::string> batch;
      batch.swap(queue);
      bool done = stopping;
      lock.unlock();
      for (auto& l : batch) {
        l.push_back('\n');
        std::fwrite(l.data(), 1, l.size(), stdout);
      }
      std::fflush(stdout);
      lock.lock();
      if (done && queue.empty())
        return;
    }
  }
};

sink& the_sink() {
  static sink s;
  return s;
}

} // namespace

void start(std::size_t queue_lines_max) {
  auto& s = the_sink();
  std::lock_guard lock{s.mutex};
  if (s.running)
    return;
  s.queue_max = queue_lines_max;
  s.running = true;
  s.stopping = false;
  s.thread = std::thread{[&s] { s.run(); }};
}

void stop() {
  auto& s = the_sink();
  {
    std::lock_guard lock{s.mutex};
    if (!s.running)
      return;
    s.stopping = true;
  }
  s.ready.notify_one();
  s.thread.join();
  std::lock_guard lock{s.mutex};
  s.running = false;
}

void line(std::string text) {
  auto& s = the_sink();
  {
    std::lock_guard lock{s.mutex};
    if (s.running) {
      if (s.queue.size() >= s.queue_max) {
        s.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      s.queue.push_back(std::move(text));
      s.ready.notify_one();
      return;
    }
  }
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  auto t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void message(level lvl, std::string_view msg, std::string_view fields_json) {
  static constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
  std::string out = "{\"ts\":\"" + timestamp() + "\",\"level\":\"";
  out += names[static_cast<int>(lvl)];
  out += "\",\"msg\":";
  json::append_string(out, msg);
  if (!fields_json.empty()) {
    out.push_back(',');
    out += fields_json;
  }
  out.push_back('}');
  line(std::move(out));
}

std::size_t dropped() {
  return the_sink().dropped.load();
}

} // namespace livemart::log
