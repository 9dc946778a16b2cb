#include <http/framing.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace livemart::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_token(std::string_view s) {
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || extra.find(c) != std::string_view::npos;
  });
}

/// Codings registered with IANA (RFC 9110 §18.7, RFC 9112 §7); livemart
/// decodes only `chunked`.
bool known_coding(std::string_view name) {
  constexpr std::array<std::string_view, 6> known{"chunked", "compress", "deflate", "gzip", "x-compress", "x-gzip"};
  return std::any_of(known.begin(), known.end(), [&](std::string_view k) { return iequals(k, name); });
}

} // namespace

std::optional<framing_refusal> check_transfer_encoding(const std::vector<std::string_view>& values, unsigned version) {
  if (values.empty())
    return std::nullopt;
  if (version < 11)
    return framing_refusal{errc::bad_request, "Transfer-Encoding in an HTTP/1.0 request"};
  std::vector<std::string_view> codings;
  for (auto value : values) {
    while (true) {
      auto comma = value.find(',');
      auto element = trim(value.substr(0, comma));
      if (!element.empty()) {
        // A coding may carry parameters (`gzip;q=1`): its name ends at ';'.
        auto name = trim(element.substr(0, element.find(';')));
        if (!is_token(name))
          return framing_refusal{errc::bad_request, "Transfer-Encoding is not a list of transfer codings"};
        codings.push_back(name);
      }
      if (comma == std::string_view::npos)
        break;
      value.remove_prefix(comma + 1);
    }
  }
  if (codings.empty())
    return framing_refusal{errc::bad_request, "Transfer-Encoding names no transfer coding"};
  auto unknown = std::find_if(codings.begin(), codings.end(), [](std::string_view c) { return !known_coding(c); });
  if (unknown != codings.end())
    return framing_refusal{errc::not_implemented, "unknown transfer coding \"" + std::string{*unknown} + "\""};
  if (!iequals(codings.back(), "chunked"))
    return framing_refusal{errc::bad_request, "the final transfer coding must be chunked (RFC 9112 section 6.1)"};
  if (std::count_if(codings.begin(), codings.end(), [](std::string_view c) { return iequals(c, "chunked"); }) > 1)
    return framing_refusal{errc::bad_request, "chunked is applied more than once"};
  if (codings.size() > 1)
    return framing_refusal{errc::not_implemented, "only the chunked transfer coding is implemented"};
  return std::nullopt;
}

std::optional<framing_refusal> check_host(std::size_t host_fields, unsigned version) {
  if (version >= 11 && host_fields != 1)
    return framing_refusal{errc::bad_request, host_fields == 0 ? "an HTTP/1.1 request needs a Host field"
                                                               : "more than one Host field"};
  if (host_fields > 1)
    return framing_refusal{errc::bad_request, "more than one Host field"};
  return std::nullopt;
}

bool pending_is_trailer(std::string_view pending) {
  // The CRLF that ends the previous chunk's data may still be in front.
  if (pending.substr(0, 2) == "\r\n")
    pending.remove_prefix(2);
  std::size_t zeros = 0;
  while (zeros < pending.size() && pending[zeros] == '0')
    ++zeros;
  if (zeros == 0 || zeros == pending.size())
    return false;
  // The last chunk is all zeros (`00a` is an ordinary size); its line
  // ended, what follows is the trailer section. An unended line, even a
  // last chunk's with endless extensions, is a chunk-size line.
  auto next = pending[zeros];
  if (next != ';' && next != '\r' && next != ' ' && next != '\t')
    return false;
  return pending.find("\r\n", zeros) != std::string_view::npos;
}

bool valid_websocket_key(std::string_view key) {
  // 16 bytes are 22 base64 characters and two of padding.
  if (key.size() != 24 || key.substr(22) != "==")
    return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
  });
}

} // namespace livemart::http
