#pragma once

// The writer's merge of direct sales: the product_sell commands of one
// group commit (one per product, each its own statement) become one
// products_sell (0020_products_sell.sql), a handful of set-based
// statements whatever the number of products; its rows are split back
// into what each product_sell would have answered, a failing product
// failing alone.

#include <cstddef>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include <protocol/db_types.hpp>

namespace livemart::persistence {

/// A lone product_sell, fenced or not: the writer may merge it.
bool mergeable_sale(const db_command& c);

/// One command doing every one of `sales` (each mergeable_sale).
db_command merge_sales(const std::vector<const db_command*>& sales);

/// products_sell's rows as the answers of the `count` commands merged:
/// rows idx, outcome, stock_version for each, or the error its own
/// product_sell would have raised (the fence's, or insufficient stock).
std::vector<std::variant<db_result, caf::error>> split_sales(const db_rows& rows, std::size_t count);

} // namespace livemart::persistence
