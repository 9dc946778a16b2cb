#include <protocol/validation.hpp>

#include <protocol/embedded_file.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_set>

#include "ascii.hpp"

namespace livemart::protocol {
// Generated at build time from conf/common-passwords.txt (cmake/embed_files.cmake).
extern const std::span<const livemart::embedded_file> common_password_files;
} // namespace livemart::protocol

namespace livemart::validation {

namespace {

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

} // namespace livemart::validation
