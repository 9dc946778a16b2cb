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

/// Literal segments are more specific than parameters.
int specificity(std::string_view pattern) {
  int score = 0;
  for (auto s : segments(pattern))
    score += s.empty() || s.front() != ':' ? 2 : 1;
  return score;
}

} // namespace

void router::add(std::string method, std::string pattern, handler fn) {
  auto r = std::make_unique<route>(route{std::move(method), std::move(pattern), std::move(fn), routes_.size()});
  routes_.push_back(std::move(r));
}

bool router::matches(std::string_view pattern, std::string_view path, path_params* params) {
  auto want = segments(pattern);
  auto have = segments(path);
  if (want.size() != have.size())
    return false;
  path_params found;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i].front() == ':') {
      if (have[i].empty())
        return false;
      found.emplace_back(std::string{want[i].substr(1)}, std::string{have[i]});
    } else if (want[i] != have[i]) {
      return false;
    }
  }
  if (params != nullptr)
    *params = std::move(found);
  return true;
}

router::match router::find(std::string_view method, std::string_view path) const {
  match m;
  const route* best = nullptr;
  int best_score = -1;
  for (const auto& r : routes_) {
    if (!matches(r->pattern, path, nullptr))
      continue;
    if (std::find(m.allow.begin(), m.allow.end(), r->method) == m.allow.end())
      m.allow.push_back(r->method);
    if (r->method != method)
      continue;
    if (int score = specificity(r->pattern); score > best_score) {
      best = r.get();
      best_score = score;
    }
  }
  if (best != nullptr) {
    m.result = outcome::found;
    m.found = best;
    matches(best->pattern, path, &m.params);
    m.allow.clear();
  } else if (!m.allow.empty()) {
    m.result = outcome::method_not_allowed;
    std::sort(m.allow.begin(), m.allow.end());
  }
  return m;
}

} // namespace livemart::http
