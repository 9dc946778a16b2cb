#include <protocol/validation.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace v = livemart::validation;

namespace {

// Shorthand so the postal-code tables below stay readable.
std::optional<std::string> postal(std::string_view country, std::string_view code) {
  return v::normalize_postal_code(country, code);
}

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i)
    out += unit;
  return out;
}

} // namespace

// --- UTF-8 -------------------------------------------------------------------

TEST_CASE("is_valid_utf8 accepts well-formed text", "[validation]") {
  CHECK(v::is_valid_utf8(""));
  CHECK(v::is_valid_utf8("plain ASCII"));
  CHECK(v::is_valid_utf8("caf\xC3\xA9"));                 // U+00E9
  CHECK(v::is_valid_utf8("\xE2\x82\xAC"));                // U+20AC euro
  CHECK(v::is_valid_utf8("\xF0\x9F\x98\x80"));            // U+1F600 emoji
  CHECK(v::is_valid_utf8("\xC2\x80"));                    // U+0080, smallest 2-byte
  CHECK(v::is_valid_utf8("\xDF\xBF"));                    // U+07FF, largest 2-byte
  CHECK(v::is_valid_utf8("\xE0\xA0\x80"));                // U+0800, smallest 3-byte
  CHECK(v::is_valid_utf8("\xED\x9F\xBF"));                // U+D7FF, just below surrogates
  CHECK(v::is_valid_utf8("\xEE\x80\x80"));                // U+E000, just above surrogates
  CHECK(v::is_valid_utf8("\xEF\xBF\xBF"));                // U+FFFF
  CHECK(v::is_valid_utf8("\xF0\x90\x80\x80"));            // U+10000, smallest 4-byte
  CHECK(v::is_valid_utf8("\xF4\x8F\xBF\xBF"));            // U+10FFFF, the maximum
  CHECK(v::is_valid_utf8(std::string_view("a\0b", 3)));   // NUL is valid UTF-8
}

