#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include "http_session.hpp"

#include <algorithm>
#include <cctype>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <protocol/crypto.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/wire/problem.hpp>

namespace livemart::http {

namespace {

/// How long after the request budget the session answers by itself.
constexpr std::uint32_t backstop_margin_ms = 1000;

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

/// The unit a client controls: an IPv4 address, or an IPv6 /64 (one
/// subscriber usually holds a whole /64, so single v6 addresses are free).
std::string network_of(const std::string& address) {
  beast::error_code ec;
  auto parsed = asio::ip::make_address(address, ec);
  if (ec || !parsed.is_v6() || parsed.to_v6().is_v4_mapped())
    return address;
  auto bytes = parsed.to_v6().to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i)
    bytes[i] = 0;
  return asio::ip::address_v6{bytes}.to_string() + "/64";
}

/// The client's address: the peer, or with http.trust_forwarded_for the
/// last entry of X-Forwarded-For (our proxy appends the address it saw;
/// entries to its left came from the client and prove nothing).
std::string client_address(const std::string& peer, std::string_view forwarded, bool trust_forwarded) {
  if (!trust_forwarded)
    return peer;
  auto comma = forwarded.rfind(',');
  auto last = forwarded.substr(comma == std::string_view::npos ? 0 : comma + 1);
  while (!last.empty() && last.front() == ' ')
    last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ')
    last.remove_suffix(1);
  beast::error_code ec;
  auto parsed = asio::ip::make_address(std::string{last}, ec);
  return !last.empty() && !ec ? parsed.to_string() : peer;
}

std::string new_request_id() {
  return crypto::to_hex(crypto::random_bytes(8));
}

} // namespace

session::session(tcp::socket&& socket, server::impl& srv)
  : stream_(std::move(socket)), backstop_(stream_.get_executor()), srv_(srv) {
  srv_.open_sessions.fetch_add(1);
  srv_.connections.add(1);
  beast::error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  peer_ = ec ? std::string{"unknown"} : endpoint.address().to_string();
}

session::~session() {
  {
    std::lock_guard lock{srv_.sessions_mutex};
    srv_.sessions.erase(self_entry_);
  }
  srv_.connections.add(-1);
  srv_.open_sessions.fetch_sub(1);
}

void session::run(std::list<std::weak_ptr<session>>::iterator entry) {
  self_entry_ = entry;
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void session::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->close_after_reply_ = true;
    self->close();
  });
}

void session::drain() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->close_after_reply_ = true;
    if (!self->busy_)
      self->close();
  });
}

void session::do_read() {
  if (srv_.app.draining.load()) {
    close();
    return;
  }
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(srv_.cfg.http.header_bytes_max));
  parser_->body_limit(srv_.cfg.http.body_bytes_max);
  parser_->on_chunk_header(chunk_header_);
  // Every byte held for the connection is bounded: while a header
  // arrives, the buffer holds at most its limit (Beast answers
  // header_limit first). Bytes already buffered are the next pipelined
  // request's, bounded when they were read.
  buffer_.max_size(std::max(srv_.cfg.http.header_bytes_max, buffer_.size()));
  chunk_line_too_long_ = false;
  auto wait = requests_ == 0 ? srv_.cfg.http.read_timeout_ms : srv_.cfg.http.idle_timeout_ms;
  stream_.expires_after(std::chrono::milliseconds{wait});
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void session::on_header(beast::error_code ec) {
  if (ec) {
    on_read_error(ec);
    return;
  }
  started_ = clock::now();
  busy_ = true;
  if (auto refusal = check_framing(parser_->get())) {
    reply_and_close(refusal->code, std::move(refusal->detail));
    return;
  }
  // A body's data goes straight into the message; what the buffer holds
  // whole is a chunk-size line or the trailer section, each bounded.
  if (parser_->chunked())
    buffer_.max_size(std::max({srv_.cfg.http.chunk_line_bytes_max + 2, srv_.cfg.http.trailer_bytes_max, buffer_.size()}));
  // The whole request, body included, must arrive within read_timeout_ms.
  stream_.expires_after(std::chrono::milliseconds{srv_.cfg.http.read_timeout_ms});
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
}

