#pragma once

#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <actors/registry.hpp>
#include "../fence.hpp"

#include <cassert>
#include <deque>
#include <functional>
#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/clock.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>

/// One order's actor (docs/architecture.md, "Orders"). One file per role:
///   order_actor.cpp  the actor: loading, its queue of changes, commands, passivation
///   transitions.cpp  moving the order: the transition statement, cancel, expire, refund, capture
///   payments.cpp     the gateway: paying, refunding, stopping an open payment, gateway events
namespace livemart::orders {

using tick_atom = caf::atom_constant<caf::atom("order_tick")>;

struct order_context {
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds gateway_timeout;
  std::chrono::milliseconds idle;
  std::size_t queue_max;
  std::string gateway_name;
  bool capture_on_ship; ///< payments.capture=on_ship: authorize when paid, capture when shipped
  persistence::database db;
  product_directory products;
  user_directory users;
  gateway_actor gateway;
};
using context_ptr = std::shared_ptr<const order_context>;

/// A change waiting for its turn: a command from a user, a gateway event,
/// or the refund of a payment that succeeded when it was no longer needed.
struct job {
  enum kind_t { command, event, surplus } kind = command;
  std::uint64_t user = 0;
  order_command cmd;
  gateway_event ev;
  std::uint64_t payment_id = 0; ///< surplus
  caf::typed_response_promise<order> order_rp;
  caf::typed_response_promise<std::string> event_rp;
};

struct order_state {
  // Not an aggregate: CAF 0.17 builds a state from the actor's pointer when
  // it can, and C++20 would then initialise the first member from it.
  order_state() = default;
  entity_fence fence; ///< every write carries it (fenced): none without a cluster
  bool loaded = false;
  bool exists = false;
  caf::error load_error;
  order o;
  std::deque<job> queue;
  bool busy = false;
  bool needs_reload = false; ///< a write's outcome is unknown: read the order again before the next change
  bool retiring = false;
  std::chrono::steady_clock::time_point last_activity;
  order_status announced = order_status::pending; ///< the status the buyer's channel heard of last
  static inline const char* name = "order";
};

using order_pointer = order_actor::stateful_pointer<order_state>;

/// Records the refund statements' effect in the actor's copy.
using refund_finish = std::function<void(std::vector<db_statement>, std::shared_ptr<job>, std::int64_t)>;

void announce_status(order_pointer self, const context_ptr& ctx);
void done(order_pointer self, const context_ptr& ctx);
void fail(order_pointer self, const context_ptr& ctx, job& j, caf::error err);
void succeed(order_pointer self, const context_ptr& ctx, job& j);
void load(order_pointer self, const context_ptr& ctx, std::function<void()> then);
void run_command(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, order_party party);
void with_party(order_pointer self, const context_ptr& ctx, std::uint64_t user, std::function<void(std::optional<order_party>)> then);
void next(order_pointer self, const context_ptr& ctx);
caf::error unusable(const order_state& st);
order_actor spawn_order(caf::actor_system& sys, std::uint64_t id, order_registry_actor registry, const context_ptr& ctx,
                        const entity_fence& fence);
db_statement move_statement(const order& o, order_status to, std::uint64_t actor, const std::string& reason);
void apply_move(order& o, order_status to, const std::string& reason, const db_rows& rows);
void announce_returns(const context_ptr& ctx, order_pointer self, const db_rows& rows);
payment* find_payment(order& o, const std::function<bool(const payment&)>& pred);
std::vector<std::uint64_t> fresh_ids(std::size_t n);
std::size_t distinct_products(const order& o);
void cancel(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);
void refund(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);
void refund_surplus(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);
void capture_then_ship(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::uint64_t payment_id);
void give_back(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::uint64_t payment_id, std::int64_t amount, std::string reason, refund_finish finish);
void note_refund(order& o, std::uint64_t payment_id, std::int64_t amount, bool of_the_order = true);
void stop_open_payment(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::function<void()> then);
void pay(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);
void charge(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);
void apply_event(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);

} // namespace livemart::orders
