#pragma once

#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/wire/orders.hpp>
#include <actors/registry.hpp>

/// The order service (docs/architecture.md, "Orders"): placing orders under
/// Idempotency-Keys, reading them, routing commands and gateway events to
/// the orders' actors, and the background jobs. One file per role:
///   order_service.cpp   the actor, reads, commands and events, sweeping unpaid orders
///   placement.cpp       placing a checkout, a buy-now or a direct sale, and the key's stored reply
///   reconciliation.cpp  comparing our payments with the gateway's, and repairing
namespace livemart::order_desk {

using tick_atom = caf::atom_constant<caf::atom("idem_tick")>;
using expiry_tick_atom = caf::atom_constant<caf::atom("exp_tick")>;
using reconcile_tick_atom = caf::atom_constant<caf::atom("rec_tick")>;

struct order_context {
  conf::order_settings orders;
  conf::payment_settings payments;
  bool background_jobs;
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds change_timeout; ///< one order change, gateway calls included
  std::chrono::milliseconds reconcile_timeout; ///< listing a window's payments at the gateway (up to 100 pages)
  persistence::database db;
  product_directory products;
  user_directory users;
  checkout_actor checkouts;
  order_directory order_actors;
  gateway_actor gateway;
};

using key_type = std::pair<std::uint64_t, std::string>; ///< user, Idempotency-Key

/// A placement in progress: later requests with its key wait for its reply.
struct in_flight {
  std::string request_hash;
  std::vector<caf::typed_response_promise<purchase_outcome>> waiting;
};

struct order_state {
  std::map<key_type, in_flight> placing;
  static inline const char* name = "orders";
};

using order_pointer = order_service_actor::stateful_pointer<order_state>;
using context_ptr = std::shared_ptr<const order_context>;

/// What a placement request needs to know about itself.
struct placement {
  purchase_key key;
  place_request body;
  /// A buy-now's own checkout (made for its key): its lines. A refusal of
  /// its placement releases its holds in the transaction that stores it.
  std::size_t buy_now_lines = 0;

  key_type waiting_key() const { return {key.buyer, key.key}; }
};

purchase_outcome refusal(problem p, const placement& req);
caf::error unrecorded();
caf::error mismatch();
void finish(order_pointer self, const key_type& key, const purchase_outcome& outcome);
void fail(order_pointer self, const key_type& key, const caf::error& err);
void replay_stored(order_pointer self, const context_ptr& ctx, const placement& req);
void record_and_finish(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome outcome);
void announce(order_pointer self, const context_ptr& ctx, const db_rows& rows, stock_kind kind);
void release_and_record(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome refusal);
void refuse_placement(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome refusal);
void placement_failed(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err);
void place(order_pointer self, const context_ptr& ctx, const placement& req);
void pay_placed(order_pointer self, const context_ptr& ctx, const placement& req, const purchase_outcome& placed);
void buy_now_refused(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err);
void buy_now(order_pointer self, const context_ptr& ctx, placement req);
void direct_sale(order_pointer self, const context_ptr& ctx, const placement& req);
void sweep_due(order_pointer self, const context_ptr& ctx, caf::typed_response_promise<std::uint64_t> rp);
void route_event(order_pointer self, const context_ptr& ctx, const gateway_event& ev, caf::typed_response_promise<std::string> rp);
void reconcile(order_pointer self, const context_ptr& ctx, std::int64_t from_s, std::int64_t to_s, bool repair, caf::typed_response_promise<reconcile_report> rp);
caf::result<purchase_outcome> accept_refusal(order_pointer self, const context_ptr& ctx, const purchase_key& key, const caf::error& refused);
caf::result<purchase_outcome> accept_placement(order_pointer self, const context_ptr& ctx, const purchase_key& key, const place_request& body);

} // namespace livemart::order_desk
