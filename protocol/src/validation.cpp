#include <protocol/validation.hpp>

#include <protocol/embedded_file.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_set>

namespace livemart::protocol {
// Generated at build time from conf/common-passwords.txt (cmake/embed_files.cmake).
extern const std::span<const livemart::embedded_file> common_password_files;
} // namespace livemart::protocol

namespace livemart::validation {

namespace {

// Character classes are spelled out by hand: <cctype> depends on the global
// locale, and these checks must mean the same thing on every machine.
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
constexpr bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return to_lower(x) == to_lower(y); });
}

// Length of the well-formed UTF-8 sequence starting at `pos`, or 0 when it is
// malformed. The per-lead-byte bounds on the second byte follow Unicode table
// 3-7; they are what rules out overlongs, surrogates and values > U+10FFFF.
std::size_t sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80)
    return 1;
  std::size_t need = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead == 0xE0) {
    need = 3;
    low = 0xA0; // below is an overlong 2-byte value
  } else if (lead == 0xED) {
    need = 3;
    high = 0x9F; // above are the UTF-16 surrogates
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    need = 3;
  } else if (lead == 0xF0) {
    need = 4;
    low = 0x90; // below is an overlong 3-byte value
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    need = 4;
  } else if (lead == 0xF4) {
    need = 4;
    high = 0x8F; // above is beyond U+10FFFF
  } else {
    return 0; // continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (text.size() - pos < need)
    return 0;
  if (byte(pos + 1) < low || byte(pos + 1) > high)
    return 0;
  for (std::size_t i = 2; i < need; ++i)
    if ((byte(pos + i) & 0xC0) != 0x80)
      return 0;
  return need;
}

// --- common passwords --------------------------------------------------------

// Transparent hashing lets check_password look up a stack buffer without
// building a std::string for every candidate.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

using password_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

// Longest candidate worth looking up; the shipped list has nothing close to it,
// so a longer password cannot be a member and needs no lower-cased copy.
constexpr std::size_t common_password_size_max = 128;

const password_set& common_passwords() {
  // Function-local static: built once, on first use, with thread-safe init.
  static const password_set passwords = [] {
    password_set set;
    for (const auto& file : livemart::protocol::common_password_files) {
      std::string_view rest = file.contents;
      while (!rest.empty()) {
        const auto end = rest.find('\n');
        auto line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (!line.empty() && line.back() == '\r') // files edited on Windows
          line.remove_suffix(1);
        if (line.empty() || line.starts_with("#!"))
          continue;
        std::string entry(line);
        std::transform(entry.begin(), entry.end(), entry.begin(), to_lower);
        set.insert(std::move(entry));
      }
    }
    return set;
  }();
  return passwords;
}

bool is_common_password(std::string_view password) {
  if (password.size() > common_password_size_max)
    return false;
  std::array<char, common_password_size_max> lowered{};
  std::transform(password.begin(), password.end(), lowered.begin(), to_lower);
  const auto& set = common_passwords();
  return set.find(std::string_view(lowered.data(), password.size())) != set.end();
}

// --- e-mail --------------------------------------------------------------------

// Labels of a lower-cased domain: [a-z0-9-]{1,63}, no hyphen at either end,
// at least two labels, and an alphabetic top-level label of 2+ letters.
bool is_email_domain(std::string_view domain) {
  std::size_t labels = 0;
  std::string_view last;
  while (true) {
    const auto dot = domain.find('.');
    const auto label = domain.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    ++labels;
    last = label;
    if (dot == std::string_view::npos)
      break;
    domain.remove_prefix(dot + 1);
  }
  return labels >= 2 && last.size() >= 2 && std::all_of(last.begin(), last.end(), is_alpha);
}

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

// --- URLs ----------------------------------------------------------------------

// RFC 3986 characters (unreserved, reserved and '%'). Anything else - white
// space, controls, non-ASCII, and " < > \ ^ ` { | } - must be percent-encoded;
// rejecting '\' also avoids parsers that treat it like '/' disagreeing about
// where the host ends.
bool is_url_char(char c) {
  constexpr std::string_view marks = "-._~:/?#[]@!$&'()*+,;=%";
  return is_alnum(c) || (c != '\0' && marks.find(c) != std::string_view::npos);
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253)
    return false;
  while (true) {
    const auto dot = host.find('.');
    const auto label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos)
      return true;
    host.remove_prefix(dot + 1);
  }
}

bool is_ipv4(std::string_view text) {
  for (int part = 0; part < 4; ++part) {
    const auto dot = text.find('.');
    if ((part == 3) != (dot == std::string_view::npos))
      return false;
    const auto digits = text.substr(0, dot);
    if (digits.size() > 3 || !all_digits(digits))
      return false;
    int value = 0;
    for (char c : digits)
      value = value * 10 + (c - '0');
    if (value > 255)
      return false;
    if (dot != std::string_view::npos)
      text.remove_prefix(dot + 1);
  }
  return true;
}

