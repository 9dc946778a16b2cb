#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/payments.hpp>
#include <protocol/problem.hpp>
#include <protocol/users.hpp>

/// The Order service's domain types and their rules (their JSON:
/// protocol/wire/orders.hpp).
namespace livemart {

/// What a buyer asks for: quantities only. Prices, titles and sellers come
/// from the products, never from the client.
struct checkout_item {
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
};

struct checkout_request {
  std::vector<checkout_item> items;
  std::uint64_t address_id = 0;
  /// A buy-now's checkout carries the request's Idempotency-Key and hash,
  /// so that a retry finds it again (empty for POST /orders/checkout).
  std::string idempotency_key;
  std::string request_hash;
};

/// A line with the snapshot taken at checkout.
struct checkout_line {
  std::uint64_t product_id = 0;
  std::uint64_t seller_id = 0;
  std::string title;
  std::int64_t unit_price_minor = 0;
  std::int64_t quantity = 0;
};

enum class checkout_status : std::uint8_t { open = 0, placed = 1, expired = 2, failed = 3 };
std::string_view to_string(checkout_status s);

struct checkout {
  std::uint64_t id = 0;
  std::uint64_t buyer_id = 0;
  std::uint64_t address_id = 0;
  std::vector<checkout_line> lines;
  std::string currency;
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
  std::int64_t total_minor = 0;
  checkout_status status = checkout_status::open;
  std::int64_t expires_at_ms = 0;
};

/// Subtotal and shipping of `lines`: shipping is charged per seller
/// (orders.shipping_per_seller_minor), free from a seller subtotal of
/// orders.free_shipping_from_minor.
struct seller_share {
  std::uint64_t seller_id = 0;
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
};
struct checkout_totals {
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
  std::vector<seller_share> sellers; ///< by seller id: each becomes that seller's order
};
checkout_totals price_checkout(const std::vector<checkout_line>& lines, const conf::order_settings& cfg);

/// {"checkout_id": "..."}: place the checkout as orders; or, for a one-tap
/// buy-now, {"items": [...], "address_id": "..."} as for a checkout, which
/// is checked out and placed at once. Either may carry a payment method
/// ("payment_method" or "google_pay_token", as for paying an order), which
/// pays every order of the placement at once.
struct place_request {
  std::uint64_t checkout_id = 0; ///< 0: buy now from `items`
  checkout_request items;
  payment_method method;         ///< optional: pay each order at once (method.kind empty: later)
  /// Set only by a drop's stream actor, never decoded: the drop (0: none)
  /// and its price (negative: the product's price).
  std::uint64_t drop_id = 0;
  std::int64_t drop_price_minor = -1;
};

/// The fingerprint of a purchase made under an Idempotency-Key, one rule
/// for every way to buy (POST /orders, a drop over REST, a drop over the
/// WebSocket): the decoded request, written out canonically, and the drop
/// as the buyer named it (0: none, or the current one). Reusing a key with
/// another fingerprint is refused (409); the same request is the same
/// fingerprint however its JSON was spelled.
std::string purchase_fingerprint(const place_request& req, std::uint64_t drop_named = 0);

enum class order_status : std::uint8_t { pending = 0, confirmed = 1, shipped = 2, delivered = 3, cancelled = 4, refunded = 5 };
std::string_view to_string(order_status s);
bool from_string(std::string_view text, order_status& out);

struct order_item {
  std::uint64_t product_id = 0;
  std::string title;
  std::int64_t unit_price_minor = 0;
  std::int64_t quantity = 0;
};

/// What someone may do to an order after it was placed.
enum class order_action : std::uint8_t { pay = 0, ship = 1, deliver = 2, cancel = 3, refund = 4, expire = 5 };
std::string_view to_string(order_action a);

/// Who acts on an order, as the order's actor determines it from the user.
enum class order_party : std::uint8_t { buyer = 0, seller = 1, admin = 2, system = 3 };

/// The order state machine: what `action` by `party` does to an order in
/// `from`. `allowed` false: `code` is forbidden (this party may never do it)
/// or conflict (not in this status), with `why` naming the current status.
/// Pay moves to confirmed only once the payment succeeds; refund stays
/// possible from refunded while money remains (partial refunds).
struct transition_rule {
  bool allowed = false;
  order_status to = order_status::pending;
  errc code = errc::conflict;
  std::string why;
};
transition_rule order_transition_rule(order_status from, order_action action, order_party party);

/// True when some party's action moves an order from `from` to `to`: the
/// edges of the state machine above.
bool order_edge(order_status from, order_status to);

struct order_transition {
  std::string from; ///< empty for the first
  std::string to;
  std::string reason;
  std::int64_t at_ms = 0;
};

/// One seller's part of a placed checkout.
struct order {
  std::uint64_t id = 0;
  std::uint64_t checkout_id = 0;
  std::uint64_t buyer_id = 0;
  std::uint64_t seller_id = 0;
  order_status status = order_status::pending;
  std::string currency;
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
  std::int64_t total_minor = 0;
  std::vector<order_item> items;
  // As read back (not known at placement):
  std::uint64_t seller_user_id = 0;   ///< who may act as the seller; never sent
  std::string shipping_address_json;  ///< the copy taken at checkout, as JSON
  std::vector<order_transition> history;
  std::string carrier;          ///< set when shipped
  std::string tracking_number;
  std::int64_t refunded_minor = 0;
  std::int64_t payment_due_ms = 0; ///< a pending order is cancelled if unpaid by then (its checkout's hold)
  std::vector<payment> payments; ///< attempts, oldest first
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int32_t version = 0;
};

/// Whether an order waits for a payment that is overdue at `now_ms`: a
/// pending order whose hold ended (payment_due_ms). Only such an order
/// expires; one paid at the last moment does not.
bool payment_overdue(const order& o, std::int64_t now_ms);

/// A change to a placed order, as the HTTP layer decoded it.
struct order_command {
  order_action action = order_action::cancel;
  std::string reason;
  std::string carrier;         ///< ship
  std::string tracking_number; ///< ship
  std::int64_t amount_minor = 0; ///< refund; 0: everything not refunded yet
  payment_method method;       ///< pay
};

/// A one-tap buy-now of a single product: sold by the product's actor,
/// which writes the sales that arrive together in one batch (no checkout).
struct sale_request {
  std::uint64_t buyer_id = 0;
  std::uint64_t address_id = 0;
  std::int64_t quantity = 0;
  std::string key; ///< Idempotency-Key
  std::string request_hash;
  /// Set only by a drop's stream actor, never from a request: the drop
  /// (0: none) and its price (negative: the product's price).
  std::uint64_t drop_id = 0;
  std::int64_t unit_price_minor = -1;
};
/// A reply stored for an Idempotency-Key: the status and the bytes sent.
/// Opaque to the domain; only the edge sends it.
struct recorded_reply {
  std::int32_t status = 0;
  std::string body;
};

enum class sale_outcome : std::uint8_t {
  placed = 0,  ///< the order, committed with the outcome stored for the key
  replay = 1,  ///< the key was used before: nothing was sold
  address = 2, ///< the address is not the buyer's: nothing was sold
};
struct sale_result {
  sale_outcome outcome = sale_outcome::placed;
  order placed;
  recorded_reply reply; ///< placed: the placement stored under the key
};

/// The request a purchase came from: its path and id. Kept with a refusal,
/// so that every replay of the key shows the problem the first request got.
struct request_origin {
  std::string path;
  std::string request_id;
};

/// What a purchase under an Idempotency-Key is about: who, which key, which
/// request (its fingerprint, purchase_fingerprint) and where it came from.
struct purchase_key {
  std::uint64_t buyer = 0;
  std::string key;
  std::string request_hash;
  request_origin origin;
};

/// The one outcome of a purchase under an Idempotency-Key, as the domain
/// decides it: the orders placed, or a refusal. A failure that is not an
/// outcome (the database away, a timeout) is an error instead and never
/// stored. The domain renders an outcome once, when it is decided
/// (sealed, protocol/wire/orders.hpp), and keeps the bytes in `recorded`:
/// persistence stores them under the key and the edge sends them, so a
/// key's replies, fresh or replayed, are the same bytes.
struct purchase_outcome {
  bool placed = false;   ///< orders exist under the key (made now or by an earlier request)
  bool fresh = false;    ///< this request placed them
  bool replayed = false; ///< the key's outcome was stored before: `recorded`
  std::uint64_t checkout_id = 0;        ///< placed now: 0 for a direct sale
  std::vector<order> orders;            ///< placed now, as placed (and paid)
  std::vector<std::uint64_t> order_ids; ///< placed, now or before
  problem refusal;                      ///< refused now
  request_origin origin;                ///< refused now: the request that decided it
  recorded_reply recorded;              ///< sealed or replayed: the reply stored under the key

  static purchase_outcome placement(std::uint64_t checkout_id, std::vector<order> orders);
  static purchase_outcome refused(problem p, request_origin origin);
};

} // namespace livemart
