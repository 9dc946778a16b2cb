#include <persistence/stream_statements.hpp>

#include <array>
#include <charconv>

#include <protocol/ids.hpp>

#include "columns.hpp"

namespace livemart::persistence {
namespace {

#define LM_MS(column) "(extract(epoch from " column ") * 1000)::bigint"
#define LM_STREAM_COLUMNS                                                                                        \
  "st.id, st.seller_id, se.user_id AS owner_id, se.shop_name, st.title, st.description, st.status, "           \
  LM_MS("st.scheduled_at") " AS scheduled_at_ms, " LM_MS("st.started_at") " AS started_at_ms, "                \
  LM_MS("st.ended_at") " AS ended_at_ms, st.end_reason, st.key_hash, st.key_version, st.featured::text AS featured, " \
  "st.pinned_product_id, st.allow_anonymous, st.peak_viewers, st.unique_viewers, " LM_MS("st.created_at") " AS created_at_ms"
#define LM_DROP_COLUMNS                                                                                          \
  "id, product_id, quantity, price_minor, per_buyer_limit, " LM_MS("started_at") " AS started_at_ms, "         \
  LM_MS("ends_at") " AS ends_at_ms, status, end_reason"
#define LM_AUCTION_COLUMNS                                                                                       \
  "a.id, a.product_id, a.currency, a.starting_price_minor, a.sudden_death, " LM_MS("a.started_at") " AS started_at_ms, " \
  LM_MS("a.ends_at") " AS ends_at_ms, a.status, a.leader_id, u.display_name AS leader_name, a.price_minor, "   \
  "a.bid_count, a.result, a.order_id, a.offered_to"
// A time from milliseconds since the epoch; NULL stays NULL.
#define LM_AT(n) "to_timestamp($" #n "::bigint / 1000.0)"

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
  {"stream_insert",
   "INSERT INTO streams (id, seller_id, title, description, status, scheduled_at, started_at, key_hash, featured, "
   "allow_anonymous) VALUES ($1, $2, $3, $4, $5, " LM_AT(6) ", " LM_AT(7) ", $8, $9::bigint[], $10)"},
  {"stream_by_id", "SELECT " LM_STREAM_COLUMNS " FROM streams st JOIN sellers se ON se.id = st.seller_id WHERE st.id = $1"},
  {"stream_save",
   "UPDATE streams SET title = $2, description = $3, status = $4, scheduled_at = " LM_AT(5) ", started_at = " LM_AT(6)
   ", ended_at = " LM_AT(7) ", end_reason = $8, key_hash = $9, key_version = $10, featured = $11::bigint[], "
   "pinned_product_id = $12, allow_anonymous = $13, peak_viewers = $14, unique_viewers = $15, updated_at = now() "
   "WHERE id = $1"},
  {"streams_of_seller",
   "SELECT " LM_STREAM_COLUMNS " FROM streams st JOIN sellers se ON se.id = st.seller_id WHERE st.seller_id = $1 "
   "AND (NOT $2::boolean OR st.status IN ('scheduled', 'live')) AND ($3::bigint = 0 OR st.id < $3::bigint) "
   "ORDER BY st.id DESC LIMIT $4"},
  {"streams_live", "SELECT id FROM streams WHERE status = 'live' ORDER BY id"},
  {"stream_sales",
   "SELECT count(DISTINCT o.id) AS orders, coalesce(sum(i.unit_price_minor * i.quantity), 0) AS revenue_minor "
   "FROM streams st JOIN orders o ON o.seller_id = st.seller_id AND o.created_at >= st.started_at "
   "AND o.created_at < coalesce(st.ended_at, now()) AND o.status <> 'cancelled' "
   "JOIN order_items i ON i.order_id = o.id AND i.product_id = ANY (st.featured) WHERE st.id = $1"},
  {"drop_insert",
   "INSERT INTO stream_drops (id, stream_id, product_id, quantity, price_minor, per_buyer_limit, started_at, ends_at) "
   "VALUES ($1, $2, $3, $4, $5, $6, " LM_AT(7) ", " LM_AT(8) ")"},
  {"drop_end", "UPDATE stream_drops SET status = 'ended', end_reason = $2 WHERE id = $1"},
  {"drop_active", "SELECT " LM_DROP_COLUMNS " FROM stream_drops WHERE stream_id = $1 AND status = 'active' ORDER BY id DESC LIMIT 1"},
  {"drop_bought",
   "SELECT o.buyer_id, sum(i.quantity) AS units FROM orders o JOIN order_items i ON i.order_id = o.id "
   "WHERE o.drop_id = (SELECT d.id FROM stream_drops d WHERE d.stream_id = $1 AND d.status = 'active' "
   "ORDER BY d.id DESC LIMIT 1) GROUP BY o.buyer_id"},
  {"auction_insert",
   "INSERT INTO auctions (id, stream_id, product_id, currency, starting_price_minor, sudden_death, started_at, ends_at) "
   "VALUES ($1, $2, $3, $4, $5, $6, " LM_AT(7) ", " LM_AT(8) ")"},
  {"auction_bid_insert", "INSERT INTO auction_bids (id, auction_id, bidder_id, amount_minor) VALUES ($1, $2, $3, $4)"},
  {"auction_lead",
   "UPDATE auctions SET leader_id = $2, price_minor = $3, bid_count = $4, ends_at = " LM_AT(5)
   " WHERE id = $1 AND status = 'open'"},
  {"auction_close",
   "UPDATE auctions SET status = 'closed', result = $2, order_id = $3, offered_to = $4, "
   "closed_at = coalesce(closed_at, now()) WHERE id = $1"},
  {"auction_latest",
   "SELECT " LM_AUCTION_COLUMNS " FROM auctions a LEFT JOIN users u ON u.id = a.leader_id WHERE a.stream_id = $1 "
   "ORDER BY a.id DESC LIMIT 1"},
  {"auction_standings",
   "SELECT b.bidder_id, max(b.amount_minor) AS amount_minor, u.display_name FROM auction_bids b "
   "JOIN users u ON u.id = b.bidder_id WHERE b.auction_id = $1 GROUP BY b.bidder_id, u.display_name "
   "ORDER BY 2 DESC LIMIT $2"},
  {"latest_address", "SELECT id FROM addresses WHERE user_id = $1 ORDER BY is_default DESC, id DESC LIMIT 1"},
});

