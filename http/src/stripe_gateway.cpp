#include <http/stripe_gateway.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <type_traits>

#include <caf/all.hpp>

#include <protocol/worker_pool.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/messages.hpp>
#include <protocol/payments.hpp>
#include <protocol/wire/payments.hpp>

namespace livemart::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

/// Where the API lives, from payments.stripe_base_url.
struct base_url {
  bool tls = true;
  std::string host;
  std::string port;
  std::string path; ///< without a trailing slash
};

std::optional<base_url> parse_base_url(std::string_view url) {
  base_url out;
  if (url.rfind("https://", 0) == 0) {
    url.remove_prefix(8);
  } else if (url.rfind("http://", 0) == 0) {
    out.tls = false;
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  auto slash = url.find('/');
  auto authority = url.substr(0, slash);
  out.path = slash == std::string_view::npos ? "" : std::string{url.substr(slash)};
  while (!out.path.empty() && out.path.back() == '/')
    out.path.pop_back();
  auto colon = authority.rfind(':');
  out.host = std::string{authority.substr(0, colon)};
  out.port = colon == std::string_view::npos ? (out.tls ? "443" : "80") : std::string{authority.substr(colon + 1)};
  if (out.host.empty())
    return std::nullopt;
  // Secrets never travel in the clear, except to a test double on this machine.
  if (!out.tls && out.host != "127.0.0.1" && out.host != "localhost" && out.host != "[::1]")
    return std::nullopt;
  return out;
}

/// application/x-www-form-urlencoded, as Stripe's API takes it.
class form {
public:
  form& add(std::string_view key, std::string_view value) {
    if (!text_.empty())
      text_ += '&';
    encode(key);
    text_ += '=';
    encode(value);
    return *this;
  }
  const std::string& text() const { return text_; }

private:
  void encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (unsigned char ch : s) {
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'
          || ch == '.' || ch == '~') {
        text_ += static_cast<char>(ch);
      } else {
        text_ += '%';
        text_ += hex[ch >> 4];
        text_ += hex[ch & 15];
      }
    }
  }
  std::string text_;
};

struct api_reply {
  unsigned status = 0;
  std::string body;
  bool sent = true; ///< false: the request never left (no connection): nothing happened at the gateway
};

/// One blocking HTTPS client per worker thread: every call connects, sends
/// and reads within payments.gateway_timeout_ms (async operations on the
/// worker's own io_context, run to completion on this thread).
class stripe_client {
public:
  stripe_client(base_url base, std::string secret, std::chrono::milliseconds timeout)
    : base_(std::move(base)), secret_(std::move(secret)), timeout_(timeout) {
    tls_.set_default_verify_paths();
    tls_.set_verify_mode(net::ssl::verify_peer);
  }

  /// Throws nothing: transport failures come back as status 0 with a reason.
  api_reply call(bhttp::verb method, const std::string& target, const std::string& body,
                 const std::string& idempotency_key) {
    bhttp::request<bhttp::string_body> req{method, base_.path + target, 11};
    req.set(bhttp::field::host, base_.host);
    req.set(bhttp::field::authorization, "Bearer " + secret_);
    req.set(bhttp::field::user_agent, "livemart");
    req.set("Stripe-Version", "2024-06-20");
    if (!idempotency_key.empty())
      req.set("Idempotency-Key", idempotency_key);
    if (method != bhttp::verb::get) {
      req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
      req.body() = body;
    }
    req.prepare_payload();
    try {
      return base_.tls ? exchange_tls(req) : exchange_plain(req);
    } catch (const std::exception& e) {
      return {0, e.what(), false}; // resolving failed
    }
  }

private:
  /// Resolved once per worker (a name lookup is not covered by the
  /// stream's timeout), and again after a failed connection.
  const tcp::resolver::results_type& resolve() {
    if (endpoints_.empty()) {
      tcp::resolver resolver{ioc_};
      endpoints_ = resolver.resolve(base_.host, base_.port);
    }
    return endpoints_;
  }

  /// Runs the io_context until the exchange is done; the stream's expiry
  /// turns a hang into an error.
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  api_reply exchange_plain(bhttp::request<bhttp::string_body>& req) {
    beast::tcp_stream stream{ioc_};
    return exchange(stream, req);
  }

  api_reply exchange_tls(bhttp::request<bhttp::string_body>& req) {
    beast::ssl_stream<beast::tcp_stream> stream{ioc_, tls_};
    if (!SSL_set_tlsext_host_name(stream.native_handle(), base_.host.c_str()))
      return {0, "cannot set the TLS server name", false};
    stream.set_verify_callback(net::ssl::host_name_verification(base_.host));
    return exchange(stream, req);
  }

