#include <conf/settings.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>

#include <arpa/inet.h>

namespace livemart::conf {
namespace {

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

template <class T>
bool parse_value(std::string_view text, T& out) {
  text = trim(text);
  if constexpr (std::is_same_v<T, bool>) {
    std::string lower{text};
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
      out = true;
      return true;
    }
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
      out = false;
      return true;
    }
    return false;
  } else if constexpr (std::is_integral_v<T>) {
    // Digit separators make large limits readable: 1_048_576.
    std::string digits;
    for (char c : text)
      if (c != '_')
        digits.push_back(c);
    T value{};
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty())
      return false;
    out = value;
    return true;
  } else {
    // Strings may be quoted in the file so that they can hold '#'.
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
      text = text.substr(1, text.size() - 2);
    out = std::string{text};
    return true;
  }
}

template <class T>
std::string print_value(const T& value) {
  if constexpr (std::is_same_v<T, bool>)
    return value ? "true" : "false";
  else if constexpr (std::is_integral_v<T>)
    return std::to_string(value);
  else
    return value;
}

template <class Group, class T>
setting_entry entry(std::string_view name, Group settings::*group, T Group::*field,
                    std::string_view description, bool secret = false) {
  return setting_entry{
    name, description, secret,
    [group, field](settings& s, std::string_view text) { return parse_value(text, s.*group.*field); },
    [group, field](const settings& s) { return print_value(s.*group.*field); }};
}

