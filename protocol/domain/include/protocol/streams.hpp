#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/catalog.hpp>
#include <protocol/orders.hpp>

/// Live streams: the stream itself, what its viewers see (products with
/// live stock and price, drops, auctions) and the messages of its
/// WebSocket protocol (docs/api.md, "Live streams"). Their JSON is in
/// protocol/wire/streams.hpp.
namespace livemart {

enum class stream_status : std::uint8_t { scheduled = 0, live = 1, ended = 2, cancelled = 3 };
std::string_view to_string(stream_status s);
bool from_string(std::string_view text, stream_status& out);

/// A featured product as viewers see it: live stock (what can still be
/// bought) and price, from the product's actor.
struct stream_product {
  std::uint64_t id = 0;
  std::string title;
  std::string image_url;
  std::string currency;
  std::int64_t price_minor = 0;
  std::int64_t available = 0;
  std::uint64_t version = 0; ///< the product's update sequence: newer wins
};

struct stream_drop {
  std::uint64_t id = 0;
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
  std::int64_t remaining = 0;
  std::int64_t price_minor = -1; ///< negative: the product's price
  std::int64_t per_buyer_limit = 0;
  std::int64_t started_at_ms = 0;
  std::int64_t ends_at_ms = 0;
  bool active = false;
  std::string end_reason; ///< sold_out, deadline, ended_by_seller, stream_ended
};

struct stream_auction {
  std::uint64_t id = 0;
  std::uint64_t product_id = 0;
  std::string currency;
  std::int64_t starting_price_minor = 0;
  std::int64_t price_minor = 0;     ///< the leading bid (0: none yet)
  std::int64_t next_minimum_minor = 0;
  std::uint64_t leader_id = 0;
  std::string leader_name;
  std::int32_t bid_count = 0;
  bool sudden_death = false;
  std::int64_t started_at_ms = 0;
  std::int64_t ends_at_ms = 0;
  bool open = false;
  std::string result;           ///< sold, no_bids, out_of_stock, no_address, offered
  std::uint64_t winner_id = 0;
  std::uint64_t order_id = 0;
  std::uint64_t offered_to = 0; ///< the runner-up the item was offered to
};

struct stream_info {
  std::uint64_t id = 0;
  std::uint64_t seller_id = 0;
  std::uint64_t owner_id = 0; ///< the seller's user (never shown to the public)
  std::string shop_name;
  std::string title;
  std::string description;
  stream_status status = stream_status::scheduled;
  std::int64_t scheduled_at_ms = 0;
  std::int64_t started_at_ms = 0;
  std::int64_t ended_at_ms = 0;
  std::string end_reason;
  std::vector<std::uint64_t> featured;
  std::uint64_t pinned = 0;
  bool allow_anonymous = true;
  bool ingest_connected = false;
  std::int32_t key_version = 1;
  std::int64_t viewers = 0;
  std::int64_t peak_viewers = 0;
  std::int64_t unique_viewers = 0;
  std::int64_t created_at_ms = 0;
};

/// What a seller sends to schedule a stream (or start it now).
struct stream_draft {
  std::string title;
  std::string description;
  std::int64_t scheduled_at_ms = 0; ///< 0: now
  std::vector<std::uint64_t> featured;
  bool allow_anonymous = true;
  bool start_now = false;
};

struct stream_patch {
  bool has_title = false;
  std::string title;
  bool has_description = false;
  std::string description;
  bool has_scheduled_at = false;
  std::int64_t scheduled_at_ms = 0;
  bool has_featured = false;
  std::vector<std::uint64_t> featured;
  bool has_allow_anonymous = false;
  bool allow_anonymous = true;
};

struct drop_spec {
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
  std::int64_t price_minor = -1;
  std::int64_t duration_s = 0;
  std::int64_t per_buyer_limit = 1;
};

struct auction_spec {
  std::uint64_t product_id = 0;
  std::int64_t starting_price_minor = 0;
  std::int64_t duration_s = 0;
  bool sudden_death = false;
};

/// A purchase from a drop (a REST body or a WebSocket "buy" message). The
/// product and price come from the drop, never from the client.
place_request drop_buy_request(std::uint64_t address_id, std::int64_t quantity);

/// The smallest raise over `price` (conf::parse_increment_tiers).
std::int64_t bid_increment(const std::vector<conf::increment_tier>& tiers, std::int64_t price_minor);
/// The lowest acceptable next bid: the starting price before the first
/// bid, then the leading bid plus its tier's increment.
std::int64_t next_minimum_bid(const std::vector<conf::increment_tier>& tiers, const stream_auction& a);

/// Anti-sniping: the deadline after a bid at `now_ms`. A bid within the
/// window before the end moves the end so that `extend_to_ms` are left;
/// sudden death never moves it.
std::int64_t deadline_after_bid(const stream_auction& a, std::int64_t now_ms, std::int64_t window_ms,
                                std::int64_t extend_to_ms);

/// A new stream key: "lm_<stream id>_<43 characters of base64url>" (256
/// random bits). The id routes an ingest check to the stream's actor.
std::string make_stream_key(std::uint64_t stream_id);
/// The stream id in a key, or nullopt when the key has not that shape.
std::optional<std::uint64_t> stream_of_key(std::string_view key);
/// What is stored: the SHA-256 of the key, hex.
std::string hash_stream_key(std::string_view key);

// -- the WebSocket protocol -------------------------------------------------------------

/// Every push: {"type": ..., "seq": n, ...}. `seq` counts the stream's
/// events that cannot be replaced by a later one (pins, drops, bids, ...);
/// state events (stock, price, viewers) carry the current `seq` and a key,
/// and a newer state event with the same key replaces an older one that
/// was not sent yet. A client that sees `seq` jump by more than one, or a
/// state event with a `seq` above its own, missed an event: it asks for a
/// snapshot again ({"type":"resync"}).
struct stream_push {
  std::string key;   ///< coalescing key of a state event ("stock:<id>", "viewers"); empty: never replaced
  std::string json;  ///< the message, encoded once for every viewer
  std::uint64_t seq = 0;
  std::int64_t at_us = 0; ///< when the change committed (system clock), for delivery delays
};

struct stream_snapshot {
  std::uint64_t seq = 0;
  std::string json;
};

/// What a client sends over the WebSocket.
struct ws_client_message {
  enum class kind : std::uint8_t { hello, bid, buy, resync, ping } type = kind::ping;
  std::string token;        ///< hello: an access token (optional for anonymous viewers)
  std::int64_t amount_minor = 0; ///< bid
  std::uint64_t auction_id = 0;  ///< bid (0: the current auction)
  std::uint64_t drop_id = 0;     ///< buy (0: the current drop)
  std::uint64_t address_id = 0;  ///< buy
  std::int64_t quantity = 1;     ///< buy
  std::string key;               ///< buy: the Idempotency-Key
  std::string ref;               ///< echoed in the reply, so a client can match it
};

} // namespace livemart
