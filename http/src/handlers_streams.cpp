#include "context.hpp"

#include <charconv>

#include <span>

#include <protocol/crypto.hpp>
#include <protocol/embedded_file.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/streams.hpp>
#include <protocol/clock.hpp>
#include <protocol/wire/streams.hpp>

namespace livemart::http {
extern const std::span<const livemart::embedded_file> web_files;
} // namespace livemart::http

/// Live streams over REST (docs/api.md, "Live streams"). Viewers' pushes
/// travel over the WebSocket (ws_session.cpp); every change here goes to the
/// stream's actor, which checks the owner and commits before answering.
namespace livemart::http {

namespace {

/// Asks the actor of the stream in the `:id` parameter (`on_reply` as for
/// request_context::ask).
template <class OnReply, class... Args>
void ask_stream(const context_ptr& ctx, OnReply on_reply, Args... args) {
  auto id = ctx->path_id("stream");
  if (!id)
    return;
  ctx->ask(ctx->svc().streams.route(*id), std::move(on_reply), *id, std::move(args)...);
}

/// A path parameter other than `:id` as an id (404 naming `what` when malformed).
std::optional<std::uint64_t> other_id(const context_ptr& ctx, std::string_view name, std::string_view what) {
  auto id = ids::parse(ctx->param(name));
  if (!id)
    ctx->respond_problem(make_problem(errc::not_found, "no such " + std::string{what}));
  return id;
}

/// An owner's change answered with the stream as the owner sees it.
template <class... Args>
void owner_change(const context_ptr& ctx, Args... args) {
  if (!ctx->authenticate())
    return;
  ask_stream(ctx, [ctx](const stream_info& s) { ctx->respond_json(200, encode_stream(s, true)); }, args..., ctx->user_id());
}

void reply_keyed(const context_ptr& ctx, int status, const stream_keyed& k) {
  ctx->respond_json(status, encode_stream_with_key(k.stream, k.key, ctx->cfg().streams.ingest_url));
}

std::string encode_stats(const stream_stats& s) {
  json::writer w;
  w.begin_object()
    .field("stream_id", ids::format(s.stream.id))
    .field("status", to_string(s.stream.status))
    .field("viewers", s.stream.viewers)
    .field("peak_viewers", s.stream.peak_viewers)
    .field("unique_viewers", s.stream.unique_viewers)
    .field("orders", s.orders)
    .field("revenue_minor", s.revenue_minor)
    .end_object();
  return w.take();
}

/// The ingest check's fields, from a media server's form (nginx-rtmp's
/// on_publish sends name=<key>&call=publish) or a JSON body.
struct ingest_call {
  std::string key;
  std::string call;
};

std::optional<ingest_call> read_ingest_call(const request& req) {
  ingest_call out;
  std::string_view type = req.header("content-type");
  if (type.substr(0, 16) == "application/json") {
    auto parsed = json::parse(req.body, 4, 16);
    if (!std::holds_alternative<json::value>(parsed))
      return std::nullopt;
    const auto& doc = std::get<json::value>(parsed);
    out.key = doc.string_or("name");
    out.call = doc.string_or("call", "publish");
  } else {
    std::string_view rest = req.body;
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos)
        continue;
      auto name = crypto::percent_decode(pair.substr(0, eq));
      auto value = crypto::percent_decode(pair.substr(eq + 1));
      if (name == "name")
        out.key = std::move(value);
      else if (name == "call")
        out.call = std::move(value);
    }
    if (out.call.empty())
      out.call = "publish";
  }
  if (out.key.empty() || (out.call != "publish" && out.call != "publish_done" && out.call != "done"))
    return std::nullopt;
  return out;
}

/// A file of the viewer page, with its media type and a strict CSP.
void serve_web_file(const context_ptr& ctx, std::string_view name, std::string type) {
  for (const auto& f : web_files) {
    if (f.name != name)
      continue;
    response res;
    res.content_type = std::move(type);
    res.body = std::string{f.contents};
    res.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' https: data:; "
                             "frame-ancestors 'none'; base-uri 'none'");
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    ctx->respond(std::move(res));
    return;
  }
  ctx->respond_problem(make_problem(errc::not_found, "no such file"));
}

} // namespace

