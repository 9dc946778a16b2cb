// The rules the product, order and stream actors apply, driven by a clock
// the test sets: drops (limits, deadline), auctions (increments, anti-sniping,
// close), order expiry. The actors that apply them talk to PostgreSQL and
// are tested end to end against it (docs/architecture.md, "Testing the
// rules"); these tests need neither a database nor threads nor sleeps.
#include <catch2/catch.hpp>

#include <protocol/clock.hpp>
#include <protocol/messages.hpp>
#include <protocol/orders.hpp>
#include <protocol/stream_rules.hpp>

using namespace livemart;

namespace {

/// The test's clock: set_source() reads it.
std::int64_t test_now_us = 0;
std::int64_t test_clock() {
  return test_now_us;
}

/// Replaces the wall clock for one test case, at `start_ms`.
struct fixed_clock {
  explicit fixed_clock(std::int64_t start_ms) {
    test_now_us = start_ms * 1'000;
    wall_clock::set_source(&test_clock);
  }
  ~fixed_clock() { wall_clock::set_source(nullptr); }
  fixed_clock(const fixed_clock&) = delete;
  fixed_clock& operator=(const fixed_clock&) = delete;
  void advance_ms(std::int64_t ms) { test_now_us += ms * 1'000; }
};

errc code_of(const std::optional<caf::error>& err) {
  REQUIRE(err);
  return to_problem(*err).code;
}

std::vector<std::string> fields_of(const std::optional<caf::error>& err) {
  REQUIRE(err);
  std::vector<std::string> out;
  for (const auto& f : to_problem_with_fields(*err).fields)
    out.push_back(f.field);
  return out;
}

} // namespace

TEST_CASE("a drop sells until its deadline, within its units and the per-buyer limit", "[unit][rules]") {
  fixed_clock clock{1'000'000};
  stream_drop d;
  d.active = true;
  d.quantity = d.remaining = 5;
  d.per_buyer_limit = 2;
  d.ends_at_ms = wall_clock::now_ms() + 30'000;

  CHECK_FALSE(drop_ended(d, wall_clock::now_ms()));
  clock.advance_ms(29'999);
  CHECK_FALSE(drop_ended(d, wall_clock::now_ms())); // the last millisecond still sells
  clock.advance_ms(1);
  CHECK(code_of(drop_ended(d, wall_clock::now_ms())) == errc::conflict); // the deadline itself does not
  d.ends_at_ms += 60'000;
  d.active = false; // ended by the seller before its deadline
  CHECK(code_of(drop_ended(d, wall_clock::now_ms())) == errc::conflict);

  CHECK_FALSE(drop_limit(d, 0, 2));
  CHECK(fields_of(drop_limit(d, 1, 2)) == std::vector<std::string>{"quantity"}); // 3 > 2 per buyer
  CHECK_FALSE(drop_limit(d, 1, 1));
  d.remaining = 1;
  CHECK(fields_of(drop_limit(d, 0, 2)) == std::vector<std::string>{"quantity"}); // 1 left
  CHECK_FALSE(drop_limit(d, 0, 1));
  d.remaining = 0;
  CHECK(code_of(drop_limit(d, 0, 1)) == errc::conflict);
}

TEST_CASE("bids are judged in arrival order against the auction the bids before them left", "[unit][rules]") {
  fixed_clock clock{5'000'000};
  auction_rules rules{conf::parse_increment_tiers("0:100,2000:250"), 10'000, 10'000};
  stream_auction a;
  a.id = 1;
  a.open = true;
  a.starting_price_minor = 1'000;
  a.started_at_ms = wall_clock::now_ms();
  a.ends_at_ms = a.started_at_ms + 60'000;
  a.next_minimum_minor = 1'000;

  SECTION("the starting price, then the increments of the tiers") {
    auto at = wall_clock::now_ms();
    auto v = evaluate_bids(a, {{7, "ann", 1'000, at}, {8, "bob", 1'050, at}, {8, "bob", 1'100, at},
                               {7, "ann", 1'900, at}, {8, "bob", 2'000, at}, {7, "ann", 2'100, at}},
                           rules);
    REQUIRE(v.size() == 6);
    CHECK_FALSE(v[0].refusal);
    CHECK(v[0].outbid == 0);
    CHECK(v[0].after.next_minimum_minor == 1'100);
    CHECK(fields_of(v[1].refusal) == std::vector<std::string>{"amount_minor"}); // under 1,100
    CHECK_FALSE(v[2].refusal);
    CHECK(v[2].outbid == 7);
    CHECK(v[3].outbid == 8);
    CHECK(v[4].after.next_minimum_minor == 2'250); // the next tier's step from 2,000
    CHECK(fields_of(v[5].refusal) == std::vector<std::string>{"amount_minor"});
    CHECK(v[4].after.bid_count == 4);
    CHECK(v[4].after.leader_id == 8);
    CHECK(v[4].after.leader_name == "bob");
  }

  SECTION("raising one's own lead displaces nobody") {
    auto at = wall_clock::now_ms();
    auto v = evaluate_bids(a, {{7, "ann", 1'000, at}, {7, "ann", 1'500, at}}, rules);
    CHECK(v[1].outbid == 0);
    CHECK(v[1].after.price_minor == 1'500);
  }

  SECTION("a bid in the last seconds extends the deadline, once per bid, never in sudden death") {
    clock.advance_ms(55'000); // 5 s left: inside the 10 s window
    auto at = wall_clock::now_ms();
    auto v = evaluate_bids(a, {{7, "ann", 1'000, at}}, rules);
    REQUIRE_FALSE(v[0].refusal);
    CHECK(v[0].extended);
    CHECK(v[0].after.ends_at_ms == at + 10'000);
    CHECK(auction_time_left(v[0].after, at) == 10'000);

    clock.advance_ms(9'000); // the original deadline has passed; the extended one has not
    auto later = wall_clock::now_ms();
    CHECK(later > a.ends_at_ms);
    CHECK_FALSE(bid_refusal(v[0].after, true, false, 99, 8, later));
    auto w = evaluate_bids(v[0].after, {{8, "bob", 1'100, later}}, rules);
    REQUIRE_FALSE(w[0].refusal);
    CHECK(w[0].after.ends_at_ms == later + 10'000);

    auto sudden = a;
    sudden.sudden_death = true;
    auto s = evaluate_bids(sudden, {{7, "ann", 1'000, at}}, rules);
    CHECK_FALSE(s[0].extended);
    CHECK(s[0].after.ends_at_ms == a.ends_at_ms);
  }

  SECTION("a bid that arrived at the deadline is refused, even when judged later; then the auction may close") {
    clock.advance_ms(60'000);
    auto at = wall_clock::now_ms();
    CHECK(auction_time_left(a, at) == 0);
    CHECK(code_of(bid_refusal(a, true, false, 99, 7, at)) == errc::conflict);
    auto v = evaluate_bids(a, {{7, "ann", 1'000, at}}, rules);
    CHECK(code_of(v[0].refusal) == errc::conflict);
    CHECK(auction_time_left(a, at - 1) == 1);
  }

  SECTION("who may bid: not the seller, not in a closing or ended show") {
    auto at = wall_clock::now_ms();
    CHECK(code_of(bid_refusal(a, true, false, 7, 7, at)) == errc::forbidden);
    CHECK(code_of(bid_refusal(a, true, true, 99, 7, at)) == errc::conflict);
    CHECK(code_of(bid_refusal(a, false, false, 99, 7, at)) == errc::conflict);
    CHECK_FALSE(bid_refusal(a, true, false, 99, 7, at));
  }
}

TEST_CASE("an unpaid order expires at the end of its hold, and a paid one never does", "[unit][rules]") {
  fixed_clock clock{9'000'000};
  order o;
  o.status = order_status::pending;
  o.payment_due_ms = wall_clock::now_ms() + 600'000;

  CHECK_FALSE(payment_overdue(o, wall_clock::now_ms()));
  clock.advance_ms(599'999);
  CHECK_FALSE(payment_overdue(o, wall_clock::now_ms()));
  clock.advance_ms(1);
  CHECK(payment_overdue(o, wall_clock::now_ms()));

  // Expiry is the system's move from pending to cancelled, and only that.
  auto rule = order_transition_rule(order_status::pending, order_action::expire, order_party::system);
  CHECK(rule.allowed);
  CHECK(rule.to == order_status::cancelled);
  CHECK_FALSE(order_transition_rule(order_status::pending, order_action::expire, order_party::buyer).allowed);
  o.status = order_status::confirmed; // paid at the last moment
  CHECK_FALSE(payment_overdue(o, wall_clock::now_ms()));
  CHECK_FALSE(order_transition_rule(order_status::confirmed, order_action::expire, order_party::system).allowed);
  o.status = order_status::pending;
  o.payment_due_ms = 0; // no hold: nothing to expire
  CHECK_FALSE(payment_overdue(o, wall_clock::now_ms()));
}
