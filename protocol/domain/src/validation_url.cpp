#include <protocol/validation.hpp>

#include <algorithm>
#include <cstdint>

#include "ascii.hpp"

// https URLs.
namespace livemart::validation {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return to_lower(x) == to_lower(y); });
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

} // namespace

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