std::vector<setting_entry> make_entries() {
  using s = settings;
  return {
    entry("http.address", &s::http, &http_settings::address, "address to listen on (loopback by default)"),
    entry("http.port", &s::http, &http_settings::port, "TCP port; 0 picks a free one"),
    entry("http.threads", &s::http, &http_settings::threads, "Asio I/O threads"),
    entry("http.header_bytes_max", &s::http, &http_settings::header_bytes_max, "largest request header block (431 above)"),
    entry("http.body_bytes_max", &s::http, &http_settings::body_bytes_max, "largest request body (413 above)"),
    entry("http.chunk_line_bytes_max", &s::http, &http_settings::chunk_line_bytes_max, "a chunk-size line with its chunk extensions (413 above)"),
    entry("http.trailer_bytes_max", &s::http, &http_settings::trailer_bytes_max, "the trailer section of a chunked request body (431 above)"),
    entry("http.json_depth_max", &s::http, &http_settings::json_depth_max, "nesting depth of JSON request bodies"),
    entry("http.json_members_max", &s::http, &http_settings::json_members_max, "members per JSON object or array in request bodies"),
    entry("http.connections_max", &s::http, &http_settings::connections_max, "open connections at most; more are closed at accept"),
    entry("http.read_timeout_ms", &s::http, &http_settings::read_timeout_ms, "time to read one whole request"),
    entry("http.write_timeout_ms", &s::http, &http_settings::write_timeout_ms, "time to write one response"),
    entry("http.idle_timeout_ms", &s::http, &http_settings::idle_timeout_ms, "keep-alive wait for the next request"),
    entry("http.request_timeout_ms", &s::http, &http_settings::request_timeout_ms, "budget for the actors to answer one request"),
    entry("http.change_timeout_ms", &s::http, &http_settings::change_timeout_ms, "budget for a request that changes an order (it may call the payment gateway)"),
    entry("http.shutdown_timeout_ms", &s::http, &http_settings::shutdown_timeout_ms, "grace period for in-flight requests on SIGTERM"),
    entry("http.shutdown_unwind_ms", &s::http, &http_settings::shutdown_unwind_ms, "after the grace period, time for cancelled requests to unwind"),
    entry("http.shutdown_poll_ms", &s::http, &http_settings::shutdown_poll_ms, "how often a stopping server checks for requests in flight"),
    entry("http.trust_forwarded_for", &s::http, &http_settings::trust_forwarded_for, "take the client address from X-Forwarded-For (behind a proxy only)"),
    entry("http.access_log", &s::http, &http_settings::access_log, "write one JSON access-log line per request"),
    entry("database.url", &s::database, &database_settings::url, "libpq conninfo or URI; DATABASE_URL also sets it", true),
    entry("database.read_connections", &s::database, &database_settings::read_connections, "connections in the read pool"),
    entry("database.read_queue_max", &s::database, &database_settings::read_queue_max, "queued reads at most before 503"),
    entry("database.write_batch_max", &s::database, &database_settings::write_batch_max, "writes per group-commit transaction at most"),
    entry("database.write_flush_interval_us", &s::database, &database_settings::write_flush_interval_us, "extra wait to fill a batch; 0 flushes when the queue drains"),
    entry("database.write_queue_max", &s::database, &database_settings::write_queue_max, "queued writes at most before 503"),
    entry("database.connect_timeout_s", &s::database, &database_settings::connect_timeout_s, "libpq connect timeout"),
    entry("database.reconnect_interval_ms", &s::database, &database_settings::reconnect_interval_ms, "pause between reconnect attempts"),
    entry("database.statement_timeout_ms", &s::database, &database_settings::statement_timeout_ms, "server-side statement timeout"),
    entry("database.idle_in_transaction_timeout_ms", &s::database, &database_settings::idle_in_transaction_timeout_ms, "the server ends a session idle this long in a transaction (a paused node cannot hold its locks)"),
    entry("database.retry_after_s", &s::database, &database_settings::retry_after_s, "Retry-After for 503 while the database is away"),
    entry("actors.scheduler_threads", &s::actors, &actor_settings::scheduler_threads, "CAF scheduler worker threads"),
    entry("actors.scheduler_policy", &s::actors, &actor_settings::scheduler_policy, "CAF scheduler policy: stealing or sharing"),
    entry("actors.scheduler_spin_polls", &s::actors, &actor_settings::scheduler_spin_polls, "stealing: an idle worker's checks for work without a pause"),
    entry("actors.scheduler_nap_polls", &s::actors, &actor_settings::scheduler_nap_polls, "stealing: then its checks 50 us apart, before it waits (woken by work from outside the scheduler, else every 10 ms)"),
    entry("actors.user_shards", &s::actors, &actor_settings::user_shards, "user directory shards"),
    entry("actors.user_cache_entries_max", &s::actors, &actor_settings::user_cache_entries_max, "cached user profiles per shard"),
    entry("actors.user_cache_ttl_s", &s::actors, &actor_settings::user_cache_ttl_s, "seconds before a cached profile is read again (changes made outside the API)"),
    entry("actors.step_timeout_ms", &s::actors, &actor_settings::step_timeout_ms, "budget of one actor-to-actor request"),
    entry("actors.update_attempts_max", &s::actors, &actor_settings::update_attempts_max, "optimistic retries when a row changed concurrently"),
    entry("actors.product_shards", &s::actors, &actor_settings::product_shards, "product registry shards"),
    entry("actors.product_idle_ms", &s::actors, &actor_settings::product_idle_ms, "an idle product actor is passivated after this long"),
    entry("actors.order_shards", &s::actors, &actor_settings::order_shards, "order registry shards"),
    entry("actors.order_idle_ms", &s::actors, &actor_settings::order_idle_ms, "an idle order actor is passivated after this long"),
    entry("actors.order_queue_max", &s::actors, &actor_settings::order_queue_max, "changes waiting for one order at most (503 above)"),
    entry("auth.jwt_issuer", &s::auth, &auth_settings::jwt_issuer, "iss of issued and accepted tokens"),
    entry("auth.jwt_audience", &s::auth, &auth_settings::jwt_audience, "aud of issued and accepted tokens"),
    entry("auth.jwt_keys", &s::auth, &auth_settings::jwt_keys, "HS256 keys as kid:hex,...; the first signs; each >= 32 bytes", true),
    entry("auth.access_token_ttl_s", &s::auth, &auth_settings::access_token_ttl_s, "access token lifetime (900 at most)"),
    entry("auth.refresh_token_ttl_s", &s::auth, &auth_settings::refresh_token_ttl_s, "refresh token lifetime"),
    entry("auth.clock_skew_s", &s::auth, &auth_settings::clock_skew_s, "tolerance for iat/nbf/exp"),
    entry("auth.password_length_min", &s::auth, &auth_settings::password_length_min, "shortest password, in characters"),
    entry("auth.password_length_max", &s::auth, &auth_settings::password_length_max, "longest password, in characters"),
    entry("auth.argon2_memory_kib", &s::auth, &auth_settings::argon2_memory_kib, "Argon2id memory (19456 KiB at least)"),
    entry("auth.argon2_iterations", &s::auth, &auth_settings::argon2_iterations, "Argon2id passes (2 at least)"),
    entry("auth.hash_workers", &s::auth, &auth_settings::hash_workers, "threads hashing passwords"),
    entry("auth.hash_queue_max", &s::auth, &auth_settings::hash_queue_max, "queued hash jobs at most before 503"),
    entry("auth.login_attempts_per_account_max", &s::auth, &auth_settings::login_attempts_per_account_max, "login attempts per e-mail per window"),
    entry("auth.login_attempts_per_address_max", &s::auth, &auth_settings::login_attempts_per_address_max, "login attempts per client address per window"),
    entry("auth.login_window_s", &s::auth, &auth_settings::login_window_s, "login rate-limit window"),
    entry("auth.registrations_per_address_max", &s::auth, &auth_settings::registrations_per_address_max, "registrations per client address per login_window_s"),
    entry("auth.rate_limit_keys_max", &s::auth, &auth_settings::rate_limit_keys_max, "tracked rate-limit keys at most"),
    entry("auth.revocation_poll_ms", &s::auth, &auth_settings::revocation_poll_ms, "how often a node reads the sessions ended elsewhere (other nodes, tools)"),
    entry("users.display_name_length_max", &s::users, &user_settings::display_name_length_max, "display name, characters"),
    entry("users.bio_length_max", &s::users, &user_settings::bio_length_max, "bio, characters"),
    entry("users.avatar_url_bytes_max", &s::users, &user_settings::avatar_url_bytes_max, "avatar URL, bytes"),
    entry("users.addresses_per_user_max", &s::users, &user_settings::addresses_per_user_max, "saved addresses per user"),
    entry("users.address_field_length_max", &s::users, &user_settings::address_field_length_max, "each address field, characters"),
    entry("users.shop_description_length_max", &s::users, &user_settings::shop_description_length_max, "shop description, characters"),
    entry("users.page_size_max", &s::users, &user_settings::page_size_max, "items per page of any list"),
    entry("catalog.search_query_length_max", &s::catalog, &catalog_settings::search_query_length_max, "search text, characters"),
    entry("catalog.search_fuzzy_below", &s::catalog, &catalog_settings::search_fuzzy_below, "fewer exact matches than this also search similar words (typos)"),
    entry("catalog.search_prefix_terms_max", &s::catalog, &catalog_settings::search_prefix_terms_max, "indexed words one query word may match as a prefix"),
    entry("catalog.search_facets_max", &s::catalog, &catalog_settings::search_facets_max, "category facets per search answer"),
    entry("catalog.search_load_batch", &s::catalog, &catalog_settings::search_load_batch, "products per read while the search index loads"),
    entry("catalog.search_shards", &s::catalog, &catalog_settings::search_shards, "parts of the search index, searched in parallel by the actor scheduler"),
    entry("catalog.search_ready_wait_ms", &s::catalog, &catalog_settings::search_ready_wait_ms, "milliseconds a start waits for the search index before it serves"),
    entry("catalog.detail_refresh_ms", &s::catalog, &catalog_settings::detail_refresh_ms, "product pages show seller summaries and breadcrumbs at most this old; in a cluster, so old at most is each node's copy of the category tree"),
    entry("catalog.review_title_length_max", &s::catalog, &catalog_settings::review_title_length_max, "a review's title, characters"),
    entry("catalog.review_body_length_max", &s::catalog, &catalog_settings::review_body_length_max, "a review's text, characters"),
    entry("orders.hold_ttl_s", &s::orders, &order_settings::hold_ttl_s, "seconds a checkout holds its stock"),
    entry("orders.checkout_lines_max", &s::orders, &order_settings::checkout_lines_max, "line items per checkout"),
    entry("orders.line_quantity_max", &s::orders, &order_settings::line_quantity_max, "units per checkout line"),
    entry("orders.shipping_per_seller_minor", &s::orders, &order_settings::shipping_per_seller_minor, "shipping per seller in a checkout, minor units"),
    entry("orders.free_shipping_from_minor", &s::orders, &order_settings::free_shipping_from_minor, "a seller's subtotal from which its shipping is free, minor units"),
    entry("orders.hold_sweep_interval_ms", &s::orders, &order_settings::hold_sweep_interval_ms, "how often expired stock holds are released"),
    entry("orders.hold_sweep_batch", &s::orders, &order_settings::hold_sweep_batch, "expired checkouts released per sweep at most"),
    entry("orders.idempotency_retention_h", &s::orders, &order_settings::idempotency_retention_h, "hours an Idempotency-Key reply is kept (24 at least)"),
    entry("orders.idempotency_key_bytes_max", &s::orders, &order_settings::idempotency_key_bytes_max, "longest Idempotency-Key header, bytes"),
    entry("orders.reason_length_max", &s::orders, &order_settings::reason_length_max, "a cancellation's or refund's reason, characters"),
    entry("orders.tracking_length_max", &s::orders, &order_settings::tracking_length_max, "carrier and tracking number, characters"),
    entry("orders.expiry_sweep_interval_ms", &s::orders, &order_settings::expiry_sweep_interval_ms, "how often unpaid orders past their hold are cancelled"),
    entry("orders.expiry_sweep_batch", &s::orders, &order_settings::expiry_sweep_batch, "unpaid orders cancelled per sweep at most"),
    entry("orders.idempotency_expire_interval_s", &s::orders, &order_settings::idempotency_expire_interval_s, "how often Idempotency-Key replies past retention are deleted"),
    entry("orders.idempotency_expire_batch", &s::orders, &order_settings::idempotency_expire_batch, "Idempotency-Key replies deleted per run at most"),
    entry("orders.sale_batch_max", &s::orders, &order_settings::sale_batch_max, "direct sales of one product written in one statement at most"),
    entry("payments.gateway", &s::payments, &payment_settings::gateway, "payment gateway: sandbox (built in) or stripe"),
    entry("payments.capture", &s::payments, &payment_settings::capture, "on_confirm (capture when paid) or on_ship (authorize when paid, capture when shipped)"),
    entry("payments.stripe_base_url", &s::payments, &payment_settings::stripe_base_url, "Stripe REST API root (http:// only for loopback)"),
    entry("payments.return_url", &s::payments, &payment_settings::return_url, "where buyers return after 3-D Secure (Stripe's return_url); empty: not sent"),
    entry("payments.stripe_secret_key", &s::payments, &payment_settings::stripe_secret_key, "Stripe secret key (sk_...)", true),
    entry("payments.webhook_secrets", &s::payments, &payment_settings::webhook_secrets, "webhook signing secrets, comma-separated (rotation)", true),
    entry("payments.webhook_tolerance_s", &s::payments, &payment_settings::webhook_tolerance_s, "largest age of a webhook signature, seconds"),
    entry("payments.gateway_timeout_ms", &s::payments, &payment_settings::gateway_timeout_ms, "one gateway call, connect to reply"),
    entry("payments.gateway_workers", &s::payments, &payment_settings::gateway_workers, "threads calling the gateway"),
    entry("payments.gateway_queue_max", &s::payments, &payment_settings::gateway_queue_max, "gateway calls waiting at most before 503"),
    entry("payments.token_bytes_max", &s::payments, &payment_settings::token_bytes_max, "longest payment-method or Google Pay token, bytes"),
    entry("payments.sandbox_settle_ms", &s::payments, &payment_settings::sandbox_settle_ms, "delay of the sandbox's later outcomes"),
    entry("payments.sandbox_events", &s::payments, &payment_settings::sandbox_events, "the sandbox reports later outcomes as events (off: only reconciliation finds them)"),
    entry("payments.reconcile_interval_s", &s::payments, &payment_settings::reconcile_interval_s, "seconds between reconciliations with the gateway; 0: never"),
    entry("payments.reconcile_window_h", &s::payments, &payment_settings::reconcile_window_h, "hours a periodic reconciliation looks back"),
    entry("payments.reconcile_lag_s", &s::payments, &payment_settings::reconcile_lag_s, "the newest seconds of payments a periodic reconciliation leaves to the gateway's events"),
    entry("payments.reconcile_pages_max", &s::payments, &payment_settings::reconcile_pages_max, "pages of 100 payments one reconciliation lists at the gateway at most"),
    entry("streams.title_length_max", &s::streams, &stream_settings::title_length_max, "a stream's title, characters"),
    entry("streams.description_length_max", &s::streams, &stream_settings::description_length_max, "a stream's description, characters"),
    entry("streams.featured_max", &s::streams, &stream_settings::featured_max, "products featured in one stream"),
    entry("streams.schedule_ahead_max_days", &s::streams, &stream_settings::schedule_ahead_max_days, "how far ahead a stream may be scheduled, days"),
    entry("streams.ingest_url", &s::streams, &stream_settings::ingest_url, "the RTMP ingest URL shown with a stream key"),
    entry("streams.reconnect_window_s", &s::streams, &stream_settings::reconnect_window_s, "a live stream whose ingest dropped ends after this long without it"),
    entry("streams.push_interval_ms", &s::streams, &stream_settings::push_interval_ms, "a product's stock and price reach viewers at most this often (0: every change)"),
    entry("streams.viewer_push_interval_ms", &s::streams, &stream_settings::viewer_push_interval_ms, "the viewer count reaches viewers at most this often"),
    entry("streams.stats_flush_s", &s::streams, &stream_settings::stats_flush_s, "viewer statistics are written at least this often while live"),
    entry("streams.idle_ms", &s::streams, &stream_settings::idle_ms, "an actor of a stream that is not live ends after this long unused"),
    entry("streams.live_page_max", &s::streams, &stream_settings::live_page_max, "streams per page of GET /streams/live"),
    entry("streams.drop_quantity_max", &s::streams, &stream_settings::drop_quantity_max, "units in one drop"),
    entry("streams.drop_duration_max_s", &s::streams, &stream_settings::drop_duration_max_s, "longest drop, seconds"),
    entry("streams.drop_per_buyer_max", &s::streams, &stream_settings::drop_per_buyer_max, "highest per-buyer limit of a drop"),
    entry("streams.auction_duration_max_s", &s::streams, &stream_settings::auction_duration_max_s, "longest auction, seconds"),
    entry("streams.auction_extend_window_s", &s::streams, &stream_settings::auction_extend_window_s, "a bid this close to the end extends the auction"),
    entry("streams.auction_extend_to_s", &s::streams, &stream_settings::auction_extend_to_s, "time left after an extension"),
    entry("streams.auction_close_retry_ms", &s::streams, &stream_settings::auction_close_retry_ms, "wait before closing an auction again after a failure"),
    entry("streams.start_timeout_ms", &s::streams, &stream_settings::start_timeout_ms, "reading the live streams to start at boot"),
    entry("streams.bid_increments", &s::streams, &stream_settings::bid_increments, "price from (minor units) : smallest raise, comma-separated tiers"),
    entry("streams.bid_max_minor", &s::streams, &stream_settings::bid_max_minor, "highest bid, minor units"),
    entry("streams.bid_queue_max", &s::streams, &stream_settings::bid_queue_max, "bids waiting per stream at most"),
    entry("streams.command_queue_max", &s::streams, &stream_settings::command_queue_max, "changes waiting per stream at most before 503"),
    entry("ws.message_bytes_max", &s::ws, &ws_settings::message_bytes_max, "a WebSocket message from a client, bytes"),
    entry("ws.outbox_max", &s::ws, &ws_settings::outbox_max, "messages queued for one connection at most (beyond: closed with 4408)"),
    entry("ws.behind_max_ms", &s::ws, &ws_settings::behind_max_ms, "a connection whose oldest queued message waits longer is closed (4408)"),
    entry("ws.send_buffer_bytes", &s::ws, &ws_settings::send_buffer_bytes, "kernel send buffer per connection (SO_SNDBUF; the kernel doubles it, up to net.core.wmem_max), bytes; 0: sized by the kernel"),
    entry("ws.close_timeout_ms", &s::ws, &ws_settings::close_timeout_ms, "a closing connection whose peer takes no close frame is cut after this"),
    entry("ws.hello_timeout_ms", &s::ws, &ws_settings::hello_timeout_ms, "the first message (hello) must arrive within this"),
    entry("ws.idle_timeout_ms", &s::ws, &ws_settings::idle_timeout_ms, "a connection without any frame for this long is closed"),
    entry("ws.messages_per_s", &s::ws, &ws_settings::messages_per_s, "client messages per second, sustained"),
    entry("ws.messages_burst", &s::ws, &ws_settings::messages_burst, "client messages in a burst"),
    entry("ws.refusals_max", &s::ws, &ws_settings::refusals_max, "messages refused for rate within ws.refusal_window_ms; one more closes the connection (4429)"),
    entry("ws.refusal_window_ms", &s::ws, &ws_settings::refusal_window_ms, "the window ws.refusals_max counts refusals in"),
    entry("ws.connections_max", &s::ws, &ws_settings::connections_max, "WebSocket connections on this node"),
    entry("ws.connections_per_client_max", &s::ws, &ws_settings::connections_per_client_max, "WebSocket connections from one client address (or IPv6 /64)"),
    entry("ws.allowed_origins", &s::ws, &ws_settings::allowed_origins, "Origins allowed besides the server's own, comma-separated"),
    entry("ws.viewer_report_ms", &s::ws, &ws_settings::viewer_report_ms, "a node tells a stream its viewer count at most this often"),
    entry("ws.hub_linger_ms", &s::ws, &ws_settings::hub_linger_ms, "a node's hub of a stream without viewers ends after this"),
    entry("ws.session_check_ms", &s::ws, &ws_settings::session_check_ms, "how often connections look for ended sessions (a logout closes them)"),
    entry("node.id", &s::node, &node_settings::id, "this node's id (0..1023), embedded in generated ids"),
    entry("node.background_jobs", &s::node, &node_settings::background_jobs, "run the sweepers and periodic reconciliation on this node"),
    entry("cluster.enabled", &s::cluster, &cluster_settings::enabled, "join a cluster of nodes (off: this node is the whole marketplace)"),
    entry("cluster.address", &s::cluster, &cluster_settings::address, "address the cluster port binds to; keep it on a private network"),
    entry("cluster.port", &s::cluster, &cluster_settings::port, "the cluster port (0: any free port)"),
    entry("cluster.advertise", &s::cluster, &cluster_settings::advertise, "address peers connect to (empty: cluster.address)"),
    entry("cluster.seeds", &s::cluster, &cluster_settings::seeds, "host:port of nodes to join through, comma-separated"),
    entry("cluster.slots", &s::cluster, &cluster_settings::slots, "hash slots entities are placed in (a power of two; every node must agree)"),
    entry("cluster.heartbeat_ms", &s::cluster, &cluster_settings::heartbeat_ms, "how often a node marks itself alive in PostgreSQL"),
    entry("cluster.member_ttl_ms", &s::cluster, &cluster_settings::member_ttl_ms, "a member whose mark is older is dead and its slots are claimed"),
    entry("cluster.connect_timeout_ms", &s::cluster, &cluster_settings::connect_timeout_ms, "connecting to a peer's cluster port"),
    entry("cluster.link_heartbeat_ms", &s::cluster, &cluster_settings::link_heartbeat_ms, "CAF middleman heartbeats between connected nodes"),
    entry("cluster.link_timeout_ms", &s::cluster, &cluster_settings::link_timeout_ms, "a peer silent this long is disconnected"),
    entry("cluster.handoff_drain_ms", &s::cluster, &cluster_settings::handoff_drain_ms, "a moving slot's in-flight work gets this long before release"),
  };
}

