#include "sale_merge.hpp"

#include <string>
#include <string_view>

#include "pg.hpp"

namespace livemart::persistence {
namespace {

// product_sell's parameters (order_statements.cpp): product, seller,
// currency, payment delay, then one array per sale column.
constexpr std::size_t sale_product = 0, sale_seller = 1, sale_currency = 2, sale_due = 3, first_array = 4,
                      arrays = 13;

/// Appends the elements of array literal `literal` ("{a,b}") to `out`
/// (without its braces), after a comma when `out` holds some already.
void append_elements(std::string& out, const std::string& literal) {
  if (literal.size() <= 2)
    return; // "{}"
  if (!out.empty())
    out += ',';
  out.append(literal, 1, literal.size() - 2);
}

/// Elements of a literal of numbers ("{1,2,3}": 3).
std::size_t count_elements(const std::string& literal) {
  if (literal.size() <= 2)
    return 0;
  std::size_t n = 1;
  for (char c : literal)
    n += c == ',' ? 1 : 0;
  return n;
}

void append_quoted(std::string& out, std::string_view text) {
  if (!out.empty())
    out += ',';
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
}

void append_number(std::string& out, std::string_view number) {
  if (!out.empty())
    out += ',';
  out += number;
}

db_value literal(const std::string& elements) {
  return db_text("{" + elements + "}");
}

} // namespace

bool mergeable_sale(const db_command& c) {
  return c.statements.size() == 1 && c.statements.front().name == "product_sell"
         && c.statements.front().params.size() == first_array + arrays
         && (!c.guarded() || (c.guard.name == "cluster_fence" && c.guard.params.size() == 3));
}

db_command merge_sales(const std::vector<const db_command*>& sales) {
  std::string products, sellers, currencies, dues, slots, nodes, epochs, product_of;
  std::vector<std::string> columns(arrays);
  for (std::size_t n = 0; n < sales.size(); ++n) {
    const auto& params = sales[n]->statements.front().params;
    append_number(products, params[sale_product].text);
    append_number(sellers, params[sale_seller].text);
    append_quoted(currencies, params[sale_currency].text);
    append_number(dues, params[sale_due].text);
    const auto& guard = sales[n]->guard;
    append_number(slots, sales[n]->guarded() ? guard.params[0].text : "-1");
    append_number(nodes, sales[n]->guarded() ? guard.params[1].text : "0");
    append_number(epochs, sales[n]->guarded() ? guard.params[2].text : "0");
    auto count = count_elements(params[first_array].text); // order ids
    for (std::size_t s = 0; s < count; ++s)
      append_number(product_of, std::to_string(n + 1));
    for (std::size_t a = 0; a < arrays; ++a)
      append_elements(columns[a], params[first_array + a].text);
  }
  db_statement merged{"products_sell",
                      {literal(products), literal(sellers), literal(currencies), literal(dues), literal(slots),
                       literal(nodes), literal(epochs), literal(product_of)}};
  for (const auto& column : columns)
    merged.params.push_back(literal(column));
  return db_command{{std::move(merged)}};
}

std::vector<std::variant<db_result, caf::error>> split_sales(const db_rows& rows, std::size_t count) {
  auto product = rows.column("product_no"), idx = rows.column("idx"), outcome = rows.column("outcome"),
       version = rows.column("stock_version");
  std::vector<db_rows> parts(count);
  std::vector<std::string> refusal(count);
  for (auto& part : parts)
    part.columns = {"idx", "outcome", "stock_version"};
  for (const auto& row : rows.rows) {
    auto n = static_cast<std::size_t>(std::stoul(row[static_cast<std::size_t>(product)].text)) - 1;
    if (n >= count)
      continue;
    const auto& what = row[static_cast<std::size_t>(outcome)].text;
    if (what == "not_owner" || what == "insufficient")
      refusal[n] = what;
    parts[n].rows.push_back({row[static_cast<std::size_t>(idx)], row[static_cast<std::size_t>(outcome)],
                             row[static_cast<std::size_t>(version)]});
  }
  std::vector<std::variant<db_result, caf::error>> out;
  out.reserve(count);
  for (std::size_t n = 0; n < count; ++n) {
    // The errors product_sell raises: its fence's, or its stock's.
    if (refusal[n] == "not_owner")
      out.emplace_back(to_error(pg_error{"LM421", "not_owner", "", false}));
    else if (refusal[n] == "insufficient")
      out.emplace_back(to_error(pg_error{"LM409", "insufficient_stock", "", false}));
    else {
      parts[n].published();
      out.emplace_back(db_result{{std::move(parts[n])}});
    }
  }
  return out;
}

} // namespace livemart::persistence
