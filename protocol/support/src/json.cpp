#include <protocol/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include <simdjson.h>

namespace livemart::json {

double value::as_double() const {
  if (is_integer())
    return static_cast<double>(as_integer());
  return std::get<double>(data_);
}

const value* value::find(std::string_view key) const {
  if (!is_object())
    return nullptr;
  for (const auto& [k, v] : as_object())
    if (k == key)
      return &v;
  return nullptr;
}

std::string value::string_or(std::string_view key, std::string fallback) const {
  const auto* v = find(key);
  return v != nullptr && v->is_string() ? v->as_string() : fallback;
}

std::string_view value::type_name() const {
  switch (data_.index()) {
    case 0: return "null";
    case 1: return "boolean";
    case 2:
    case 3: return "number";
    case 4: return "string";
    case 5: return "array";
    default: return "object";
  }
}

namespace {

struct converter {
  std::size_t depth_max;
  std::size_t members_max;
  std::optional<std::string> error;

  bool too_many(std::size_t count) {
    if (count <= members_max)
      return false;
    error = "more than " + std::to_string(members_max) + " members";
    return true;
  }

  value convert(simdjson::dom::element e, std::size_t depth) {
    using simdjson::dom::element_type;
    if (depth > depth_max) {
      error = "nesting deeper than " + std::to_string(depth_max);
      return {};
    }
    switch (e.type()) {
      case element_type::NULL_VALUE: return value{nullptr};
      case element_type::BOOL: return value{bool(e.get_bool().value_unsafe())};
      case element_type::INT64: return value{std::int64_t(e.get_int64().value_unsafe())};
      case element_type::UINT64: return value{double(e.get_uint64().value_unsafe())};
      case element_type::DOUBLE: return value{double(e.get_double().value_unsafe())};
      case element_type::STRING: return value{std::string{e.get_string().value_unsafe()}};
      case element_type::ARRAY: {
        array out;
        simdjson::dom::array items = e.get_array().value_unsafe(); // a copy: the result is a temporary
        if (too_many(items.size()))
          return {};
        for (auto child : items) {
          out.push_back(convert(child, depth + 1));
          if (error)
            return {};
        }
        return value{std::move(out)};
      }
      case element_type::OBJECT: {
        object out;
        simdjson::dom::object fields = e.get_object().value_unsafe(); // a copy: the result is a temporary
        if (too_many(fields.size()))
          return {};
        std::unordered_set<std::string_view> keys; // views into the parser's buffers
        for (auto field : fields) {
          if (!keys.insert(field.key).second) {
            // Duplicate keys are ambiguous; refuse them rather than guess.
            error = "duplicate key \"" + std::string{field.key} + "\"";
            return {};
          }
          out.emplace_back(std::string{field.key}, convert(field.value, depth + 1));
          if (error)
            return {};
        }
        return value{std::move(out)};
      }
    }
    return {};
  }
};

} // namespace

std::variant<value, parse_error> parse(std::string_view text, std::size_t depth_max, std::size_t members_max) {
  // One parser per thread: simdjson parsers are reusable but not thread-safe.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded{text};
  auto doc = parser.parse(padded);
  if (doc.error())
    return parse_error{simdjson::error_message(doc.error())};
  converter c{depth_max, members_max, {}};
  auto result = c.convert(doc.value_unsafe(), 0);
  if (c.error)
    return parse_error{*c.error};
  return result;
}

namespace {

/// The length of the well-formed UTF-8 sequence at the start of `s`
/// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
/// 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto c0 = b(0);
  std::size_t n = c0 >= 0xF0 ? 4 : c0 >= 0xE0 ? 3 : c0 >= 0xC2 ? 2 : 0;
  if (n == 0 || c0 > 0xF4 || s.size() < n)
    return 0;
  for (std::size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80)
      return 0;
  if ((c0 == 0xE0 && b(1) < 0xA0) || (c0 == 0xED && b(1) > 0x9F) || (c0 == 0xF0 && b(1) < 0x90)
      || (c0 == 0xF4 && b(1) > 0x8F))
    return 0;
  return n;
}

} // namespace

void append_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      // Text from a client (a path, a header) need not be UTF-8; JSON must
      // be: a byte that starts no well-formed sequence becomes U+FFFD.
      auto n = utf8_sequence(text.substr(i));
      if (n == 0) {
        out += "\xEF\xBF\xBD";
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back())
      out_.push_back(',');
    first_.back() = false;
  }
}

writer& writer::begin_object() {
  separate();
  out_.push_back('{');
  first_.push_back(true);
  return *this;
}

writer& writer::end_object() {
  out_.push_back('}');
  first_.pop_back();
  return *this;
}

writer& writer::begin_array() {
  separate();
  out_.push_back('[');
  first_.push_back(true);
  return *this;
}

writer& writer::end_array() {
  out_.push_back(']');
  first_.pop_back();
  return *this;
}

writer& writer::key(std::string_view name) {
  separate();
  append_string(out_, name);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

writer& writer::string(std::string_view text) {
  separate();
  append_string(out_, text);
  return *this;
}

writer& writer::integer(std::int64_t number) {
  separate();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), number);
  out_.append(buf, end);
  return *this;
}

writer& writer::number(double number) {
  separate();
  if (!std::isfinite(number)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), number);
  out_.append(buf, end);
  return *this;
}

writer& writer::boolean(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
  return *this;
}

writer& writer::null() {
  separate();
  out_ += "null";
  return *this;
}

writer& writer::optional_string(const std::optional<std::string>& text) {
  return text ? string(*text) : null();
}

writer& writer::raw(std::string_view json) {
  separate();
  out_ += json;
  return *this;
}

} // namespace livemart::json
