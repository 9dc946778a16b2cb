// RFC 9112 framing rules the front door applies on top of Beast's parser.
#include <catch2/catch.hpp>

#include <http/framing.hpp>

using namespace livemart;
using namespace livemart::http;

namespace {

std::optional<errc> refusal_of(std::vector<std::string_view> values, unsigned version = 11) {
  auto r = check_transfer_encoding(values, version);
  return r ? std::optional<errc>{r->code} : std::nullopt;
}

} // namespace

TEST_CASE("transfer codings: only a final, single chunked is framing we read", "[unit][framing]") {
  CHECK_FALSE(refusal_of({}).has_value());
  CHECK_FALSE(refusal_of({"chunked"}).has_value());
  CHECK_FALSE(refusal_of({"Chunked"}).has_value());
  CHECK_FALSE(refusal_of({" chunked "}).has_value());
  CHECK_FALSE(refusal_of({"chunked;q=1"}).has_value()); // parameters follow the name
  // Unknown codings: 501.
  CHECK(refusal_of({"identity"}) == errc::not_implemented);
  CHECK(refusal_of({"chunked, identity"}) == errc::not_implemented);
  CHECK(refusal_of({"xchunked"}) == errc::not_implemented);
  // Known codings we do not decode, before chunked: 501.
  CHECK(refusal_of({"gzip, chunked"}) == errc::not_implemented);
  CHECK(refusal_of({"gzip", "chunked"}) == errc::not_implemented);
  // A final coding other than chunked: the length is unknowable, 400.
  CHECK(refusal_of({"gzip"}) == errc::bad_request);
  CHECK(refusal_of({"chunked", "gzip"}) == errc::bad_request);
  CHECK(refusal_of({"chunked, chunked"}) == errc::bad_request);
  CHECK(refusal_of({","}) == errc::bad_request);
  CHECK(refusal_of({"chunked extra"}) == errc::bad_request);
  CHECK(refusal_of({"\"chunked\""}) == errc::bad_request);
  // HTTP/1.0 has no transfer codings (RFC 9112 §6.1).
  CHECK(refusal_of({"chunked"}, 10) == errc::bad_request);
}

TEST_CASE("Host: exactly one in HTTP/1.1, at most one before", "[unit][framing]") {
  CHECK_FALSE(check_host(1, 11).has_value());
  CHECK(check_host(0, 11)->code == errc::bad_request);
  CHECK(check_host(2, 11)->code == errc::bad_request);
  CHECK_FALSE(check_host(0, 10).has_value());
  CHECK(check_host(2, 10)->code == errc::bad_request);
}

TEST_CASE("buffered bytes of a chunked body: a chunk-size line or the trailer section", "[unit][framing]") {
  CHECK_FALSE(pending_is_trailer("5;ext=aaaa"));
  CHECK_FALSE(pending_is_trailer("\r\n5;ext=aaaa"));
  CHECK_FALSE(pending_is_trailer("0;endless-extension"));
  CHECK_FALSE(pending_is_trailer("00a\r\n"));
  CHECK_FALSE(pending_is_trailer(""));
  CHECK_FALSE(pending_is_trailer("000"));
  CHECK(pending_is_trailer("0\r\nX-Trailer: aaaa"));
  CHECK(pending_is_trailer("\r\n00;e=1\r\nX-Trailer: aaaa"));
}

TEST_CASE("Sec-WebSocket-Key decodes to 16 bytes", "[unit][framing]") {
  CHECK(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  CHECK(valid_websocket_key("+/+/+/+/+/+/+/+/+/+/+w=="));
  CHECK_FALSE(valid_websocket_key(""));
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));   // no padding
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=")); // short
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZQ=="));         // 10 bytes
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZSE="));  // 17 characters of data
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZ-_=="));
  CHECK_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25j ZQ="));
}