const setting_entry* find_entry(std::string_view name) {
  for (const auto& e : setting_entries())
    if (e.name == name)
      return &e;
  return nullptr;
}

void apply(settings& values, std::string_view name, std::string_view text, std::string_view origin,
           std::vector<std::string>& errors) {
  const auto* e = find_entry(name);
  if (e == nullptr) {
    errors.push_back(std::string{name} + ": unknown setting (" + std::string{origin} + ")");
    return;
  }
  if (!e->parse(values, text))
    errors.push_back(std::string{name} + ": invalid value (" + std::string{origin} + ")");
}

void load_file(settings& values, const std::string& path, std::vector<std::string>& errors) {
  std::ifstream in{path};
  if (!in) {
    errors.push_back("cannot read config file " + path);
    return;
  }
  std::string section;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto text = trim(line);
    if (text.empty() || text.front() == '#' || text.front() == ';')
      continue;
    auto origin = path + ":" + std::to_string(number);
    if (text.front() == '[') {
      if (auto hash = text.find('#'); hash != std::string_view::npos)
        text = trim(text.substr(0, hash));
      if (text.back() != ']') {
        errors.push_back(origin + ": malformed section header");
        continue;
      }
      section = std::string{trim(text.substr(1, text.size() - 2))};
      continue;
    }
    auto eq = text.find('=');
    if (eq == std::string_view::npos) {
      errors.push_back(origin + ": expected key = value");
      continue;
    }
    auto key = trim(text.substr(0, eq));
    auto value = trim(text.substr(eq + 1));
    if (!value.empty() && value.front() == '"') {
      // A quoted value ends at its closing quote; only a comment may follow.
      auto close = value.find('"', 1);
      auto rest = close == std::string_view::npos ? std::string_view{"x"} : trim(value.substr(close + 1));
      if (!rest.empty() && rest.front() != '#') {
        errors.push_back(origin + ": a quoted value must end with \" (and may be followed by a # comment)");
        continue;
      }
      value = value.substr(0, close + 1);
    } else if (auto hash = value.find('#'); hash != std::string_view::npos && hash > 0
               && (value[hash - 1] == ' ' || value[hash - 1] == '\t')) {
      // A trailing comment after an unquoted value.
      value = trim(value.substr(0, hash));
    }
    auto name = section.empty() ? std::string{key} : section + "." + std::string{key};
    apply(values, name, value, origin, errors);
  }
}

} // namespace