TEST_CASE("is_valid_utf8 rejects malformed text", "[validation]") {
  CHECK_FALSE(v::is_valid_utf8("\x80"));                  // lone continuation byte
  CHECK_FALSE(v::is_valid_utf8("abc\xBF"));
  CHECK_FALSE(v::is_valid_utf8("\xC3"));                  // truncated 2-byte
  CHECK_FALSE(v::is_valid_utf8("\xE2\x82"));              // truncated 3-byte
  CHECK_FALSE(v::is_valid_utf8("\xF0\x9F\x98"));          // truncated 4-byte
  CHECK_FALSE(v::is_valid_utf8("\xC3" "A"));              // continuation missing
  CHECK_FALSE(v::is_valid_utf8("\xE2\x28\xA1"));          // bad second byte
  CHECK_FALSE(v::is_valid_utf8("\xE2\x82\x28"));          // bad third byte
  CHECK_FALSE(v::is_valid_utf8("\xC0\xAF"));              // overlong '/'
  CHECK_FALSE(v::is_valid_utf8("\xC1\xBF"));              // overlong
  CHECK_FALSE(v::is_valid_utf8("\xE0\x80\xAF"));          // overlong 3-byte
  CHECK_FALSE(v::is_valid_utf8("\xE0\x9F\xBF"));          // overlong U+07FF
  CHECK_FALSE(v::is_valid_utf8("\xF0\x80\x80\xAF"));      // overlong 4-byte
  CHECK_FALSE(v::is_valid_utf8("\xF0\x8F\xBF\xBF"));      // overlong U+FFFF
  CHECK_FALSE(v::is_valid_utf8("\xED\xA0\x80"));          // U+D800 surrogate
  CHECK_FALSE(v::is_valid_utf8("\xED\xBF\xBF"));          // U+DFFF surrogate
  CHECK_FALSE(v::is_valid_utf8("\xED\xA0\xBD\xED\xB8\x80")); // CESU-8 pair
  CHECK_FALSE(v::is_valid_utf8("\xF4\x90\x80\x80"));      // U+110000
  CHECK_FALSE(v::is_valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(v::is_valid_utf8("\xF8\x88\x80\x80\x80"));  // old 5-byte form
  CHECK_FALSE(v::is_valid_utf8("\xFE"));
  CHECK_FALSE(v::is_valid_utf8("\xFF"));
}

TEST_CASE("utf8_length counts code points", "[validation]") {
  CHECK(v::utf8_length("") == 0);
  CHECK(v::utf8_length("abc") == 3);
  CHECK(v::utf8_length("caf\xC3\xA9") == 4);
  CHECK(v::utf8_length("\xE2\x82\xAC" "1") == 2);
  CHECK(v::utf8_length("\xF0\x9F\x98\x80\xF0\x9F\x98\x80") == 2);
  CHECK(v::utf8_length("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E") == 3); // 日本語
}

TEST_CASE("has_control_characters finds C0, DEL and C1", "[validation]") {
  CHECK_FALSE(v::has_control_characters(""));
  CHECK_FALSE(v::has_control_characters("Hello, world!"));
  CHECK_FALSE(v::has_control_characters("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK_FALSE(v::has_control_characters("\xC2\xA0"));       // NBSP is not a control
  CHECK(v::has_control_characters(std::string_view("a\0b", 3)));
  CHECK(v::has_control_characters("line\nbreak"));
  CHECK(v::has_control_characters("tab\there"));
  CHECK(v::has_control_characters("cr\r"));
  CHECK(v::has_control_characters("\x1B[31m"));
  CHECK(v::has_control_characters("\x1F"));
  CHECK(v::has_control_characters("del\x7F"));
  CHECK(v::has_control_characters("\xC2\x80"));             // U+0080
  CHECK(v::has_control_characters("next\xC2\x85line"));     // U+0085 NEL
  CHECK(v::has_control_characters("\xC2\x9F"));             // U+009F

  SECTION("allowed characters are skipped") {
    CHECK_FALSE(v::has_control_characters("line\nbreak", "\n"));
    CHECK_FALSE(v::has_control_characters("a\r\nb\tc", "\r\n\t"));
    CHECK(v::has_control_characters("line\nbreak\ttab", "\n"));
    CHECK(v::has_control_characters("bell\x07", "\n"));
    CHECK_FALSE(v::has_control_characters("next\xC2\x85line", "\xC2\x85"));
    CHECK(v::has_control_characters("next\xC2\x86line", "\xC2\x85"));
  }
}

TEST_CASE("trim strips ASCII white space at both ends", "[validation]") {
  CHECK(v::trim("") == ""sv);
  CHECK(v::trim("   ") == ""sv);
  CHECK(v::trim("abc") == "abc"sv);
  CHECK(v::trim("  abc  ") == "abc"sv);
  CHECK(v::trim("\t\r\n\v\fabc def\n") == "abc def"sv);
  CHECK(v::trim(" a b ") == "a b"sv);
  // Non-ASCII white space (NBSP) is content, not trimmed.
  CHECK(v::trim("\xC2\xA0x\xC2\xA0") == "\xC2\xA0x\xC2\xA0"sv);
}

// --- e-mail ------------------------------------------------------------------

TEST_CASE("normalize_email trims and lowercases valid addresses", "[validation]") {
  CHECK(v::normalize_email("user@example.com") == "user@example.com"s);
  CHECK(v::normalize_email("  User.Name@Example.COM \n") == "user.name@example.com"s);
  CHECK(v::normalize_email("first.last+tag@sub.domain.example.org") ==
        "first.last+tag@sub.domain.example.org"s);
  CHECK(v::normalize_email("a@b.co") == "a@b.co"s);
  CHECK(v::normalize_email("x_y-z@my-host.example.io") == "x_y-z@my-host.example.io"s);
  CHECK(v::normalize_email("o'brien@example.ie") == "o'brien@example.ie"s);
  CHECK(v::normalize_email("1234@123.example.com") == "1234@123.example.com"s);

  SECTION("length limits") {
    const auto local64 = repeat("a", 64);
    CHECK(v::normalize_email(local64 + "@example.com") == local64 + "@example.com");
    // 64 + '@' + 63 + '.' + 63 + '.' + 60 + ".io" = 254 bytes exactly.
    const auto at_limit = local64 + "@" + repeat("b", 63) + "." + repeat("c", 63) + "." +
                          repeat("d", 58) + ".io";
    REQUIRE(at_limit.size() == 254);
    CHECK(v::normalize_email(at_limit) == at_limit);
  }
}

TEST_CASE("normalize_email rejects malformed addresses", "[validation]") {
  const std::string too_long_local = repeat("a", 65) + "@example.com";
  const std::string too_long_total =
      repeat("a", 64) + "@" + repeat("b", 63) + "." + repeat("c", 63) + "." + repeat("d", 59) +
      ".io"; // 255 bytes
  REQUIRE(too_long_total.size() == 255);
  const std::string too_long_label = "a@" + repeat("b", 64) + ".com";
  const auto input = GENERATE_COPY(values<std::string>({
      "",
      "   ",
      "plainaddress",
      "@example.com",
      "user@",
      "user@@example.com",
      "user@exa@mple.com",
      "user@localhost",             // no dot in the domain
      "user@example",
      "user@example.c",             // final label too short
      "user@example.c0m",           // final label not all letters
      "user@example.123",
      "user@.example.com",
      "user@example.com.",
      "user@example..com",
      "user@-example.com",
      "user@example-.com",
      "user@exa_mple.com",
      "user@exa mple.com",
      "user@[127.0.0.1]",
      ".user@example.com",
      "user.@example.com",
      "us..er@example.com",
      "us er@example.com",
      "user\t@example.com",
      "user\n@example.com",
      std::string("us\0er@example.com", 17),
      "us\x7F" "er@example.com",
      "us\xC3\xA9r@example.com",    // non-ASCII local part
      "user@b\xC3\xBC" "cher.de",   // IDN must arrive as punycode
      too_long_local,
      too_long_total,
      too_long_label,
  }));
  CAPTURE(input);
  CHECK_FALSE(v::normalize_email(input).has_value());
}

// --- passwords -----------------------------------------------------------------

TEST_CASE("check_password verdicts", "[validation]") {
  using verdict = v::password_verdict;

  SECTION("ok") {
    CHECK(v::check_password("correct horse battery staple", 8, 64) == verdict::ok);
    CHECK(v::check_password("Tr0ub4dor&3-xyzzy", 8, 64) == verdict::ok);
    CHECK(v::check_password("exactly8", 8, 8) == verdict::ok);
  }
  SECTION("too short") {
    CHECK(v::check_password("", 8, 64) == verdict::too_short);
    CHECK(v::check_password("abc", 8, 64) == verdict::too_short);
    CHECK(v::check_password("seven77", 8, 64) == verdict::too_short);
    // Six two-byte characters are 12 bytes but only 6 code points.
    CHECK(v::check_password(repeat("\xC3\xA9", 6), 8, 64) == verdict::too_short);
    // Two emoji: 8 bytes, 2 code points.
    CHECK(v::check_password("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 8, 64) == verdict::too_short);
  }
  SECTION("too long, counted in code points") {
    CHECK(v::check_password(repeat("x", 65), 8, 64) == verdict::too_long);
    // 64 three-byte characters (192 bytes) are still within a 64 code point limit...
    CHECK(v::check_password(repeat("\xE2\x82\xAC", 64), 8, 64) == verdict::ok);
    // ...and one more is over it.
    CHECK(v::check_password(repeat("\xE2\x82\xAC", 65), 8, 64) == verdict::too_long);
    CHECK(v::check_password(repeat("\xF0\x9F\x98\x80", 11), 8, 10) == verdict::too_long);
    CHECK(v::check_password(repeat("\xF0\x9F\x98\x80", 10), 8, 10) == verdict::ok);
  }
  SECTION("too common, case-insensitively") {
    CHECK(v::check_password("password1", 8, 64) == verdict::too_common);
    CHECK(v::check_password("PASSWORD1", 8, 64) == verdict::too_common);
    CHECK(v::check_password("PassWord1", 8, 64) == verdict::too_common);
    CHECK(v::check_password("12345678", 8, 64) == verdict::too_common);
    CHECK(v::check_password("123456789", 8, 64) == verdict::too_common);
    CHECK(v::check_password("password", 8, 64) == verdict::too_common);
    CHECK(v::check_password("password", 1, 64) == verdict::too_common);
    // Comment lines of the list file are not passwords.
    CHECK(v::check_password("#!comment:", 1, 64) == verdict::ok);
    // Only exact (case-folded) matches count.
    CHECK(v::check_password("password1!x", 8, 64) == verdict::ok);
    CHECK(v::check_password(" password1", 8, 64) == verdict::ok);
  }
  SECTION("length is checked before commonness") {
    CHECK(v::check_password("123456", 8, 64) == verdict::too_short);
  }
  SECTION("invalid UTF-8 wins over everything") {
    CHECK(v::check_password("\xFF", 8, 64) == verdict::invalid_utf8);
    CHECK(v::check_password("long enough \xC0\xAF password", 8, 64) == verdict::invalid_utf8);
    CHECK(v::check_password("abcdefgh\xED\xA0\x80", 8, 64) == verdict::invalid_utf8);
    CHECK(v::check_password(repeat("a", 100) + "\x80", 8, 64) == verdict::invalid_utf8);
  }
}

TEST_CASE("describe gives a distinct message per verdict", "[validation]") {
  using verdict = v::password_verdict;
  const std::string_view messages[] = {
      v::describe(verdict::ok),          v::describe(verdict::invalid_utf8),
      v::describe(verdict::too_short),   v::describe(verdict::too_long),
      v::describe(verdict::too_common),
  };
  for (std::size_t i = 0; i < std::size(messages); ++i) {
    CHECK_FALSE(messages[i].empty());
    for (std::size_t j = i + 1; j < std::size(messages); ++j)
      CHECK(messages[i] != messages[j]);
  }
}

TEST_CASE("common password list is loaded", "[validation]") {
  CHECK(v::common_password_count() >= 1000);
  // Stable across calls: built once.
  CHECK(v::common_password_count() == v::common_password_count());
}

// --- countries -------------------------------------------------------------------

TEST_CASE("is_country_code accepts officially assigned alpha-2 codes", "[validation]") {
  for (auto code : {"US", "GB", "DE", "FR", "CA", "NL", "AU", "JP", "IN", "BR", "AD", "ZW", "AX",
                    "SS", "CW", "BQ", "SX", "VA"})
    CHECK(v::is_country_code(code));

  for (auto code : {"UK", "us", "Us", "XX", "XK", "EU", "AA", "ZZ", "", "U", "USA", " US", "U1",
                    "AN", "YU", "CS"})
    CHECK_FALSE(v::is_country_code(code));
}

// --- postal codes ------------------------------------------------------------------

TEST_CASE("postal codes: US", "[validation]") {
  CHECK(postal("US", "12345") == "12345"s);
  CHECK(postal("US", " 12345-6789 ") == "12345-6789"s);
  CHECK(postal("US", "00501") == "00501"s);
  for (auto bad : {"1234", "123456", "12345-678", "12345-67890", "12345 6789", "1234a",
                   "123456789", "12345-", "ABCDE", ""})
    CHECK_FALSE(postal("US", bad));
}

TEST_CASE("postal codes: CA", "[validation]") {
  CHECK(postal("CA", "K1A 0B1") == "K1A 0B1"s);
  CHECK(postal("CA", "k1a0b1") == "K1A 0B1"s);
  CHECK(postal("CA", "  h2x   1y4 ") == "H2X 1Y4"s);
  CHECK(postal("CA", "T2P 5Z9") == "T2P 5Z9"s);  // Z allowed after the first position
  for (auto bad : {"D1A 0B1",   // D never used
                   "W1A 0B1",   // W not first
                   "Z1A 0B1",   // Z not first
                   "K1O 0B1",   // O never used
                   "K1A 0BU",   // ...nor U
                   "K1A0B",     "K1A 0B12", "11A 0B1", "KAA 0B1", "K1A-0B1", "K1A  0B"})
    CHECK_FALSE(postal("CA", bad));
}

TEST_CASE("postal codes: GB", "[validation]") {
  CHECK(postal("GB", "SW1A 1AA") == "SW1A 1AA"s);
  CHECK(postal("GB", "sw1a1aa") == "SW1A 1AA"s);
  CHECK(postal("GB", "M1 1AE") == "M1 1AE"s);
  CHECK(postal("GB", "m11ae") == "M1 1AE"s);
  CHECK(postal("GB", "B33 8TH") == "B33 8TH"s);
  CHECK(postal("GB", "CR2 6XH") == "CR2 6XH"s);
  CHECK(postal("GB", "DN55 1PT") == "DN55 1PT"s);
  CHECK(postal("GB", "W1A 0AX") == "W1A 0AX"s);
  CHECK(postal("GB", "EC1A 1BB") == "EC1A 1BB"s);
  CHECK(postal("GB", " ec1a   1bb ") == "EC1A 1BB"s);
  CHECK(postal("GB", "GIR 0AA") == "GIR 0AA"s);
  CHECK(postal("GB", "gir0aa") == "GIR 0AA"s);
  for (auto bad : {"QA1 1AA",    // Q never first
                   "AJ1 1AA",    // J never second
                   "SW1A 1CA",   // C not in the inward code
                   "SW1A 1AI",   // I not in the inward code
                   "SW1A1A",     "SW1A 1AAA", "SW1 A1AA", "SW1AA 1AA", "1AA 1AA", "SW 1AA",
                   "M1", "M1-1AE", "W1I 0AX", "EC1C 1BB", "GIR 0AB"})
    CHECK_FALSE(postal("GB", bad));
}

TEST_CASE("postal codes: DE and FR", "[validation]") {
  CHECK(postal("DE", "10115") == "10115"s);
  CHECK(postal("DE", " 01067 ") == "01067"s);
  CHECK(postal("FR", "75008") == "75008"s);
  CHECK(postal("FR", "20000") == "20000"s);
  for (auto country : {"DE", "FR"})
    for (auto bad : {"1011", "101155", "1011A", "10 115", "D-10115", "F75008"})
      CHECK_FALSE(postal(country, bad));
}

TEST_CASE("postal codes: NL", "[validation]") {
  CHECK(postal("NL", "1234 AB") == "1234 AB"s);
  CHECK(postal("NL", "1234ab") == "1234 AB"s);
  CHECK(postal("NL", " 9999  zz ") == "9999 ZZ"s);
  CHECK(postal("NL", "1000 SB") == "1000 SB"s);
  for (auto bad : {"0123 AB", "1234 SA", "1234 SD", "1234ss", "123 AB", "12345 AB", "1234 A",
                   "1234 ABC", "1234-AB", "1234 A1", "ABCD 12"})
    CHECK_FALSE(postal("NL", bad));
}

TEST_CASE("postal codes: AU", "[validation]") {
  CHECK(postal("AU", "2000") == "2000"s);
  CHECK(postal("AU", "0800") == "0800"s);
  for (auto bad : {"200", "20000", "2OOO", "20 00"})
    CHECK_FALSE(postal("AU", bad));
}

TEST_CASE("postal codes: JP", "[validation]") {
  CHECK(postal("JP", "100-0001") == "100-0001"s);
  CHECK(postal("JP", "1000001") == "100-0001"s);
  CHECK(postal("JP", " 060-0000 ") == "060-0000"s);
  for (auto bad : {"100-001", "1000-001", "10000001", "100 0001", "100--0001", "ABC-DEFG"})
    CHECK_FALSE(postal("JP", bad));
}

TEST_CASE("postal codes: IN", "[validation]") {
  CHECK(postal("IN", "110001") == "110001"s);
  CHECK(postal("IN", "110 001") == "110001"s);
  CHECK(postal("IN", " 560 034 ") == "560034"s);
  for (auto bad : {"011001", "11001", "1100011", "110-001", "11 0001", "11000A"})
    CHECK_FALSE(postal("IN", bad));
}

TEST_CASE("postal codes: BR", "[validation]") {
  CHECK(postal("BR", "01310-100") == "01310-100"s);
  CHECK(postal("BR", "01310100") == "01310-100"s);
  for (auto bad : {"01310-10", "0131-0100", "013101000", "01310 100", "ABCDE-FGH"})
    CHECK_FALSE(postal("BR", bad));
}

TEST_CASE("postal codes: other countries", "[validation]") {
  CHECK(postal("SE", "114 55") == "114 55"s);
  CHECK(postal("IE", "d02 x285") == "D02 X285"s);
  CHECK(postal("PL", "00-950") == "00-950"s);
  CHECK(postal("AR", "C1425") == "C1425"s);
  CHECK(postal("CH", "  8001  ") == "8001"s);
  CHECK(postal("PT", "1000   001") == "1000 001"s);
  CHECK(postal("SG", "0") == "0"s);
  CHECK(postal("MT", repeat("A", 16)) == repeat("A", 16));
  for (auto bad : {"", "   ", "---", "- -", "12_34", "12.34", "1234/5", "K\xC3\x96LN"})
    CHECK_FALSE(postal("SE", bad));
  CHECK_FALSE(postal("MT", repeat("A", 17)));
  CHECK_FALSE(postal("SE", "114\t55"));
}

TEST_CASE("postal codes: country is matched case-insensitively", "[validation]") {
  CHECK(postal("us", "12345") == "12345"s);
  CHECK_FALSE(postal("us", "ABC"));
  CHECK(postal("gb", "sw1a1aa") == "SW1A 1AA"s);
}

// --- URLs ------------------------------------------------------------------------

TEST_CASE("is_https_url accepts absolute https URLs", "[validation]") {
  constexpr std::size_t max = 2048;
  for (auto url : {"https://example.com",
                   "https://example.com/",
                   "HTTPS://Example.COM/Path",
                   "https://sub.domain.example.co.uk/a/b/c.png",
                   "https://localhost",
                   "https://192.168.0.1/",
                   "https://example.com:443/",
                   "https://example.com:8443",
                   "https://example.com:1",
                   "https://example.com:65535/x",
                   "https://example.com?q=1",
                   "https://example.com#top",
                   "https://example.com/p?a=1&b=two%20words#frag",
                   "https://example.com/~user/file_name-1.txt",
                   "https://example.com/a@b",          // '@' after the host is fine
                   "https://example.com/?redirect=https://other.example/",
                   "https://[::1]/",
                   "https://[::1]:8443/x",
                   "https://[2001:db8::1]",
                   "https://[2001:DB8:0:0:8:800:200C:417A]/",
                   "https://[::ffff:192.0.2.128]/",
                   "https://xn--bcher-kva.example/"})
    CHECK(v::is_https_url(url, max));
}

TEST_CASE("is_https_url rejects everything else", "[validation]") {
  constexpr std::size_t max = 2048;
  for (auto url : {"",
                   "https://",
                   "https:///path",
                   "http://example.com/",
                   "ftp://example.com/",
                   "//example.com/",
                   "example.com",
                   "https:example.com",
                   "https:/example.com",
                   "javascript:alert(1)",
                   " https://example.com",
                   "https://example.com ",
                   "https://exa mple.com/",
                   "https://example.com/a b",
                   "https://example.com/a\tb",
                   "https://example.com/\n",
                   "https://example.com/\x7F",
                   "https://example.com/caf\xC3\xA9",
                   "https://example.com/\xC2\x85",
                   "https://user@example.com/",
                   "https://user:pass@example.com/",
                   "https://trusted.example@evil.example/",
                   "https://example.com\\@evil.example/",
                   "https://exa_mple.com/",
                   "https://-example.com/",
                   "https://example-.com/",
                   "https://example..com/",
                   "https://.example.com/",
                   "https://example.com./",
                   "https://example.com:/",
                   "https://example.com:0/",
                   "https://example.com:65536/",
                   "https://example.com:123456/",
                   "https://example.com:8o/",
                   "https://:443/",
                   "https://[::1/",
                   "https://[]/",
                   "https://[::1]x/",
                   "https://[1:2:3:4:5:6:7:8:9]/",
                   "https://[1:2:3:4:5:6:7]/",
                   "https://[1::2::3]/",
                   "https://[12345::1]/",
                   "https://[::1%25eth0]/",
                   "https://[::ffff:300.0.0.1]/",
                   "https://[g::1]/",
                   "https://example.com/<script>",
                   "https://example.com/\"quoted\"",
                   "https://example.com/%zz",
                   "https://example.com/%4"})
    CHECK_FALSE(v::is_https_url(url, max));
}

TEST_CASE("is_https_url enforces the length limit", "[validation]") {
  const std::string url = "https://example.com/" + repeat("a", 80); // 100 bytes
  REQUIRE(url.size() == 100);
  CHECK(v::is_https_url(url, 100));
  CHECK(v::is_https_url(url, 101));
  CHECK_FALSE(v::is_https_url(url, 99));
  CHECK_FALSE(v::is_https_url(url, 0));
  CHECK_FALSE(v::is_https_url("https://" + repeat("a", 64) + ".com/", 2048)); // label > 63
}
