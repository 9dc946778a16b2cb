#include <protocol/metrics.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

namespace livemart::metrics {

histogram::histogram(std::vector<double> upper_bounds)
  : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0);
}

void histogram::observe(double value) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, value) * 1e6), std::memory_order_relaxed);
}

double histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> latency_buckets_s() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

struct registry::entry {
  std::string name;
  std::string help;
  std::string type;
  std::string labels;
  std::unique_ptr<counter> c;
  std::unique_ptr<gauge> g;
  std::unique_ptr<histogram> h;
  std::function<double()> read;
};

registry::entry& registry::add(std::string_view name, std::string_view help, std::string_view type,
                               std::string labels) {
  auto e = std::make_unique<entry>();
  e->name = name;
  e->help = help;
  e->type = type;
  e->labels = std::move(labels);
  std::lock_guard lock{mutex_};
  entries_.push_back(std::move(e));
  return *entries_.back();
}

counter& registry::make_counter(std::string_view name, std::string_view help, std::string labels) {
  auto& e = add(name, help, "counter", std::move(labels));
  e.c = std::make_unique<counter>();
  return *e.c;
}

gauge& registry::make_gauge(std::string_view name, std::string_view help, std::string labels) {
  auto& e = add(name, help, "gauge", std::move(labels));
  e.g = std::make_unique<gauge>();
  return *e.g;
}

histogram& registry::make_histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                    std::string labels) {
  auto& e = add(name, help, "histogram", std::move(labels));
  e.h = std::make_unique<histogram>(std::move(bounds));
  return *e.h;
}

void registry::make_callback_gauge(std::string_view name, std::string_view help, std::function<double()> read,
                                   std::string labels) {
  auto& e = add(name, help, "gauge", std::move(labels));
  e.read = std::move(read);
}

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty())
    return "{" + extra + "}";
  return "{" + labels + "," + extra + "}";
}

} // namespace

std::string registry::render() const {
  std::lock_guard lock{mutex_};
  // Group series by metric name so each name gets one HELP/TYPE header.
  std::map<std::string, std::vector<const entry*>> by_name;
  for (const auto& e : entries_)
    by_name[e->name].push_back(e.get());
  std::string out;
  for (const auto& [name, list] : by_name) {
    out += "# HELP " + name + " " + list.front()->help + "\n";
    out += "# TYPE " + name + " " + list.front()->type + "\n";
    for (const auto* e : list) {
      auto labels = e->labels.empty() ? std::string{} : "{" + e->labels + "}";
      if (e->c) {
        out += name + labels + " " + std::to_string(e->c->value()) + "\n";
      } else if (e->g) {
        out += name + labels + " " + std::to_string(e->g->value()) + "\n";
      } else if (e->read) {
        out += name + labels + " " + number(e->read()) + "\n";
      } else if (e->h) {
        std::uint64_t cumulative = 0;
        const auto& bounds = e->h->bounds();
        for (std::size_t i = 0; i < bounds.size(); ++i) {
          cumulative += e->h->bucket(i);
          out += name + "_bucket" + with_label(e->labels, "le=\"" + number(bounds[i]) + "\"") + " "
                 + std::to_string(cumulative) + "\n";
        }
        cumulative += e->h->bucket(bounds.size());
        out += name + "_bucket" + with_label(e->labels, "le=\"+Inf\"") + " " + std::to_string(cumulative) + "\n";
        out += name + "_sum" + labels + " " + number(e->h->sum()) + "\n";
        out += name + "_count" + labels + " " + std::to_string(cumulative) + "\n";
      }
    }
  }
  return out;
}

registry& registry::global() {
  static registry r;
  return r;
}

} // namespace livemart::metrics