std::span<const setting_entry> setting_entries() {
  static const std::vector<setting_entry> entries = make_entries();
  return entries;
}

std::string environment_name(std::string_view setting_name) {
  std::string out = "LIVEMART_";
  for (char c : setting_name)
    out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

load_result load(std::span<const std::string> args,
                 const std::function<const char*(const char*)>& environment) {
  load_result result;
  std::string config_path;
  std::vector<std::pair<std::string, std::string>> flags;
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") {
      result.help = true;
    } else if (arg.rfind("--", 0) == 0) {
      auto eq = arg.find('=');
      auto name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      auto value = eq == std::string::npos ? std::string{"true"} : arg.substr(eq + 1);
      if (name == "config") {
        if (eq == std::string::npos || value.empty())
          result.errors.emplace_back("--config needs a file: --config=PATH");
        else
          config_path = value;
      }
      else
        flags.emplace_back(name, value);
    } else {
      result.arguments.push_back(arg);
    }
  }
  if (!config_path.empty())
    load_file(result.values, config_path, result.errors);
  // DATABASE_URL is the conventional name; LIVEMART_DATABASE_URL wins over it.
  if (const char* url = environment("DATABASE_URL"); url != nullptr && *url != '\0')
    result.values.database.url = url;
  for (const auto& e : setting_entries()) {
    auto env_name = environment_name(e.name);
    if (const char* value = environment(env_name.c_str()); value != nullptr)
      apply(result.values, e.name, value, "environment " + env_name, result.errors);
  }
  for (const auto& [name, value] : flags)
    apply(result.values, name, value, "flag --" + name, result.errors);
  return result;
}

