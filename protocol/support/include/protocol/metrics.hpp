#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

/// Prometheus text exposition (format 0.0.4). Registration takes a lock and
/// happens at start-up or on first use; updates are single atomic operations.
namespace livemart::metrics {

class counter {
public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::int64_t> value_{0};
};

class histogram {
public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double value);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_; ///< non-cumulative, one per bound plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0}; ///< sum scaled by 1e6, to stay an integer atomic
};

/// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets_s();

class registry {
public:
  /// `labels` is the inside of the braces, e.g. `route="/auth/me",status="200"`.
  counter& make_counter(std::string_view name, std::string_view help, std::string labels = {});
  gauge& make_gauge(std::string_view name, std::string_view help, std::string labels = {});
  histogram& make_histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                            std::string labels = {});
  /// A gauge computed when scraped.
  void make_callback_gauge(std::string_view name, std::string_view help, std::function<double()> read,
                           std::string labels = {});

  std::string render() const;

  /// The process-wide registry that /metrics shows.
  static registry& global();

private:
  struct entry;
  entry& add(std::string_view name, std::string_view help, std::string_view type, std::string labels);
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<entry>> entries_;
};

} // namespace livemart::metrics
