#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>

#include <protocol/catalog.hpp>

/// The product actor's stock rules, as a plain value the actor owns (one
/// writer, no locks) and tests drive step by step, in any interleaving.
///
/// Decreases are promised at once, before their write commits, so that no
/// unit is ever promised twice; increases become usable only after their
/// commit, so that nothing is promised that may not commit. A change thus
/// goes: begin() -> the write -> committed() or failed(). A move another
/// transaction committed (a checkout's holds released or sold) is taken in
/// with absorb(). The committed numbers follow by deltas, so they do not
/// depend on the order in which commits are learned of.
namespace livemart {

class stock_book {
public:
  using kind = stock_kind;

  /// The committed numbers, as loaded (nothing in flight).
  void load(std::int64_t stock, std::int64_t reserved, std::int64_t sold);

  /// Checks a change and promises its decrease; nullopt when the write may
  /// go ahead, otherwise the error to answer with (nothing changed).
  /// Quantities are positive, except a restock's delta (not zero; negative
  /// removes units). Only products on sale can be reserved.
  std::optional<caf::error> begin(kind k, std::int64_t quantity, bool on_sale);

  /// The write of a begun change committed.
  void committed(kind k, std::int64_t quantity);

  /// The write of a begun change failed: its promise is given back.
  void failed(kind k, std::int64_t quantity);

  /// A move another transaction committed: a fact, taken in as it is.
  /// Returns false when it does not fit what the book promised (the caller
  /// should reload from the database); the book then stays within bounds.
  bool absorb(kind k, std::int64_t quantity);

  std::int64_t stock() const { return stock_; }
  std::int64_t reserved() const { return reserved_; }
  std::int64_t sold() const { return sold_; }
  /// Stock not yet promised to a change in flight: what a reservation may take.
  std::int64_t available() const { return available_; }
  /// Reservations not yet promised to a release or commit in flight.
  std::int64_t reserved_free() const { return reserved_free_; }
  std::size_t in_flight() const { return in_flight_; }

private:
  std::int64_t stock_ = 0;
  std::int64_t reserved_ = 0;
  std::int64_t sold_ = 0;
  std::int64_t available_ = 0;
  std::int64_t reserved_free_ = 0;
  std::size_t in_flight_ = 0;
};

} // namespace livemart
