#include <http/router.hpp>

#include <algorithm>

namespace livemart::http {

namespace {

/// Splits "/a/b" into {"a", "b"}. Empty segments are kept, so "/a//b" and
/// "/a/b/" are different paths from "/a/b", as they are to any client.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  for (;;) {
    auto end = path.find('/');
    out.push_back(path.substr(0, end));
    if (end == std::string_view::npos)
      return out;
    path.remove_prefix(end + 1);
  }
}

} // namespace

void router::add(std::string method, std::string pattern, handler fn, budget time) {
  auto r = std::make_unique<route>(route{std::move(method), std::move(pattern), std::move(fn), time, routes_.size(), {}, 0});
  for (auto segment : segments(r->pattern)) {
    r->segments.emplace_back(segment);
    // Literal segments are more specific than parameters.
    r->specificity += segment.empty() || segment.front() != ':' ? 2 : 1;
  }
  routes_.push_back(std::move(r));
}

bool router::matches(const route& r, const std::vector<std::string_view>& path, path_params* params) {
  if (r.segments.size() != path.size())
    return false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto& want = r.segments[i];
    if (!want.empty() && want.front() == ':') {
      if (path[i].empty())
        return false;
    } else if (want != path[i]) {
      return false;
    }
  }
  if (params != nullptr)
    for (std::size_t i = 0; i < path.size(); ++i)
      if (!r.segments[i].empty() && r.segments[i].front() == ':')
        params->emplace_back(r.segments[i].substr(1), std::string{path[i]});
  return true;
}

router::match router::find(std::string_view method, std::string_view path) const {
  match m;
  auto split = segments(path);
  const route* best = nullptr;
  for (const auto& r : routes_) {
    if (!matches(*r, split, nullptr))
      continue;
    if (std::find(m.allow.begin(), m.allow.end(), r->method) == m.allow.end())
      m.allow.push_back(r->method);
    if (r->method != method)
      continue;
    if (best == nullptr || r->specificity > best->specificity)
      best = r.get();
  }
  if (best != nullptr) {
    m.result = outcome::found;
    m.found = best;
    matches(*best, split, &m.params);
    m.allow.clear();
  } else if (!m.allow.empty()) {
    m.result = outcome::method_not_allowed;
    std::sort(m.allow.begin(), m.allow.end());
  }
  return m;
}

} // namespace livemart::http
