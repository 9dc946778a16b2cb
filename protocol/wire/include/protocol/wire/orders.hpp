#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/orders.hpp>
#include <protocol/wire/decoded.hpp>

/// The Order service's JSON wire format: request bodies in, replies out,
/// and the replies stored for an Idempotency-Key.
namespace livemart {

/// {"items": [{"product_id": "...", "quantity": n}, ...], "address_id": "..."}.
/// A product may appear once; other keys (prices included) are refused.
decoded<checkout_request> decode_checkout(std::string_view body, const conf::settings& cfg);

std::string encode(const checkout& c);

/// {"checkout_id": "..."}, or a buy-now's {"items": [...], "address_id": "..."};
/// either may carry "payment_method" or "google_pay_token" (place_request).
decoded<place_request> decode_place(std::string_view body, const conf::settings& cfg);

/// The receipt: the order with its items, shipping address and history.
std::string encode(const order& o);
/// The push to the buyer's channels when an order's status changes:
/// {"type": "order", "order_id", "status", "total_minor", "currency"}.
std::string encode_status_push(const order& o);
/// {"items": [...receipts without history...], "next_cursor"}: newest first;
/// a full page (`limit`) has a cursor (the last id).
std::string encode_order_list(const std::vector<order>& list, std::size_t limit);

/// The bodies of POST /orders/:id/{pay,ship,deliver,cancel,refund}: pay
/// {"payment_method": "pm_..."} or {"google_pay_token": "..."}; ship
/// {"carrier", "tracking_number"}; cancel and deliver {"reason"?}; refund
/// {"amount_minor"?, "reason"?}. An empty body is {} for those without
/// required fields.
decoded<order_command> decode_order_command(order_action action, std::string_view body, const conf::settings& cfg);

/// The reply to a placement: {"checkout_id", "orders": [...]} (one order per
/// seller); checkout_id is null for a direct sale (checkout id 0).
std::string encode_placement(std::uint64_t checkout_id, const std::vector<order>& orders);

/// An outcome stored before, as a replay of the key: placed (the order ids
/// of the stored placement) or refused (the code of the stored problem).
purchase_outcome replayed_outcome(recorded_reply stored);

/// The reply for an outcome: the one it holds (sealed or replayed), else
/// 201 and the placement, or the refusal's status and problem document (as
/// of its origin).
recorded_reply render_outcome(const purchase_outcome& outcome);

/// The outcome with its reply rendered once, in `recorded`: what is stored
/// under the key and sent. Render it again after changing its orders.
purchase_outcome sealed(purchase_outcome outcome);

/// The order ids in a stored placement's document (encode_placement).
std::vector<std::uint64_t> placement_order_ids(std::string_view document);

} // namespace livemart
