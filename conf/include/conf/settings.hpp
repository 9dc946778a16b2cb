#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

/// Every limit, timeout and knob of livemart, by name, in one place.
///
/// Each setting has a dotted name (`http.body_bytes_max`). Values come from,
/// in increasing precedence: the defaults below, the config file
/// (conf/livemart.conf, INI sections), the environment
/// (`LIVEMART_HTTP_BODY_BYTES_MAX`) and command-line flags
/// (`--http.body_bytes_max=65536`). Units are the last part of each name.
namespace livemart::conf {

struct http_settings {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t threads = 2;
  std::size_t header_bytes_max = 8 * 1024;
  std::size_t body_bytes_max = 64 * 1024;
  std::size_t chunk_line_bytes_max = 1024;  ///< a chunk-size line with its extensions (413 above)
  std::size_t trailer_bytes_max = 4 * 1024; ///< the trailer section of a chunked body (431 above)
  std::size_t json_depth_max = 16;          ///< nesting of request bodies
  std::size_t json_members_max = 256;       ///< members per object or array in request bodies
  std::size_t connections_max = 10'000;
  std::uint32_t read_timeout_ms = 10'000;   ///< whole request, header and body
  std::uint32_t write_timeout_ms = 10'000;
  std::uint32_t idle_timeout_ms = 60'000;   ///< keep-alive wait for the next request
  std::uint32_t request_timeout_ms = 5'000; ///< actor round trip budget per request
  std::uint32_t change_timeout_ms = 25'000; ///< budget of a request that changes an order (may call the gateway)
  std::uint32_t shutdown_timeout_ms = 10'000;
  std::uint32_t shutdown_unwind_ms = 500;   ///< after the grace period: for cancelled requests to unwind before the stop
  std::uint32_t shutdown_poll_ms = 20;      ///< how often a stopping server looks for requests still in flight
  bool trust_forwarded_for = false;         ///< take the client address from X-Forwarded-For
  bool access_log = true;
};

struct database_settings {
  std::string url;                          ///< libpq conninfo or URI (DATABASE_URL)
  std::size_t read_connections = 4;
  std::size_t read_queue_max = 1'024;
  std::size_t write_batch_max = 256;
  std::uint32_t write_flush_interval_us = 0; ///< 0: flush as soon as the mailbox drains
  std::size_t write_queue_max = 8'192;
  std::uint32_t connect_timeout_s = 2;
  std::uint32_t reconnect_interval_ms = 500;
  std::uint32_t statement_timeout_ms = 5'000;
  /// The server ends a session idle this long inside a transaction: a node
  /// paused mid-write (SIGSTOP, a stall) cannot hold its locks, the fence's
  /// included, and block the claim of its slots.
  std::uint32_t idle_in_transaction_timeout_ms = 2'000;
  std::uint32_t retry_after_s = 2;          ///< Retry-After sent with 503 when the database is away
};

struct actor_settings {
  std::size_t scheduler_threads = 2;
  std::string scheduler_policy = "stealing"; ///< CAF scheduler: stealing or sharing
  std::size_t scheduler_spin_polls = 100;   ///< an idle worker looks for work this often without pausing...
  std::size_t scheduler_nap_polls = 20;     ///< ...then this often 50 us apart (a wake-up each), then waits (see livemart.conf)
  std::size_t user_shards = 16;
  std::size_t user_cache_entries_max = 100'000; ///< per shard
  std::uint32_t user_cache_ttl_s = 60;          ///< re-read a cached profile after this long
  std::uint32_t step_timeout_ms = 4'000;        ///< one actor-to-actor request (below http.request_timeout_ms)
  std::size_t update_attempts_max = 3;          ///< optimistic retries when a row changed concurrently
  std::size_t product_shards = 16;              ///< product registry shards
  std::uint32_t product_idle_ms = 300'000;      ///< a product actor with nothing to do ends after this long
  std::size_t order_shards = 16;                ///< order registry shards
  std::uint32_t order_idle_ms = 120'000;        ///< an order actor with nothing to do ends after this long
  std::size_t order_queue_max = 64;             ///< changes waiting for one order's actor at most before 503
};

struct auth_settings {
  std::string jwt_issuer = "livemart";
  std::string jwt_audience = "livemart-api";
  std::string jwt_keys;                     ///< "kid:hex,kid:hex"; the first signs. Secret.
  std::uint32_t access_token_ttl_s = 900;
  std::uint32_t refresh_token_ttl_s = 30 * 24 * 3600;
  std::uint32_t clock_skew_s = 30;
  std::size_t password_length_min = 8;
  std::size_t password_length_max = 128;
  std::size_t argon2_memory_kib = 19 * 1024;
  std::size_t argon2_iterations = 2;
  std::size_t hash_workers = 2;
  std::size_t hash_queue_max = 256;
  std::size_t login_attempts_per_account_max = 10;
  std::size_t login_attempts_per_address_max = 50;
  std::uint32_t login_window_s = 300;
  std::size_t registrations_per_address_max = 20; ///< per login_window_s
  std::size_t rate_limit_keys_max = 100'000;
  std::uint32_t revocation_poll_ms = 500;   ///< how often a node reads sessions ended elsewhere (other nodes, tools)
};

struct user_settings {
  std::size_t display_name_length_max = 64;
  std::size_t bio_length_max = 500;
  std::size_t avatar_url_bytes_max = 2'048;
  std::size_t addresses_per_user_max = 20;
  std::size_t address_field_length_max = 128;
  std::size_t shop_description_length_max = 2'000;
  std::size_t page_size_max = 100;            ///< items per page of any list
};

struct catalog_settings {
  std::size_t search_query_length_max = 200;  ///< characters of q
  std::size_t search_fuzzy_below = 5;         ///< fewer exact matches than this: try similar words too
  std::size_t search_prefix_terms_max = 64;   ///< indexed words one query word may match as a prefix
  std::size_t search_facets_max = 50;         ///< category facets per answer
  std::size_t search_load_batch = 5'000;      ///< products per read while the index loads
  std::size_t search_shards = 2;              ///< index parts searched in parallel by the scheduler
  std::uint32_t search_ready_wait_ms = 2'000; ///< a start waits this long for the index, then serves (search: 503)
  std::uint32_t detail_refresh_ms = 2'000;    ///< seller summary and breadcrumb on product pages, at most this old
  std::size_t review_title_length_max = 120;  ///< a review's title, characters
  std::size_t review_body_length_max = 5'000; ///< a review's text, characters
};

struct order_settings {
  std::uint32_t hold_ttl_s = 600;                  ///< a checkout's stock holds last this long
  std::size_t checkout_lines_max = 50;             ///< line items per checkout
  std::size_t line_quantity_max = 100;             ///< units per line
  std::int64_t shipping_per_seller_minor = 499;    ///< shipping charged per seller in a checkout
  std::int64_t free_shipping_from_minor = 5'000;   ///< a seller's subtotal from which its shipping is free
  std::uint32_t hold_sweep_interval_ms = 1'000;    ///< how often expired holds are looked for
  std::size_t hold_sweep_batch = 100;              ///< expired checkouts released per sweep at most
  std::uint32_t idempotency_retention_h = 48;      ///< Idempotency-Key replies are kept at least this long
  std::size_t idempotency_key_bytes_max = 255;     ///< longest Idempotency-Key header
  std::size_t reason_length_max = 500;             ///< a cancellation's or refund's reason, code points
  std::size_t tracking_length_max = 64;            ///< carrier name and tracking number, code points
  std::uint32_t expiry_sweep_interval_ms = 1'000;  ///< how often unpaid orders past their hold are cancelled
  std::size_t expiry_sweep_batch = 100;            ///< unpaid orders cancelled per sweep at most
  std::size_t sale_batch_max = 256;                ///< direct sales of one product written in one statement at most
  std::uint32_t idempotency_expire_interval_s = 3'600; ///< how often Idempotency-Key replies past retention are deleted
  std::size_t idempotency_expire_batch = 10'000;   ///< replies deleted per run at most
};

struct payment_settings {
  std::string gateway = "sandbox";                 ///< sandbox (built in) or stripe
  std::string capture = "on_confirm";              ///< take the money when the order is paid, or authorize then and capture when it ships (on_ship)
  std::string stripe_base_url = "https://api.stripe.com"; ///< the REST API's root (a local fake in tests)
  std::string stripe_secret_key;                   ///< sk_... Secret.
  std::string return_url;                          ///< where a buyer returns after 3-D Secure (sent to Stripe when set)
  std::string webhook_secrets;                     ///< whsec_...,whsec_... (several during a rotation). Secret.
  std::uint32_t webhook_tolerance_s = 300;         ///< how old a webhook signature's timestamp may be
  std::uint32_t gateway_timeout_ms = 4'000;        ///< one gateway call, connect to reply (below http.request_timeout_ms)
  std::size_t gateway_workers = 4;                 ///< threads calling the gateway (its calls block)
  std::size_t gateway_queue_max = 256;             ///< gateway calls waiting at most before 503
  std::size_t token_bytes_max = 4'096;             ///< a payment-method or Google Pay token
  std::uint32_t sandbox_settle_ms = 200;           ///< the sandbox's "later" outcomes arrive after this
  bool sandbox_events = true;                      ///< the sandbox reports later outcomes (as Stripe's webhooks would)
  std::uint32_t reconcile_interval_s = 3'600;      ///< how often payments are compared with the gateway; 0: never
  std::uint32_t reconcile_window_h = 24;           ///< how far back a periodic reconciliation looks
  std::uint32_t reconcile_lag_s = 300;             ///< the newest payments a periodic reconciliation leaves to the gateway's own events
  std::size_t reconcile_pages_max = 100;           ///< pages of 100 payments one reconciliation lists at the gateway at most
};

/// Live streams: the stream actors, drops and auctions.
struct stream_settings {
  std::size_t title_length_max = 120;              ///< a stream's title, characters
  std::size_t description_length_max = 2'000;     ///< a stream's description, characters
  std::size_t featured_max = 50;                   ///< products featured in one stream
  std::uint32_t schedule_ahead_max_days = 90;      ///< how far ahead a stream may be scheduled
  std::string ingest_url = "rtmp://127.0.0.1:1935/live"; ///< the RTMP ingest URL shown with a stream key
  std::uint32_t reconnect_window_s = 60;           ///< a live stream whose ingest dropped ends after this long without it
  std::uint32_t push_interval_ms = 60;             ///< a product's stock and price reach viewers at most this often; 0: every change
  std::uint32_t viewer_push_interval_ms = 1'000;   ///< the viewer count reaches viewers at most this often
  std::uint32_t stats_flush_s = 10;                ///< viewer statistics are written at least this often while live
  std::uint32_t idle_ms = 300'000;                ///< an actor of a stream that is not live ends after this long unused
  std::size_t live_page_max = 100;                 ///< streams per page of GET /streams/live
  std::int64_t drop_quantity_max = 100'000;        ///< units in one drop
  std::uint32_t drop_duration_max_s = 3'600;       ///< longest drop
  std::int64_t drop_per_buyer_max = 100;           ///< highest per-buyer limit of a drop
  std::uint32_t auction_duration_max_s = 3'600;    ///< longest auction
  std::uint32_t auction_extend_window_s = 10;      ///< a bid this close to the end extends the auction...
  std::uint32_t auction_extend_to_s = 10;          ///< ...so that this much time is left (not in sudden-death mode)
  std::uint32_t auction_close_retry_ms = 1'000;    ///< wait before closing an auction again when its sale or its write failed
  std::uint32_t start_timeout_ms = 30'000;         ///< reading the live streams to start at boot
  std::string bid_increments = "0:100,2000:250,10000:500,50000:1000,100000:2500"; ///< price from (minor units) : smallest raise
  std::int64_t bid_max_minor = 100'000'000;        ///< highest bid
  std::size_t bid_queue_max = 1'024;               ///< bids waiting for the one being written at most, per stream
  std::size_t command_queue_max = 256;             ///< changes waiting per stream at most before 503
};

/// WebSocket connections (viewers and user channels).
struct ws_settings {
  std::size_t message_bytes_max = 4'096;           ///< a message from a client
  std::size_t outbox_max = 256;                    ///< messages queued for one connection at most; beyond: closed (4408)
  std::uint32_t behind_max_ms = 5'000;             ///< a connection whose oldest queued message waits longer is closed (4408)
  std::size_t send_buffer_bytes = 0;               ///< the kernel's send buffer per connection (SO_SNDBUF, doubled by the kernel); 0: the kernel sizes it
  std::uint32_t close_timeout_ms = 1'000;          ///< a closing connection whose peer takes no close frame is cut after this
  std::uint32_t hello_timeout_ms = 5'000;          ///< the first message (hello, with the token) must arrive within this
  std::uint32_t idle_timeout_ms = 60'000;          ///< a connection without any frame for this long is closed (pings are sent at half)
  std::uint32_t messages_per_s = 10;               ///< client messages per second, sustained
  std::uint32_t messages_burst = 20;               ///< client messages in a burst
  std::uint32_t refusals_max = 20;                 ///< messages refused for rate within ws.refusal_window_ms; one more closes (4429)
  std::uint32_t refusal_window_ms = 10'000;        ///< the window ws.refusals_max counts in
  std::size_t connections_max = 50'000; ///< WebSocket connections on this node (viewers and user channels)
  std::size_t connections_per_client_max = 100; ///< WebSocket connections from one client address (or IPv6 /64)
  std::string allowed_origins;                     ///< Origins allowed besides the server's own (comma-separated)
  std::uint32_t viewer_report_ms = 200;            ///< a node tells a stream its viewer count at most this often
  std::uint32_t hub_linger_ms = 5'000;             ///< a node's hub of a stream without viewers ends after this
  std::uint32_t session_check_ms = 100;            ///< how often connections look for ended sessions (a logout closes them)
};

struct node_settings {
  std::uint32_t id = 1; ///< 0..1023, part of every generated id so a cluster can route by id
  bool background_jobs = true; ///< run the sweepers (expired holds, unpaid orders) and periodic reconciliation
};

/// A cluster of nodes (docs/architecture.md, "The cluster"). Off: this
/// node is the whole marketplace, as before.
struct cluster_settings {
  bool enabled = false;
  std::string address = "127.0.0.1"; ///< the cluster port binds here: keep it on a private network
  std::uint16_t port = 4370;         ///< the cluster port (CAF's io middleman); 0: any free port
  std::string advertise;             ///< the address peers connect to (empty: cluster.address)
  std::string seeds;                 ///< host:port of nodes to join through, comma-separated
  std::uint32_t slots = 16'384;      ///< hash slots entities are placed in; every node must agree
  std::uint32_t heartbeat_ms = 1'000; ///< how often a node marks itself alive in PostgreSQL
  std::uint32_t member_ttl_ms = 5'000; ///< a member whose mark is older is dead, and its slots are claimed
  std::uint32_t connect_timeout_ms = 2'000;  ///< connecting to a peer's cluster port
  std::uint32_t link_heartbeat_ms = 500;     ///< CAF middleman heartbeats between connected nodes
  std::uint32_t link_timeout_ms = 2'000;     ///< a peer silent this long is disconnected (SIGSTOP, partition)
  std::uint32_t handoff_drain_ms = 2'000;    ///< a moving slot's in-flight work gets this long before release
};

struct settings {
  http_settings http;
  database_settings database;
  actor_settings actors;
  auth_settings auth;
  user_settings users;
  catalog_settings catalog;
  order_settings orders;
  payment_settings payments;
  stream_settings streams;
  ws_settings ws;
  node_settings node;
  cluster_settings cluster;
};

/// One named setting: how to read it from text and print it back.
struct setting_entry {
  std::string_view name;        ///< "http.body_bytes_max"
  std::string_view description;
  bool secret = false;          ///< never printed
  std::function<bool(settings&, std::string_view)> parse;
  std::function<std::string(const settings&)> print;
};

/// One tier of bid increments: from this price on, a bid must raise by at least `step`.
struct increment_tier {
  std::int64_t from_minor = 0;
  std::int64_t step_minor = 0;
};
/// Parses streams.bid_increments ("0:100,2000:250"): tiers rising from 0,
/// positive steps. Empty when malformed.
std::vector<increment_tier> parse_increment_tiers(std::string_view text);

/// Whether `address` is a numeric loopback or private address (127/8,
/// 10/8, 172.16/12, 192.168/16, ::1, fc00::/7): where a cluster port may bind.
bool is_private_address(const std::string& address);

/// All settings, in a stable order.
std::span<const setting_entry> setting_entries();

/// Environment variable name for a setting: LIVEMART_ + upper case, dots to underscores.
std::string environment_name(std::string_view setting_name);

struct load_result {
  settings values;
  std::vector<std::string> errors;     ///< "http.port: not a number (from flag)"
  std::vector<std::string> arguments;  ///< positional arguments left over
  bool help = false;
};

/// Loads settings. `args` are command-line words after the subcommand.
/// `--config=PATH` names the file; without it none is read. `environment`
/// looks up a variable (std::getenv in production, a map in tests).
load_result load(std::span<const std::string> args,
                 const std::function<const char*(const char*)>& environment);

/// Checks values that parse but make no sense or break a security floor
/// (access tokens over 15 minutes, Argon2id below m=19 MiB, t=2, ...).
std::vector<std::string> validate(const settings& values);

/// The budget of one order change inside the actors: it may call the
/// gateway twice (cancel, then refund) between its three steps.
std::uint64_t order_change_budget_ms(const settings& values);

/// The budget of one reconciliation: every page it may list, and one call more.
std::uint64_t reconcile_budget_ms(const settings& values);

/// `--help` text listing every setting with its default and description.
std::string help_text();

/// The effective settings, one `name = value` line each, secrets masked.
std::string describe(const settings& values);

} // namespace livemart::conf
