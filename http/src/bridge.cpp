#include "context.hpp"

#include <charconv>
#include <unordered_map>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>

#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/messages.hpp>
#include <protocol/clock.hpp>
#include <protocol/wire/problem.hpp>

namespace livemart::http {

namespace {
/// Verified access tokens remembered per I/O thread (see authenticate()).
constexpr std::size_t verified_tokens_per_thread_max = 4096;
} // namespace

const caf::actor& app_context::bridge() {
  auto i = next_bridge.fetch_add(1, std::memory_order_relaxed);
  return bridges[i % bridges.size()];
}

std::string_view request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name)
      return value;
  return {};
}

std::chrono::milliseconds budget_of(const conf::settings& cfg, budget time) {
  switch (time) {
    case budget::request: return std::chrono::milliseconds{cfg.http.request_timeout_ms};
    case budget::order_change: return std::chrono::milliseconds{cfg.http.change_timeout_ms};
    case budget::reconciliation:
      return std::chrono::milliseconds{conf::reconcile_budget_ms(cfg) + cfg.http.change_timeout_ms};
  }
  return std::chrono::milliseconds{cfg.http.request_timeout_ms};
}

std::string_view request_context::param(std::string_view name) const {
  for (const auto& [k, v] : params_)
    if (k == name)
      return v;
  return {};
}

void request_context::respond(response r) {
  if (responded_.exchange(true))
    return; // a second answer is a programmer error upstream; the first wins
  send_(std::move(r));
}

void request_context::respond_json(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  respond(std::move(r));
}

void request_context::respond_no_content() {
  response r;
  r.status = 204;
  r.content_type.clear();
  respond(std::move(r));
}

void request_context::respond_problem(problem p) {
  response r;
  r.status = info(p.code).status;
  r.content_type = "application/problem+json";
  // Every 503 and 429 says when to come back.
  if (p.retry_after_s == 0 && (r.status == 503 || r.status == 429))
    p.retry_after_s = app_.cfg.database.retry_after_s;
  if (p.retry_after_s > 0)
    r.headers.emplace_back("Retry-After", std::to_string(p.retry_after_s));
  if (p.code == errc::method_not_allowed) {
    std::string allow;
    for (const auto& m : p.allow)
      allow += (allow.empty() ? "" : ", ") + m;
    r.headers.emplace_back("Allow", allow);
  }
  if (r.status == 401)
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"livemart\"");
  if (p.code == errc::internal) {
    log::error("internal error", "\"request_id\":\"" + req_.request_id + "\",\"detail\":" + [&] {
      std::string s;
      json::append_string(s, p.detail);
      return s;
    }());
    p.detail.clear(); // logged above; never shown to clients
  }
  r.body = render(p, req_.path, req_.request_id);
  respond(std::move(r));
}

void request_context::respond_error(const caf::error& err) {
  respond_problem(to_problem_with_fields(err));
}

bool request_context::authenticate() {
  auto header = req_.header("authorization");
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size() || !std::equal(scheme.begin(), scheme.end(), header.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      })) {
    respond_problem(make_problem(errc::unauthenticated, "send an access token as Authorization: Bearer <token>"));
    return false;
  }
  auto now = wall_clock::now_s();
  auto token = header.substr(scheme.size());
  // Clients send the same token for its whole life. A verified token is
  // remembered per I/O thread (no lock) until it expires, which spares the
  // HMAC and two JSON parses on every request. Only the exact same bytes
  // hit, and the expiry is checked each time.
  struct verified_token {
    std::uint64_t user_id;
    std::uint64_t session_id;
    std::int64_t valid_until_s;
  };
  // A session that ended (logout, password change, suspension) ends its
  // tokens at once, cached or not.
  auto ended = [this](std::uint64_t user, std::uint64_t session) {
    if (!app_.svc.revocations->revoked(user, session))
      return false;
    respond_problem(make_problem(errc::unauthenticated, "the session has ended; log in again"));
    return true;
  };
  thread_local std::unordered_map<std::string, verified_token> cache;
  if (auto it = cache.find(std::string{token}); it != cache.end()) {
    if (now < it->second.valid_until_s) {
      if (ended(it->second.user_id, it->second.session_id))
        return false;
      user_id_ = it->second.user_id;
      session_id_ = it->second.session_id;
      return true;
    }
    cache.erase(it);
  }
  auto verified = jwt::verify(app_.tokens, token, now);
  if (std::holds_alternative<std::string>(verified)) {
    respond_problem(make_problem(errc::unauthenticated, "the access token is invalid or expired"));
    return false;
  }
  const auto& claims = std::get<jwt::claims>(verified);
  if (ended(claims.user_id, claims.session_id))
    return false;
  if (cache.size() >= verified_tokens_per_thread_max)
    cache.clear();
  cache.emplace(std::string{token}, verified_token{claims.user_id, claims.session_id,
                                                   claims.expires_at_s + static_cast<std::int64_t>(app_.tokens.clock_skew_s)});
  user_id_ = claims.user_id;
  session_id_ = claims.session_id;
  return true;
}

bool request_context::require_json() {
  auto type = req_.header("content-type");
  auto semicolon = type.find(';');
  auto media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ')
    media.remove_suffix(1);
  std::string lower{media};
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "application/json") {
    respond_problem(make_problem(errc::unsupported_media_type, "send the body as Content-Type: application/json"));
    return false;
  }
  return true;
}

std::optional<std::string> request_context::query(std::string_view name) const {
  return crypto::query_param(req_.query, name);
}

std::optional<std::uint64_t> request_context::path_id(std::string_view what) {
  auto id = ids::parse(param("id"));
  if (!id)
    respond_problem(make_problem(errc::not_found, "no such " + std::string{what}));
  return id;
}

bool request_context::read_page(page& out) {
  auto bad = [this](std::string field, std::string message) {
    auto p = make_problem(errc::bad_request, "query parameter \"" + field + "\" " + message);
    p.fields.push_back({std::move(field), std::move(message)});
    respond_problem(std::move(p));
    return false;
  };
  if (auto limit = query("limit")) {
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc{} || end != limit->data() + limit->size() || n < 1 || n > app_.cfg.users.page_size_max)
      return bad("limit", "must be a whole number from 1 to " + std::to_string(app_.cfg.users.page_size_max));
    out.limit = n;
  }
  if (auto cursor = query("cursor"); cursor && !cursor->empty()) {
    auto id = ids::parse(*cursor);
    if (!id)
      return bad("cursor", "is not a cursor this server issued");
    out.after = *id;
  }
  return true;
}

caf::behavior bridge_actor(caf::event_based_actor* self, std::size_t /*index*/) {
  // A failed request must never kill the bridge: errors go to the handlers.
  self->set_error_handler([](caf::scheduled_actor*, caf::error&) {});
  return {
    [self](run_atom, const bridge_task& task) {
      // An exception would end this bridge; the task's own reply path
      // answers errors, so an escaping one is logged and dropped (the
      // session's backstop still answers the client).
      try {
        task.run(self);
      } catch (const std::exception& e) {
        log::error("bridge task threw", "\"error\":" + [&] {
          std::string s;
          json::append_string(s, e.what());
          return s;
        }());
      }
    },
  };
}

} // namespace livemart::http