  /// Connects (over TLS: and shakes hands), sends `req` and reads the
  /// reply, all within the timeout. `sent` is false when no connection was
  /// made, so nothing can have reached the gateway.
  template <class Stream>
  api_reply exchange(Stream& stream, bhttp::request<bhttp::string_body>& req) {
    constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;
    beast::error_code failure;
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bool connected = false;
    auto send = [&] {
      connected = true;
      bhttp::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
        if (wec) {
          failure = wec;
          return;
        }
        bhttp::async_read(stream, buffer, res, [&](beast::error_code rec, std::size_t) { failure = rec; });
      });
    };
    beast::get_lowest_layer(stream).expires_after(timeout_);
    beast::get_lowest_layer(stream).async_connect(resolve(), [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        failure = ec;
        return;
      }
      if constexpr (tls) {
        stream.async_handshake(net::ssl::stream_base::client, [&](beast::error_code hec) {
          if (hec)
            failure = hec;
          else
            send();
        });
      } else {
        send();
      }
    });
    run();
    if (failure) {
      if (!connected)
        endpoints_ = {}; // look the name up again next time
      return {0, failure.message(), connected};
    }
    return {res.result_int(), std::move(res.body())};
  }

  tcp::resolver::results_type endpoints_;
  base_url base_;
  std::string secret_;
  std::chrono::milliseconds timeout_;
  net::io_context ioc_;
  net::ssl::context tls_{net::ssl::context::tls_client};
};

caf::error unavailable(const api_reply& r) {
  auto what = r.status == 0 ? r.body : "HTTP " + std::to_string(r.status) + ": " + stripe_error_message(r.body);
  return make_error(errc::gateway_unavailable, "Stripe: " + what);
}

/// An intent from a 2xx reply; a 402 (declined) carries the intent in its
/// error; other 4xx are definitive refusals; anything else is unknown.
caf::result<gateway_record> intent_reply(const api_reply& r) {
  if (!r.sent) {
    // Never reached Stripe: a definite failure, so the buyer may pay again.
    gateway_record unreachable;
    unreachable.status = payment_status::failed;
    unreachable.failure_reason = "gateway_unreachable";
    return unreachable;
  }
  if (r.status >= 200 && r.status < 300) {
    auto rec = decode_stripe_intent(r.body);
    if (auto* rp = std::get_if<gateway_record>(&rec))
      return std::move(*rp);
    return make_error(errc::gateway_unavailable, "Stripe: an unreadable PaymentIntent");
  }
  if (r.status >= 400 && r.status < 500 && r.status != 401 && r.status != 429) {
    gateway_record declined;
    declined.status = payment_status::failed;
    declined.failure_reason = stripe_error_message(r.body);
    if (auto colon = declined.failure_reason.find(':'); colon != std::string::npos)
      declined.failure_reason.resize(colon);
    declined.ref = stripe_error_intent(r.body);
    return declined;
  }
  return unavailable(r);
}

struct worker_state {
  std::unique_ptr<stripe_client> client;
  std::string return_url;
  static inline const char* name = "stripe_worker";
};

