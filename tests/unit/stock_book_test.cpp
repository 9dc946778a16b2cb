// The product actor's stock rules, driven step by step: every interleaving
// of begun and finished writes is chosen by the test, none by a scheduler.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include <actors/stock_book.hpp>
#include <protocol/messages.hpp>

using namespace livemart;
using kind = stock_book::kind;

namespace {

/// What the database would answer: it applies committed moves in order.
struct database_row {
  std::int64_t stock = 0, reserved = 0, sold = 0;
  void apply(kind k, std::int64_t q) {
    switch (k) {
      case kind::restock: stock += q; break;
      case kind::reserve: stock -= q; reserved += q; break;
      case kind::release: stock += q; reserved -= q; break;
      case kind::commit: reserved -= q; sold += q; break;
      case kind::sale_return: sold -= q; stock += q; break;
      case kind::sale: stock -= q; sold += q; break;
    }
  }
};

errc code_of(const std::optional<caf::error>& err) {
  REQUIRE(err);
  return to_problem(*err).code;
}

} // namespace

TEST_CASE("a reservation is promised at once, before its write commits", "[stock]") {
  stock_book book;
  book.load(3, 0, 0);
  REQUIRE_FALSE(book.begin(kind::reserve, 2, true));
  CHECK(book.available() == 1);
  CHECK(book.stock() == 3); // nothing is committed yet
  // A second buyer cannot take the promised units.
  CHECK(code_of(book.begin(kind::reserve, 2, true)) == errc::conflict);
  REQUIRE_FALSE(book.begin(kind::reserve, 1, true));
  CHECK(book.available() == 0);
  book.committed(kind::reserve, 2);
  book.committed(kind::reserve, 1);
  CHECK(book.stock() == 0);
  CHECK(book.reserved() == 3);
  CHECK(book.reserved_free() == 3);
  CHECK(book.in_flight() == 0);
}

TEST_CASE("a failed reservation gives its units back", "[stock]") {
  stock_book book;
  book.load(1, 0, 0);
  REQUIRE_FALSE(book.begin(kind::reserve, 1, true));
  CHECK(code_of(book.begin(kind::reserve, 1, true)) == errc::conflict);
  book.failed(kind::reserve, 1);
  CHECK(book.available() == 1);
  REQUIRE_FALSE(book.begin(kind::reserve, 1, true));
}

TEST_CASE("a restock is usable only after it commits", "[stock]") {
  stock_book book;
  book.load(0, 0, 0);
  REQUIRE_FALSE(book.begin(kind::restock, 5, true));
  CHECK(book.available() == 0);
  CHECK(code_of(book.begin(kind::reserve, 1, true)) == errc::conflict);
  book.committed(kind::restock, 5);
  CHECK(book.available() == 5);
  // A failed restock never was usable.
  REQUIRE_FALSE(book.begin(kind::restock, 5, true));
  book.failed(kind::restock, 5);
  CHECK(book.available() == 5);
}

TEST_CASE("removing units competes with reservations for the same stock", "[stock]") {
  stock_book book;
  book.load(4, 0, 0);
  REQUIRE_FALSE(book.begin(kind::reserve, 3, true));
  CHECK(code_of(book.begin(kind::restock, -2, true)) == errc::conflict);
  REQUIRE_FALSE(book.begin(kind::restock, -1, true));
  CHECK(book.available() == 0);
  book.failed(kind::restock, -1);
  CHECK(book.available() == 1);
}

TEST_CASE("releases and commits take only units that are reserved and not already taken", "[stock]") {
  stock_book book;
  book.load(0, 2, 0);
  REQUIRE_FALSE(book.begin(kind::commit, 2, true));
  CHECK(code_of(book.begin(kind::release, 1, true)) == errc::conflict);
  book.failed(kind::commit, 2);
  REQUIRE_FALSE(book.begin(kind::release, 1, true));
  CHECK(book.available() == 0); // released units come back only after the commit
  book.committed(kind::release, 1);
  CHECK(book.available() == 1);
  CHECK(book.reserved_free() == 1);
}

TEST_CASE("moves committed by another transaction are taken in by the book", "[stock]") {
  stock_book book;
  book.load(5, 0, 0);
  REQUIRE_FALSE(book.begin(kind::reserve, 3, true));
  book.committed(kind::reserve, 3);
  // A checkout's transaction released one unit and sold two.
  REQUIRE_FALSE(book.begin(kind::release, 1, true));
  book.committed(kind::release, 1);
  REQUIRE_FALSE(book.begin(kind::commit, 2, true));
  book.committed(kind::commit, 2);
  CHECK(book.stock() == 3);
  CHECK(book.reserved() == 0);
  CHECK(book.sold() == 2);
  CHECK(book.available() == 3);
  // One the book cannot take (more than is reserved) is refused.
  CHECK(book.begin(kind::commit, 1, true));
}