#undef LM_AT
#undef LM_AUCTION_COLUMNS
#undef LM_DROP_COLUMNS
#undef LM_STREAM_COLUMNS
#undef LM_MS

db_value at_ms(std::int64_t ms) {
  return ms == 0 ? db_null() : db_int(ms);
}

db_value optional_id(std::uint64_t id) {
  return id == 0 ? db_null() : db_uint(id);
}

std::string id_array(const std::vector<std::uint64_t>& list) {
  std::string out = "{";
  for (auto id : list) {
    if (out.size() > 1)
      out += ',';
    out += std::to_string(id);
  }
  return out + "}";
}

std::vector<std::uint64_t> parse_id_array(std::string_view text) {
  std::vector<std::uint64_t> out;
  if (text.size() < 2)
    return out;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    auto comma = text.find(',');
    auto part = text.substr(0, comma);
    std::uint64_t id = 0;
    std::from_chars(part.data(), part.data() + part.size(), id);
    if (id != 0)
      out.push_back(id);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return out;
}

} // namespace

std::span<const named_statement> stream_statement_catalog() {
  return catalog;
}

db_statement stream_insert(const stream_info& s, const std::string& key_hash) {
  return {"stream_insert",
          {db_uint(s.id), db_uint(s.seller_id), db_text(s.title), db_text(s.description),
           db_text(std::string{to_string(s.status)}), db_int(s.scheduled_at_ms), at_ms(s.started_at_ms), db_text(key_hash),
           db_text(id_array(s.featured)), db_bool(s.allow_anonymous)}};
}

db_statement stream_by_id(std::uint64_t id) {
  return {"stream_by_id", {db_uint(id)}};
}

db_statement stream_save(const stream_info& s, const std::string& key_hash) {
  return {"stream_save",
          {db_uint(s.id), db_text(s.title), db_text(s.description), db_text(std::string{to_string(s.status)}),
           db_int(s.scheduled_at_ms), at_ms(s.started_at_ms), at_ms(s.ended_at_ms), db_text(s.end_reason),
           db_text(key_hash), db_int(s.key_version), db_text(id_array(s.featured)), optional_id(s.pinned),
           db_bool(s.allow_anonymous), db_int(s.peak_viewers), db_int(s.unique_viewers)}};
}

