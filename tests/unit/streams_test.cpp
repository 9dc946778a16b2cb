#include <catch2/catch.hpp>

#include <conf/settings.hpp>
#include <http/ws_outbox.hpp>
#include <protocol/streams.hpp>
#include <protocol/wire/streams.hpp>

using namespace livemart;

namespace {

conf::settings defaults() {
  return conf::settings{};
}

template <class T>
const problem& refused(const decoded<T>& d) {
  REQUIRE(std::holds_alternative<problem>(d));
  return std::get<problem>(d);
}

bool names(const problem& p, const std::string& field) {
  for (const auto& f : p.fields)
    if (f.field == field)
      return true;
  return false;
}

} // namespace

TEST_CASE("bid increments follow the price tiers", "[unit][streams]") {
  auto tiers = conf::parse_increment_tiers("0:100,2000:250,10000:500");
  REQUIRE(tiers.size() == 3);
  CHECK(bid_increment(tiers, 0) == 100);
  CHECK(bid_increment(tiers, 1999) == 100);
  CHECK(bid_increment(tiers, 2000) == 250);
  CHECK(bid_increment(tiers, 50'000) == 500);

  stream_auction a;
  a.starting_price_minor = 1500;
  CHECK(next_minimum_bid(tiers, a) == 1500); // the first bid may be the starting price
  a.bid_count = 1;
  a.price_minor = 1500;
  CHECK(next_minimum_bid(tiers, a) == 1600);
  a.price_minor = 2000;
  CHECK(next_minimum_bid(tiers, a) == 2250);
  a.starting_price_minor = 0;
  a.bid_count = 0;
  CHECK(next_minimum_bid(tiers, a) == 1); // a bid is never 0

  CHECK(conf::parse_increment_tiers("").empty());
  CHECK(conf::parse_increment_tiers("100:5").empty());       // must start at 0
  CHECK(conf::parse_increment_tiers("0:5,0:6").empty());     // must rise
  CHECK(conf::parse_increment_tiers("0:0").empty());         // steps are positive
  CHECK(conf::parse_increment_tiers("0:5,x:6").empty());
  CHECK(conf::validate(defaults()).empty());
}

TEST_CASE("anti-sniping extends only bids in the window, never in sudden death", "[unit][streams]") {
  stream_auction a;
  a.ends_at_ms = 100'000;
  CHECK(deadline_after_bid(a, 80'000, 10'000, 10'000) == 100'000); // 20 s left: no change
  CHECK(deadline_after_bid(a, 95'000, 10'000, 10'000) == 105'000); // 5 s left: 10 s again
  CHECK(deadline_after_bid(a, 90'000, 10'000, 5'000) == 100'000);  // never shortened
  a.sudden_death = true;
  CHECK(deadline_after_bid(a, 99'999, 10'000, 10'000) == 100'000);
}

TEST_CASE("stream keys carry 256 random bits and their stream, and are stored hashed", "[unit][streams]") {
  auto key = make_stream_key(42);
  CHECK(key.rfind("lm_42_", 0) == 0);
  CHECK(key.size() == 6 + 43);
  CHECK(make_stream_key(42) != key);
  CHECK(stream_of_key(key) == std::optional<std::uint64_t>{42});
  CHECK(!stream_of_key("lm_42_short").has_value());
  CHECK(!stream_of_key("sk_42_" + std::string(43, 'a')).has_value());
  CHECK(!stream_of_key("lm_x_" + std::string(43, 'a')).has_value());
  auto hash = hash_stream_key(key);
  CHECK(hash.size() == 64);
  CHECK(hash.find(key) == std::string::npos);
  CHECK(hash == hash_stream_key(key));
}

TEST_CASE("stream, drop and auction requests name their offending fields", "[unit][streams]") {
  auto cfg = defaults();
  std::int64_t now = 1'800'000'000'000;
  auto ok = decode_stream_draft(R"({"title":"Live","featured":["7","7","8"],"scheduled_at_ms":1800000600000})", cfg, now);
  REQUIRE(std::holds_alternative<stream_draft>(ok));
  CHECK(std::get<stream_draft>(ok).featured == std::vector<std::uint64_t>{7, 8}); // duplicates once
  CHECK(names(refused(decode_stream_draft(R"({"title":""})", cfg, now)), "title"));
  CHECK(names(refused(decode_stream_draft(R"({"title":"x","scheduled_at_ms":1})", cfg, now)), "scheduled_at_ms"));
  CHECK(names(refused(decode_stream_draft(R"({"title":"x","featured":["abc"]})", cfg, now)), "featured"));
  CHECK(names(refused(decode_stream_draft(R"({"title":"x","start_now":true,"scheduled_at_ms":1800000600000})", cfg, now)),
              "scheduled_at_ms"));
  CHECK(refused(decode_stream_draft(R"({"title":"x","stream_key":"mine"})", cfg, now)).code == errc::unknown_field);

  auto patch = decode_stream_patch(R"({"title":"New","allow_anonymous":false})", cfg, now);
  REQUIRE(std::holds_alternative<stream_patch>(patch));
  CHECK(std::get<stream_patch>(patch).has_title);
  CHECK(!std::get<stream_patch>(patch).has_featured);
  CHECK(std::get<stream_patch>(patch).has_allow_anonymous);

  auto drop = decode_drop_spec(R"({"product_id":"5","quantity":10,"duration_s":60})", cfg);
  REQUIRE(std::holds_alternative<drop_spec>(drop));
  CHECK(std::get<drop_spec>(drop).price_minor == -1);
  CHECK(std::get<drop_spec>(drop).per_buyer_limit == 1);
  // A null price is the product's own, as an absent one.
  auto at_list_price = decode_drop_spec(R"({"product_id":"5","quantity":10,"duration_s":60,"price_minor":null})", cfg);
  REQUIRE(std::holds_alternative<drop_spec>(at_list_price));
  CHECK(std::get<drop_spec>(at_list_price).price_minor == -1);
  CHECK(names(refused(decode_drop_spec(R"({"product_id":"5","quantity":0,"duration_s":60})", cfg)), "quantity"));
  CHECK(names(refused(decode_drop_spec(R"({"product_id":"5","quantity":1,"duration_s":999999})", cfg)), "duration_s"));
  CHECK(names(refused(decode_auction_spec(R"({"product_id":"5","starting_price_minor":-1,"duration_s":10})", cfg)),
              "starting_price_minor"));
  CHECK(names(refused(decode_bid(R"({"amount_minor":0})", cfg)), "amount_minor"));
  CHECK(names(refused(decode_drop_buy(R"({"quantity":1})", cfg)), "address_id"));
  CHECK(refused(decode_drop_buy(R"({"address_id":"1","unit_price_minor":1})", cfg)).code == errc::unknown_field);
}

TEST_CASE("WebSocket client messages", "[unit][streams]") {
  auto cfg = defaults();
  auto hello = decode_ws_message(R"({"type":"hello","token":"abc"})", cfg);
  REQUIRE(std::holds_alternative<ws_client_message>(hello));
  CHECK(std::get<ws_client_message>(hello).token == "abc");
  auto bid = decode_ws_message(R"({"type":"bid","amount_minor":1500,"ref":"b1"})", cfg);
  REQUIRE(std::holds_alternative<ws_client_message>(bid));
  CHECK(std::get<ws_client_message>(bid).amount_minor == 1500);
  CHECK(std::get<ws_client_message>(bid).ref == "b1");
  CHECK(names(refused(decode_ws_message(R"({"type":"bid"})", cfg)), "amount_minor"));
  CHECK(names(refused(decode_ws_message(R"({"type":"buy","address_id":"1"})", cfg)), "key"));
  CHECK(names(refused(decode_ws_message(R"({"type":"dance"})", cfg)), "type"));
  CHECK(refused(decode_ws_message("not json", cfg)).code == errc::malformed_json);
  CHECK(refused(decode_ws_message(R"({"type":"ping","extra":1})", cfg)).code == errc::unknown_field);
  auto reply = encode_ws_reply("r1", 409, R"({"code":"conflict"})");
  CHECK(reply == R"({"type":"reply","ref":"r1","status":409,"body":{"code":"conflict"}})");
}

TEST_CASE("a connection's outbox coalesces state, keeps events, and gives up on slow readers", "[unit][streams]") {
  using http::ws_outbox;
  using http::ws_message;
  auto msg = [](std::string key, std::string text) { return std::make_shared<const ws_message>(ws_message{key, text}); };
  auto t0 = ws_outbox::clock::now();
  ws_outbox box{4, std::chrono::milliseconds{1'000}};

  SECTION("a newer state replaces the unsent one; events queue in order") {
    CHECK(box.push(msg("p:1", "stock 9"), t0) == ws_outbox::result::queued);
    CHECK(box.push(msg("", "pinned"), t0) == ws_outbox::result::queued);
    CHECK(box.push(msg("p:1", "stock 8"), t0) == ws_outbox::result::replaced);
    CHECK(box.push(msg("p:2", "stock 3"), t0) == ws_outbox::result::queued);
    CHECK(box.size() == 3);
    // The latest value moved behind the event queued after the older one.
    CHECK(box.start_writing()->text == "pinned");
    // The message being written is never replaced.
    CHECK(box.push(msg("", "unpinned"), t0) == ws_outbox::result::queued);
    box.done_writing();
    CHECK(box.start_writing()->text == "stock 8");
    CHECK(box.push(msg("p:1", "stock 7"), t0) == ws_outbox::result::queued);
    box.done_writing();
    CHECK(box.start_writing()->text == "stock 3");
    box.done_writing();
    CHECK(box.start_writing()->text == "unpinned");
    box.done_writing();
    CHECK(box.start_writing()->text == "stock 7");
    box.done_writing();
    CHECK(box.empty());
  }

  SECTION("too many waiting messages or too old a message mean the reader fell behind") {
    for (int i = 0; i < 4; ++i)
      CHECK(box.push(msg("", "event"), t0) == ws_outbox::result::queued);
    CHECK(box.push(msg("", "one more"), t0) == ws_outbox::result::overflow);
    CHECK(box.push(msg("", "later"), t0 + std::chrono::seconds{2}) == ws_outbox::result::behind);
  }
}
