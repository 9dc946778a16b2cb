#include <protocol/stream_rules.hpp>

#include <algorithm>

#include <protocol/messages.hpp>

namespace livemart {

std::optional<caf::error> drop_ended(const stream_drop& d, std::int64_t now_ms) {
  if (!d.active || now_ms >= d.ends_at_ms)
    return make_error(errc::conflict, "the drop has ended");
  return std::nullopt;
}

std::optional<caf::error> drop_limit(const stream_drop& d, std::int64_t bought, std::int64_t quantity) {
  if (quantity > d.remaining)
    return make_error(errc::conflict, "the drop has " + std::to_string(d.remaining) + " left",
                      {field_error{"quantity", "only " + std::to_string(d.remaining) + " left in the drop"}});
  if (bought + quantity > d.per_buyer_limit)
    return make_error(errc::conflict, "the drop allows " + std::to_string(d.per_buyer_limit) + " per buyer",
                      {field_error{"quantity", "the drop allows " + std::to_string(d.per_buyer_limit)
                                                 + " per buyer; you have " + std::to_string(bought)}});
  return std::nullopt;
}

std::optional<caf::error> bid_refusal(const stream_auction& a, bool live, bool closing, std::uint64_t owner_id,
                                      std::uint64_t bidder, std::int64_t now_ms) {
  if (!a.open || closing || now_ms >= a.ends_at_ms || !live)
    return make_error(errc::conflict, "the auction has closed");
  if (bidder == owner_id)
    return make_error(errc::forbidden, "a seller cannot bid in its own auction");
  return std::nullopt;
}

std::vector<bid_verdict> evaluate_bids(const stream_auction& a, const std::vector<bid_attempt>& bids,
                                       const auction_rules& rules) {
  std::vector<bid_verdict> out;
  out.reserve(bids.size());
  auto next = a;
  for (const auto& b : bids) {
    bid_verdict v;
    if (b.at_ms >= next.ends_at_ms) {
      v.refusal = make_error(errc::conflict, "the auction has closed");
      out.push_back(std::move(v));
      continue;
    }
    auto minimum = next_minimum_bid(rules.tiers, next);
    if (b.amount_minor < minimum) {
      v.refusal = make_error(errc::conflict, "a bid must be at least " + std::to_string(minimum),
                             {field_error{"amount_minor", "must be at least " + std::to_string(minimum)}});
      out.push_back(std::move(v));
      continue;
    }
    v.outbid = next.leader_id != b.bidder ? next.leader_id : 0;
    next.leader_id = b.bidder;
    next.leader_name = b.bidder_name;
    next.price_minor = b.amount_minor;
    ++next.bid_count;
    auto deadline = deadline_after_bid(next, b.at_ms, rules.extend_window_ms, rules.extend_to_ms);
    v.extended = deadline != next.ends_at_ms;
    next.ends_at_ms = deadline;
    next.next_minimum_minor = next_minimum_bid(rules.tiers, next);
    v.after = next;
    out.push_back(std::move(v));
  }
  return out;
}

std::int64_t auction_time_left(const stream_auction& a, std::int64_t now_ms) {
  return std::max<std::int64_t>(0, a.ends_at_ms - now_ms);
}

} // namespace livemart
