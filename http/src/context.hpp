#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include <actors/services.hpp>
#include <conf/settings.hpp>
#include <http/router.hpp>
#include <protocol/jwt.hpp>
#include <protocol/problem.hpp>
#include <protocol/search.hpp>

/// What handlers see: our own request and response types (no Beast here),
/// the services, and `ask`, which sends a request to an actor from a bridge
/// actor and calls back on reply. Handlers never block: Asio threads hand
/// work to CAF and CAF hands responses back to the connection's strand.
namespace livemart::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  header_list headers; ///< names lower-cased
  std::string body;
  std::string client_address;
  std::string client_network; ///< address, or its /64 for IPv6: the rate-limit unit
  std::string request_id;

  std::string_view header(std::string_view lower_name) const;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  header_list headers;
};

/// A task run inside a bridge actor.
struct bridge_task {
  std::function<void(caf::event_based_actor*)> run;
};

/// Shared by every request: configuration, services and the bridge actors.
struct app_context {
  caf::actor_system& system;
  const conf::settings& cfg;
  jwt::config tokens;
  services& svc;
  std::vector<caf::actor> bridges;
  std::atomic<std::size_t> next_bridge{0};
  std::atomic<bool> draining{false};

  const caf::actor& bridge();
};

class request_context : public std::enable_shared_from_this<request_context> {
public:
  using sender = std::function<void(response)>;

  /// `time`: the route's budget (budget_of), for every actor call it makes.
  request_context(app_context& app, request req, path_params params, sender send, std::chrono::milliseconds time)
    : app_(app), req_(std::move(req)), params_(std::move(params)), send_(std::move(send)), time_(time) {}

  app_context& app() { return app_; }
  const conf::settings& cfg() const { return app_.cfg; }
  services& svc() { return app_.svc; }
  const request& req() const { return req_; }
  std::string_view param(std::string_view name) const;

  /// The authenticated user, set by authenticate().
  std::uint64_t user_id() const { return user_id_; }
  /// The session (login) of the access token, after authenticate().
  std::uint64_t session_id() const { return session_id_; }

  // -- replies; each request gets exactly one ------------------------------

  void respond(response r);
  void respond_json(int status, std::string body);
  void respond_no_content();
  void respond_problem(problem p);
  void respond_error(const caf::error& err);

  // -- checks that answer the request themselves when they fail ------------

  /// Verifies the bearer access token; on failure answers 401.
  bool authenticate();
  /// A body must be application/json; on failure answers 415.
  bool require_json();

  /// The `:id` path parameter as an id. A malformed id answers 404 "no such
  /// <what>", as a missing or foreign one does, so ids cannot be probed.
  std::optional<std::uint64_t> path_id(std::string_view what);

  /// A query parameter, percent-decoded; nullopt when absent.
  std::optional<std::string> query(std::string_view name) const;

  /// Keyset paging from `limit` (1..users.page_size_max, default 20) and
  /// `cursor` (the last id of the previous page). Answers 400 naming the
  /// parameter and returns false when one is malformed.
  struct page {
    std::uint64_t after = 0;
    std::uint32_t limit = 20;
  };
  bool read_page(page& out);

  /// Authenticates, then checks the caller's role with the owner of its
  /// profile (never with the token: roles change). Answers 401/403 itself;
  /// otherwise runs `then(profile)` in a bridge actor.
  template <class F>
  void with_role(role needed, F then) {
    if (!authenticate())
      return;
    auto self = shared_from_this();
    ask(
      app_.svc.users.route(user_id_),
      [self, needed, then](const user_profile& me) mutable {
        if (me.role != needed) {
          self->respond_problem(make_problem(errc::forbidden, "this needs the " + std::string{to_string(needed)} + " role"));
          return;
        }
        then(me);
      },
      get_atom::value, user_id_);
  }
  /// For endpoints with a JSON body: checks the content type, decodes the
  /// body with `decode(body, extra...)` and answers any problem itself.
  /// Returns the decoded value, or nullopt when the request was answered.
  template <class Decoder, class... Extra>
  auto decode_body(Decoder decode, const Extra&... extra)
    -> std::optional<std::variant_alternative_t<0, decltype(decode(std::string_view{}, extra...))>> {
    if (!require_json())
      return std::nullopt;
    auto decoded = decode(req_.body, extra...);
    if (auto* p = std::get_if<problem>(&decoded)) {
      respond_problem(std::move(*p));
      return std::nullopt;
    }
    return std::get<0>(std::move(decoded));
  }

