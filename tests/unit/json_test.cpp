#include <protocol/json.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace json = livemart::json;

namespace {

json::value parse_ok(std::string_view text, std::size_t depth_max = 32) {
  auto result = json::parse(text, depth_max);
  if (const auto* err = std::get_if<json::parse_error>(&result)) {
    INFO("input: " << text);
    FAIL("unexpected parse error: " << err->message);
  }
  return std::move(std::get<json::value>(result));
}

bool parse_fails(std::string_view text, std::size_t depth_max = 32) {
  auto result = json::parse(text, depth_max);
  return std::holds_alternative<json::parse_error>(result);
}

std::string parse_error_message(std::string_view text, std::size_t depth_max = 32) {
  auto result = json::parse(text, depth_max);
  if (const auto* err = std::get_if<json::parse_error>(&result))
    return err->message;
  return {};
}

std::string nested_arrays(std::size_t levels, std::string_view innermost) {
  std::string out(levels, '[');
  out += innermost;
  out.append(levels, ']');
  return out;
}

std::string quoted(std::string_view text) {
  std::string out;
  json::append_string(out, text);
  return out;
}

} // namespace

// --- parsing scalars -----------------------------------------------------------

TEST_CASE("json parse: literals", "[json]") {
  CHECK(parse_ok("null").is_null());
  CHECK(parse_ok("true").is_bool());
  CHECK(parse_ok("true").as_bool());
  CHECK_FALSE(parse_ok("false").as_bool());
  CHECK(parse_ok("  \t\r\n null \n").is_null());
}

TEST_CASE("json parse: integers stay integers", "[json]") {
  auto zero = parse_ok("0");
  REQUIRE(zero.is_integer());
  CHECK(zero.as_integer() == 0);
  CHECK(parse_ok("42").as_integer() == 42);
  CHECK(parse_ok("-17").as_integer() == -17);
  CHECK(parse_ok("9223372036854775807").as_integer() == std::numeric_limits<std::int64_t>::max());
  CHECK(parse_ok("-9223372036854775808").as_integer() == std::numeric_limits<std::int64_t>::min());
  auto n = parse_ok("123");
  CHECK(n.is_number());
  CHECK(n.as_double() == 123.0);
  CHECK(n.type_name() == "number"sv);
}

TEST_CASE("json parse: doubles", "[json]") {
  auto half = parse_ok("1.5");
  REQUIRE(half.is_number());
  CHECK_FALSE(half.is_integer());
  CHECK(half.as_double() == 1.5);
  CHECK(parse_ok("-2.5e3").as_double() == -2500.0);
  CHECK(parse_ok("1E2").as_double() == 100.0);
  CHECK(parse_ok("0.1").as_double() == Approx(0.1));
  CHECK(parse_ok("-0.0").as_double() == 0.0);
  // Above INT64_MAX the value is still a number, just not an integer.
  auto big = parse_ok("18446744073709551615");
  CHECK(big.is_number());
  CHECK_FALSE(big.is_integer());
  CHECK(big.as_double() == Approx(18446744073709551615.0));
}

