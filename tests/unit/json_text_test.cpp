// Strings written into JSON are valid UTF-8 whatever a client sent.
#include <catch2/catch.hpp>

#include <protocol/json.hpp>

using namespace livemart;

namespace {
std::string quoted(std::string_view text) {
  std::string out;
  json::append_string(out, text);
  return out;
}
} // namespace

TEST_CASE("json strings: well-formed UTF-8 passes, anything else becomes U+FFFD", "[unit][json]") {
  CHECK(quoted("plain") == "\"plain\"");
  CHECK(quoted("K\xC3\xB6ln \xE2\x82\xAC \xF0\x9F\x93\xB7") == "\"K\xC3\xB6ln \xE2\x82\xAC \xF0\x9F\x93\xB7\"");
  const std::string replacement = "\xEF\xBF\xBD";
  CHECK(quoted("\xFF") == "\"" + replacement + "\"");
  CHECK(quoted("a\x80z") == "\"a" + replacement + "z\"");
  CHECK(quoted("\xC0\xAF") == "\"" + replacement + replacement + "\"");         // overlong '/'
  CHECK(quoted("\xED\xA0\x80") == "\"" + replacement + replacement + replacement + "\""); // a surrogate
  CHECK(quoted("\xF4\x90\x80\x80") == "\"" + replacement + replacement + replacement + replacement + "\""); // above U+10FFFF
  CHECK(quoted("\xE2\x82") == "\"" + replacement + replacement + "\"");         // cut short
  // Whatever the bytes, the result parses.
  std::string every;
  for (int c = 1; c < 256; ++c)
    every.push_back(static_cast<char>(c));
  CHECK(std::holds_alternative<json::value>(json::parse(quoted(every))));
}
