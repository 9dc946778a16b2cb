#include <protocol/wire/body_reader.hpp>

#include <algorithm>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/validation.hpp>

namespace livemart {

// -- body_reader ------------------------------------------------------------

body_reader::body_reader(std::string_view body, std::size_t depth_max, std::size_t members_max) {
  auto parsed = json::parse(body, depth_max, members_max);
  if (auto* err = std::get_if<json::parse_error>(&parsed)) {
    fatal_ = true;
    fatal_problem_ = make_problem(errc::malformed_json, "the body is not valid JSON: " + err->message);
    return;
  }
  root_ = std::move(std::get<json::value>(parsed));
  if (!root_.is_object()) {
    fatal_ = true;
    fatal_problem_ = make_problem(errc::invalid_field_type, "the body must be a JSON object");
  }
}

bool body_reader::has(std::string_view key) const {
  return root_.find(key) != nullptr;
}

const json::value* body_reader::field(std::string_view key) {
  seen_.emplace_back(key);
  return root_.find(key);
}

std::optional<std::string> body_reader::string(std::string_view key, bool required, bool nullable) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (v->is_null() && nullable)
    return std::string{};
  if (!v->is_string()) {
    type_errors_.push_back({name(key), "must be a string, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  return v->as_string();
}

std::optional<bool> body_reader::boolean(std::string_view key, bool required) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_bool()) {
    type_errors_.push_back({name(key), "must be a boolean, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::int64_t> body_reader::integer(std::string_view key, bool required, std::int64_t min,
                                                  std::int64_t max) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_integer()) {
    type_errors_.push_back({name(key), "must be a whole number, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  if (v->as_integer() < min || v->as_integer() > max) {
    rule_errors_.push_back({name(key), "must be from " + std::to_string(min) + " to " + std::to_string(max)});
    return std::nullopt;
  }
  return v->as_integer();
}

std::optional<std::uint64_t> body_reader::id(std::string_view key, bool required, std::string_view what) {
  auto text = string(key, required);
  if (!text)
    return std::nullopt;
  auto parsed = ids::parse(*text);
  if (!parsed) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict) on "literal" + string.
    std::string message = "is not a valid ";
    message.append(what).append(" id");
    invalid(key, std::move(message));
  }
  return parsed;
}

std::optional<std::vector<std::string>> body_reader::string_array(std::string_view key, bool required,
                                                                  std::size_t items_max) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return std::nullopt;
  }
  if (!v->is_array()) {
    type_errors_.push_back({name(key), "must be an array of strings, not " + std::string{v->type_name()}});
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      type_errors_.push_back({name(key), "must be an array of strings"});
      return std::nullopt;
    }
    out.push_back(item.as_string());
  }
  if (out.size() > items_max) {
    rule_errors_.push_back({name(key), "must have at most " + std::to_string(items_max) + " entries"});
    return std::nullopt;
  }
  return out;
}

bool body_reader::is_null(std::string_view key) {
  const auto* v = field(key);
  return v != nullptr && v->is_null();
}

std::size_t body_reader::objects(std::string_view key, bool required, std::size_t items_min, std::size_t items_max,
                                const std::function<void(body_reader&, std::size_t)>& each) {
  const auto* v = field(key);
  if (v == nullptr) {
    if (required)
      rule_errors_.push_back({name(key), "is required"});
    return 0;
  }
  if (!v->is_array()) {
    type_errors_.push_back({name(key), "must be an array of objects, not " + std::string{v->type_name()}});
    return 0;
  }
  const auto& items = v->as_array();
  if (items.size() < items_min || items.size() > items_max) {
    rule_errors_.push_back({name(key), "must have from " + std::to_string(items_min) + " to "
                                         + std::to_string(items_max) + " entries"});
    return 0;
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto prefix = name(key) + "[" + std::to_string(i) + "]";
    if (!items[i].is_object()) {
      type_errors_.push_back({prefix, "must be an object, not " + std::string{items[i].type_name()}});
      continue;
    }
    body_reader item{items[i], prefix + "."};
    each(item, i);
    for (const auto& [k, value] : item.root_.as_object())
      if (std::find(item.seen_.begin(), item.seen_.end(), k) == item.seen_.end())
        unknown_.push_back({item.name(k), "is not a field of this request"});
    unknown_.insert(unknown_.end(), item.unknown_.begin(), item.unknown_.end());
    type_errors_.insert(type_errors_.end(), item.type_errors_.begin(), item.type_errors_.end());
    rule_errors_.insert(rule_errors_.end(), item.rule_errors_.begin(), item.rule_errors_.end());
  }
  return items.size();
}

void body_reader::invalid(std::string_view key, std::string message) {
  rule_errors_.push_back({name(key), std::move(message)});
}

std::optional<problem> body_reader::finish() {
  if (fatal_)
    return fatal_problem_;
  std::vector<field_error> unknown;
  for (const auto& [k, v] : root_.as_object())
    if (std::find(seen_.begin(), seen_.end(), k) == seen_.end())
      unknown.push_back({k, "is not a field of this request"});
  unknown.insert(unknown.end(), unknown_.begin(), unknown_.end());
  if (!unknown.empty()) {
    auto p = make_problem(errc::unknown_field, "unknown field \"" + unknown.front().field + "\"");
    p.fields = std::move(unknown);
    p.fields.insert(p.fields.end(), type_errors_.begin(), type_errors_.end());
    return p;
  }
  if (!type_errors_.empty()) {
    auto p = make_problem(errc::invalid_field_type, "field \"" + type_errors_.front().field + "\" has the wrong type");
    p.fields = std::move(type_errors_);
    return p;
  }
  if (!rule_errors_.empty())
    return invalid_fields(std::move(rule_errors_));
  return std::nullopt;
}

bool check_text(body_reader& reader, std::string_view key, std::string& text, std::size_t length_min,
                std::size_t length_max, std::string_view allowed_controls) {
  text = std::string{validation::trim(text)};
  if (validation::has_control_characters(text, allowed_controls)) {
    reader.invalid(key, "must not contain control characters");
    return false;
  }
  auto length = validation::utf8_length(text);
  if (length < length_min) {
    reader.invalid(key, length_min == 1 ? "must not be empty" : "must be at least " + std::to_string(length_min) + " characters");
    return false;
  }
  if (length > length_max) {
    reader.invalid(key, "must be at most " + std::to_string(length_max) + " characters");
    return false;
  }
  return true;
}

} // namespace livemart