TEST_CASE("json parse: strings and escapes", "[json]") {
  CHECK(parse_ok(R"("")").as_string().empty());
  CHECK(parse_ok(R"("hello")").as_string() == "hello");
  CHECK(parse_ok(R"("a\"b")").as_string() == "a\"b");
  CHECK(parse_ok(R"("a\\b")").as_string() == "a\\b");
  CHECK(parse_ok(R"("a\/b")").as_string() == "a/b");
  CHECK(parse_ok(R"("\b\f\n\r\t")").as_string() == "\b\f\n\r\t");
  CHECK(parse_ok(R"("caf\u00e9")").as_string() == "caf\xC3\xA9");
  CHECK(parse_ok(R"("\u00E9")").as_string() == "\xC3\xA9");
  CHECK(parse_ok(R"("\u20ac")").as_string() == "\xE2\x82\xAC");
  CHECK(parse_ok(R"("\u0041\u0042")").as_string() == "AB");
  // A surrogate pair becomes one four-byte code point.
  CHECK(parse_ok(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
  // \u0000 is a real NUL inside the string.
  CHECK(parse_ok(R"("a\u0000b")").as_string() == std::string("a\0b", 3));
  // Raw UTF-8 passes through unchanged.
  CHECK(parse_ok("\"\xE6\x97\xA5\xE6\x9C\xAC\"").as_string() == "\xE6\x97\xA5\xE6\x9C\xAC");
  CHECK(parse_ok(R"("x")").type_name() == "string"sv);
}

// --- containers ------------------------------------------------------------------

TEST_CASE("json parse: objects keep document order", "[json]") {
  auto v = parse_ok(R"({"b": 1, "a": "two", "c": null, "d": true})");
  REQUIRE(v.is_object());
  CHECK(v.type_name() == "object"sv);
  const auto& members = v.as_object();
  REQUIRE(members.size() == 4);
  CHECK(members[0].first == "b");
  CHECK(members[1].first == "a");
  CHECK(members[2].first == "c");
  CHECK(members[3].first == "d");

  REQUIRE(v.find("b") != nullptr);
  CHECK(v.find("b")->as_integer() == 1);
  CHECK(v.find("a")->as_string() == "two");
  CHECK(v.find("c")->is_null());
  CHECK(v.find("d")->as_bool());
  CHECK(v.find("missing") == nullptr);
  CHECK(v.find("B") == nullptr); // keys are case-sensitive

  CHECK(v.string_or("a") == "two");
  CHECK(v.string_or("b").empty());            // not a string
  CHECK(v.string_or("missing", "dflt") == "dflt");
  CHECK(v.string_or("b", "fallback") == "fallback");
}

TEST_CASE("json parse: empty containers", "[json]") {
  auto o = parse_ok("{}");
  REQUIRE(o.is_object());
  CHECK(o.as_object().empty());
  auto a = parse_ok("[]");
  REQUIRE(a.is_array());
  CHECK(a.as_array().empty());
  CHECK(a.type_name() == "array"sv);
  CHECK(parse_ok(" { } ").is_object());
}

TEST_CASE("json parse: arrays and nesting", "[json]") {
  auto v = parse_ok(R"([1, "two", 3.5, false, null, [4, [5]], {"k": [6, {"deep": "yes"}]}])");
  REQUIRE(v.is_array());
  const auto& items = v.as_array();
  REQUIRE(items.size() == 7);
  CHECK(items[0].as_integer() == 1);
  CHECK(items[1].as_string() == "two");
  CHECK(items[2].as_double() == 3.5);
  CHECK_FALSE(items[3].as_bool());
  CHECK(items[4].is_null());
  REQUIRE(items[5].is_array());
  CHECK(items[5].as_array()[0].as_integer() == 4);
  CHECK(items[5].as_array()[1].as_array()[0].as_integer() == 5);
  const auto* k = items[6].find("k");
  REQUIRE(k != nullptr);
  REQUIRE(k->is_array());
  CHECK(k->as_array()[0].as_integer() == 6);
  CHECK(k->as_array()[1].string_or("deep") == "yes");
  // find on a non-object is nullptr, not a crash.
  CHECK(items[0].find("x") == nullptr);
  CHECK(v.find("x") == nullptr);
}

TEST_CASE("json parse: null, bool and type names", "[json]") {
  CHECK(parse_ok("null").type_name() == "null"sv);
  CHECK(parse_ok("true").type_name() == "boolean"sv);
  CHECK(parse_ok("1.25").type_name() == "number"sv);
  json::value default_constructed;
  CHECK(default_constructed.is_null());
}

// --- rejections ----------------------------------------------------------------------

TEST_CASE("json parse: duplicate keys are rejected", "[json]") {
  CHECK(parse_fails(R"({"a": 1, "a": 2})"));
  CHECK(parse_fails(R"({"a": 1, "b": 2, "a": 1})"));
  CHECK(parse_fails(R"({"outer": {"x": 1, "x": 1}})"));
  CHECK(parse_fails(R"([{"x": 1}, {"y": 1, "y": 2}])"));
  CHECK(parse_error_message(R"({"a": 1, "a": 2})").find("duplicate") != std::string::npos);
  // The same key in sibling objects is fine.
  CHECK_FALSE(parse_fails(R"([{"x": 1}, {"x": 2}])"));
  CHECK_FALSE(parse_fails(R"({"x": {"x": 1}})"));
  // Keys that differ only in case are different keys.
  CHECK_FALSE(parse_fails(R"({"a": 1, "A": 2})"));
}

TEST_CASE("json parse: nesting depth is bounded", "[json]") {
  SECTION("default limit") {
    CHECK_FALSE(parse_fails(nested_arrays(10, "1")));
    CHECK_FALSE(parse_fails(nested_arrays(32, "1")));
    CHECK(parse_fails(nested_arrays(34, "1")));
    CHECK(parse_fails(nested_arrays(100, "")));
    CHECK(parse_fails(nested_arrays(500, "1")));
    CHECK(parse_error_message(nested_arrays(100, "1")).find("nesting") != std::string::npos);
  }
  SECTION("explicit limit") {
    CHECK_FALSE(parse_fails("[[1]]", 2));
    CHECK(parse_fails("[[[1]]]", 2));
    CHECK_FALSE(parse_fails(R"({"a": {"b": 1}})", 2));
    CHECK(parse_fails(R"({"a": {"b": {"c": 1}}})", 2));
    CHECK(parse_fails(R"({"a": [{"b": 1}]})", 2));
    // Scalars at top level are fine even with a limit of 0.
    CHECK_FALSE(parse_fails("1", 0));
    CHECK(parse_fails("[1]", 0));
  }
}

TEST_CASE("json parse: malformed input is rejected", "[json]") {
  const auto input = GENERATE(values<std::string>({
      "",
      "   ",
      "{",
      "}",
      "[",
      "]",
      "[1,]",
      "[,1]",
      "[1 2]",
      "{\"a\":}",
      "{\"a\" 1}",
      "{\"a\":1,}",
      "{a:1}",
      "{'a':1}",
      "{\"a\":1",
      "[1]]",
      "tru",
      "nul",
      "True",
      "NaN",
      "Infinity",
      "-",
      "01",
      "1.",
      ".5",
      "+1",
      "1e",
      "0x10",
      "\"unterminated",
      "\"bad escape \\x\"",
      "\"short unicode \\u12\"",
      "\"raw control \x01 char\"",
      "\"raw newline \n\"",
      "\"invalid utf-8 \xFF\"",
      "\"overlong \xC0\xAF\"",
      "\"lone high surrogate \\ud83d\"",
      "\"lone low surrogate \\udc00\"",
      "\"high surrogate then a letter \\ud83d\\u0041\"",
      "/* comment */ 1",
  }));
  CAPTURE(input);
  CHECK(parse_fails(input));
}

TEST_CASE("json parse: trailing garbage is rejected", "[json]") {
  CHECK(parse_fails("{} x"));
  CHECK(parse_fails("{}{}"));
  CHECK(parse_fails("[1] [2]"));
  CHECK(parse_fails("1 2"));
  CHECK(parse_fails("null,"));
  CHECK(parse_fails("\"a\" \"b\""));
  CHECK(parse_fails(std::string_view("{}\0", 3)));
  // Trailing white space is fine.
  CHECK_FALSE(parse_fails("{}  \r\n\t"));
}

TEST_CASE("json parse: errors carry a message", "[json]") {
  CHECK_FALSE(parse_error_message("{").empty());
  CHECK_FALSE(parse_error_message("").empty());
  CHECK_FALSE(parse_error_message(R"({"a":1,"a":1})").empty());
}

// --- writing -------------------------------------------------------------------------

TEST_CASE("json append_string escapes what must be escaped", "[json]") {
  CHECK(quoted("") == R"("")");
  CHECK(quoted("plain") == R"("plain")");
  CHECK(quoted("a\"b") == R"("a\"b")");
  CHECK(quoted("a\\b") == R"("a\\b")");
  CHECK(quoted("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(quoted("\x01") == R"("\u0001")");
  CHECK(quoted("\x1f") == R"("\u001f")");
  CHECK(quoted("\x0b") == R"("\u000b")");
  CHECK(quoted(std::string_view("\0", 1)) == R"("\u0000")");
  CHECK(quoted("\x1b[0m") == R"("\u001b[0m")");
  // '/', DEL and UTF-8 are written as they are.
  CHECK(quoted("a/b") == R"("a/b")");
  CHECK(quoted("\x7f") == "\"\x7f\"");
  CHECK(quoted("caf\xC3\xA9") == "\"caf\xC3\xA9\"");

  SECTION("appends instead of replacing") {
    std::string out = "prefix:";
    json::append_string(out, "x");
    CHECK(out == R"(prefix:"x")");
  }
}

TEST_CASE("json writer: scalars", "[json]") {
  CHECK(json::writer{}.integer(0).str() == "0");
  CHECK(json::writer{}.integer(-42).str() == "-42");
  CHECK(json::writer{}.integer(std::numeric_limits<std::int64_t>::min()).str() == "-9223372036854775808");
  CHECK(json::writer{}.integer(std::numeric_limits<std::int64_t>::max()).str() == "9223372036854775807");
  CHECK(json::writer{}.number(1.5).str() == "1.5");
  CHECK(json::writer{}.number(-0.25).str() == "-0.25");
  CHECK(json::writer{}.number(std::nan("")).str() == "null");
  CHECK(json::writer{}.number(std::numeric_limits<double>::infinity()).str() == "null");
  CHECK(json::writer{}.boolean(true).str() == "true");
  CHECK(json::writer{}.boolean(false).str() == "false");
  CHECK(json::writer{}.null().str() == "null");
  CHECK(json::writer{}.string("he said \"hi\"").str() == R"("he said \"hi\"")");
  CHECK(json::writer{}.raw(R"({"pre":"built"})").str() == R"({"pre":"built"})");
}

TEST_CASE("json writer: commas and nesting", "[json]") {
  SECTION("empty containers") {
    CHECK(json::writer{}.begin_object().end_object().str() == "{}");
    CHECK(json::writer{}.begin_array().end_array().str() == "[]");
  }
  SECTION("flat object") {
    json::writer w;
    w.begin_object().field("a", 1).field("b", "two").field("c", true).field("d", 2.5).end_object();
    CHECK(w.str() == R"({"a":1,"b":"two","c":true,"d":2.5})");
  }
  SECTION("flat array") {
    json::writer w;
    w.begin_array().integer(1).string("x").null().boolean(false).end_array();
    CHECK(w.str() == R"([1,"x",null,false])");
  }
  SECTION("nested containers") {
    json::writer w;
    w.begin_object()
        .field("a", 1)
        .key("list")
        .begin_array()
        .integer(1)
        .begin_array()
        .end_array()
        .begin_object()
        .field("x", "y")
        .end_object()
        .begin_array()
        .integer(2)
        .integer(3)
        .end_array()
        .end_array()
        .key("obj")
        .begin_object()
        .key("inner")
        .begin_object()
        .end_object()
        .field("n", -1)
        .end_object()
        .field("z", false)
        .end_object();
    CHECK(w.str() == R"({"a":1,"list":[1,[],{"x":"y"},[2,3]],"obj":{"inner":{},"n":-1},"z":false})");
  }
  SECTION("array of objects") {
    json::writer w;
    w.begin_array();
    for (int i = 0; i < 3; ++i)
      w.begin_object().field("i", i).end_object();
    w.end_array();
    CHECK(w.str() == R"([{"i":0},{"i":1},{"i":2}])");
  }
  SECTION("raw values are separated like any other") {
    json::writer w;
    w.begin_object().key("a").raw("[1,2]").key("b").raw("{}").end_object();
    CHECK(w.str() == R"({"a":[1,2],"b":{}})");
    json::writer arr;
    arr.begin_array().raw("1").raw("2").end_array();
    CHECK(arr.str() == "[1,2]");
  }
  SECTION("keys are escaped") {
    json::writer w;
    w.begin_object().field("we\"ird\n", "v").end_object();
    CHECK(w.str() == R"({"we\"ird\n":"v"})");
  }
  SECTION("take moves the text out") {
    json::writer w;
    w.begin_array().integer(7).end_array();
    CHECK(w.take() == "[7]");
  }
}

TEST_CASE("json writer: field picks the JSON type from the C++ type", "[json]") {
  json::writer w;
  w.begin_object()
      .field("b", false)
      .field("u8", std::uint8_t{200})
      .field("u32", std::uint32_t{4000000000u})
      .field("i64", std::int64_t{-5})
      .field("d", 0.5)
      .field("sv", "view"sv)
      .field("s", "str"s)
      .field("c", "chars")
      .end_object();
  CHECK(w.str() == R"({"b":false,"u8":200,"u32":4000000000,"i64":-5,"d":0.5,"sv":"view","s":"str","c":"chars"})");
}

TEST_CASE("json writer: optional_string", "[json]") {
  json::writer w;
  w.begin_object()
      .key("present")
      .optional_string(std::optional<std::string>{"x"})
      .key("absent")
      .optional_string(std::nullopt)
      .key("empty")
      .optional_string(std::optional<std::string>{""})
      .end_object();
  CHECK(w.str() == R"({"present":"x","absent":null,"empty":""})");

  json::writer arr;
  arr.begin_array().optional_string(std::nullopt).optional_string(std::string{"a"}).end_array();
  CHECK(arr.str() == R"([null,"a"])");
}

// --- round trips -------------------------------------------------------------------------

TEST_CASE("json round trip: every ASCII byte survives write then parse", "[json]") {
  std::string all;
  for (int c = 0; c < 128; ++c)
    all.push_back(static_cast<char>(c));
  auto parsed = parse_ok(quoted(all));
  REQUIRE(parsed.is_string());
  CHECK(parsed.as_string() == all);
}

TEST_CASE("json round trip: UTF-8 and escapes", "[json]") {
  for (std::string_view text : {"caf\xC3\xA9"sv, "\xF0\x9F\x98\x80 emoji"sv, "quote \" back \\ slash /"sv,
                                "tab\tnewline\nreturn\r"sv, "\x01\x02\x1f"sv}) {
    CAPTURE(text);
    auto parsed = parse_ok(quoted(text));
    REQUIRE(parsed.is_string());
    CHECK(parsed.as_string() == text);
  }
}

TEST_CASE("json round trip: a written document parses back to the same values", "[json]") {
  json::writer w;
  w.begin_object()
      .field("name", "Ada \"the\" Countess\n")
      .field("id", std::int64_t{1234567890123})
      .field("neg", -7)
      .field("ratio", 0.125)
      .field("ok", true)
      .key("nothing")
      .null()
      .key("tags")
      .begin_array()
      .string("a")
      .string("b,c")
      .begin_object()
      .field("k", "v")
      .end_object()
      .end_array()
      .key("nested")
      .begin_object()
      .key("empty")
      .begin_array()
      .end_array()
      .end_object()
      .end_object();

  auto v = parse_ok(w.str());
  REQUIRE(v.is_object());
  CHECK(v.string_or("name") == "Ada \"the\" Countess\n");
  CHECK(v.find("id")->as_integer() == 1234567890123);
  CHECK(v.find("neg")->as_integer() == -7);
  CHECK(v.find("ratio")->as_double() == 0.125);
  CHECK(v.find("ok")->as_bool());
  CHECK(v.find("nothing")->is_null());
  const auto& tags = v.find("tags")->as_array();
  REQUIRE(tags.size() == 3);
  CHECK(tags[0].as_string() == "a");
  CHECK(tags[1].as_string() == "b,c");
  CHECK(tags[2].string_or("k") == "v");
  const auto* nested = v.find("nested");
  REQUIRE(nested != nullptr);
  REQUIRE(nested->find("empty") != nullptr);
  CHECK(nested->find("empty")->as_array().empty());
}

TEST_CASE("json round trip: integer extremes", "[json]") {
  for (auto n : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
                 std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(n);
    json::writer w;
    w.begin_array().integer(n).end_array();
    auto v = parse_ok(w.str());
    REQUIRE(v.as_array().size() == 1);
    REQUIRE(v.as_array()[0].is_integer());
    CHECK(v.as_array()[0].as_integer() == n);
  }
}

TEST_CASE("json round trip: doubles", "[json]") {
  for (double d : {0.1, -1.5e-10, 3.141592653589793, 1e300, -2.5}) {
    CAPTURE(d);
    json::writer w;
    w.number(d);
    CHECK(parse_ok(w.str()).as_double() == d);
  }
}

TEST_CASE("json: members per object or array are bounded", "[json]") {
  std::string object = "{";
  for (int i = 0; i < 20; ++i) {
    if (i > 0)
      object += ',';
    object.append("\"k").append(std::to_string(i)).append("\":").append(std::to_string(i));
  }
  object += "}";
  CHECK(std::holds_alternative<livemart::json::value>(livemart::json::parse(object, 8, 20)));
  CHECK(std::holds_alternative<livemart::json::parse_error>(livemart::json::parse(object, 8, 19)));
  CHECK(std::holds_alternative<livemart::json::parse_error>(livemart::json::parse("[1,2,3]", 8, 2)));
}