std::uint64_t order_change_budget_ms(const settings& v) {
  return 2ull * v.payments.gateway_timeout_ms + 3ull * v.actors.step_timeout_ms;
}

std::uint64_t reconcile_budget_ms(const settings& v) {
  return (static_cast<std::uint64_t>(v.payments.reconcile_pages_max) + 1) * v.payments.gateway_timeout_ms;
}

std::vector<std::string> validate(const settings& v) {
  std::vector<std::string> errors;
  auto require = [&](bool ok, const char* message) {
    if (!ok)
      errors.emplace_back(message);
  };
  require(v.http.threads >= 1, "http.threads must be at least 1");
  require(v.http.header_bytes_max >= 1024, "http.header_bytes_max must be at least 1024");
  require(v.http.body_bytes_max >= 1024, "http.body_bytes_max must be at least 1024");
  require(v.http.chunk_line_bytes_max >= 64, "http.chunk_line_bytes_max must be at least 64");
  require(v.http.trailer_bytes_max >= 64, "http.trailer_bytes_max must be at least 64");
  require(v.http.connections_max >= 1, "http.connections_max must be at least 1");
  require(v.http.request_timeout_ms >= 1, "http.request_timeout_ms must be positive");
  require(v.http.shutdown_poll_ms >= 1, "http.shutdown_poll_ms must be positive");
  require(v.streams.auction_close_retry_ms >= 1 && v.streams.start_timeout_ms >= 1,
          "streams.auction_close_retry_ms and streams.start_timeout_ms must be positive");
  // (Checked only against a valid budget, so one mistake yields one message.)
  require(v.actors.step_timeout_ms >= 1
            && (v.http.request_timeout_ms == 0 || v.actors.step_timeout_ms <= v.http.request_timeout_ms),
          "actors.step_timeout_ms must be positive and at most http.request_timeout_ms");
  // An order change must fit in the budget of the request that asked for
  // it, with one hop to spare; else the client hears 503 while it succeeds.
  if (v.http.change_timeout_ms < order_change_budget_ms(v) + v.actors.step_timeout_ms)
    errors.push_back("http.change_timeout_ms (" + std::to_string(v.http.change_timeout_ms)
                     + ") must be at least an order change's budget, 2 x payments.gateway_timeout_ms + 3 x "
                       "actors.step_timeout_ms, plus one actors.step_timeout_ms ("
                     + std::to_string(order_change_budget_ms(v) + v.actors.step_timeout_ms) + ")");
  require(v.http.json_depth_max >= 2 && v.http.json_members_max >= 16,
          "http.json_depth_max must be at least 2 and http.json_members_max at least 16");
  require(v.database.read_connections >= 1, "database.read_connections must be at least 1");
  require(v.database.write_batch_max >= 1, "database.write_batch_max must be at least 1");
  require(v.actors.scheduler_threads >= 1, "actors.scheduler_threads must be at least 1");
  require(v.actors.user_shards >= 1, "actors.user_shards must be at least 1");
  require(v.actors.product_shards >= 1, "actors.product_shards must be at least 1");
  require(v.actors.product_idle_ms >= 1, "actors.product_idle_ms must be at least 1");
  require(v.actors.order_shards >= 1 && v.actors.order_idle_ms >= 1 && v.actors.order_queue_max >= 1,
          "actors.order_shards, actors.order_idle_ms and actors.order_queue_max must be at least 1");
  require(v.actors.scheduler_policy == "stealing" || v.actors.scheduler_policy == "sharing",
          "actors.scheduler_policy must be stealing or sharing");
  require(v.auth.access_token_ttl_s >= 1 && v.auth.access_token_ttl_s <= 900,
          "auth.access_token_ttl_s must be between 1 and 900 (15 minutes)");
  require(v.auth.argon2_memory_kib >= 19 * 1024, "auth.argon2_memory_kib must be at least 19456 (19 MiB)");
  require(v.auth.argon2_iterations >= 2, "auth.argon2_iterations must be at least 2");
  require(v.auth.hash_workers >= 1, "auth.hash_workers must be at least 1");
  require(v.auth.password_length_min >= 8, "auth.password_length_min must be at least 8");
  require(v.auth.password_length_max >= v.auth.password_length_min && v.auth.password_length_max <= 1024,
          "auth.password_length_max must be between password_length_min and 1024");
  require(v.catalog.search_load_batch >= 1, "catalog.search_load_batch must be at least 1");
  require(v.catalog.search_shards >= 1 && v.catalog.search_shards <= 64, "catalog.search_shards must be in 1..64");
  require(v.catalog.search_query_length_max >= 1, "catalog.search_query_length_max must be at least 1");
  require(v.orders.hold_ttl_s >= 1, "orders.hold_ttl_s must be at least 1");
  require(v.orders.checkout_lines_max >= 1 && v.orders.line_quantity_max >= 1,
          "orders.checkout_lines_max and orders.line_quantity_max must be at least 1");
  require(v.orders.shipping_per_seller_minor >= 0 && v.orders.free_shipping_from_minor >= 0,
          "orders.shipping_per_seller_minor and orders.free_shipping_from_minor must not be negative");
  require(v.orders.hold_sweep_interval_ms >= 10 && v.orders.hold_sweep_batch >= 1,
          "orders.hold_sweep_interval_ms must be at least 10 and orders.hold_sweep_batch at least 1");
  require(v.orders.idempotency_retention_h >= 24, "orders.idempotency_retention_h must be at least 24");
  require(v.orders.idempotency_expire_interval_s >= 1 && v.orders.idempotency_expire_batch >= 1,
          "orders.idempotency_expire_interval_s and orders.idempotency_expire_batch must be at least 1");
  require(v.payments.reconcile_pages_max >= 1, "payments.reconcile_pages_max must be at least 1");
  require(v.ws.viewer_report_ms >= 1 && v.ws.hub_linger_ms >= 1 && v.ws.session_check_ms >= 1,
          "ws.viewer_report_ms, ws.hub_linger_ms and ws.session_check_ms must be positive");
  require(v.orders.idempotency_key_bytes_max >= 16, "orders.idempotency_key_bytes_max must be at least 16");
  require(v.orders.reason_length_max >= 1 && v.orders.tracking_length_max >= 8,
          "orders.reason_length_max must be at least 1 and orders.tracking_length_max at least 8");
  require(v.orders.sale_batch_max >= 1 && v.orders.sale_batch_max <= 10'000, "orders.sale_batch_max must be 1 to 10000");
  require(v.orders.expiry_sweep_interval_ms >= 10 && v.orders.expiry_sweep_batch >= 1,
          "orders.expiry_sweep_interval_ms must be at least 10 and orders.expiry_sweep_batch at least 1");
  require(v.payments.gateway == "sandbox" || v.payments.gateway == "stripe",
          "payments.gateway must be sandbox or stripe");
  require(v.payments.capture == "on_confirm" || v.payments.capture == "on_ship",
          "payments.capture must be on_confirm or on_ship");
  require(v.payments.gateway != "stripe" || !v.payments.stripe_secret_key.empty(),
          "payments.gateway=stripe needs payments.stripe_secret_key (LIVEMART_PAYMENTS_STRIPE_SECRET_KEY)");
  require(v.payments.gateway_workers >= 1 && v.payments.gateway_queue_max >= 1 && v.payments.gateway_timeout_ms >= 100,
          "payments.gateway_workers and gateway_queue_max must be at least 1, gateway_timeout_ms at least 100");
  require(v.payments.token_bytes_max >= 64, "payments.token_bytes_max must be at least 64");
  {
    std::string_view url = v.payments.stripe_base_url;
    bool https = url.rfind("https://", 0) == 0 && url.size() > 8;
    bool loopback = url.rfind("http://127.0.0.1", 0) == 0 || url.rfind("http://localhost", 0) == 0;
    require(https || loopback, "payments.stripe_base_url must be https://HOST[:PORT] (http:// only for 127.0.0.1)");
  }
  require(!parse_increment_tiers(v.streams.bid_increments).empty(),
          "streams.bid_increments must be tiers FROM:STEP, rising from 0, with positive steps");
  require(v.streams.title_length_max >= 1 && v.streams.featured_max >= 1 && v.streams.live_page_max >= 1,
          "streams.title_length_max, featured_max and live_page_max must be at least 1");
  require(v.streams.drop_quantity_max >= 1 && v.streams.drop_per_buyer_max >= 1 && v.streams.drop_duration_max_s >= 1
            && v.streams.auction_duration_max_s >= 1 && v.streams.bid_max_minor >= 1,
          "the streams.drop_* and streams.auction_* limits must be at least 1");
  require(v.streams.bid_queue_max >= 1 && v.streams.command_queue_max >= 1,
          "streams.bid_queue_max and streams.command_queue_max must be at least 1");
  require(v.ws.message_bytes_max >= 64 && v.ws.outbox_max >= 4 && v.ws.messages_burst >= 1 && v.ws.messages_per_s >= 1,
          "ws.message_bytes_max must be at least 64, ws.outbox_max at least 4, ws.messages_* at least 1");
  require(v.ws.hello_timeout_ms >= 100 && v.ws.idle_timeout_ms >= 1'000 && v.ws.behind_max_ms >= 100,
          "ws.hello_timeout_ms and behind_max_ms must be at least 100, ws.idle_timeout_ms at least 1000");
  require(v.ws.close_timeout_ms >= 100, "ws.close_timeout_ms must be at least 100");
  require(v.ws.refusal_window_ms >= 100, "ws.refusal_window_ms must be at least 100");
  require(v.auth.revocation_poll_ms >= 10 && v.auth.revocation_poll_ms <= 1'000,
          "auth.revocation_poll_ms must be 10 to 1000 (a session ends everywhere within a second)");
  require(v.ws.send_buffer_bytes == 0 || (v.ws.send_buffer_bytes >= 1'024 && v.ws.send_buffer_bytes <= 64 * 1'024 * 1'024),
          "ws.send_buffer_bytes must be 0 (the kernel sizes it) or 1024..67108864");
  require(v.node.id <= 1023, "node.id must be between 0 and 1023");
  require(v.database.idle_in_transaction_timeout_ms >= 100,
          "database.idle_in_transaction_timeout_ms must be at least 100");
  {
    auto slots = v.cluster.slots;
    require(slots >= 1 && slots <= (1u << 20) && (slots & (slots - 1)) == 0,
            "cluster.slots must be a power of two from 1 to 1048576");
  }
  require(v.cluster.heartbeat_ms >= 50 && v.cluster.member_ttl_ms >= 3 * v.cluster.heartbeat_ms,
          "cluster.heartbeat_ms must be at least 50 and cluster.member_ttl_ms at least three heartbeats");
  require(v.cluster.link_heartbeat_ms >= 50 && v.cluster.link_timeout_ms >= 2 * v.cluster.link_heartbeat_ms,
          "cluster.link_heartbeat_ms must be at least 50 and cluster.link_timeout_ms at least two of them");
  require(v.cluster.connect_timeout_ms >= 100 && v.cluster.handoff_drain_ms >= 100,
          "cluster.connect_timeout_ms and cluster.handoff_drain_ms must be at least 100");
  require(!v.cluster.enabled || is_private_address(v.cluster.address),
          "cluster.address must be a loopback or private address (127/8, 10/8, 172.16/12, 192.168/16, ::1, fc00::/7): "
          "the cluster port must not face the internet");
  return errors;
}

bool is_private_address(const std::string& address) {
  unsigned char b[16];
  if (::inet_pton(AF_INET, address.c_str(), b) == 1)
    return b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168);
  if (::inet_pton(AF_INET6, address.c_str(), b) == 1) {
    static constexpr unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(b, b + 16, loopback) || (b[0] & 0xFE) == 0xFC;
  }
  return false;
}

std::vector<increment_tier> parse_increment_tiers(std::string_view text) {
  std::vector<increment_tier> tiers;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto part = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    auto colon = part.find(':');
    if (colon == std::string_view::npos)
      return {};
    increment_tier t;
    auto from = trim(part.substr(0, colon));
    auto step = trim(part.substr(colon + 1));
    auto [e1, c1] = std::from_chars(from.data(), from.data() + from.size(), t.from_minor);
    auto [e2, c2] = std::from_chars(step.data(), step.data() + step.size(), t.step_minor);
    if (c1 != std::errc{} || c2 != std::errc{} || e1 != from.data() + from.size() || e2 != step.data() + step.size()
        || t.step_minor <= 0 || (tiers.empty() ? t.from_minor != 0 : t.from_minor <= tiers.back().from_minor))
      return {};
    tiers.push_back(t);
  }
  return tiers;
}

std::string help_text() {
  std::ostringstream out;
  settings defaults;
  out << "Settings (file: --config=PATH, INI sections; environment: LIVEMART_SECTION_KEY; flags: --section.key=value):\n";
  for (const auto& e : setting_entries()) {
    out << "  --" << e.name << "=" << (e.secret ? std::string{"<secret>"} : e.print(defaults)) << "\n      "
        << e.description << "\n";
  }
  return out.str();
}

std::string describe(const settings& values) {
  std::ostringstream out;
  for (const auto& e : setting_entries()) {
    auto text = e.print(values);
    out << e.name << " = " << (e.secret ? (text.empty() ? "<unset>" : "<set>") : text) << "\n";
  }
  return out.str();
}

} // namespace livemart::conf
