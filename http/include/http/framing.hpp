#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <protocol/problem.hpp>

/// The framing rules of RFC 9112 §6 and §3.2 that Beast's parser leaves to
/// its user. Beast-free, so unit tests and fuzz targets call them directly.
namespace livemart::http {

/// Why a request's framing is refused: the status comes from `code`.
struct framing_refusal {
  errc code;
  std::string detail;
};

/// RFC 9112 §6.1: a request whose final transfer coding is not `chunked`
/// has no knowable length (400; 501 when a coding is unknown), as has any
/// Transfer-Encoding in an HTTP/1.0 request. livemart implements `chunked`
/// alone, so another coding before it is 501. `values` holds every
/// Transfer-Encoding field of the request; `version` is 10 or 11.
std::optional<framing_refusal> check_transfer_encoding(const std::vector<std::string_view>& values, unsigned version);

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host field.
std::optional<framing_refusal> check_host(std::size_t host_fields, unsigned version);

/// For a chunked body whose buffered bytes outgrew their limit: true when
/// they are the last chunk and its trailer section, false when they are a
/// chunk-size line (perhaps with extensions) that never ended.
bool pending_is_trailer(std::string_view pending);

/// RFC 6455 §4.2.1: Sec-WebSocket-Key is 16 bytes in base64 (24 characters).
bool valid_websocket_key(std::string_view key);

} // namespace livemart::http