// The text between the brackets of an IPv6 literal (RFC 4291 2.2): eight
// 16-bit groups, one "::" for a run of zero groups, optionally an IPv4 tail.
// Zone identifiers are not accepted: they mean nothing outside this host.
bool is_ipv6(std::string_view text) {
  std::size_t groups = 0;
  bool compressed = false;
  std::size_t pos = 0;
  if (text.starts_with("::")) {
    compressed = true;
    pos = 2;
  } else if (text.starts_with(":")) {
    return false;
  }
  while (pos < text.size()) {
    auto end = text.find(':', pos);
    if (end == std::string_view::npos)
      end = text.size();
    const auto piece = text.substr(pos, end - pos);
    if (piece.find('.') != std::string_view::npos) {
      if (end != text.size() || !is_ipv4(piece))
        return false;
      groups += 2;
    } else {
      if (piece.empty() || piece.size() > 4 || !std::all_of(piece.begin(), piece.end(), is_hex))
        return false;
      ++groups;
    }
    if (end == text.size())
      break;
    if (end + 1 < text.size() && text[end + 1] == ':') {
      if (compressed)
        return false;
      compressed = true;
      pos = end + 2;
    } else {
      pos = end + 1;
      if (pos == text.size()) // a single trailing ':'
        return false;
    }
  }
  return compressed ? groups < 8 : groups == 8;
}

bool is_port(std::string_view digits) {
  if (digits.size() > 5 || !all_digits(digits))
    return false;
  std::uint32_t value = 0;
  for (char c : digits)
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  return value >= 1 && value <= 65535;
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

bool is_valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const auto length = sequence_length(text, pos);
    if (length == 0)
      return false;
    pos += length;
  }
  return true;
}

std::size_t utf8_length(std::string_view text) {
  // For well-formed input every code point has exactly one non-continuation byte.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool has_control_characters(std::string_view text, std::string_view allowed) {
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x20 || byte == 0x7F) {
      if (allowed.find(text[pos]) == std::string_view::npos)
        return true;
    } else if (byte == 0xC2 && pos + 1 < text.size()) {
      // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
      const auto next = static_cast<unsigned char>(text[pos + 1]);
      if (next >= 0x80 && next <= 0x9F) {
        if (allowed.find(text.substr(pos, 2)) == std::string_view::npos)
          return true;
        ++pos;
      }
    }
  }
  return false;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

std::optional<std::string> normalize_email(std::string_view text) {
  const auto trimmed = trim(text);
  if (trimmed.empty() || trimmed.size() > 254)
    return std::nullopt;
  // ASCII only, no spaces or controls anywhere: internationalised addresses
  // are rare enough that the extra rules (and spoofing risks) are not worth it.
  if (!std::all_of(trimmed.begin(), trimmed.end(), [](char c) { return c > ' ' && c < 0x7F; }))
    return std::nullopt;
  std::string address(trimmed);
  std::transform(address.begin(), address.end(), address.begin(), to_lower);

  const auto at = address.find('@');
  if (at == std::string::npos || address.find('@', at + 1) != std::string::npos)
    return std::nullopt;
  const std::string_view view = address;
  const auto local = view.substr(0, at);
  const auto domain = view.substr(at + 1);
  // Unquoted local parts are dot-atoms (RFC 5322): no dot at either end, none doubled.
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.' ||
      local.find("..") != std::string_view::npos)
    return std::nullopt;
  if (!is_email_domain(domain))
    return std::nullopt;
  return address;
}

password_verdict check_password(std::string_view password, std::size_t length_min,
                                std::size_t length_max) {
  if (!is_valid_utf8(password))
    return password_verdict::invalid_utf8;
  const auto length = utf8_length(password);
  if (length < length_min)
    return password_verdict::too_short;
  if (length > length_max)
    return password_verdict::too_long;
  if (is_common_password(password))
    return password_verdict::too_common;
  return password_verdict::ok;
}

std::string_view describe(password_verdict verdict) {
  switch (verdict) {
    case password_verdict::ok:
      return "password is acceptable";
    case password_verdict::invalid_utf8:
      return "password is not valid UTF-8";
    case password_verdict::too_short:
      return "password is too short";
    case password_verdict::too_long:
      return "password is too long";
    case password_verdict::too_common:
      return "password is too common";
  }
  return "password is not acceptable"; // out-of-range enum value
}

std::size_t common_password_count() {
  return common_passwords().size();
}

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

bool is_https_url(std::string_view url, std::size_t length_max) {
  constexpr std::string_view scheme = "https://";
  if (url.size() > length_max || url.size() <= scheme.size())
    return false;
  if (!iequals(url.substr(0, scheme.size()), scheme))
    return false;
  // Checking every byte up front leaves only structure for the rest.
  if (!std::all_of(url.begin(), url.end(), is_url_char))
    return false;

  const auto rest = url.substr(scheme.size());
  const auto authority_end = rest.find_first_of("/?#");
  const auto authority = rest.substr(0, authority_end);
  const auto tail =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  // User-info ("https://trusted.example@evil.example/") is a phishing vector.
  if (authority.find('@') != std::string_view::npos)
    return false;

  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos || !is_ipv6(authority.substr(1, close - 1)))
      return false;
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return false;
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    if (!is_host_name(authority.substr(0, colon)))
      return false;
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
  }
  if (has_port && !is_port(port))
    return false;

  // A stray '%' would make every later decoding step ambiguous.
  for (std::size_t pos = tail.find('%'); pos != std::string_view::npos;
       pos = tail.find('%', pos + 1)) {
    if (pos + 2 >= tail.size() || !is_hex(tail[pos + 1]) || !is_hex(tail[pos + 2]))
      return false;
  }
  return true;
}

} // namespace livemart::validation
