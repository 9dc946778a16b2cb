#include <protocol/validation.hpp>

#include <algorithm>
#include <array>
#include <string>

#include "ascii.hpp"

// Countries and postal codes.
namespace livemart::validation {

namespace {

// --- postal codes ----------------------------------------------------------------

// Reduces "A1A 1A1"-style input to its compact form by dropping the optional
// separator `sep` at `pos`; nullopt when the length fits neither shape.
std::optional<std::string> without_separator(const std::string& code, std::size_t compact_size,
                                             std::size_t pos, char sep) {
  if (code.size() == compact_size)
    return code;
  if (code.size() == compact_size + 1 && code[pos] == sep)
    return code.substr(0, pos) + code.substr(pos + 1);
  return std::nullopt;
}

// Letters allowed in Canadian postal codes: D, F, I, O, Q, U never appear
// (they are easily misread), and W, Z never in the first position.
bool is_ca_letter(char c, bool first) {
  constexpr std::string_view first_letters = "ABCEGHJKLMNPRSTVXY";
  constexpr std::string_view other_letters = "ABCEGHJKLMNPRSTVWXYZ";
  return c != '\0' && (first ? first_letters : other_letters).find(c) != std::string_view::npos;
}

std::optional<std::string> normalize_ca(const std::string& code) {
  const auto compact = without_separator(code, 6, 3, ' ');
  if (!compact)
    return std::nullopt;
  const auto& c = *compact;
  if (!is_ca_letter(c[0], true) || !is_digit(c[1]) || !is_ca_letter(c[2], false) ||
      !is_digit(c[3]) || !is_ca_letter(c[4], false) || !is_digit(c[5]))
    return std::nullopt;
  return c.substr(0, 3) + ' ' + c.substr(3);
}

bool in_set(char c, std::string_view set) {
  return c != '\0' && set.find(c) != std::string_view::npos;
}

// UK outward codes: A9, A99, AA9, AA99, A9A, AA9A with the Royal Mail letter
// restrictions per position (Q, V, X never first; I, J, Z never second, ...).
bool is_gb_outward(std::string_view out) {
  constexpr std::string_view first = "ABCDEFGHIJKLMNOPRSTUWYZ";
  constexpr std::string_view second = "ABCDEFGHKLMNOPQRSTUVWXY";
  constexpr std::string_view third_a9a = "ABCDEFGHJKPSTUW";
  constexpr std::string_view fourth_aa9a = "ABEHMNPRVWXY";
  if (out.size() < 2 || out.size() > 4 || !in_set(out[0], first))
    return false;
  if (is_digit(out[1])) { // A9, A99, A9A
    if (out.size() == 2)
      return true;
    if (out.size() == 3)
      return is_digit(out[2]) || in_set(out[2], third_a9a);
    return false;
  }
  // AA9, AA99, AA9A
  if (!in_set(out[1], second) || out.size() < 3 || !is_digit(out[2]))
    return false;
  if (out.size() == 3)
    return true;
  return is_digit(out[3]) || in_set(out[3], fourth_aa9a);
}

std::optional<std::string> normalize_gb(const std::string& code) {
  // The inward code is always the last three characters, so the separating
  // space is optional on input and can only sit right before it.
  std::string compact = code;
  if (const auto space = code.find(' '); space != std::string::npos) {
    if (code.size() < 4 || space != code.size() - 4)
      return std::nullopt;
    compact.erase(space, 1);
  }
  if (compact.size() < 5 || compact.size() > 7)
    return std::nullopt;
  const std::string_view view = compact;
  const auto outward = view.substr(0, view.size() - 3);
  const auto inward = view.substr(view.size() - 3);
  // Girobank's historic non-geographic code is still valid.
  if (compact == "GIR0AA")
    return std::string("GIR 0AA");
  constexpr std::string_view inward_letters = "ABDEFGHJLNPQRSTUWXYZ"; // no C, I, K, M, O, V
  if (!is_gb_outward(outward) || !is_digit(inward[0]) || !in_set(inward[1], inward_letters) ||
      !in_set(inward[2], inward_letters))
    return std::nullopt;
  return std::string(outward) + ' ' + std::string(inward);
}

std::optional<std::string> normalize_nl(const std::string& code) {
  const auto compact = without_separator(code, 6, 4, ' ');
  if (!compact)
    return std::nullopt;
  const std::string_view c = *compact;
  const auto digits = c.substr(0, 4);
  const auto letters = c.substr(4);
  if (c[0] == '0' || !all_digits(digits) || !is_upper(letters[0]) || !is_upper(letters[1]))
    return std::nullopt;
  // PostNL does not issue these pairs (historical connotations).
  if (letters == "SA" || letters == "SD" || letters == "SS")
    return std::nullopt;
  return std::string(digits) + ' ' + std::string(letters);
}

// Shapes of the form "digits, optional separator, digits" normalised to
// always carry the separator (JP "123-4567", BR "12345-678").
std::optional<std::string> normalize_split_digits(const std::string& code, std::size_t head,
                                                  std::size_t tail, char sep) {
  const auto compact = without_separator(code, head + tail, head, sep);
  if (!compact || !all_digits(*compact))
    return std::nullopt;
  return compact->substr(0, head) + sep + compact->substr(head);
}

std::optional<std::string> normalize_other(std::string code) {
  if (code.empty() || code.size() > 16)
    return std::nullopt;
  if (!std::all_of(code.begin(), code.end(),
                   [](char c) { return is_upper(c) || is_digit(c) || c == ' ' || c == '-'; }))
    return std::nullopt;
  if (std::none_of(code.begin(), code.end(), is_alnum))
    return std::nullopt;
  return code;
}

// Sorted so is_country_code can binary-search it; checked below at compile time.
constexpr std::array<std::string_view, 249> country_codes{
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW",
    "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT",
    "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
};
static_assert(std::is_sorted(country_codes.begin(), country_codes.end()),
              "is_country_code binary-searches country_codes");
static_assert(std::adjacent_find(country_codes.begin(), country_codes.end()) ==
                  country_codes.end(),
              "country_codes has duplicates");

} // namespace

bool is_country_code(std::string_view code) {
  return code.size() == 2 &&
         std::binary_search(country_codes.begin(), country_codes.end(), code);
}

std::optional<std::string> normalize_postal_code(std::string_view country,
                                                 std::string_view code) {
  // Shared normalisation: trimmed, upper case, inner runs of spaces collapsed.
  const auto trimmed = trim(code);
  std::string normal;
  normal.reserve(trimmed.size());
  for (char c : trimmed) {
    if (c == ' ' && !normal.empty() && normal.back() == ' ')
      continue;
    normal.push_back(to_upper(c));
  }
  if (normal.empty())
    return std::nullopt;

  // Country codes are expected in upper case, but a lower-case one should
  // still select the right format rather than silently the lenient fallback.
  const auto country_trimmed = trim(country);
  std::array<char, 2> cc{};
  if (country_trimmed.size() == 2) {
    cc[0] = to_upper(country_trimmed[0]);
    cc[1] = to_upper(country_trimmed[1]);
  }
  const std::string_view iso(cc.data(), cc.size());

  if (iso == "US") {
    if (normal.size() == 5 && all_digits(normal))
      return normal;
    if (normal.size() == 10 && normal[5] == '-' && all_digits(std::string_view(normal).substr(0, 5)) &&
        all_digits(std::string_view(normal).substr(6)))
      return normal;
    return std::nullopt;
  }
  if (iso == "CA")
    return normalize_ca(normal);
  if (iso == "GB")
    return normalize_gb(normal);
  if (iso == "DE" || iso == "FR") {
    if (normal.size() == 5 && all_digits(normal))
      return normal;
    return std::nullopt;
  }
  if (iso == "NL")
    return normalize_nl(normal);
  if (iso == "AU") {
    if (normal.size() == 4 && all_digits(normal))
      return normal;
    return std::nullopt;
  }
  if (iso == "JP")
    return normalize_split_digits(normal, 3, 4, '-');
  if (iso == "IN") {
    // PIN codes are often written "110 001"; storage keeps the six digits.
    const auto compact = without_separator(normal, 6, 3, ' ');
    if (!compact || !all_digits(*compact) || (*compact)[0] == '0')
      return std::nullopt;
    return compact;
  }
  if (iso == "BR")
    return normalize_split_digits(normal, 5, 3, '-');
  return normalize_other(std::move(normal));
}

} // namespace livemart::validation
