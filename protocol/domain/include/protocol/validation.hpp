#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

/// Pure input checks shared by the request decoders. None of them allocates
/// more than its result, none touches global mutable state, all are thread-safe.
namespace livemart::validation {

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, no
/// code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// Number of Unicode code points in well-formed UTF-8 `text`.
std::size_t utf8_length(std::string_view text);

/// True when `text` holds a C0/C1 control character other than the ones
/// listed in `allowed` (for example "\n" for multi-line text such as a bio).
bool has_control_characters(std::string_view text, std::string_view allowed = {});

/// Trims ASCII white space on both ends.
std::string_view trim(std::string_view text);

/// Normalises an e-mail address for storage and uniqueness: trims, lowercases
/// the whole address (ASCII), and checks its shape: exactly one '@', a local
/// part of 1..64 bytes without spaces or control characters, a domain of
/// dot-separated labels (letters, digits, hyphens, no leading/trailing hyphen,
/// at least one dot, a final label of at least two letters), 254 bytes at most.
/// Returns nullopt when the address is not acceptable.
std::optional<std::string> normalize_email(std::string_view text);

enum class password_verdict {
  ok,
  invalid_utf8,
  too_short,   ///< fewer than `length_min` code points
  too_long,    ///< more than `length_max` code points
  too_common,  ///< in the shipped common-password list (case-insensitive)
};

/// Checks a candidate password against the policy: length counted in code
/// points, and membership in the embedded common-password list
/// (conf/common-passwords.txt, compared case-insensitively).
password_verdict check_password(std::string_view password, std::size_t length_min,
                                std::size_t length_max);

/// Human-readable reason for a verdict, for problem+json field messages.
std::string_view describe(password_verdict verdict);

/// Number of distinct entries in the embedded common-password list.
std::size_t common_password_count();

/// True for an officially assigned ISO 3166-1 alpha-2 code, upper case only.
bool is_country_code(std::string_view code);

/// Normalises a postal code for `country` (upper case, single inner spaces,
/// trimmed) and checks its format. Formats are checked for at least US, CA,
/// GB, DE, FR, NL, AU, JP, IN and BR; other countries accept 1..16 characters
/// of letters, digits, spaces and hyphens. Returns nullopt when invalid.
std::optional<std::string> normalize_postal_code(std::string_view country,
                                                 std::string_view code);

/// True for an absolute https URL with a host, no white space or control
/// characters, no user-info, at most `length_max` bytes.
bool is_https_url(std::string_view url, std::size_t length_max);

} // namespace livemart::validation
