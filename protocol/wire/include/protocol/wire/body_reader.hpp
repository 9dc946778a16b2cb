#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <protocol/json.hpp>
#include <protocol/problem.hpp>

namespace livemart {

/// Reads the fields of one JSON object body and collects every problem at
/// once, so a client learns about all offending fields in one reply.
/// Wrong JSON types and unknown fields are 400; broken rules are 422.
class body_reader {
public:
  /// Parses `body` within the nesting and member limits; a parse error or
  /// a non-object is remembered as 400.
  explicit body_reader(std::string_view body, std::size_t depth_max = 16, std::size_t members_max = 256);

  bool ok() const { return !fatal_; }
  bool has(std::string_view key) const;

  /// A string field. Absent: nullopt (and a 422 "is required" if `required`).
  /// JSON null is accepted only with `nullable` and yields "".
  std::optional<std::string> string(std::string_view key, bool required, bool nullable = false);
  std::optional<bool> boolean(std::string_view key, bool required);
  /// A whole number within [min, max] (a 422 outside, a 400 for non-integers).
  std::optional<std::int64_t> integer(std::string_view key, bool required, std::int64_t min, std::int64_t max);
  /// An id, sent as a string (ids exceed JavaScript's safe integers); a
  /// string that is not an id is a 422 "is not a <what> id".
  std::optional<std::uint64_t> id(std::string_view key, bool required, std::string_view what);
  /// An array of strings with at most `items_max` entries.
  std::optional<std::vector<std::string>> string_array(std::string_view key, bool required, std::size_t items_max);
  /// True when `key` is present and JSON null (marks "clear this"); a
  /// field asked about is known, so it is never an unknown field.
  bool is_null(std::string_view key);
  /// An array of `items_min` to `items_max` objects; `each(item, index)`
  /// reads each with a reader of its own, whose problems are named
  /// `key[i].field`. Returns the number of items read.
  std::size_t objects(std::string_view key, bool required, std::size_t items_min, std::size_t items_max,
                      const std::function<void(body_reader&, std::size_t)>& each);

  /// Records a 422 rule violation for `key`.
  void invalid(std::string_view key, std::string message);

  /// Unknown fields become 400s. Returns the problem to send, if any.
  std::optional<problem> finish();

private:
  body_reader(json::value object, std::string prefix) : root_(std::move(object)), prefix_(std::move(prefix)) {}
  const json::value* field(std::string_view key);
  std::string name(std::string_view key) const { return prefix_ + std::string{key}; }
  json::value root_;
  std::string prefix_; ///< "items[2]." for a nested reader
  std::vector<field_error> unknown_; ///< unknown fields of nested objects
  bool fatal_ = false;
  problem fatal_problem_;
  std::vector<std::string> seen_;
  std::vector<field_error> type_errors_;
  std::vector<field_error> rule_errors_;
};

/// Checks a text field: valid UTF-8 (guaranteed by the parser), no control
/// characters except `allowed`, trimmed length within [min, max] code points.
/// Records a 422 on `reader` and returns false when it fails.
bool check_text(body_reader& reader, std::string_view key, std::string& text, std::size_t length_min,
                std::size_t length_max, std::string_view allowed_controls = {});

} // namespace livemart
