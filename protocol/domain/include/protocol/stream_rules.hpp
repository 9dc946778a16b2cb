#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include <conf/settings.hpp>
#include <protocol/streams.hpp>

/// The rules of drops and auctions, as pure functions of the state and the
/// time: the stream actor (actors/src/streams/) applies them with the wall
/// clock, and tests/unit/rules_test.cpp drives them with a clock it sets.
/// A refusal is an error naming its field, as the actor answers it.
namespace livemart {

/// Whether drop `d` still sells at `now_ms`: none, or the refusal.
std::optional<caf::error> drop_ended(const stream_drop& d, std::int64_t now_ms);
/// Whether a buyer who holds `bought` units of drop `d` may buy `quantity`
/// more: none, or the refusal naming `quantity`.
std::optional<caf::error> drop_limit(const stream_drop& d, std::int64_t bought, std::int64_t quantity);

/// Whether a bid of `bidder` may join auction `a` at `now_ms` (the stream
/// is `live`, its owner `owner_id`; `closing`: the close is being written).
std::optional<caf::error> bid_refusal(const stream_auction& a, bool live, bool closing, std::uint64_t owner_id,
                                      std::uint64_t bidder, std::int64_t now_ms);

/// A bid waiting to be evaluated, stamped when it arrived.
struct bid_attempt {
  std::uint64_t bidder = 0;
  std::string bidder_name;
  std::int64_t amount_minor = 0;
  std::int64_t at_ms = 0;
};

/// What became of one bid: refused, or the auction as it leads.
struct bid_verdict {
  std::optional<caf::error> refusal;
  stream_auction after;     ///< accepted: the auction with this bid leading
  std::uint64_t outbid = 0; ///< accepted: the leader it displaced (0: none, or the same bidder)
  bool extended = false;    ///< accepted: the deadline moved (anti-sniping)
};

/// The rules a stream's auctions follow (streams.bid_increments, auction_extend_*).
struct auction_rules {
  std::vector<conf::increment_tier> tiers;
  std::int64_t extend_window_ms = 0;
  std::int64_t extend_to_ms = 0;
};

/// Evaluates `bids` in arrival order, each against the auction as the
/// accepted bids before it left it: a bid that arrived at or after the
/// deadline (as extended so far) is refused, so is one under the next
/// minimum; an accepted one leads, and in the window moves the deadline.
std::vector<bid_verdict> evaluate_bids(const stream_auction& a, const std::vector<bid_attempt>& bids,
                                       const auction_rules& rules);

/// Milliseconds until open auction `a` may close at `now_ms` (0: now).
std::int64_t auction_time_left(const stream_auction& a, std::int64_t now_ms);

} // namespace livemart
