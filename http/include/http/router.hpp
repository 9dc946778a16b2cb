#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Maps method and path to a handler. Patterns are literal segments and
/// `:name` parameters ("/users/addresses/:id"); literal segments win over
/// parameters. Knows nothing of Beast or actors, so it is unit-tested alone.
namespace livemart::http {

class request_context;
using context_ptr = std::shared_ptr<request_context>;
using handler = std::function<void(const context_ptr&)>;

using path_params = std::vector<std::pair<std::string, std::string>>;

/// How long a route's request may take: most answer within
/// http.request_timeout_ms; one that changes an order may call the payment
/// gateway (http.change_timeout_ms); a reconciliation lists a window of
/// payments at the gateway (payments.reconcile_pages_max calls, then
/// changes). The request's actor calls and its backstop use the budget.
enum class budget : std::uint8_t { request, order_change, reconciliation };

struct route {
  std::string method;
  std::string pattern;
  handler fn;
  budget time = budget::request;
  std::size_t index = 0;               ///< position in registration order (metrics)
  std::vector<std::string> segments;   ///< the pattern, split once at registration
  int specificity = 0;                 ///< literal segments count double
};

class router {
public:
  enum class outcome { found, not_found, method_not_allowed };

  struct match {
    outcome result = outcome::not_found;
    const route* found = nullptr;
    path_params params;
    std::vector<std::string> allow; ///< methods of the path, for 405
  };

  void add(std::string method, std::string pattern, handler fn, budget time = budget::request);

  match find(std::string_view method, std::string_view path) const;

  const std::vector<std::unique_ptr<route>>& routes() const { return routes_; }

private:
  static bool matches(const route& r, const std::vector<std::string_view>& path, path_params* params);
  std::vector<std::unique_ptr<route>> routes_;
};

} // namespace livemart::http