db_statement streams_of_seller(std::uint64_t seller_id, bool upcoming, std::uint64_t before, std::uint32_t limit) {
  return {"streams_of_seller", {db_uint(seller_id), db_bool(upcoming), db_uint(before), db_uint(limit)}};
}

db_statement streams_live() {
  return {"streams_live", {}};
}

std::vector<std::uint64_t> decode_stream_ids(const db_rows& rows) {
  std::vector<std::uint64_t> out;
  if (rows.rows.empty())
    return out;
  auto id = column_index(rows, "id");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back(to_uint(row[id]));
  return out;
}

db_statement stream_sales(std::uint64_t stream_id) {
  return {"stream_sales", {db_uint(stream_id)}};
}

stream_sales_totals decode_stream_sales(const db_rows& rows) {
  stream_sales_totals out;
  if (rows.rows.empty())
    return out;
  const auto& row = rows.rows.front();
  out.orders = to_int(row[column_index(rows, "orders")]);
  out.revenue_minor = to_int(row[column_index(rows, "revenue_minor")]);
  return out;
}

std::vector<stream_info> decode_streams(const db_rows& rows) {
  std::vector<stream_info> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), seller = idx("seller_id"), owner = idx("owner_id"), shop = idx("shop_name"), title = idx("title"),
       description = idx("description"), status = idx("status"), scheduled = idx("scheduled_at_ms"),
       started = idx("started_at_ms"), ended = idx("ended_at_ms"), reason = idx("end_reason"),
       key_version = idx("key_version"), featured = idx("featured"), pinned = idx("pinned_product_id"),
       anonymous = idx("allow_anonymous"), peak = idx("peak_viewers"), unique = idx("unique_viewers"),
       created = idx("created_at_ms");
  for (const auto& row : rows.rows) {
    stream_info s;
    s.id = to_uint(row[id]);
    s.seller_id = to_uint(row[seller]);
    s.owner_id = to_uint(row[owner]);
    s.shop_name = row[shop].text;
    s.title = row[title].text;
    s.description = row[description].text;
    from_string(row[status].text, s.status);
    s.scheduled_at_ms = to_int(row[scheduled]);
    s.started_at_ms = to_int(row[started]);
    s.ended_at_ms = to_int(row[ended]);
    s.end_reason = row[reason].text;
    s.key_version = static_cast<std::int32_t>(to_int(row[key_version]));
    s.featured = parse_id_array(row[featured].text);
    s.pinned = to_uint(row[pinned]);
    s.allow_anonymous = row[anonymous].text == "t";
    s.peak_viewers = to_int(row[peak]);
    s.unique_viewers = to_int(row[unique]);
    s.created_at_ms = to_int(row[created]);
    out.push_back(std::move(s));
  }
  return out;
}

std::string decode_key_hash(const db_rows& rows) {
  if (rows.rows.empty())
    return {};
  return rows.rows.front()[column_index(rows, "key_hash")].text;
}

db_statement drop_insert(std::uint64_t stream_id, const stream_drop& d) {
  return {"drop_insert",
          {db_uint(d.id), db_uint(stream_id), db_uint(d.product_id), db_int(d.quantity),
           d.price_minor >= 0 ? db_int(d.price_minor) : db_null(), db_int(d.per_buyer_limit), db_int(d.started_at_ms),
           db_int(d.ends_at_ms)}};
}

db_statement drop_end(std::uint64_t drop_id, const std::string& reason) {
  return {"drop_end", {db_uint(drop_id), db_text(reason)}};
}

db_statement drop_active(std::uint64_t stream_id) {
  return {"drop_active", {db_uint(stream_id)}};
}

std::vector<stream_drop> decode_drops(const db_rows& rows) {
  std::vector<stream_drop> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), product = idx("product_id"), quantity = idx("quantity"), price = idx("price_minor"),
       limit = idx("per_buyer_limit"), started = idx("started_at_ms"), ends = idx("ends_at_ms"),
       status = idx("status"), reason = idx("end_reason");
  for (const auto& row : rows.rows) {
    stream_drop d;
    d.id = to_uint(row[id]);
    d.product_id = to_uint(row[product]);
    d.quantity = to_int(row[quantity]);
    d.remaining = d.quantity;
    d.price_minor = row[price].is_null ? -1 : to_int(row[price]);
    d.per_buyer_limit = to_int(row[limit]);
    d.started_at_ms = to_int(row[started]);
    d.ends_at_ms = to_int(row[ends]);
    d.active = row[status].text == "active";
    d.end_reason = row[reason].text;
    out.push_back(std::move(d));
  }
  return out;
}