std::optional<framing_refusal> session::check_framing(const bhttp::request<bhttp::string_body>& msg) {
  std::vector<std::string_view> codings;
  for (auto [it, end] = msg.equal_range(bhttp::field::transfer_encoding); it != end; ++it)
    codings.emplace_back(it->value().data(), it->value().size());
  if (auto refusal = check_transfer_encoding(codings, msg.version()))
    return refusal;
  return check_host(msg.count(bhttp::field::host), msg.version());
}

void session::on_read(beast::error_code ec) {
  if (ec) {
    on_read_error(ec);
    return;
  }
  ++requests_;
  auto msg = parser_->release();
  if (beast::websocket::is_upgrade(msg)) {
    // The connection becomes a WebSocket: it leaves this session.
    busy_ = false;
    auto forwarded = msg["X-Forwarded-For"];
    auto client = network_of(client_address(peer_, std::string_view{forwarded.data(), forwarded.size()},
                                            srv_.cfg.http.trust_forwarded_for));
    srv_.ws->accept(stream_.release_socket(), std::move(msg), client);
    return;
  }
  handle(std::move(msg));
}

void session::on_read_error(beast::error_code ec) {
  // Limits broken by the client get an answer; a vanished client does not.
  const auto& limits = srv_.cfg.http;
  if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !parser_->is_header_done()))
    reply_and_close(errc::header_too_large, "headers exceed http.header_bytes_max");
  else if (ec == bhttp::error::body_limit && chunk_line_too_long_)
    reply_and_close(errc::body_too_large, "a chunk-size line exceeds http.chunk_line_bytes_max ("
                                            + std::to_string(limits.chunk_line_bytes_max) + " bytes)");
  else if (ec == bhttp::error::body_limit)
    reply_and_close(errc::body_too_large,
                    "the body exceeds http.body_bytes_max (" + std::to_string(limits.body_bytes_max) + " bytes)");
  else if (ec == bhttp::error::buffer_overflow) {
    auto pending = buffer_.cdata();
    if (pending_is_trailer({static_cast<const char*>(pending.data()), pending.size()}))
      reply_and_close(errc::header_too_large, "the trailer section exceeds http.trailer_bytes_max ("
                                                + std::to_string(limits.trailer_bytes_max) + " bytes)");
    else
      reply_and_close(errc::body_too_large, "a chunk-size line exceeds http.chunk_line_bytes_max ("
                                              + std::to_string(limits.chunk_line_bytes_max) + " bytes)");
  } else if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted
           || ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::bad_descriptor)
    close();
  else if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() || ec == bhttp::error::partial_message)
    reply_and_close(errc::bad_request, "malformed HTTP request");
  else
    close();
}

void session::reply_and_close(errc code, std::string detail) {
  busy_ = true;
  answered_ = true;
  close_after_reply_ = true;
  started_ = clock::now();
  current_ = request{};
  current_.request_id = new_request_id();
  current_.client_address = peer_;
  auto p = make_problem(code, std::move(detail));
  response r;
  r.status = info(code).status;
  r.content_type = "application/problem+json";
  r.body = render(p, "", current_.request_id);
  route_ = srv_.unmatched.get();
  write(std::move(r));
}

