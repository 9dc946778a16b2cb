#include <protocol/streams.hpp>

#include <algorithm>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>

namespace livemart {

namespace {

constexpr std::string_view key_prefix = "lm_";
constexpr std::size_t key_secret_bytes = 32; // 256 bits

} // namespace

std::string_view to_string(stream_status s) {
  switch (s) {
    case stream_status::live: return "live";
    case stream_status::ended: return "ended";
    case stream_status::cancelled: return "cancelled";
    default: return "scheduled";
  }
}

bool from_string(std::string_view text, stream_status& out) {
  if (text == "scheduled")
    out = stream_status::scheduled;
  else if (text == "live")
    out = stream_status::live;
  else if (text == "ended")
    out = stream_status::ended;
  else if (text == "cancelled")
    out = stream_status::cancelled;
  else
    return false;
  return true;
}

place_request drop_buy_request(std::uint64_t address_id, std::int64_t quantity) {
  place_request out;
  out.items.items.push_back({0, quantity});
  out.items.address_id = address_id;
  return out;
}

std::int64_t bid_increment(const std::vector<conf::increment_tier>& tiers, std::int64_t price_minor) {
  std::int64_t step = 1;
  for (const auto& t : tiers)
    if (price_minor >= t.from_minor)
      step = t.step_minor;
  return step;
}

std::int64_t next_minimum_bid(const std::vector<conf::increment_tier>& tiers, const stream_auction& a) {
  if (a.bid_count == 0)
    return std::max<std::int64_t>(a.starting_price_minor, 1);
  return a.price_minor + bid_increment(tiers, a.price_minor);
}

std::int64_t deadline_after_bid(const stream_auction& a, std::int64_t now_ms, std::int64_t window_ms,
                                std::int64_t extend_to_ms) {
  if (a.sudden_death || a.ends_at_ms - now_ms > window_ms)
    return a.ends_at_ms;
  return std::max(a.ends_at_ms, now_ms + extend_to_ms);
}

std::string make_stream_key(std::uint64_t stream_id) {
  std::string key{key_prefix};
  key += ids::format(stream_id);
  key += '_';
  key += crypto::base64url_encode(crypto::random_bytes(key_secret_bytes));
  return key;
}

std::optional<std::uint64_t> stream_of_key(std::string_view key) {
  if (key.size() > 128 || key.substr(0, key_prefix.size()) != key_prefix)
    return std::nullopt;
  key.remove_prefix(key_prefix.size());
  auto sep = key.find('_');
  if (sep == std::string_view::npos || key.size() - sep - 1 < 40)
    return std::nullopt;
  return ids::parse(key.substr(0, sep));
}

std::string hash_stream_key(std::string_view key) {
  return crypto::to_hex(crypto::sha256(key));
}

} // namespace livemart
