#pragma once

#include <charconv>
#include <cstdint>
#include <span>

#include <persistence/statements.hpp>

/// Private to persistence/src. Each aggregate's file owns the named statements
/// it serves in its own list; statement_catalog() (statements.cpp) joins the
/// lists with stream_statement_catalog(). Names are unique across all lists.
namespace livemart::persistence {

/// Users, refresh tokens, sessions and their revocations, addresses, sellers
/// (account_statements.cpp).
std::span<const named_statement> account_statements();
/// Categories, products, stock moves, reviews (catalog_statements.cpp).
std::span<const named_statement> catalog_statements();
/// Checkouts, orders, direct sales, payments, refunds, idempotency keys
/// (order_statements.cpp).
std::span<const named_statement> order_statements();

/// A column's text as a number (0 when it is not one).
inline std::int64_t to_int(const db_value& v) {
  std::int64_t out = 0;
  std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

/// A column's text as an unsigned number (0 when it is not one).
inline std::uint64_t to_uint(const db_value& v) {
  std::uint64_t out = 0;
  std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

} // namespace livemart::persistence