caf::behavior stripe_worker(caf::stateful_actor<worker_state>* self, base_url base, std::string secret,
                            std::chrono::milliseconds timeout, std::string return_url, caf::actor pool,
                            std::size_t pages_max) {
  self->state.client = std::make_unique<stripe_client>(std::move(base), std::move(secret), timeout);
  self->state.return_url = std::move(return_url);
  refuse_unknown_jobs(self, pool);
  auto done = [self, pool] { report_done(self, pool); };
  return {
    [self, done](charge_atom, const gateway_charge& c) -> caf::result<gateway_record> {
      form f;
      f.add("amount", std::to_string(c.amount_minor));
      std::string currency = c.currency;
      for (auto& ch : currency)
        ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      f.add("currency", currency).add("confirm", "true").add("payment_method_types[]", "card");
      if (c.capture_later)
        f.add("capture_method", "manual"); // authorized now, captured when the seller ships
      if (c.method.kind == "google_pay")
        f.add("payment_method_data[type]", "card").add("payment_method_data[card][token]", c.method.token);
      else
        f.add("payment_method", c.method.token);
      f.add("metadata[payment_id]", ids::format(c.payment_id)).add("metadata[order_id]", ids::format(c.order_id));
      if (!self->state.return_url.empty())
        f.add("return_url", self->state.return_url); // 3-D Secure then comes back as a redirect URL
      auto reply = self->state.client->call(bhttp::verb::post, "/v1/payment_intents", f.text(),
                                            "livemart-payment-" + ids::format(c.payment_id));
      done();
      return intent_reply(reply);
    },
    [self, done](refund_atom, const gateway_refund& r) -> caf::result<gateway_record> {
      form f;
      f.add("payment_intent", r.payment_ref).add("amount", std::to_string(r.amount_minor));
      auto reply = self->state.client->call(bhttp::verb::post, "/v1/refunds", f.text(),
                                            "livemart-refund-" + ids::format(r.refund_id));
      done();
      if (reply.status >= 200 && reply.status < 300) {
        auto parsed = decode_stripe_refund(reply.body);
        if (auto* rec = std::get_if<gateway_record>(&parsed))
          return std::move(*rec);
        return make_error(errc::gateway_unavailable, "Stripe: an unreadable refund");
      }
      if (reply.status >= 400 && reply.status < 500 && reply.status != 401 && reply.status != 429) {
        gateway_record refused;
        refused.status = payment_status::failed;
        refused.failure_reason = stripe_error_message(reply.body);
        return refused;
      }
      return unavailable(reply);
    },
    [self, done](cancel_atom, const std::string& ref) -> caf::result<gateway_record> {
      auto reply = self->state.client->call(bhttp::verb::post, "/v1/payment_intents/" + ref + "/cancel", "", {});
      if (reply.status >= 400 && reply.status < 500) {
        // Not cancellable (it succeeded meanwhile, say): report what it is.
        reply = self->state.client->call(bhttp::verb::get, "/v1/payment_intents/" + ref, "", {});
      }
      done();
      if (reply.status >= 200 && reply.status < 300)
        return intent_reply(reply);
      return unavailable(reply);
    },
    [self, done](capture_atom, const std::string& ref, std::uint64_t payment_id) -> caf::result<gateway_record> {
      auto reply = self->state.client->call(bhttp::verb::post, "/v1/payment_intents/" + ref + "/capture", "",
                                            "livemart-capture-" + ids::format(payment_id));
      done();
      if (reply.status >= 200 && reply.status < 300)
        return intent_reply(reply);
      if (reply.status >= 400 && reply.status < 500 && reply.status != 401 && reply.status != 429) {
        gateway_record refused;
        refused.ref = ref;
        refused.status = payment_status::failed;
        refused.failure_reason = stripe_error_message(reply.body);
        return refused;
      }
      return unavailable(reply);
    },
    [self, done](get_atom, const std::string& ref) -> caf::result<gateway_record> {
      auto reply = self->state.client->call(bhttp::verb::get, "/v1/payment_intents/" + ref + "?expand[]=latest_charge", "", {});
      done();
      if (reply.status >= 200 && reply.status < 300)
        return intent_reply(reply);
      return unavailable(reply);
    },
    [self, done, pages_max](list_atom, std::int64_t from_s, std::int64_t to_s) -> caf::result<std::vector<gateway_record>> {
      std::vector<gateway_record> out;
      std::string after;
      // At most payments.reconcile_pages_max pages of 100: a window with more is reconciled in parts.
      for (std::size_t page = 0; page < pages_max; ++page) {
        auto target = "/v1/payment_intents?limit=100&expand[]=data.latest_charge&created[gte]=" + std::to_string(from_s)
                      + "&created[lt]=" + std::to_string(to_s) + (after.empty() ? "" : "&starting_after=" + after);
        auto reply = self->state.client->call(bhttp::verb::get, target, "", {});
        if (reply.status < 200 || reply.status >= 300) {
          done();
          return unavailable(reply);
        }
        bool more = false;
        auto parsed = decode_stripe_intent_list(reply.body, more);
        if (auto* p = std::get_if<problem>(&parsed)) {
          done();
          return make_error(errc::gateway_unavailable, "Stripe: " + p->detail);
        }
        auto& items = std::get<std::vector<gateway_record>>(parsed);
        if (items.empty())
          break;
        after = items.back().ref;
        for (auto& rec : items)
          out.push_back(std::move(rec));
        if (!more)
          break;
      }
      done();
      return out;
    },
    [done](put_atom, const caf::actor&) {
      // Stripe reports later outcomes over HTTP (POST /payments/webhook).
      done();
    },
  };
}

} // namespace

gateway_actor spawn_stripe_gateway(caf::actor_system& sys, const conf::settings& cfg) {
  auto base = parse_base_url(cfg.payments.stripe_base_url);
  if (!base)
    throw std::invalid_argument("payments.stripe_base_url must be https://HOST[:PORT][/PATH] (http:// only for 127.0.0.1)");
  worker_pool_options options{"stripe", cfg.payments.gateway_workers, cfg.payments.gateway_queue_max};
  auto secret = cfg.payments.stripe_secret_key;
  auto timeout = std::chrono::milliseconds{cfg.payments.gateway_timeout_ms};
  auto return_url = cfg.payments.return_url;
  auto pages_max = cfg.payments.reconcile_pages_max;
  auto pool = spawn_worker_pool(sys, options, [&sys, base = *base, secret, timeout, return_url,
                                                pages_max](caf::actor owner) {
    return sys.spawn<caf::detached>(stripe_worker, base, secret, timeout, return_url, owner, pages_max);
  });
  return caf::actor_cast<gateway_actor>(pool);
}

} // namespace livemart::http