  /// Sends `args` to `dest` from a bridge actor within the route's budget.
  /// `on_reply` runs in the bridge actor with the typed reply and must only
  /// compute and respond; errors become problem+json replies.
  template <class Handle, class OnReply, class... Args>
  void ask(const Handle& dest, OnReply on_reply, Args... args) {
    auto self = shared_from_this();
    auto timeout = time_;
    auto guarded = guard(self, std::move(on_reply), reply_args_t<OnReply>{});
    bridge_task task{[self, dest, timeout, guarded, args...](caf::event_based_actor* bridge) {
      bridge->request(dest, timeout, args...).then(guarded, [self](caf::error& err) { self->respond_error(err); });
    }};
    caf::anon_send(app_.bridge(), run_atom::value, std::move(task));
  }

private:
  // The argument types of a reply handler, so that a wrapper with the very
  // same signature can be built (CAF matches replies by those types).
  template <class... Ts>
  struct type_list {};
  template <class F>
  struct reply_args : reply_args<decltype(&F::operator())> {};
  template <class C, class R, class... Ts>
  struct reply_args<R (C::*)(Ts...) const> {
    using type = type_list<Ts...>;
  };
  template <class C, class R, class... Ts>
  struct reply_args<R (C::*)(Ts...)> {
    using type = type_list<Ts...>;
  };
  template <class F>
  using reply_args_t = typename reply_args<F>::type;

  /// Wraps a reply handler so that an exception in it (say, bad_alloc while
  /// encoding) becomes a 500 for this request instead of ending the bridge.
  template <class F, class... Ts>
  static auto guard(context_ptr self, F f, type_list<Ts...>) {
    return [self, f](Ts... xs) mutable {
      try {
        f(std::forward<Ts>(xs)...);
      } catch (const std::exception& e) {
        auto p = make_problem(errc::internal, e.what());
        self->respond_problem(std::move(p));
      }
    };
  }

public:

private:
  app_context& app_;
  request req_;
  path_params params_;
  sender send_;
  std::atomic<bool> responded_{false};
  std::uint64_t user_id_ = 0;
  std::uint64_t session_id_ = 0;
  std::chrono::milliseconds time_; ///< the route's budget
};

/// A route's budget in milliseconds under `cfg`.
std::chrono::milliseconds budget_of(const conf::settings& cfg, budget time);

// Route tables, one per service; server.cpp installs them.
void add_ops_routes(router& r);
void add_auth_routes(router& r);
void add_user_routes(router& r);
void add_seller_routes(router& r);
void add_catalog_routes(router& r);
void add_product_routes(router& r);
void add_order_routes(router& r);
void add_stream_routes(router& r);

/// The Idempotency-Key header of a request that creates orders; answers 400
/// naming it and returns nullopt when it is missing or malformed.
std::optional<std::string> read_idempotency_key(const context_ptr& ctx);
/// Sends a reply stored for an Idempotency-Key (or made for one).
/// A purchase under the request's Idempotency-Key (`key`), by the signed-in user.
purchase_key purchase_key_of(const context_ptr& ctx, std::string key, std::string request_hash);
/// Sends a purchase's outcome as render_outcome renders it (a replay: as stored).
void respond_outcome(const context_ptr& ctx, const purchase_outcome& outcome);

/// Product search and a shop's inventory share these: the query from the
/// request's parameters (nullopt: answered 400 naming the bad one), and
/// the answer.
std::optional<search_query> read_search_query(const context_ptr& ctx);
void search(const context_ptr& ctx, search_query query);

/// The bridge actor: runs tasks, so that replies arrive in an actor.
/// (`index` only names it; CAF 0.17 dereferences a null argument tuple when
/// a function-based actor is spawned without arguments, which UBSan flags.)
caf::behavior bridge_actor(caf::event_based_actor* self, std::size_t index);

} // namespace livemart::http

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(livemart::http::bridge_task)
