#include <protocol/wire/streams.hpp>

#include <algorithm>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/wire/body_reader.hpp>

namespace livemart {

namespace {

constexpr std::int64_t ms_per_day = 86'400'000;

void read_featured(body_reader& r, const conf::settings& cfg, std::vector<std::uint64_t>& out) {
  auto list = r.string_array("featured", false, cfg.streams.featured_max);
  if (!list)
    return;
  for (const auto& text : *list) {
    auto id = ids::parse(text);
    if (!id) {
      r.invalid("featured", "holds \"" + text.substr(0, 32) + "\", which is not a product id");
      return;
    }
    if (std::find(out.begin(), out.end(), *id) == out.end())
      out.push_back(*id);
  }
}

std::optional<std::int64_t> read_schedule(body_reader& r, const conf::settings& cfg, std::int64_t now_ms) {
  auto horizon = now_ms + static_cast<std::int64_t>(cfg.streams.schedule_ahead_max_days) * ms_per_day;
  auto at = r.integer("scheduled_at_ms", false, 0, horizon);
  if (at && *at != 0 && *at < now_ms - 60'000) {
    r.invalid("scheduled_at_ms", "is in the past");
    return std::nullopt;
  }
  return at;
}

} // namespace

decoded<stream_draft> decode_stream_draft(std::string_view body, const conf::settings& cfg, std::int64_t now_ms) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  stream_draft out;
  if (auto title = r.string("title", true))
    if (check_text(r, "title", *title, 1, cfg.streams.title_length_max))
      out.title = std::move(*title);
  if (auto text = r.string("description", false, true))
    if (check_text(r, "description", *text, 0, cfg.streams.description_length_max, "\n"))
      out.description = std::move(*text);
  if (auto at = read_schedule(r, cfg, now_ms))
    out.scheduled_at_ms = *at;
  read_featured(r, cfg, out.featured);
  if (auto anon = r.boolean("allow_anonymous", false))
    out.allow_anonymous = *anon;
  if (auto now = r.boolean("start_now", false))
    out.start_now = *now;
  if (out.start_now && out.scheduled_at_ms != 0)
    r.invalid("scheduled_at_ms", "cannot be given with start_now");
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<stream_patch> decode_stream_patch(std::string_view body, const conf::settings& cfg, std::int64_t now_ms) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  stream_patch out;
  if (auto title = r.string("title", false))
    if (check_text(r, "title", *title, 1, cfg.streams.title_length_max)) {
      out.has_title = true;
      out.title = std::move(*title);
    }
  if (auto text = r.string("description", false, true))
    if (check_text(r, "description", *text, 0, cfg.streams.description_length_max, "\n")) {
      out.has_description = true;
      out.description = std::move(*text);
    }
  if (auto at = read_schedule(r, cfg, now_ms); at && *at != 0) {
    out.has_scheduled_at = true;
    out.scheduled_at_ms = *at;
  }
  if (r.has("featured")) {
    out.has_featured = true;
    read_featured(r, cfg, out.featured);
  }
  if (auto anon = r.boolean("allow_anonymous", false)) {
    out.has_allow_anonymous = true;
    out.allow_anonymous = *anon;
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<drop_spec> decode_drop_spec(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  drop_spec out;
  if (auto id = r.id("product_id", true, "product"))
    out.product_id = *id;
  if (auto q = r.integer("quantity", true, 1, cfg.streams.drop_quantity_max))
    out.quantity = *q;
  if (!r.is_null("price_minor"))
    if (auto price = r.integer("price_minor", false, 0, cfg.streams.bid_max_minor))
      out.price_minor = *price;
  if (auto d = r.integer("duration_s", true, 1, cfg.streams.drop_duration_max_s))
    out.duration_s = *d;
  if (auto limit = r.integer("per_buyer_limit", false, 1, cfg.streams.drop_per_buyer_max))
    out.per_buyer_limit = *limit;
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<auction_spec> decode_auction_spec(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  auction_spec out;
  if (auto id = r.id("product_id", true, "product"))
    out.product_id = *id;
  if (auto price = r.integer("starting_price_minor", true, 0, cfg.streams.bid_max_minor))
    out.starting_price_minor = *price;
  if (auto d = r.integer("duration_s", true, 1, cfg.streams.auction_duration_max_s))
    out.duration_s = *d;
  if (auto sd = r.boolean("sudden_death", false))
    out.sudden_death = *sd;
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

decoded<place_request> decode_drop_buy(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  std::uint64_t address = 0;
  std::int64_t quantity = 1;
  if (auto id = r.id("address_id", true, "address"))
    address = *id;
  if (auto q = r.integer("quantity", false, 1, cfg.streams.drop_per_buyer_max))
    quantity = *q;
  if (auto p = r.finish())
    return std::move(*p);
  return drop_buy_request(address, quantity);
}

decoded<std::int64_t> decode_bid(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  std::int64_t amount = 0;
  if (auto a = r.integer("amount_minor", true, 1, cfg.streams.bid_max_minor))
    amount = *a;
  if (auto p = r.finish())
    return std::move(*p);
  return amount;
}

decoded<std::uint64_t> decode_pin(std::string_view body) {
  body_reader r{body};
  if (!r.ok())
    return *r.finish();
  std::uint64_t id = 0;
  if (auto p = r.id("product_id", true, "product"))
    id = *p;
  if (auto p = r.finish())
    return std::move(*p);
  return id;
}

namespace {

void write_ids(json::writer& w, std::string_view name, const std::vector<std::uint64_t>& list) {
  w.key(name).begin_array();
  for (auto id : list)
    w.string(ids::format(id));
  w.end_array();
}

void write_stream(json::writer& w, const stream_info& s, bool owner_view) {
  w.begin_object()
    .field("id", ids::format(s.id))
    .field("seller_id", ids::format(s.seller_id))
    .field("shop_name", s.shop_name)
    .field("title", s.title)
    .field("description", s.description)
    .field("status", to_string(s.status))
    .field("scheduled_at_ms", s.scheduled_at_ms);
  w.key("started_at_ms");
  s.started_at_ms != 0 ? w.integer(s.started_at_ms) : w.null();
  w.key("ended_at_ms");
  s.ended_at_ms != 0 ? w.integer(s.ended_at_ms) : w.null();
  if (!s.end_reason.empty())
    w.field("end_reason", s.end_reason);
  write_ids(w, "featured", s.featured);
  w.key("pinned_product_id");
  s.pinned != 0 ? w.string(ids::format(s.pinned)) : w.null();
  w.field("allow_anonymous", s.allow_anonymous)
    .field("viewers", s.viewers)
    .field("peak_viewers", s.peak_viewers)
    .field("unique_viewers", s.unique_viewers);
  if (owner_view)
    w.field("ingest_connected", s.ingest_connected).field("key_version", s.key_version);
  w.field("created_at_ms", s.created_at_ms).end_object();
}

void write_product(json::writer& w, const stream_product& p) {
  w.begin_object()
    .field("id", ids::format(p.id))
    .field("title", p.title)
    .field("image_url", p.image_url)
    .field("price_minor", p.price_minor)
    .field("currency", p.currency)
    .field("available", p.available)
    .field("version", p.version)
    .end_object();
}

void write_drop(json::writer& w, const stream_drop& d) {
  w.begin_object()
    .field("id", ids::format(d.id))
    .field("product_id", ids::format(d.product_id))
    .field("quantity", d.quantity)
    .field("remaining", d.remaining);
  w.key("price_minor");
  d.price_minor >= 0 ? w.integer(d.price_minor) : w.null();
  w.field("per_buyer_limit", d.per_buyer_limit)
    .field("started_at_ms", d.started_at_ms)
    .field("ends_at_ms", d.ends_at_ms)
    .field("active", d.active);
  if (!d.end_reason.empty())
    w.field("end_reason", d.end_reason);
  w.end_object();
}

void write_auction(json::writer& w, const stream_auction& a) {
  w.begin_object()
    .field("id", ids::format(a.id))
    .field("product_id", ids::format(a.product_id))
    .field("currency", a.currency)
    .field("starting_price_minor", a.starting_price_minor)
    .field("price_minor", a.price_minor)
    .field("next_minimum_minor", a.next_minimum_minor)
    .field("bid_count", a.bid_count);
  w.key("leader_id");
  a.leader_id != 0 ? w.string(ids::format(a.leader_id)) : w.null();
  w.field("leader_name", a.leader_name)
    .field("sudden_death", a.sudden_death)
    .field("started_at_ms", a.started_at_ms)
    .field("ends_at_ms", a.ends_at_ms)
    .field("open", a.open);
  if (!a.result.empty())
    w.field("result", a.result);
  if (a.winner_id != 0)
    w.field("winner_id", ids::format(a.winner_id));
  if (a.order_id != 0)
    w.field("order_id", ids::format(a.order_id));
  if (a.offered_to != 0)
    w.field("offered_to", ids::format(a.offered_to));
  w.end_object();
}

} // namespace

std::string encode_stream(const stream_info& s, bool owner_view) {
  json::writer w;
  write_stream(w, s, owner_view);
  return w.take();
}

std::string encode_stream_with_key(const stream_info& s, std::string_view key, std::string_view ingest_url) {
  json::writer w;
  w.begin_object().key("stream");
  write_stream(w, s, true);
  w.field("stream_key", key).field("ingest_url", ingest_url).end_object();
  return w.take();
}

std::string encode_streams(const std::vector<stream_info>& list, std::string_view next_cursor) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& s : list)
    write_stream(w, s, false);
  w.end_array().key("next_cursor");
  next_cursor.empty() ? w.null() : w.string(next_cursor);
  w.end_object();
  return w.take();
}

std::string encode_drop(const stream_drop& d) {
  json::writer w;
  write_drop(w, d);
  return w.take();
}

std::string encode_auction_event(std::string_view type, const stream_info& s, const stream_auction& a) {
  json::writer w;
  w.begin_object()
    .field("type", type)
    .field("stream_id", ids::format(s.id))
    .field("stream_title", s.title)
    .key("auction")
    .raw(encode_auction(a))
    .end_object();
  return w.take();
}

std::string encode_pin(std::uint64_t product_id) {
  json::writer w;
  w.begin_object().key("product_id");
  product_id != 0 ? w.string(ids::format(product_id)) : w.null();
  w.end_object();
  return w.take();
}

std::string encode_auction(const stream_auction& a) {
  json::writer w;
  write_auction(w, a);
  return w.take();
}

std::string encode_snapshot(const stream_info& s, const std::vector<stream_product>& products,
                            const std::optional<stream_drop>& drop, const std::optional<stream_auction>& auction,
                            std::uint64_t seq) {
  json::writer w;
  w.begin_object().field("type", "snapshot").field("seq", seq).key("stream");
  write_stream(w, s, false);
  w.key("products").begin_array();
  for (const auto& p : products)
    write_product(w, p);
  w.end_array().key("drop");
  drop ? write_drop(w, *drop) : void(w.null());
  w.key("auction");
  auction ? write_auction(w, *auction) : void(w.null());
  w.end_object();
  return w.take();
}

std::string encode_product_push(const stream_product& p, std::uint64_t seq, std::int64_t at_us,
                                std::int64_t first_at_us, std::int64_t sent_us, std::string_view drop_json) {
  json::writer w;
  w.begin_object().field("type", "product").field("seq", seq).field("at_us", at_us);
  if (first_at_us != 0 && first_at_us < at_us)
    w.field("first_at_us", first_at_us);
  w.field("sent_us", sent_us);
  w.key("product");
  write_product(w, p);
  if (!drop_json.empty())
    w.key("drop").raw(drop_json);
  w.end_object();
  return w.take();
}

std::string encode_viewers_push(std::int64_t viewers, std::uint64_t seq) {
  json::writer w;
  w.begin_object().field("type", "viewers").field("seq", seq).field("viewers", viewers).end_object();
  return w.take();
}

std::string encode_event_push(std::string_view type, std::uint64_t seq, std::string_view field,
                              std::string_view payload_json, std::int64_t at_us) {
  json::writer w;
  w.begin_object().field("type", type).field("seq", seq).field("at_us", at_us);
  if (!field.empty())
    w.key(field).raw(payload_json.empty() ? std::string_view{"null"} : payload_json);
  w.end_object();
  return w.take();
}

decoded<ws_client_message> decode_ws_message(std::string_view text, const conf::settings& cfg) {
  body_reader r{text, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  ws_client_message out;
  using kind = ws_client_message::kind;
  if (auto type = r.string("type", true)) {
    if (*type == "hello")
      out.type = kind::hello;
    else if (*type == "bid")
      out.type = kind::bid;
    else if (*type == "buy")
      out.type = kind::buy;
    else if (*type == "resync")
      out.type = kind::resync;
    else if (*type == "ping")
      out.type = kind::ping;
    else
      r.invalid("type", "must be hello, bid, buy, resync or ping");
  }
  if (auto ref = r.string("ref", false)) {
    if (ref->size() > 64)
      r.invalid("ref", "must be at most 64 bytes");
    else
      out.ref = std::move(*ref);
  }
  if (auto token = r.string("token", false, true))
    out.token = std::move(*token);
  if (auto amount = r.integer("amount_minor", out.type == kind::bid, 1, cfg.streams.bid_max_minor))
    out.amount_minor = *amount;
  if (auto id = r.id("auction_id", false, "auction"))
    out.auction_id = *id;
  if (auto id = r.id("drop_id", false, "drop"))
    out.drop_id = *id;
  if (auto id = r.id("address_id", out.type == kind::buy, "address"))
    out.address_id = *id;
  if (auto q = r.integer("quantity", false, 1, cfg.streams.drop_per_buyer_max))
    out.quantity = *q;
  if (auto key = r.string("key", out.type == kind::buy)) {
    if (key->empty() || key->size() > cfg.orders.idempotency_key_bytes_max)
      r.invalid("key", "must be 1 to " + std::to_string(cfg.orders.idempotency_key_bytes_max) + " bytes");
    else
      out.key = std::move(*key);
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

std::string encode_ws_reply(std::string_view ref, int status, std::string_view body_json) {
  json::writer w;
  w.begin_object().field("type", "reply").field("ref", ref).field("status", status).key("body");
  w.raw(body_json.empty() ? std::string_view{"null"} : body_json);
  w.end_object();
  return w.take();
}

} // namespace livemart