void session::handle(bhttp::request<bhttp::string_body>&& msg) {
  srv_.in_flight.add(1);
  request req;
  req.method = std::string{msg.method_string()};
  req.target = std::string{msg.target()};
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos)
    req.query = req.target.substr(q + 1);
  for (const auto& field : msg) {
    std::string name{field.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string{field.value()});
  }
  req.body = std::move(msg.body());
  keep_alive_ = msg.keep_alive();
  auto incoming_id = req.header("x-request-id");
  req.request_id = valid_request_id(incoming_id) ? std::string{incoming_id} : new_request_id();
  req.client_address = client_address(peer_, req.header("x-forwarded-for"), srv_.cfg.http.trust_forwarded_for);
  req.client_network = network_of(req.client_address);
  current_ = req; // kept for the access log; the handler gets its own copy

  auto m = srv_.routes.find(req.method, req.path);
  route_ = m.found != nullptr ? srv_.per_route[m.found->index].get() : srv_.unmatched.get();
  answered_ = false;
  auto sequence = ++sequence_;
  // A backstop in case no answer ever comes (a bridge lost its task):
  // the client gets a 503 instead of a connection that hangs.
  auto time = budget_of(srv_.cfg, m.found != nullptr ? m.found->time : budget::request);
  backstop_.expires_after(time + std::chrono::milliseconds{backstop_margin_ms});
  backstop_.async_wait([self = shared_from_this(), sequence](beast::error_code ec) {
    if (!ec)
      self->answer(sequence, timeout_reply(self->current_));
  });
  auto send = [self = shared_from_this(), sequence](response r) {
    asio::post(self->stream_.get_executor(),
               [self, sequence, r = std::move(r)]() mutable { self->answer(sequence, std::move(r)); });
  };
  auto ctx = std::make_shared<request_context>(srv_.app, std::move(req), std::move(m.params), std::move(send), time);
  switch (m.result) {
    case router::outcome::not_found:
      ctx->respond_problem(make_problem(errc::not_found, "no route for " + current_.path));
      return;
    case router::outcome::method_not_allowed: {
      auto p = make_problem(errc::method_not_allowed, current_.method + " is not allowed on " + current_.path);
      p.allow = std::move(m.allow);
      ctx->respond_problem(std::move(p));
      return;
    }
    case router::outcome::found:
      break;
  }
  if (srv_.app.draining.load()) {
    ctx->respond_problem(make_problem(errc::shutting_down, "the server is shutting down"));
    return;
  }
  try {
    m.found->fn(ctx);
  } catch (const std::exception& e) {
    // Handlers report errors as values; an exception here is a bug, but it
    // must not take the connection down without an answer.
    log::error("handler threw", "\"error\":" + [&] {
      std::string s;
      json::append_string(s, e.what());
      return s;
    }());
    ctx->respond_problem(make_problem(errc::internal));
  }
}

void session::answer(std::uint64_t sequence, response r) {
  if (sequence != sequence_ || answered_)
    return;
  answered_ = true;
  backstop_.cancel();
  write(std::move(r));
}

response session::timeout_reply(const request& req) {
  response r;
  auto p = make_problem(errc::timeout, "no answer within the request's budget (http.request_timeout_ms, or "
                                       "http.change_timeout_ms for a change of an order)");
  r.status = info(p.code).status;
  r.content_type = "application/problem+json";
  r.headers.emplace_back("Retry-After", "1");
  r.body = render(p, req.path, req.request_id);
  return r;
}

void session::write(response r) {
  auto msg = std::make_shared<bhttp::response<bhttp::string_body>>();
  msg->version(11);
  msg->result(static_cast<unsigned>(r.status));
  msg->set(bhttp::field::server, "livemart");
  msg->set("X-Request-Id", current_.request_id);
  msg->set(bhttp::field::cache_control, "no-store");
  if (!r.content_type.empty())
    msg->set(bhttp::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers)
    msg->set(name, value);
  // Every 429 and 503 tells the client when to come back, whichever path
  // produced it (a stored reply, a forwarded one, a backstop).
  if ((r.status == 429 || r.status == 503) && msg->find(bhttp::field::retry_after) == msg->end())
    msg->set(bhttp::field::retry_after, std::to_string(srv_.cfg.database.retry_after_s));
  msg->body() = std::move(r.body);
  bool keep = keep_alive_ && !close_after_reply_ && !srv_.app.draining.load();
  msg->keep_alive(keep);
  msg->prepare_payload();
  status_ = r.status;
  bytes_out_ = msg->body().size();
  stream_.expires_after(std::chrono::milliseconds{srv_.cfg.http.write_timeout_ms});
  bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
    self->on_write(ec, keep);
  });
}

void session::on_write(beast::error_code ec, bool keep) {
  finish_request();
  if (ec || !keep) {
    close();
    return;
  }
  do_read();
}

void session::finish_request() {
  if (!busy_)
    return;
  busy_ = false;
  auto elapsed = std::chrono::duration<double>(clock::now() - started_).count();
  if (route_ != nullptr)
    route_->observe(status_, elapsed);
  if (!current_.method.empty())
    srv_.in_flight.add(-1);
  if (srv_.cfg.http.access_log) {
    json::writer w;
    w.begin_object()
      .field("ts", log::timestamp())
      .field("level", "info")
      .field("msg", "request")
      .field("request_id", current_.request_id)
      .field("method", current_.method)
      .field("path", current_.path)
      .field("status", status_)
      .field("duration_ms", elapsed * 1000.0)
      .field("bytes_in", current_.body.size())
      .field("bytes_out", bytes_out_)
      .field("client", current_.client_address)
      .end_object();
    log::line(w.take());
  }
}

void session::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

} // namespace livemart::http