TEST_CASE("a committed move that does not fit the promises is flagged, and the book stays in bounds", "[stock]") {
  stock_book book;
  book.load(2, 1, 0);
  CHECK(book.absorb(kind::release, 1)); // the hold of a closed checkout
  CHECK(book.available() == 3);
  CHECK(book.reserved_free() == 0);
  CHECK_FALSE(book.absorb(kind::commit, 1)); // more than the book knew was reserved
  CHECK(book.reserved_free() == 0);
  CHECK(book.sold() == 1);
}

TEST_CASE("units of a cancelled order come back to stock, usable at once", "[stock]") {
  stock_book book;
  book.load(1, 0, 3);
  CHECK(book.absorb(kind::sale_return, 2));
  CHECK(book.stock() == 3);
  CHECK(book.sold() == 1);
  CHECK(book.available() == 3);
  CHECK_FALSE(book.absorb(kind::sale_return, 2)); // more than was sold: the book must reload
  // Returns are made with their order, never through the product's actor.
  CHECK(code_of(book.begin(kind::sale_return, 1, true)) == errc::internal);
}

TEST_CASE("bad quantities and products not on sale are refused without a change", "[stock]") {
  stock_book book;
  book.load(5, 1, 0);
  CHECK(code_of(book.begin(kind::reserve, 0, true)) == errc::validation_failed);
  CHECK(code_of(book.begin(kind::reserve, -1, true)) == errc::validation_failed);
  CHECK(code_of(book.begin(kind::release, 0, true)) == errc::validation_failed);
  CHECK(code_of(book.begin(kind::restock, 0, true)) == errc::validation_failed);
  CHECK(code_of(book.begin(kind::reserve, 1, false)) == errc::conflict);
  CHECK(book.available() == 5);
  CHECK(book.reserved_free() == 1);
  CHECK(book.in_flight() == 0);
}

TEST_CASE("any interleaving of writes keeps the promises within the committed stock", "[stock]") {
  // Many seeds, each a fixed schedule: begin changes at random, finish the
  // ones in flight in random order, commit or fail at random, and check
  // after every step that nothing is promised twice.
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng{seed};
    auto roll = [&rng](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
    stock_book book;
    database_row db{10, 0, 0};
    book.load(db.stock, db.reserved, db.sold);
    struct pending {
      kind k;
      std::int64_t q;
    };
    std::vector<pending> flight;
    std::int64_t stocked = 10;
    for (int step = 0; step < 300; ++step) {
      if (flight.empty() || roll(2) == 0) {
        auto k = static_cast<kind>(roll(4));
        std::int64_t q = 1 + roll(4);
        if (k == kind::restock && roll(2) == 0)
          q = -q;
        if (!book.begin(k, q, true))
          flight.push_back({k, q});
      } else {
        auto at = static_cast<std::size_t>(roll(static_cast<int>(flight.size())));
        auto change = flight[at];
        flight.erase(flight.begin() + static_cast<std::ptrdiff_t>(at));
        if (roll(5) == 0) {
          book.failed(change.k, change.q);
        } else {
          db.apply(change.k, change.q);
          if (change.k == kind::restock)
            stocked += change.q;
          book.committed(change.k, change.q);
        }
      }
      // The database never goes below zero, promises never exceed it, and
      // the ledger balances.
      REQUIRE(db.stock >= 0);
      REQUIRE(db.reserved >= 0);
      REQUIRE(book.available() >= 0);
      REQUIRE(book.available() <= db.stock);
      REQUIRE(book.reserved_free() >= 0);
      REQUIRE(book.reserved_free() <= db.reserved);
      REQUIRE(db.stock + db.reserved + db.sold == stocked);
      REQUIRE(book.stock() == db.stock); // the deltas follow the database exactly
      REQUIRE(book.reserved() == db.reserved);
      REQUIRE(book.sold() == db.sold);
    }
    // Once everything settles, the promises equal the committed numbers.
    while (!flight.empty()) {
      auto change = flight.back();
      flight.pop_back();
      db.apply(change.k, change.q);
      if (change.k == kind::restock)
        stocked += change.q;
      book.committed(change.k, change.q);
    }
    REQUIRE(book.available() == db.stock);
    REQUIRE(book.reserved_free() == db.reserved);
    REQUIRE(book.in_flight() == 0);
  }
}
