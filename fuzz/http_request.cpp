// The front door as http/src/http_session.cpp's session drives it: Beast's request
// parser with the configured limits over a flat_buffer with a maximum size,
// the chunk-extension limit, the framing rules of http/framing.hpp, the
// classification of read errors, then what handle() and the WebSocket
// upgrade do with a parsed request before any actor is asked: the router,
// path ids, query parameters, the Authorization and Stripe-Signature headers
// and the Sec-WebSocket-Key check. The session class itself is private to
// http_session.cpp and needs a socket, so this mirrors its do_read/on_header/on_read
// over an in-memory stream; the functions it calls are the production ones.
//
// Input: byte 0 sets how many bytes each read returns (its low six bits;
// 0 means as many as Beast asks for, so a seed starting with '@' is read
// whole), the rest is what the client sends, pipelined requests included.

#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <http/framing.hpp>
#include <http/router.hpp>
#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/jwt.hpp>
#include <protocol/payments.hpp>
#include <protocol/search.hpp>
#include <protocol/wire/payments.hpp>
#include <protocol/wire/search.hpp>

#include "common.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace livemart;
using livemart::http::router;

/// A client's bytes as a SyncReadStream: each read returns at most
/// `segment` bytes (TCP may split anywhere), then end of file.
class wire {
public:
  wire(std::string_view bytes, std::size_t segment) : rest_(bytes), segment_(segment) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    if (rest_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    auto n = asio::buffer_copy(buffers, asio::buffer(rest_.data(), std::min(rest_.size(), segment_)));
    rest_.remove_prefix(n);
    return n;
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    auto n = read_some(buffers, ec);
    if (ec)
      throw beast::system_error{ec};
    return n;
  }

private:
  std::string_view rest_;
  std::size_t segment_;
};

/// The routes of http/src/handlers_*.cpp, in the order server.cpp adds them
/// (generated from those files by fuzz/CMakeLists.txt). Handlers are never
/// called: the router only matches.
const router& routes() {
  static const router table = [] {
    struct entry {
      const char* method;
      const char* pattern;
    };
    static constexpr entry entries[] = {
#include "routes.inc"
    };
    router r;
    for (const auto& e : entries)
      r.add(e.method, e.pattern, [](const livemart::http::context_ptr&) {});
    return r;
  }();
  return table;
}

/// What the session sends when it refuses or fails a request (it renders
/// the problem with the path as instance).
void answer(errc code, const std::string& detail, std::string_view instance) {
  fuzz::require_renderable(make_problem(code, detail), instance);
}


std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

/// session::check_framing.
std::optional<livemart::http::framing_refusal> check_framing(const bhttp::request<bhttp::string_body>& msg) {
  std::vector<std::string_view> codings;
  for (auto [it, end] = msg.equal_range(bhttp::field::transfer_encoding); it != end; ++it)
    codings.emplace_back(view(it->value()));
  if (auto refusal = livemart::http::check_transfer_encoding(codings, msg.version()))
    return refusal;
  return livemart::http::check_host(msg.count(bhttp::field::host), msg.version());
}

/// session::on_read_error: which limit a read error broke, and the answer.
void on_read_error(beast::error_code ec, const bhttp::request_parser<bhttp::string_body>& parser,
                   const beast::flat_buffer& buffer, bool chunk_line_too_long) {
  const auto& limits = fuzz::settings().http;
  if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !parser.is_header_done()))
    answer(errc::header_too_large, "headers exceed http.header_bytes_max", "");
  else if (ec == bhttp::error::body_limit && chunk_line_too_long)
    answer(errc::body_too_large, "a chunk-size line exceeds http.chunk_line_bytes_max", "");
  else if (ec == bhttp::error::body_limit)
    answer(errc::body_too_large, "the body exceeds http.body_bytes_max (" + std::to_string(limits.body_bytes_max) + " bytes)", "");
  else if (ec == bhttp::error::buffer_overflow) {
    auto pending = buffer.cdata();
    bool trailer = livemart::http::pending_is_trailer({static_cast<const char*>(pending.data()), pending.size()});
    answer(trailer ? errc::header_too_large : errc::body_too_large, "a limit of the chunked framing", "");
  } else if (ec == bhttp::error::end_of_stream) {
    return; // the client closed between requests: the session closes too
  } else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    answer(errc::bad_request, "malformed HTTP request", "");
  }
}

