#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <protocol/db_types.hpp>

/// Private to persistence/src: how decoders find their columns. A decoder
/// reads each column by the name its statement's SQL gives it (a column,
/// or an `AS` alias), never by position.
namespace livemart::persistence {

/// Where column `name` is in `rows`. A result without it means a decoder out
/// of step with its statement's SQL: std::out_of_range, never a read past
/// the end of a row.
inline std::size_t column_index(const db_rows& rows, std::string_view name) {
  auto i = rows.column(name);
  if (i < 0)
    throw std::out_of_range{"no column \"" + std::string{name} + "\" in the statement's result"};
  return static_cast<std::size_t>(i);
}

/// A column's text as a number: 0 when NULL (or, never from our SQL, not a number).
inline std::int64_t to_int(const db_value& v) {
  std::int64_t out = 0;
  if (!v.is_null)
    std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

/// A column's text as an unsigned number: 0 when NULL (or not a number).
inline std::uint64_t to_uint(const db_value& v) {
  std::uint64_t out = 0;
  if (!v.is_null)
    std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return out;
}

} // namespace livemart::persistence
