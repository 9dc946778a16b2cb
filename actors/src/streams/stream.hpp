#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/all.hpp>

#include <actors/registry.hpp>
#include "../fence.hpp"
#include <actors/services.hpp>
#include <persistence/database.hpp>
#include <persistence/stream_statements.hpp>
#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/stream_rules.hpp>
#include <protocol/clock.hpp>

/// Live streams, the parts one stream's actor is made of (docs/architecture.md,
/// "Live streams"). One file per role:
///   stream_actor.cpp   the actor: loading, passivation, status, featured products, viewers
///   pushes.cpp         what viewers receive: snapshots, coalesced state pushes, events
///   drops.cpp          drops: limited quantities at a price, bought over REST or the socket
///   auctions.cpp       auctions: bids in batches, extension, close and the winner's order
///   stream_service.cpp the live index, scheduling streams, and starting the live ones
namespace livemart::streams {

using wall_clock::now_ms; // every deadline of a stream reads the one wall clock
using wall_clock::now_us;

/// Internal timers of a stream actor: (tick_atom, kind, generation). They
/// go through the default handler, outside the public interface.
using tick_atom = caf::atom_constant<caf::atom("st_tick")>;
enum class tick : std::uint8_t { idle = 0, push = 1, drop = 2, close = 3, ingest = 4 };

struct stream_context {
  conf::stream_settings cfg;
  auction_rules rules; ///< increments and anti-sniping (streams.bid_increments, auction_extend_*)
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds order_timeout; ///< a placement by the order service
  persistence::database db;
  product_directory products;
  user_directory users;
  order_service_actor orders;
  stream_index_actor index;
};
using context_ptr = std::shared_ptr<const stream_context>;

/// Reads the products in `list` from their actors; `done(error or none,
/// products)` runs in `self`. A missing product is a 422 naming `field`
/// (ownership is checked by the caller, see foreign_product).
template <class Self, class Done>
void fetch_products(Self* self, const context_ptr& ctx, const std::vector<std::uint64_t>& list, std::string field,
                    Done done) {
  struct gather {
    std::vector<product> found;
    std::optional<caf::error> failed;
    std::size_t waiting = 0;
  };
  if (list.empty()) {
    done(std::optional<caf::error>{}, std::vector<product>{});
    return;
  }
  auto g = std::make_shared<gather>();
  g->waiting = list.size();
  auto one_done = [g, done]() mutable {
    if (--g->waiting == 0)
      done(g->failed, g->found);
  };
  auto failed = [g, field](std::uint64_t id, const caf::error& err) {
    if (g->failed)
      return;
    if (to_problem(err).code == errc::not_found)
      g->failed = make_error(errc::validation_failed, "invalid fields: " + field,
                             {field_error{field, "product " + ids::format(id) + " does not exist"}});
    else
      g->failed = err;
  };
  for (auto id : list) {
    self->request(ctx->products.route(id), ctx->step_timeout, id, get_atom::value)
      .then(
        [g, one_done](const product& p) mutable {
          g->found.push_back(p);
          one_done();
        },
        [id, one_done, failed](caf::error& err) mutable {
          failed(id, err);
          one_done();
        });
  }
}

/// The ownership check of fetch_products' result.
std::optional<caf::error> foreign_product(const std::vector<product>& found, std::uint64_t seller_id,
                                          const std::string& field);

/// Reads the products in `list` and checks they are `seller`'s own and
/// not archived; answers `rp` with the problem (a 422 naming `field`), or
/// runs `then(products)`.
template <class Self, class Promise, class Then>
void with_own_products(Self* self, const context_ptr& ctx, std::uint64_t seller, const std::vector<std::uint64_t>& list,
                       const std::string& field, Promise rp, Then then) {
  fetch_products(self, ctx, list, field,
                 [rp, then, seller, field](std::optional<caf::error> err, const std::vector<product>& found) mutable {
                   if (!err)
                     err = foreign_product(found, seller, field);
                   if (err)
                     rp.deliver(*err);
                   else
                     then(found);
                 });
}

struct pending_bid {
  std::uint64_t bidder = 0;
  std::int64_t amount = 0;
  std::int64_t at_ms = 0;
  caf::typed_response_promise<stream_auction> rp;
};

/// A state push not sent yet: when its oldest and its newest change
/// committed, when the key was last pushed.
struct push_slot {
  std::int64_t first_change_us = 0;
  std::int64_t last_change_us = 0;
  std::chrono::steady_clock::time_point last_push{};
  bool due = false;
};

struct stream_state {
  // Not an aggregate: CAF 0.17 builds a state from the actor's pointer when
  // it can, and C++20 would then initialise the first member from it.
  stream_state() = default;
  entity_fence fence; ///< every write carries it (fenced): none without a cluster
  bool exists = false;
  caf::error load_error;
  stream_info info;
  std::string key_hash;
  std::uint64_t seq = 0; ///< events that cannot be coalesced, so far
  caf::group viewers;
  caf::actor relay;
  std::unordered_map<std::uint64_t, stream_product> products;
  std::unordered_set<std::uint64_t> updated; ///< products with a pushed update (newer than any read)
  std::map<std::string, push_slot> pushes;  ///< by coalescing key
  bool push_tick_armed = false;
  // Viewers, reported by the hubs of each node.
  std::map<caf::actor_addr, std::int64_t> hubs;
  /// The hubs of other nodes (monitored): pushes go to each directly, in
  /// the order they are made, since this node's group does not reach them.
  std::map<caf::actor_addr, caf::actor> remote_hubs;
  std::unordered_set<std::uint64_t> unique_users;
  std::int64_t anonymous_joins = 0;
  bool stats_dirty = false;
  // The current (or last) drop.
  std::optional<stream_drop> drop;
  std::unordered_map<std::uint64_t, std::int64_t> bought; ///< units per buyer
  std::set<std::pair<std::uint64_t, std::string>> buying; ///< (buyer, key) in flight
  /// Purchases whose outcome is unknown, by (buyer, key): their units stay
  /// taken, and a retry with the key uses them instead of taking more.
  std::map<std::pair<std::uint64_t, std::string>, std::int64_t> unsettled;
  std::size_t buys_in_flight = 0;
  // The current (or last) auction.
  std::optional<stream_auction> auction;
  std::vector<pending_bid> bids;
  bool bid_writing = false;
  bool closing = false;
  std::unordered_map<std::uint64_t, std::string> bidders; ///< with an address on file: display name
  std::uint64_t drop_generation = 0;
  std::uint64_t auction_generation = 0;
  std::uint64_t ingest_generation = 0;
  std::chrono::steady_clock::time_point last_activity;
  bool retiring = false;
  static inline const char* name = "stream";
};

using stream_pointer = stream_actor::stateful_pointer<stream_state>;

/// Outcome of a change made for someone who may or may not wait for it.
using done_fn = std::function<void(const caf::error*)>;

/// Writes `cmd` (the stream's row and what goes with it) and waits for it:
/// nothing else is handled meanwhile, so every change sees the one before.
template <class OnDone, class OnError>
void commit(stream_pointer self, const context_ptr& ctx, db_command cmd, OnDone on_done, OnError on_error) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
    .await([on_done](const db_result&) mutable { on_done(); }, [on_error](caf::error& err) mutable { on_error(err); });
}