db_statement drop_bought(std::uint64_t stream_id) {
  return {"drop_bought", {db_uint(stream_id)}};
}

std::vector<drop_purchase> decode_drop_purchases(const db_rows& rows) {
  std::vector<drop_purchase> out;
  if (rows.rows.empty())
    return out;
  auto buyer = column_index(rows, "buyer_id"), units = column_index(rows, "units");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows) {
    drop_purchase p;
    p.units = to_int(row[units]);
    p.buyer_id = to_uint(row[buyer]);
    out.push_back(p);
  }
  return out;
}

db_statement auction_insert(std::uint64_t stream_id, const stream_auction& a) {
  return {"auction_insert",
          {db_uint(a.id), db_uint(stream_id), db_uint(a.product_id), db_text(a.currency), db_int(a.starting_price_minor),
           db_bool(a.sudden_death), db_int(a.started_at_ms), db_int(a.ends_at_ms)}};
}

std::vector<db_statement> auction_bid(std::uint64_t bid_id, const stream_auction& after) {
  return {{"auction_bid_insert", {db_uint(bid_id), db_uint(after.id), db_uint(after.leader_id), db_int(after.price_minor)}},
          {"auction_lead",
           {db_uint(after.id), db_uint(after.leader_id), db_int(after.price_minor), db_int(after.bid_count),
            db_int(after.ends_at_ms)}}};
}

db_statement auction_close(const stream_auction& a) {
  return {"auction_close", {db_uint(a.id), db_text(a.result), optional_id(a.order_id), optional_id(a.offered_to)}};
}

db_statement auction_latest(std::uint64_t stream_id) {
  return {"auction_latest", {db_uint(stream_id)}};
}

std::vector<stream_auction> decode_auctions(const db_rows& rows) {
  std::vector<stream_auction> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), product = idx("product_id"), currency = idx("currency"), start = idx("starting_price_minor"),
       sudden = idx("sudden_death"), started = idx("started_at_ms"), ends = idx("ends_at_ms"), status = idx("status"),
       leader = idx("leader_id"), leader_name = idx("leader_name"), price = idx("price_minor"),
       bids = idx("bid_count"), result = idx("result"), order = idx("order_id"), offered = idx("offered_to");
  for (const auto& row : rows.rows) {
    stream_auction a;
    a.id = to_uint(row[id]);
    a.product_id = to_uint(row[product]);
    a.currency = row[currency].text;
    a.starting_price_minor = to_int(row[start]);
    a.sudden_death = row[sudden].text == "t";
    a.started_at_ms = to_int(row[started]);
    a.ends_at_ms = to_int(row[ends]);
    a.open = row[status].text == "open";
    a.leader_id = to_uint(row[leader]);
    a.leader_name = row[leader_name].text;
    a.price_minor = to_int(row[price]);
    a.bid_count = static_cast<std::int32_t>(to_int(row[bids]));
    a.result = row[result].text;
    a.order_id = to_uint(row[order]);
    a.offered_to = to_uint(row[offered]);
    if (!a.open && (a.result == "sold" || a.result == "offered"))
      a.winner_id = a.offered_to != 0 ? a.offered_to : a.leader_id;
    out.push_back(std::move(a));
  }
  return out;
}

db_statement auction_standings(std::uint64_t auction_id, std::uint32_t limit) {
  return {"auction_standings", {db_uint(auction_id), db_uint(limit)}};
}

std::vector<auction_standing> decode_auction_standings(const db_rows& rows) {
  std::vector<auction_standing> out;
  if (rows.rows.empty())
    return out;
  auto bidder = column_index(rows, "bidder_id"), amount = column_index(rows, "amount_minor"),
       name = column_index(rows, "display_name");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[bidder]), to_int(row[amount]), row[name].text});
  return out;
}

db_statement latest_address(std::uint64_t user_id) {
  return {"latest_address", {db_uint(user_id)}};
}

std::optional<std::uint64_t> decode_latest_address(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  return to_uint(rows.rows.front()[column_index(rows, "id")]);
}

} // namespace livemart::persistence
