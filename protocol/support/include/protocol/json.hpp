#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

/// JSON in and out. Parsing goes through simdjson (this module is its only
/// home) into a small owned tree; writing is a streaming builder.
namespace livemart::json {

class value;
using array = std::vector<value>;
using object = std::vector<std::pair<std::string, value>>; ///< keys in document order

class value {
public:
  using storage = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, array, object>;

  value() : data_(nullptr) {}
  template <class T, class = std::enable_if_t<!std::is_same_v<std::decay_t<T>, value>>>
  value(T&& x) : data_(std::forward<T>(x)) {}

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(data_); }
  bool is_bool() const { return std::holds_alternative<bool>(data_); }
  bool is_integer() const { return std::holds_alternative<std::int64_t>(data_); }
  bool is_number() const { return is_integer() || std::holds_alternative<double>(data_); }
  bool is_string() const { return std::holds_alternative<std::string>(data_); }
  bool is_array() const { return std::holds_alternative<array>(data_); }
  bool is_object() const { return std::holds_alternative<object>(data_); }

  bool as_bool() const { return std::get<bool>(data_); }
  std::int64_t as_integer() const { return std::get<std::int64_t>(data_); }
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const array& as_array() const { return std::get<array>(data_); }
  const object& as_object() const { return std::get<object>(data_); }

  /// Member lookup; nullptr when this is not an object or has no such key.
  const value* find(std::string_view key) const;

  /// Convenience for tests and tools: member string or "" when absent.
  std::string string_or(std::string_view key, std::string fallback = {}) const;

  /// Short name of the JSON type ("string", "object", ...) for error messages.
  std::string_view type_name() const;

  const storage& data() const { return data_; }

private:
  storage data_;
};

struct parse_error {
  std::string message;
};

/// Parses a complete JSON text. `depth_max` bounds nesting and
/// `members_max` the members of any one object or array.
std::variant<value, parse_error> parse(std::string_view text, std::size_t depth_max = 32,
                                       std::size_t members_max = 100'000);

/// Appends `text` as a quoted, escaped JSON string.
void append_string(std::string& out, std::string_view text);

/// Streaming writer: commas and nesting are tracked, the caller supplies order.
class writer {
public:
  writer& begin_object();
  writer& end_object();
  writer& begin_array();
  writer& end_array();
  writer& key(std::string_view name);
  writer& string(std::string_view text);
  writer& integer(std::int64_t number);
  writer& number(double number);
  writer& boolean(bool flag);
  writer& null();
  /// A string, or null when absent or (with `empty_is_null`) empty.
  writer& optional_string(const std::optional<std::string>& text);
  /// Already-encoded JSON.
  writer& raw(std::string_view json);

  template <class T>
  writer& field(std::string_view name, const T& x) {
    key(name);
    if constexpr (std::is_same_v<T, bool>)
      return boolean(x);
    else if constexpr (std::is_integral_v<T>)
      return integer(static_cast<std::int64_t>(x));
    else if constexpr (std::is_floating_point_v<T>)
      return number(x);
    else
      return string(x);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

private:
  void separate();
  std::string out_;
  std::vector<bool> first_; ///< per open container: no element written yet
  bool after_key_ = false;
};

} // namespace livemart::json
