#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <http/framing.hpp>

#include "context.hpp"
#include "server_impl.hpp"

namespace livemart::http {

/// One HTTP/1.1 connection, in the manner of Beast's advanced server: all of
/// its handlers run on its strand; a reply from the actors is posted there.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, server::impl& srv);
  ~session();

  void run(std::list<std::weak_ptr<session>>::iterator entry);

  /// Called when the drain times out: close now, whatever is in flight.
  void force_close();

  /// Called on shutdown: idle connections close now, busy ones after their reply.
  void drain();

private:
  void do_read();
  void on_header(beast::error_code ec);

  /// RFC 9112's framing rules that Beast leaves to us (http/framing.hpp).
  static std::optional<framing_refusal> check_framing(const bhttp::request<bhttp::string_body>& msg);

  void on_read(beast::error_code ec);
  void on_read_error(beast::error_code ec);
  void reply_and_close(errc code, std::string detail);
  void handle(bhttp::request<bhttp::string_body>&& msg);

  /// The one answer to request `sequence`; later ones are dropped.
  void answer(std::uint64_t sequence, response r);

  static response timeout_reply(const request& req);
  void write(response r);
  void on_write(beast::error_code ec, bool keep);
  void finish_request();
  void close();

  beast::tcp_stream stream_;
  asio::steady_timer backstop_; ///< answers 503 if the actors never do
  server::impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool chunk_line_too_long_ = false;
  /// Beast hands over a chunk's extensions once their line is whole; the
  /// buffer bounds the line's bytes, this its configured length.
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> chunk_header_ =
    [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      if (extensions.size() > srv_.cfg.http.chunk_line_bytes_max) {
        chunk_line_too_long_ = true;
        ec = bhttp::error::body_limit;
      }
    };
  std::list<std::weak_ptr<session>>::iterator self_entry_;
  std::string peer_;
  request current_;
  detail::route_metrics* route_ = nullptr;
  clock::time_point started_{};
  std::size_t requests_ = 0;
  std::size_t bytes_out_ = 0;
  int status_ = 0;
  std::uint64_t sequence_ = 0; ///< which request an answer belongs to
  bool answered_ = true;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool close_after_reply_ = false;
};

} // namespace livemart::http