void add_stream_routes(router& r) {
  // The viewer page: plain HTML and JavaScript, driven by the stream's WebSocket.
  r.add("GET", "/live/:id", [](const context_ptr& ctx) {
    if (!ctx->path_id("stream"))
      return;
    serve_web_file(ctx, "live.html", "text/html; charset=utf-8");
  });
  r.add("GET", "/static/live.js", [](const context_ptr& ctx) { serve_web_file(ctx, "live.js", "text/javascript; charset=utf-8"); });
  r.add("GET", "/static/live.css", [](const context_ptr& ctx) { serve_web_file(ctx, "live.css", "text/css; charset=utf-8"); });

  // Schedules a stream (or starts it now); the key is shown this once.
  r.add("POST", "/streams", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto draft = ctx->decode_body(decode_stream_draft, ctx->cfg(), wall_clock::now_ms());
    if (!draft)
      return;
    ctx->ask(
      ctx->svc().stream_service, [ctx](const stream_keyed& k) { reply_keyed(ctx, 201, k); }, create_atom::value,
      ctx->user_id(), std::move(*draft));
  });

  // Live streams from their actors: most viewers first.
  r.add("GET", "/streams/live", [](const context_ptr& ctx) {
    std::uint32_t limit = 20;
    std::int64_t after_viewers = 0;
    std::uint64_t after_id = 0;
    auto bad = [ctx](std::string field, std::string message) {
      auto p = make_problem(errc::bad_request, "query parameter \"" + field + "\" " + message);
      p.fields.push_back({std::move(field), std::move(message)});
      ctx->respond_problem(std::move(p));
    };
    if (auto text = ctx->query("limit")) {
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
      if (ec != std::errc{} || end != text->data() + text->size() || limit < 1 || limit > ctx->cfg().streams.live_page_max)
        return bad("limit", "must be a whole number from 1 to " + std::to_string(ctx->cfg().streams.live_page_max));
    }
    if (auto cursor = ctx->query("cursor"); cursor && !cursor->empty()) {
      auto dot = cursor->find('.');
      auto id = dot == std::string::npos ? std::nullopt : ids::parse(std::string_view{*cursor}.substr(dot + 1));
      auto [end, ec] = std::from_chars(cursor->data(), cursor->data() + (dot == std::string::npos ? 0 : dot), after_viewers);
      if (!id || ec != std::errc{} || end != cursor->data() + dot)
        return bad("cursor", "is not a cursor this server issued");
      after_id = *id;
    }
    ctx->ask(
      ctx->svc().stream_index, [ctx](const live_page& page) { ctx->respond_json(200, encode_streams(page.items, page.next_cursor)); },
      list_atom::value, after_viewers, after_id, limit);
  });

  r.add("GET", "/streams/:id", [](const context_ptr& ctx) {
    // The owner (with a token) also sees the ingest state and key version.
    std::uint64_t viewer = 0;
    if (!ctx->req().header("authorization").empty()) {
      if (!ctx->authenticate())
        return;
      viewer = ctx->user_id();
    }
    ask_stream(ctx, [ctx, viewer](const stream_info& s) { ctx->respond_json(200, encode_stream(s, viewer == s.owner_id)); },
               get_atom::value);
  });

  r.add("PATCH", "/streams/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto patch = ctx->decode_body(decode_stream_patch, ctx->cfg(), wall_clock::now_ms());
    if (!patch)
      return;
    ask_stream(ctx, [ctx](const stream_info& s) { ctx->respond_json(200, encode_stream(s, true)); }, update_atom::value,
               ctx->user_id(), std::move(*patch));
  });

  r.add("POST", "/streams/:id/start", [](const context_ptr& ctx) { owner_change(ctx, start_atom::value); });
  r.add("POST", "/streams/:id/end", [](const context_ptr& ctx) { owner_change(ctx, end_atom::value); });

  // A new stream key; the old one stops working at once.
  r.add("POST", "/streams/:id/key", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ask_stream(ctx, [ctx](const stream_keyed& k) { reply_keyed(ctx, 200, k); }, key_atom::value, ctx->user_id());
  });

  r.add("GET", "/streams/:id/stats", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ask_stream(ctx, [ctx](const stream_stats& s) { ctx->respond_json(200, encode_stats(s)); }, stats_atom::value,
               ctx->user_id());
  });

  r.add("POST", "/streams/:id/pin", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto product = ctx->decode_body(decode_pin);
    if (!product)
      return;
    ask_stream(ctx, [ctx](const stream_info& s) { ctx->respond_json(200, encode_stream(s, true)); }, pin_atom::value,
               ctx->user_id(), *product);
  });

  r.add("DELETE", "/streams/:id/pin", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    ask_stream(ctx, [ctx](const stream_info& s) { ctx->respond_json(200, encode_stream(s, true)); }, pin_atom::value,
               ctx->user_id(), std::uint64_t{0});
  });

  r.add("POST", "/streams/:id/drops", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto spec = ctx->decode_body(decode_drop_spec, ctx->cfg());
    if (!spec)
      return;
    ask_stream(ctx, [ctx](const stream_drop& d) { ctx->respond_json(201, encode_drop(d)); }, drop_atom::value,
               ctx->user_id(), *spec);
  });

  r.add("POST", "/streams/:id/drops/:drop_id/end", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto drop = other_id(ctx, "drop_id", "drop");
    if (!drop)
      return;
    ask_stream(ctx, [ctx](const stream_drop& d) { ctx->respond_json(200, encode_drop(d)); }, drop_atom::value,
               ctx->user_id(), *drop);
  });

  // Buys from a drop: an order at the drop's price, like a buy-now
  // (Idempotency-Key required), within the drop's quantity and per-buyer limit.
  r.add("POST", "/streams/:id/drops/:drop_id/buy", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto drop = other_id(ctx, "drop_id", "drop");
    if (!drop)
      return;
    auto key = read_idempotency_key(ctx);
    if (!key)
      return;
    auto request = ctx->decode_body(decode_drop_buy, ctx->cfg());
    if (!request)
      return;
    auto purchase = purchase_key_of(ctx, std::move(*key), purchase_fingerprint(*request, *drop));
    ask_stream(ctx, [ctx](const purchase_outcome& outcome) { respond_outcome(ctx, outcome); }, buy_atom::value,
               *drop, std::move(purchase), std::move(*request));
  }, budget::order_change); // the stream places the order through the order service

  r.add("POST", "/streams/:id/auctions", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto spec = ctx->decode_body(decode_auction_spec, ctx->cfg());
    if (!spec)
      return;
    ask_stream(ctx, [ctx](const stream_auction& a) { ctx->respond_json(201, encode_auction(a)); }, auction_atom::value,
               ctx->user_id(), *spec);
  });

  // A bid; answered once it is committed, with the auction after it.
  r.add("POST", "/streams/:id/auctions/:auction_id/bids", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto auction = other_id(ctx, "auction_id", "auction");
    if (!auction)
      return;
    auto amount = ctx->decode_body(decode_bid, ctx->cfg());
    if (!amount)
      return;
    ask_stream(ctx, [ctx](const stream_auction& a) { ctx->respond_json(201, encode_auction(a)); }, bid_atom::value,
               ctx->user_id(), *auction, *amount);
  });

  // The winner's payment failed: the seller offers the item to the runner-up.
  r.add("POST", "/streams/:id/auctions/:auction_id/offer", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto auction = other_id(ctx, "auction_id", "auction");
    if (!auction)
      return;
    ask_stream(ctx, [ctx](const stream_auction& a) { ctx->respond_json(200, encode_auction(a)); }, offer_atom::value,
               ctx->user_id(), *auction);
  });

  // A seller's streams, newest first; ?upcoming=true: scheduled and live only.
  r.add("GET", "/sellers/:id/streams", [](const context_ptr& ctx) {
    auto id = ctx->path_id("seller");
    if (!id)
      return;
    request_context::page page;
    if (!ctx->read_page(page))
      return;
    auto upcoming = ctx->query("upcoming").value_or("false");
    if (upcoming != "true" && upcoming != "false") {
      auto p = make_problem(errc::bad_request, "query parameter \"upcoming\" must be true or false");
      p.fields.push_back({"upcoming", "must be true or false"});
      ctx->respond_problem(std::move(p));
      return;
    }
    auto limit = page.limit;
    ctx->ask(
      ctx->svc().stream_service,
      [ctx, limit](const std::vector<stream_info>& list) {
        ctx->respond_json(200, encode_streams(list, list.size() == limit ? ids::format(list.back().id) : std::string{}));
      },
      list_atom::value, *id, upcoming == "true", page.after, page.limit);
  });

  // A media server's publish check (nginx-rtmp on_publish / on_publish_done):
  // 204 lets the current key publish while the stream is scheduled or live;
  // anything else is 403. The key names its stream, so no lookup by key.
  r.add("POST", "/ingest/auth", [](const context_ptr& ctx) {
    auto call = read_ingest_call(ctx->req());
    auto refuse = [ctx] { ctx->respond_problem(make_problem(errc::forbidden, "this stream key may not publish")); };
    if (!call) {
      refuse();
      return;
    }
    auto stream = stream_of_key(call->key);
    if (!stream) {
      refuse();
      return;
    }
    bool publishing = call->call == "publish";
    ctx->ask(
      ctx->svc().streams.route(*stream),
      [ctx, refuse](bool allowed) {
        if (allowed)
          ctx->respond_no_content();
        else
          refuse();
      },
      *stream, ingest_atom::value, call->key, publishing);
  });
}

} // namespace livemart::http
