#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "websocket.hpp"

#include <http/framing.hpp>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>

#include "ws_session.hpp"
#include <protocol/clock.hpp>
#include <protocol/wire/problem.hpp>

namespace livemart::http {

// -- the runtime ----------------------------------------------------------------------------------

ws_runtime::ws_runtime(app_context& a, std::atomic<bool>& d, asio::io_context& ioc)
  : app(a), draining(d), session_timer_(std::in_place, ioc) {
  for (std::size_t i = 0; i < std::max<std::size_t>(2, 2 * app.cfg.http.threads); ++i)
    lanes.push_back(asio::make_strand(ioc));
  ws::hub_timing timing{std::chrono::milliseconds{app.cfg.actors.step_timeout_ms},
                        std::chrono::milliseconds{app.cfg.ws.viewer_report_ms},
                        std::chrono::milliseconds{app.cfg.ws.hub_linger_ms}};
  hubs = ws::spawn_hub_directory(app.system, &app.svc, timing, lanes);
  watch_sessions();
}

/// A connection holds its token for hours: when the list of ended sessions
/// changes, every connection of a user looks again at its session, so a
/// logout closes the user's sockets too (within ws.session_check_ms).
void ws_runtime::watch_sessions() {
  session_timer_->expires_after(std::chrono::milliseconds{app.cfg.ws.session_check_ms});
  session_timer_->async_wait([this](beast::error_code ec) {
    if (ec || draining.load())
      return;
    auto version = app.svc.revocations->version();
    if (version != sessions_seen_) {
      sessions_seen_ = version;
      std::vector<std::shared_ptr<ws_session>> live;
      {
        std::lock_guard lock{sessions_mutex};
        for (auto& w : sessions)
          if (auto s = w.lock())
            live.push_back(std::move(s));
      }
      for (auto& s : live)
        s->recheck_session();
    }
    watch_sessions();
  });
}

ws_runtime::~ws_runtime() = default;

void ws_runtime::stop() {
  if (!hubs)
    return;
  // Hubs post to the lanes: they must be gone before the io_context is.
  caf::scoped_actor self{app.system};
  std::vector<caf::actor> all;
  self->request(hubs, std::chrono::milliseconds{app.cfg.actors.step_timeout_ms}, get_atom::value)
    .receive([&](std::vector<caf::actor>& list) { all = std::move(list); }, [](caf::error&) {});
  all.push_back(hubs);
  for (auto& a : all) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  for (std::size_t n = 0; n < all.size(); ++n)
    self->receive([](caf::down_msg&) {});
  hubs = nullptr;
  // Strands and timers must not outlive their io_context (this runtime
  // does: the connections it destroys refer to it).
  lanes.clear();
  session_timer_.reset();
}

void ws_runtime::close_all() {
  asio::post(session_timer_->get_executor(), [this] { session_timer_->cancel(); });
  std::vector<std::shared_ptr<ws_session>> live;
  {
    std::lock_guard lock{sessions_mutex};
    for (auto& w : sessions)
      if (auto s = w.lock())
        live.push_back(std::move(s));
  }
  for (auto& s : live)
    s->going_away();
}

namespace ws {

/// One access-log line for an upgrade: accepted (101) or refused.
void log_upgrade(const app_context& app, std::string_view path, std::string_view client, int status,
                 std::string_view detail) {
  if (!app.cfg.http.access_log)
    return;
  json::writer w;
  w.begin_object()
    .field("ts", log::timestamp())
    .field("level", "info")
    .field("msg", "websocket upgrade")
    .field("path", path)
    .field("status", status)
    .field("client", client);
  if (!detail.empty())
    w.field("detail", detail);
  log::line(w.end_object().take());
}

} // namespace ws

namespace {

/// Answers a refused upgrade with a problem and closes. A 429 or 503 says
/// when to come back, as every other one does.
void refuse(const app_context& app, tcp::socket socket, const bhttp::request<bhttp::string_body>& req,
            std::string_view client, errc code, std::string detail) {
  std::string path{req.target().substr(0, req.target().find('?'))};
  auto status = info(code).status;
  ws::log_upgrade(app, path, client, status, detail);
  auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(status), req.version());
  res->set(bhttp::field::server, "livemart");
  res->set(bhttp::field::content_type, "application/problem+json");
  if (status == 429 || status == 503)
    res->set(bhttp::field::retry_after, std::to_string(app.cfg.database.retry_after_s));
  res->body() = render(make_problem(code, std::move(detail)), path, "");
  res->keep_alive(false);
  res->prepare_payload();
  stream->expires_after(std::chrono::milliseconds{app.cfg.http.write_timeout_ms});
  bhttp::async_write(*stream, *res, [stream, res](beast::error_code, std::size_t) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

/// The same origin (Origin's host is the Host header) or one configured.
bool origin_allowed(std::string_view origin, std::string_view host, std::string_view allowed) {
  if (origin.empty())
    return true; // not a browser: Origin protects browsers' users from other sites
  for (std::string_view scheme : {"http://", "https://"})
    if (origin.size() == scheme.size() + host.size() && origin.substr(0, scheme.size()) == scheme
        && origin.substr(scheme.size()) == host)
      return true;
  while (!allowed.empty()) {
    auto comma = allowed.find(',');
    auto entry = allowed.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ')
      entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ')
      entry.remove_suffix(1);
    if (!entry.empty() && entry == origin)
      return true;
    allowed = comma == std::string_view::npos ? std::string_view{} : allowed.substr(comma + 1);
  }
  return false;
}

} // namespace

void ws_runtime::accept(tcp::socket socket, bhttp::request<bhttp::string_body> req, std::string client) {
  std::string path{req.target().substr(0, req.target().find('?'))};
  if (draining.load()) {
    refuse(app, std::move(socket), req, client, errc::shutting_down, "the server is shutting down");
    return;
  }
  if (req.method() != bhttp::verb::get) {
    refuse(app, std::move(socket), req, client, errc::method_not_allowed, "a WebSocket upgrade is a GET");
    return;
  }
  if (req.count(bhttp::field::sec_websocket_key) != 1 || !valid_websocket_key(view(req[bhttp::field::sec_websocket_key]))) {
    refuse(app, std::move(socket), req, client, errc::bad_request,
           "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 section 4.2.1)");
    return;
  }
  ws_session::kind kind = ws_session::kind::viewer;
  std::uint64_t stream_id = 0;
  // The endpoints as websocket_endpoints names them (and `livemart routes`
  // prints): "/streams/:id/ws" around its id, "/users/me/ws" as it is.
  constexpr std::string_view stream_endpoint = websocket_endpoints[0];
  constexpr std::string_view prefix = stream_endpoint.substr(0, stream_endpoint.find(":id"));
  constexpr std::string_view suffix = stream_endpoint.substr(stream_endpoint.find(":id") + 3);
  if (path == websocket_endpoints[1]) {
    kind = ws_session::kind::user;
  } else if (path.size() > prefix.size() + suffix.size() && path.compare(0, prefix.size(), prefix) == 0
             && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    auto id = ids::parse(std::string_view{path}.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
    if (!id) {
      refuse(app, std::move(socket), req, client, errc::not_found, "no such stream");
      return;
    }
    stream_id = *id;
  } else {
    refuse(app, std::move(socket), req, client, errc::not_found, "no WebSocket endpoint at " + path);
    return;
  }
  auto origin = view(req[bhttp::field::origin]);
  if (!origin_allowed(origin, view(req[bhttp::field::host]), app.cfg.ws.allowed_origins)) {
    refuse(app, std::move(socket), req, client, errc::forbidden, "this Origin may not open a WebSocket here (ws.allowed_origins)");
    return;
  }
  std::uint64_t user = 0;
  std::uint64_t session = 0;
  std::int64_t token_expires_s = 0;
  auto authorization = view(req[bhttp::field::authorization]);
  if (!authorization.empty()) {
    constexpr std::string_view scheme = "Bearer ";
    auto now = wall_clock::now_s();
    auto verified = authorization.substr(0, scheme.size()) == scheme
                      ? jwt::verify(app.tokens, authorization.substr(scheme.size()), now)
                      : std::variant<jwt::claims, std::string>{std::string{"not a bearer token"}};
    if (std::holds_alternative<std::string>(verified)) {
      refuse(app, std::move(socket), req, client, errc::unauthenticated, "the access token is invalid or expired");
      return;
    }
    user = std::get<jwt::claims>(verified).user_id;
    session = std::get<jwt::claims>(verified).session_id;
    token_expires_s = std::get<jwt::claims>(verified).expires_at_s + static_cast<std::int64_t>(app.tokens.clock_skew_s);
    if (app.svc.revocations->revoked(user, session)) {
      refuse(app, std::move(socket), req, client, errc::unauthenticated, "the session has ended; log in again");
      return;
    }
  }
  if (open_.load() >= app.cfg.ws.connections_max) {
    refuse(app, std::move(socket), req, client, errc::overloaded, "too many WebSocket connections (ws.connections_max)");
    return;
  }
  {
    std::lock_guard lock{sessions_mutex};
    auto& mine = per_client[client];
    if (mine >= app.cfg.ws.connections_per_client_max) {
      if (mine == 0)
        per_client.erase(client);
      refuse(app, std::move(socket), req, client, errc::rate_limited, "too many WebSocket connections from this client (ws.connections_per_client_max)");
      return;
    }
    ++mine;
  }
  // The connection moves to its lane's strand.
  auto lane = next_serial.load() % lanes.size();
  beast::error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  tcp::socket on_lane{lanes[lane], protocol, socket.release(ec)};
  if (ec) {
    std::lock_guard lock{sessions_mutex};
    if (--per_client[client] == 0)
      per_client.erase(client);
    return;
  }
  // Pushes are small and must leave at once, not wait for an ACK (Nagle).
  on_lane.set_option(tcp::no_delay(true), ec);
  if (app.cfg.ws.send_buffer_bytes != 0) {
    on_lane.set_option(asio::socket_base::send_buffer_size(static_cast<int>(app.cfg.ws.send_buffer_bytes)), ec);
    if (ec)
      log::warn("ws.send_buffer_bytes not applied: " + ec.message());
  }
  auto connection = std::make_shared<ws_session>(*this, std::move(on_lane), lane, kind, stream_id, user, session,
                                                 token_expires_s, client, path);
  std::list<std::weak_ptr<ws_session>>::iterator entry;
  {
    std::lock_guard lock{sessions_mutex};
    entry = sessions.insert(sessions.end(), connection);
  }
  connection->run(std::move(req), entry);
}

} // namespace livemart::http