// -- stream_actor.cpp --------------------------------------------------------------------------

caf::behavior group_relay(caf::event_based_actor* self, caf::actor target);
void arm(stream_pointer self, tick kind, std::uint64_t generation, std::chrono::milliseconds after);
std::optional<caf::error> unusable(const stream_state& st);
std::optional<caf::error> not_owner(const stream_state& st, std::uint64_t user);
caf::error wrong_status(const stream_state& st, std::string_view wanted);
bool is_open(const stream_state& st);
/// A passivating actor ends once nothing it started is still running.
void quit_if_done(stream_pointer self);
std::vector<std::uint64_t> with_featured(std::vector<std::uint64_t> featured, std::uint64_t id);
void finish_stream(stream_pointer self, const context_ptr& ctx, stream_status to, std::string reason, done_fn done);
stream_actor spawn_stream(caf::actor_system& sys, std::uint64_t id, stream_registry_actor registry, const context_ptr& ctx,
                          const entity_fence& fence);

// -- pushes.cpp --------------------------------------------------------------------------------

void send_push(stream_pointer self, std::string key, std::string json, std::int64_t at_us);
/// An event that is never replaced by a later one: the next sequence number.
void event(stream_pointer self, std::string_view type, std::string_view field = {}, std::string_view payload = {});
void list_in_index(stream_pointer self, const context_ptr& ctx);
/// A state changed: pushes it at once, or when its key's interval has
/// passed since its last push.
void state_changed(stream_pointer self, const context_ptr& ctx, const std::string& key, std::int64_t at_us = 0);
void push_due(stream_pointer self, const context_ptr& ctx);
std::string product_key(std::uint64_t id);
void watch_product(stream_pointer self, const context_ptr& ctx, std::uint64_t id);
void watch_all(stream_pointer self, const context_ptr& ctx);
stream_snapshot snapshot_of(const stream_state& st);
/// The hub that sent the current message, if it runs on another node,
/// hears this stream's pushes from now on (see remote_hubs).
void follow_sender_hub(stream_pointer self);
/// A hub is gone (its node too, perhaps): its viewers no longer count.
void forget_hub(stream_pointer self, const context_ptr& ctx, const caf::actor_addr& hub);
/// The viewer count from the hubs' reports, pushed when it changed.
void count_viewers(stream_pointer self, const context_ptr& ctx);
void user_push(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const std::string& json);
std::string personal_event(std::string_view type, const stream_state& st, const stream_auction& a);

// -- drops.cpp ---------------------------------------------------------------------------------

void end_drop(stream_pointer self, const context_ptr& ctx, std::string reason,
              std::optional<caf::typed_response_promise<stream_drop>> rp);
caf::result<stream_drop> start_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const drop_spec& spec);
caf::result<stream_drop> stop_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t user, std::uint64_t drop_id);
caf::result<purchase_outcome> buy_from_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t drop_id,
                                             const purchase_key& key, place_request req);

// -- auctions.cpp ------------------------------------------------------------------------------

void try_close(stream_pointer self, const context_ptr& ctx);
caf::result<stream_auction> open_auction(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const auction_spec& spec);
caf::result<stream_auction> place_bid(stream_pointer self, const context_ptr& ctx, std::uint64_t bidder, std::uint64_t auction_id, std::int64_t amount);
caf::result<stream_auction> offer_to_runner_up(stream_pointer self, const context_ptr& ctx, std::uint64_t user, std::uint64_t auction_id);

} // namespace livemart::streams
