// A WebSocket client's text message as the viewer session handles it
// (http/src/ws_session.cpp, ws_session::handle): decode_ws_message with the
// settings the server runs with, the reply that echoes the client's `ref`,
// the hello's token check, and the buy's request and idempotency hash. Beast
// has already unmasked and reassembled the message and refused one over
// ws.message_bytes_max; longer inputs are cut to that size.
//
// Input: the message's text.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/jwt.hpp>
#include <protocol/streams.hpp>
#include <protocol/wire/problem.hpp>
#include <protocol/wire/streams.hpp>

#include "common.hpp"

namespace {

using namespace livemart;
namespace fuzz = livemart::fuzz;

constexpr std::string_view path = "/streams/1/ws";

/// What the session sends back: a reply whose body is already JSON.
void reply(std::string_view ref, int status, std::string_view body_json) {
  fuzz::require_json(encode_ws_reply(ref, status, body_json), "a WebSocket reply");
}

void handle(std::string_view text) {
  const auto& cfg = fuzz::settings();
  auto decoded = decode_ws_message(text, cfg);
  if (auto* p = std::get_if<problem>(&decoded)) {
    fuzz::require_renderable(*p, path);
    reply("", info(p->code).status, render(*p, path, ""));
    return;
  }
  const auto& msg = std::get<ws_client_message>(decoded);
  fuzz::require(msg.ref.size() <= 64, "ref is at most 64 bytes");
  using k = ws_client_message::kind;
  switch (msg.type) {
    case k::hello:
      if (!msg.token.empty()) {
        auto verified = jwt::verify(fuzz::tokens(), msg.token, fuzz::now_s);
        if (auto* c = std::get_if<jwt::claims>(&verified))
          fuzz::require(c->user_id != 0, "a verified token names a user");
      }
      return;
    case k::ping:
      return reply(msg.ref, 200, "{\"type\":\"pong\"}");
    case k::resync:
      return;
    case k::bid:
      fuzz::require(msg.amount_minor >= 1 && msg.amount_minor <= cfg.streams.bid_max_minor,
                    "a bid within 1..streams.bid_max_minor");
      return;
    case k::buy: {
      fuzz::require(msg.address_id != 0, "a buy names an address");
      fuzz::require(!msg.key.empty() && msg.key.size() <= cfg.orders.idempotency_key_bytes_max,
                    "a buy's key within orders.idempotency_key_bytes_max");
      fuzz::require(msg.quantity >= 1 && msg.quantity <= cfg.streams.drop_per_buyer_max,
                    "a buy's quantity within streams.drop_per_buyer_max");
      auto hash = crypto::to_hex(crypto::sha256("ws-buy\n" + ids::format(msg.drop_id) + "\n" + ids::format(msg.address_id)
                                                + "\n" + std::to_string(msg.quantity)));
      fuzz::require(hash.size() == 64, "a SHA-256 in hex");
      auto request = drop_buy_request(msg.address_id, msg.quantity);
      fuzz::require(request.checkout_id == 0, "a drop buy has no checkout");
      return;
    }
  }
  fuzz::require(false, "a decoded message has a known type");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = std::string_view{reinterpret_cast<const char*>(data), size};
  handle(text.substr(0, std::min(text.size(), fuzz::settings().ws.message_bytes_max)));
  return 0;
}
