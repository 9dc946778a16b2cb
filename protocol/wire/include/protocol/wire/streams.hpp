#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/orders.hpp>
#include <protocol/streams.hpp>
#include <protocol/wire/decoded.hpp>

/// Live streams on the wire: request bodies, replies, and the JSON of the
/// WebSocket protocol (docs/api.md, "Live streams").
namespace livemart {

decoded<stream_draft> decode_stream_draft(std::string_view body, const conf::settings& cfg, std::int64_t now_ms);
decoded<stream_patch> decode_stream_patch(std::string_view body, const conf::settings& cfg, std::int64_t now_ms);
decoded<drop_spec> decode_drop_spec(std::string_view body, const conf::settings& cfg);
decoded<auction_spec> decode_auction_spec(std::string_view body, const conf::settings& cfg);

/// A purchase from a drop: {"address_id": "...", "quantity": n}. The
/// product and price come from the drop, never from the client.
decoded<place_request> decode_drop_buy(std::string_view body, const conf::settings& cfg);
/// {"amount_minor": ...}
decoded<std::int64_t> decode_bid(std::string_view body, const conf::settings& cfg);
/// {"product_id": "..."} for pinning.
decoded<std::uint64_t> decode_pin(std::string_view body);

// -- JSON out -------------------------------------------------------------------------

/// The public view; the owner also sees key_version and ingest state.
std::string encode_stream(const stream_info& s, bool owner_view);
/// 201 of POST /streams and of a key rotation: the stream, the key (shown once) and the ingest URL.
std::string encode_stream_with_key(const stream_info& s, std::string_view key, std::string_view ingest_url);
std::string encode_streams(const std::vector<stream_info>& list, std::string_view next_cursor);
std::string encode_drop(const stream_drop& d);
std::string encode_auction(const stream_auction& a);
/// A push to one user about an auction of a stream ({"type", "stream_id",
/// "stream_title", "auction"}): outbid, won, offered.
std::string encode_auction_event(std::string_view type, const stream_info& s, const stream_auction& a);
/// The data of a pinned or unpinned event: {"product_id"} (null: unpinned).
std::string encode_pin(std::uint64_t product_id);

// -- the WebSocket protocol -------------------------------------------------------------

std::string encode_snapshot(const stream_info& s, const std::vector<stream_product>& products,
                            const std::optional<stream_drop>& drop, const std::optional<stream_auction>& auction,
                            std::uint64_t seq);
/// A product's state: `at_us` when its value committed, `first_at_us` the
/// oldest change it replaces (coalesced), `sent_us` when the stream sent it
/// (all microseconds since the epoch); `drop_json` (when not empty) is the
/// drop running on it.
std::string encode_product_push(const stream_product& p, std::uint64_t seq, std::int64_t at_us,
                                std::int64_t first_at_us, std::int64_t sent_us, std::string_view drop_json = {});
std::string encode_viewers_push(std::int64_t viewers, std::uint64_t seq);
/// type: pinned, unpinned (product may be null), drop_started, drop_updated, drop_ended, auction_started, bid,
/// auction_extended, auction_closed, stream_started, stream_ended, stream_updated
std::string encode_event_push(std::string_view type, std::uint64_t seq, std::string_view field,
                              std::string_view payload_json, std::int64_t at_us);

/// Decodes a client message; the problem names the offending field.
decoded<ws_client_message> decode_ws_message(std::string_view text, const conf::settings& cfg);

/// A reply to one client message: {"type":"reply","ref":...,"status":...,"body":...}.
std::string encode_ws_reply(std::string_view ref, int status, std::string_view body_json);

} // namespace livemart
