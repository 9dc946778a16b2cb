#pragma once

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

} // namespace livemart::persistence
