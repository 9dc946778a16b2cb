#include <persistence/statements.hpp>
#include <persistence/cluster_statements.hpp>
#include <persistence/stream_statements.hpp>

#include <array>
#include <vector>

#include "statement_lists.hpp"

namespace livemart::persistence {
namespace {

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
  {"ping", "SELECT 1"},
});

} // namespace

std::span<const named_statement> statement_catalog() {
  static const std::vector<named_statement> all = [] {
    std::vector<named_statement> v{catalog.begin(), catalog.end()};
    for (auto list : {account_statements(), catalog_statements(), order_statements(), stream_statement_catalog(),
                      cluster_statement_catalog()})
      v.insert(v.end(), list.begin(), list.end());
    return v;
  }();
  return all;
}

db_statement ping() {
  return {"ping", {}};
}

} // namespace livemart::persistence
