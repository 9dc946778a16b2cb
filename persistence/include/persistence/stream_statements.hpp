#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <persistence/statements.hpp>
#include <protocol/streams.hpp>

/// The statements of live streams: streams, drops, auctions and bids. Each
/// stream's actor is the only writer of its rows.
namespace livemart::persistence {

std::span<const named_statement> stream_statement_catalog();

/// Columns as decode_streams reads them. `key_hash` is stored, never the key.
db_statement stream_insert(const stream_info& s, const std::string& key_hash);
db_statement stream_by_id(std::uint64_t id);
/// Writes every field the stream's actor owns.
db_statement stream_save(const stream_info& s, const std::string& key_hash);
/// A seller's streams, newest first (before id, limit); `upcoming`:
/// scheduled and live only, otherwise all.
db_statement streams_of_seller(std::uint64_t seller_id, bool upcoming, std::uint64_t before, std::uint32_t limit);
/// Ids of the live streams (their actors start with the node).
db_statement streams_live();
std::vector<std::uint64_t> decode_stream_ids(const db_rows& rows);
/// Orders of the stream's featured products while it was live: orders, revenue_minor.
db_statement stream_sales(std::uint64_t stream_id);
struct stream_sales_totals {
  std::int64_t orders = 0;
  std::int64_t revenue_minor = 0;
};
/// Zeros when there is no row.
stream_sales_totals decode_stream_sales(const db_rows& rows);
std::vector<stream_info> decode_streams(const db_rows& rows);
/// The key hash column of a stream_by_id row.
std::string decode_key_hash(const db_rows& rows);

db_statement drop_insert(std::uint64_t stream_id, const stream_drop& d);
db_statement drop_end(std::uint64_t drop_id, const std::string& reason);
/// The stream's active drop, if any.
db_statement drop_active(std::uint64_t stream_id);
std::vector<stream_drop> decode_drops(const db_rows& rows);
/// Units bought from the stream's active drop per buyer: buyer_id, units.
db_statement drop_bought(std::uint64_t stream_id);
struct drop_purchase {
  std::uint64_t buyer_id = 0;
  std::int64_t units = 0;
};
std::vector<drop_purchase> decode_drop_purchases(const db_rows& rows);

db_statement auction_insert(std::uint64_t stream_id, const stream_auction& a);
/// A bid and the auction's new leader, price and deadline (two statements, one transaction).
std::vector<db_statement> auction_bid(std::uint64_t bid_id, const stream_auction& after);
db_statement auction_close(const stream_auction& a);
/// The stream's latest auction, open or closed.
db_statement auction_latest(std::uint64_t stream_id);
std::vector<stream_auction> decode_auctions(const db_rows& rows);
/// The highest bid of each bidder, highest first: bidder_id, amount_minor, display_name.
db_statement auction_standings(std::uint64_t auction_id, std::uint32_t limit);
struct auction_standing {
  std::uint64_t bidder_id = 0;
  std::int64_t amount_minor = 0; ///< the bidder's highest bid
  std::string display_name;
};
std::vector<auction_standing> decode_auction_standings(const db_rows& rows);
/// The user's most recent address: id (none: no rows).
db_statement latest_address(std::uint64_t user_id);
std::optional<std::uint64_t> decode_latest_address(const db_rows& rows);

} // namespace livemart::persistence