/// request_context::authenticate up to the token check (no cache: each
/// input starts afresh).
void authenticate(std::string_view header) {
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size() || !std::equal(scheme.begin(), scheme.end(), header.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    return;
  auto verified = jwt::verify(fuzz::tokens(), header.substr(scheme.size()), fuzz::now_s);
  if (auto* c = std::get_if<jwt::claims>(&verified))
    fuzz::require(c->user_id != 0, "a verified token names a user");
}

/// ws_runtime::accept's checks before a WebSocket session exists.
void upgrade(const bhttp::request<bhttp::string_body>& req) {
  std::string path{view(req.target().substr(0, req.target().find('?')))};
  if (req.method() != bhttp::verb::get)
    return answer(errc::method_not_allowed, "a WebSocket upgrade is a GET", path);
  if (req.count(bhttp::field::sec_websocket_key) != 1
      || !livemart::http::valid_websocket_key(view(req[bhttp::field::sec_websocket_key])))
    return answer(errc::bad_request, "Sec-WebSocket-Key must be 16 bytes in base64", path);
  constexpr std::string_view prefix = "/streams/";
  constexpr std::string_view suffix = "/ws";
  if (path != "/users/me/ws") {
    if (path.size() > prefix.size() + suffix.size() && path.compare(0, prefix.size(), prefix) == 0
        && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (!ids::parse(std::string_view{path}.substr(prefix.size(), path.size() - prefix.size() - suffix.size())))
        return answer(errc::not_found, "no such stream", path);
    } else {
      return answer(errc::not_found, "no WebSocket endpoint at " + path, path);
    }
  }
  auto authorization = view(req[bhttp::field::authorization]);
  if (!authorization.empty() && authorization.substr(0, 7) == "Bearer ")
    (void)jwt::verify(fuzz::tokens(), authorization.substr(7), fuzz::now_s);
}

/// session::handle and what the matched handler reads before asking an actor.
void handle(const bhttp::request<bhttp::string_body>& msg) {
  std::string method{view(msg.method_string())};
  std::string target{view(msg.target())};
  auto q = target.find('?');
  std::string path = target.substr(0, q);
  std::string query = q == std::string::npos ? std::string{} : target.substr(q + 1);
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& field : msg) {
    std::string name{view(field.name_string())};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers.emplace_back(std::move(name), std::string{view(field.value())});
  }
  auto header = [&headers](std::string_view name) -> std::string_view {
    for (const auto& [n, v] : headers)
      if (n == name)
        return v;
    return {};
  };

  auto m = routes().find(method, path);
  switch (m.result) {
    case router::outcome::not_found:
      return answer(errc::not_found, "no route for " + path, path);
    case router::outcome::method_not_allowed: {
      fuzz::require(!m.allow.empty(), "a 405 names the allowed methods");
      auto p = make_problem(errc::method_not_allowed, method + " is not allowed on " + path);
      p.allow = std::move(m.allow);
      fuzz::require_renderable(p, path);
      return;
    }
    case router::outcome::found:
      break;
  }
  fuzz::require(m.found != nullptr && m.found->method == method, "a found route has the request's method");
  for (const auto& [name, value] : m.params) {
    fuzz::require(!value.empty(), "a path parameter is never empty");
    (void)ids::parse(value); // request_context::path_id
  }
  if (auto authorization = header("authorization"); !authorization.empty())
    authenticate(authorization);
  const auto& pattern = m.found->pattern;
  if (pattern == "/payments/webhook") {
    const std::vector<std::string> secrets{std::string{fuzz::webhook_secret}};
    auto why = verify_stripe_signature(header("stripe-signature"), msg.body(), secrets, fuzz::now_s,
                                       fuzz::settings().payments.webhook_tolerance_s);
    if (!why.empty()) {
      auto p = make_problem(errc::bad_request, "the Stripe-Signature header does not verify: " + why);
      p.fields.push_back({"Stripe-Signature", why});
      fuzz::require_renderable(p, path);
    }
  }
  if (method == "GET" && (pattern == "/products" || pattern == "/sellers/:id/products")) {
    auto decoded = decode_search_query([&query](std::string_view name) { return crypto::query_param(query, name); },
                                       fuzz::settings());
    if (auto* p = std::get_if<problem>(&decoded))
      fuzz::require_renderable(*p, path);
  } else if (method == "GET") {
    // request_context::read_page, for the lists.
    if (auto limit = crypto::query_param(query, "limit")) {
      std::uint32_t n = 0;
      (void)std::from_chars(limit->data(), limit->data() + limit->size(), n);
    }
    if (auto cursor = crypto::query_param(query, "cursor"))
      (void)ids::parse(*cursor);
  }
}

/// One connection: requests are read until one fails, closes the
/// connection or is an upgrade, as session::do_read and on_write loop.
void connection(std::string_view bytes, std::size_t segment) {
  const auto& limits = fuzz::settings().http;
  wire stream{bytes, segment};
  beast::flat_buffer buffer;
  bool chunk_line_too_long = false;
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> chunk_header =
    [&](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      if (extensions.size() > limits.chunk_line_bytes_max) {
        chunk_line_too_long = true;
        ec = bhttp::error::body_limit;
      }
    };
  // Pipelined requests keep a connection going; a bound keeps one input quick.
  for (int requests = 0; requests < 16; ++requests) {
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(limits.header_bytes_max));
    parser->body_limit(limits.body_bytes_max);
    parser->on_chunk_header(chunk_header);
    buffer.max_size(std::max(limits.header_bytes_max, buffer.size()));
    chunk_line_too_long = false;

    beast::error_code ec;
    bhttp::read_header(stream, buffer, *parser, ec);
    if (ec)
      return on_read_error(ec, *parser, buffer, chunk_line_too_long);
    if (auto refusal = check_framing(parser->get()))
      return answer(refusal->code, refusal->detail, "");
    if (parser->chunked())
      buffer.max_size(std::max({limits.chunk_line_bytes_max + 2, limits.trailer_bytes_max, buffer.size()}));
    bhttp::read(stream, buffer, *parser, ec);
    if (ec)
      return on_read_error(ec, *parser, buffer, chunk_line_too_long);

    auto msg = parser->release();
    fuzz::require(msg.body().size() <= limits.body_bytes_max, "a body within http.body_bytes_max");
    if (beast::websocket::is_upgrade(msg))
      return upgrade(msg);
    handle(msg);
    if (!msg.keep_alive())
      return;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::size_t segment = data[0] & 0x3f;
  if (segment == 0)
    segment = static_cast<std::size_t>(-1);
  connection({reinterpret_cast<const char*>(data) + 1, size - 1}, segment);
  return 0;
}
