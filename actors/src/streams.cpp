#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <actors/registry.hpp>

#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include <persistence/stream_statements.hpp>
#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>

/// Live streams: one actor per stream (its registry passivates streams that
/// are not live), the live index, and the service that schedules streams.
/// See docs/architecture.md, "Live streams".
namespace livemart {
namespace {

/// Internal timers of a stream actor: (tick_atom, kind, generation). They
/// go through the default handler, outside the public interface.
using tick_atom = caf::atom_constant<caf::atom("st_tick")>;
enum class tick : std::uint8_t { idle = 0, push = 1, drop = 2, close = 3, ingest = 4 };

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct stream_context {
  conf::stream_settings cfg;
  std::vector<conf::increment_tier> tiers;
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
                                          const std::string& field) {
  for (const auto& p : found)
    if (p.seller_id != seller_id || p.status == product_status::archived)
      return make_error(errc::validation_failed, "invalid fields: " + field,
                        {field_error{field, "product " + ids::format(p.id) + " is not one of your active products"}});
  return std::nullopt;
}

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

/// Forwards the stock updates of the products a stream features: typed
/// actors cannot join groups in CAF 0.17, so this small actor does.
caf::behavior group_relay(caf::event_based_actor* self, caf::actor target) {
  return {
    [self](join_atom, const std::string& group) { self->join(self->home_system().groups().get_local(group)); },
    [self, target](const stock_update& u) { self->send(target, u); },
  };
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

void arm(stream_pointer self, tick kind, std::uint64_t generation, std::chrono::milliseconds after) {
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::max(after, std::chrono::milliseconds{0}),
                         tick_atom::value, static_cast<std::uint8_t>(kind), generation);
}

std::optional<caf::error> unusable(const stream_state& st) {
  if (st.load_error)
    return st.load_error;
  if (!st.exists)
    return make_error(errc::not_found, "no such stream");
  return std::nullopt;
}

std::optional<caf::error> not_owner(const stream_state& st, std::uint64_t user) {
  if (auto err = unusable(st))
    return err;
  if (user != st.info.owner_id)
    return make_error(errc::forbidden, "only the stream's seller may do this");
  return std::nullopt;
}

caf::error wrong_status(const stream_state& st, std::string_view wanted) {
  return make_error(errc::conflict, "the stream is " + std::string{to_string(st.info.status)} + "; this needs it " +
                                      std::string{wanted});
}

bool is_open(const stream_state& st) {
  return st.info.status == stream_status::scheduled || st.info.status == stream_status::live;
}

/// A passivating actor ends once nothing it started is still running.
void quit_if_done(stream_pointer self) {
  auto& st = self->state;
  if (st.retiring && !st.bid_writing && st.bids.empty() && st.buys_in_flight == 0 && !st.closing)
    self->quit();
}

// -- pushes -------------------------------------------------------------------------

void send_push(stream_pointer self, std::string key, std::string json, std::int64_t at_us) {
  auto& st = self->state;
  caf::anon_send(st.viewers, stream_push{std::move(key), std::move(json), st.seq, at_us});
}

/// An event that is never replaced by a later one: the next sequence number.
void event(stream_pointer self, std::string_view type, std::string_view field = {}, std::string_view payload = {}) {
  auto& st = self->state;
  ++st.seq;
  auto at = now_us();
  send_push(self, {}, encode_event_push(type, st.seq, field, payload, at), at);
}

void list_in_index(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (st.info.status == stream_status::live)
    self->send(ctx->index, put_atom::value, st.info);
  else
    self->send(ctx->index, delete_atom::value, st.info.id);
}

/// Sends the state push of `key` now.
void push_state(stream_pointer self, const context_ptr& ctx, const std::string& key) {
  auto& st = self->state;
  auto& slot = st.pushes[key];
  // at_us: when the value shown committed; first_at_us: the oldest change
  // this message stands for (the others were replaced by it).
  auto at = slot.last_change_us != 0 ? slot.last_change_us : now_us();
  auto first = slot.first_change_us != 0 ? slot.first_change_us : at;
  slot.first_change_us = 0;
  slot.last_change_us = 0;
  slot.due = false;
  slot.last_push = std::chrono::steady_clock::now();
  if (key == "viewers") {
    send_push(self, key, encode_viewers_push(st.info.viewers, st.seq), at);
    list_in_index(self, ctx);
  } else if (auto id = ids::parse(std::string_view{key}.substr(2)); id) { // "p:<id>"
    // A drop's remaining units travel with its product's stock: one
    // message for one purchase.
    auto drop = st.drop && st.drop->product_id == *id ? encode_drop(*st.drop) : std::string{};
    if (auto it = st.products.find(*id); it != st.products.end())
      send_push(self, key, encode_product_push(it->second, st.seq, at, first, now_us(), drop), at);
  }
}

/// A state changed: pushes it at once, or when its key's interval has
/// passed since its last push (so a product's stock reaches viewers at
/// most every streams.push_interval_ms, always with the latest value).
void state_changed(stream_pointer self, const context_ptr& ctx, const std::string& key, std::int64_t at_us = 0) {
  auto& st = self->state;
  auto& slot = st.pushes[key];
  auto at = at_us != 0 ? at_us : now_us();
  if (slot.first_change_us == 0)
    slot.first_change_us = at;
  slot.last_change_us = at;
  auto interval = std::chrono::milliseconds{key == "viewers" ? ctx->cfg.viewer_push_interval_ms : ctx->cfg.push_interval_ms};
  auto since = std::chrono::steady_clock::now() - slot.last_push;
  if (interval.count() == 0 || since >= interval) {
    push_state(self, ctx, key);
    return;
  }
  slot.due = true;
  if (!st.push_tick_armed) {
    st.push_tick_armed = true;
    arm(self, tick::push, 0, std::chrono::duration_cast<std::chrono::milliseconds>(interval - since) + std::chrono::milliseconds{1});
  }
}

void push_due(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  st.push_tick_armed = false;
  auto now = std::chrono::steady_clock::now();
  std::optional<std::chrono::milliseconds> next;
  std::vector<std::string> ready;
  for (auto& [key, slot] : st.pushes) {
    if (!slot.due)
      continue;
    auto interval = std::chrono::milliseconds{key == "viewers" ? ctx->cfg.viewer_push_interval_ms : ctx->cfg.push_interval_ms};
    auto since = now - slot.last_push;
    if (since >= interval) {
      ready.push_back(key);
    } else {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(interval - since) + std::chrono::milliseconds{1};
      next = next ? std::min(*next, wait) : wait;
    }
  }
  for (const auto& key : ready)
    push_state(self, ctx, key);
  if (next) {
    st.push_tick_armed = true;
    arm(self, tick::push, 0, *next);
  }
}

std::string product_key(std::uint64_t id) {
  return "p:" + ids::format(id);
}

/// Starts following a product: its updates come through the relay, its
/// current state from its actor.
void watch_product(stream_pointer self, const context_ptr& ctx, std::uint64_t id) {
  auto& st = self->state;
  if (id == 0 || st.products.count(id) != 0)
    return;
  st.products[id].id = id;
  caf::anon_send(st.relay, join_atom::value, product_group_name(id));
  self->request(ctx->products.route(id), ctx->step_timeout, id, get_atom::value)
    .then(
      [self, ctx, id](const product& p) {
        auto& s = self->state;
        auto& sp = s.products[id];
        sp.title = p.title;
        sp.image_url = p.image_urls.empty() ? std::string{} : p.image_urls.front();
        sp.currency = p.currency;
        if (s.updated.count(id) == 0) { // an update that came first is newer
          sp.price_minor = p.price_minor;
          sp.available = p.stock;
        }
        state_changed(self, ctx, product_key(id));
      },
      [](caf::error&) {});
}

void watch_all(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  for (auto id : st.info.featured)
    watch_product(self, ctx, id);
  watch_product(self, ctx, st.info.pinned);
  if (st.drop)
    watch_product(self, ctx, st.drop->product_id);
  if (st.auction)
    watch_product(self, ctx, st.auction->product_id);
}

stream_snapshot snapshot_of(const stream_state& st) {
  std::vector<stream_product> products;
  for (auto id : st.info.featured)
    if (auto it = st.products.find(id); it != st.products.end())
      products.push_back(it->second);
  return {st.seq, encode_snapshot(st.info, products, st.drop, st.auction, st.seq)};
}

/// Writes `cmd` (the stream's row and what goes with it) and waits for it:
/// nothing else is handled meanwhile, so every change sees the one before.
template <class OnDone, class OnError>
void commit(stream_pointer self, const context_ptr& ctx, db_command cmd, OnDone on_done, OnError on_error) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
    .await([on_done](const db_result&) mutable { on_done(); }, [on_error](caf::error& err) mutable { on_error(err); });
}

std::vector<std::uint64_t> with_featured(std::vector<std::uint64_t> featured, std::uint64_t id) {
  if (id != 0 && std::find(featured.begin(), featured.end(), id) == featured.end())
    featured.push_back(id);
  return featured;
}

// -- status changes ---------------------------------------------------------------------

/// Outcome of a change made for someone who may or may not wait for it.
using done_fn = std::function<void(const caf::error*)>;

void go_live(stream_pointer self, const context_ptr& ctx, done_fn done) {
  auto& st = self->state;
  auto next = st.info;
  next.status = stream_status::live;
  next.started_at_ms = now_ms();
  next.ended_at_ms = 0;
  commit(
    self, ctx, db_command{{persistence::stream_save(next, st.key_hash)}},
    [self, ctx, next, done]() mutable {
      auto& s = self->state;
      s.info = next;
      event(self, "stream_started", "stream", encode_stream(s.info, false));
      list_in_index(self, ctx);
      // Followers connected to any node hear it on their user channel.
      caf::anon_send(self->home_system().groups().get_local(seller_live_group_name()), start_atom::value,
                     s.info.seller_id, s.info);
      done(nullptr);
    },
    [done](caf::error& err) mutable { done(&err); });
}

/// Answers `rp` with the stream after a change, or with its error.
done_fn answer(stream_pointer self, caf::typed_response_promise<stream_info> rp) {
  return [self, rp](const caf::error* err) mutable {
    if (err != nullptr)
      rp.deliver(*err);
    else
      rp.deliver(self->state.info);
  };
}

void end_drop(stream_pointer self, const context_ptr& ctx, std::string reason,
              std::optional<caf::typed_response_promise<stream_drop>> rp);
void try_close(stream_pointer self, const context_ptr& ctx);

void finish_stream(stream_pointer self, const context_ptr& ctx, stream_status to, std::string reason, done_fn done) {
  auto& st = self->state;
  auto next = st.info;
  next.status = to;
  next.end_reason = reason;
  next.ended_at_ms = to == stream_status::ended ? now_ms() : 0;
  next.ingest_connected = false;
  next.viewers = 0;
  db_command cmd{{persistence::stream_save(next, st.key_hash)}};
  bool drop_open = st.drop && st.drop->active;
  if (drop_open)
    cmd.statements.push_back(persistence::drop_end(st.drop->id, "stream_ended"));
  commit(
    self, ctx, std::move(cmd),
    [self, ctx, next, done, drop_open]() mutable {
      auto& s = self->state;
      s.info = next;
      if (drop_open) {
        s.drop->active = false;
        s.drop->end_reason = "stream_ended";
        event(self, "drop_ended", "drop", encode_drop(*s.drop));
      }
      event(self, "stream_ended", "stream", encode_stream(s.info, false));
      list_in_index(self, ctx);
      // An open auction closes now; its winner still gets the item.
      if (s.auction && s.auction->open) {
        s.auction->ends_at_ms = std::min(s.auction->ends_at_ms, now_ms());
        try_close(self, ctx);
      }
      done(nullptr);
    },
    [done](caf::error& err) mutable { done(&err); });
}

// -- drops ------------------------------------------------------------------------------

void end_drop(stream_pointer self, const context_ptr& ctx, std::string reason,
              std::optional<caf::typed_response_promise<stream_drop>> rp) {
  auto& st = self->state;
  if (!st.drop || !st.drop->active) {
    if (rp)
      rp->deliver(make_error(errc::conflict, "the drop has ended"));
    return;
  }
  auto id = st.drop->id;
  commit(
    self, ctx, db_command{{persistence::drop_end(id, reason)}},
    [self, reason, rp, id]() mutable {
      auto& s = self->state;
      if (!s.drop || s.drop->id != id)
        return;
      s.drop->active = false;
      s.drop->end_reason = reason;
      event(self, "drop_ended", "drop", encode_drop(*s.drop));
      if (rp)
        rp->deliver(*s.drop);
    },
    [rp](caf::error& err) mutable {
      if (rp)
        rp->deliver(err);
    });
}

/// A purchase from the drop finished: units a purchase did not take go
/// back to the drop. An unknown outcome keeps them taken (the drop may
/// sell less, never more).
void settle_buy(stream_pointer self, const context_ptr& ctx, std::uint64_t drop_id, std::uint64_t buyer,
                const std::string& key, std::int64_t quantity, bool sold, bool unknown) {
  auto& st = self->state;
  st.buying.erase({buyer, key});
  --st.buys_in_flight;
  if (!st.drop || st.drop->id != drop_id) {
    quit_if_done(self);
    return;
  }
  if (unknown) {
    st.unsettled[{buyer, key}] = quantity;
  } else if (!sold) {
    // Given back: viewers see the units again (a sale was pushed with its stock update).
    st.drop->remaining += quantity;
    st.bought[buyer] -= quantity;
    state_changed(self, ctx, product_key(st.drop->product_id));
  }
  if (st.drop->active && st.drop->remaining == 0 && st.buys_in_flight == 0)
    end_drop(self, ctx, "sold_out", std::nullopt);
  quit_if_done(self);
}

// -- auctions ---------------------------------------------------------------------------

/// An order for `buyer` of the auction's item at `price`, through the
/// order service (idempotent by `key`): calls `done(result, order id)`,
/// result being sold, no_address, out_of_stock or failed (may be retried).
template <class Done>
void sell_item(stream_pointer self, const context_ptr& ctx, std::uint64_t buyer, std::int64_t price, std::string key,
               Done done) {
  auto product_id = self->state.auction->product_id;
  auto path = "/streams/" + ids::format(self->state.info.id) + "/auctions/" + ids::format(self->state.auction->id);
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::latest_address(buyer)}})
    .then(
      [self, ctx, buyer, price, key, done, product_id, path](const db_result& r) mutable {
        const auto& rows = r.results.front().rows;
        if (rows.empty()) {
          done(std::string{"no_address"}, std::uint64_t{0});
          return;
        }
        place_request req;
        req.items.items.push_back({product_id, 1});
        req.items.address_id = std::stoull(rows[0][0].text);
        req.drop_price_minor = price;
        self->request(ctx->orders, ctx->order_timeout, place_atom::value, buyer, key, std::string{"auction"}, path,
                      std::string{}, req)
          .then(
            [done](const stored_reply& reply) mutable {
              if (reply.status == 201) {
                std::uint64_t order_id = 0;
                if (auto parsed = json::parse(reply.body); std::holds_alternative<json::value>(parsed)) {
                  const auto& doc = std::get<json::value>(parsed);
                  if (const auto* orders = doc.find("orders"); orders != nullptr && orders->is_array()
                                                               && !orders->as_array().empty())
                    order_id = ids::parse(orders->as_array().front().string_or("id")).value_or(0);
                }
                done(std::string{"sold"}, order_id);
              } else if (reply.status == 409) {
                done(std::string{"out_of_stock"}, std::uint64_t{0});
              } else {
                done(std::string{reply.status >= 500 ? "failed" : "refused"}, std::uint64_t{0});
              }
            },
            [done](caf::error&) mutable { done(std::string{"failed"}, std::uint64_t{0}); });
      },
      [done](caf::error&) mutable { done(std::string{"failed"}, std::uint64_t{0}); });
}

void user_push(stream_pointer self, std::uint64_t user, const std::string& json) {
  if (user != 0)
    caf::anon_send(self->home_system().groups().get_local(user_group_name(user)), push_atom::value, json);
}

std::string personal_event(std::string_view type, const stream_state& st, const stream_auction& a) {
  json::writer w;
  w.begin_object()
    .field("type", type)
    .field("stream_id", ids::format(st.info.id))
    .field("stream_title", st.info.title)
    .key("auction")
    .raw(encode_auction(a))
    .end_object();
  return w.take();
}

/// Writes the close of the auction; on failure tries again shortly.
/// Writes the close of the auction, then answers `rp` (an offer to the
/// runner-up) or, for the deadline's close, tries again shortly on failure
/// (the order's key makes the retry place no second order).
void finish_auction(stream_pointer self, const context_ptr& ctx, stream_auction closed,
                    std::optional<caf::typed_response_promise<stream_auction>> rp = std::nullopt) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{persistence::auction_close(closed)}})
    .then(
      [self, closed, rp](const db_result&) mutable {
        auto& s = self->state;
        s.closing = false;
        if (rp)
          rp->deliver(closed);
        quit_if_done(self);
        if (!s.auction || s.auction->id != closed.id)
          return;
        s.auction = closed;
        event(self, "auction_closed", "auction", encode_auction(closed));
        if (closed.result == "sold" || closed.result == "offered")
          user_push(self, closed.winner_id, personal_event("auction_won", s, closed));
      },
      [self, rp](caf::error& err) mutable {
        self->state.closing = false;
        if (rp)
          rp->deliver(err);
        else
          arm(self, tick::close, self->state.auction_generation, std::chrono::milliseconds{1'000});
      });
}

/// Closes the auction once its deadline has passed and no bid is pending:
/// the winner gets a pending order at the winning price.
void try_close(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (!st.auction || !st.auction->open || st.closing)
    return;
  auto left = st.auction->ends_at_ms - now_ms();
  if (left > 0) {
    arm(self, tick::close, st.auction_generation, std::chrono::milliseconds{left});
    return;
  }
  if (st.bid_writing || !st.bids.empty())
    return; // the bids' commit calls again
  st.closing = true;
  auto closed = *st.auction;
  closed.open = false;
  closed.next_minimum_minor = 0;
  if (closed.bid_count == 0) {
    closed.result = "no_bids";
    finish_auction(self, ctx, closed);
    return;
  }
  sell_item(self, ctx, closed.leader_id, closed.price_minor, "auction-" + ids::format(closed.id),
            [self, ctx, closed](const std::string& result, std::uint64_t order_id) mutable {
              if (result == "failed") {
                // Not reached: try again (the key makes it one order).
                self->state.closing = false;
                arm(self, tick::close, self->state.auction_generation, std::chrono::milliseconds{1'000});
                return;
              }
              closed.result = result;
              closed.order_id = order_id;
              closed.winner_id = result == "sold" ? closed.leader_id : 0;
              finish_auction(self, ctx, closed);
            });
}

/// Evaluates the waiting bids in arrival order against the auction as it
/// will be after the bids before them, and writes the accepted ones in one
/// transaction. Each bid is answered after that commit.
void flush_bids(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (st.bid_writing || st.bids.empty())
    return;
  if (!st.auction || !st.auction->open || st.closing) {
    for (auto& b : st.bids)
      b.rp.deliver(make_error(errc::conflict, "the auction has closed"));
    st.bids.clear();
    return;
  }
  struct accepted {
    pending_bid bid;
    stream_auction after;
    std::uint64_t outbid = 0;
    bool extended = false;
  };
  auto batch = std::make_shared<std::vector<accepted>>();
  auto next = *st.auction;
  db_command cmd;
  auto window = static_cast<std::int64_t>(ctx->cfg.auction_extend_window_s) * 1000;
  auto extend_to = static_cast<std::int64_t>(ctx->cfg.auction_extend_to_s) * 1000;
  for (auto& b : st.bids) {
    if (b.at_ms >= next.ends_at_ms) {
      b.rp.deliver(make_error(errc::conflict, "the auction has closed"));
      continue;
    }
    auto minimum = next_minimum_bid(ctx->tiers, next);
    if (b.amount < minimum) {
      b.rp.deliver(make_error(errc::conflict, "a bid must be at least " + std::to_string(minimum),
                              {field_error{"amount_minor", "must be at least " + std::to_string(minimum)}}));
      continue;
    }
    auto previous = next.leader_id;
    next.leader_id = b.bidder;
    next.leader_name = st.bidders[b.bidder];
    next.price_minor = b.amount;
    ++next.bid_count;
    auto deadline = deadline_after_bid(next, b.at_ms, window, extend_to);
    bool extended = deadline != next.ends_at_ms;
    next.ends_at_ms = deadline;
    next.next_minimum_minor = next_minimum_bid(ctx->tiers, next);
    for (auto& s : persistence::auction_bid(ids::next(), next))
      cmd.statements.push_back(std::move(s));
    batch->push_back({b, next, previous != b.bidder ? previous : 0, extended});
  }
  st.bids.clear();
  if (batch->empty()) {
    try_close(self, ctx);
    return;
  }
  st.bid_writing = true;
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self, ctx, batch, next](const db_result&) {
        auto& s = self->state;
        s.bid_writing = false;
        if (s.auction && s.auction->id == next.id) {
          // The stream may have ended meanwhile and cut the auction short.
          auto was_open = s.auction->open;
          auto cut = s.auction->ends_at_ms;
          s.auction = next;
          s.auction->open = was_open;
          if (s.info.status != stream_status::live)
            s.auction->ends_at_ms = std::min(cut, next.ends_at_ms);
        }
        for (auto& a : *batch) {
          event(self, "bid", "auction", encode_auction(a.after));
          if (a.extended)
            event(self, "auction_extended", "auction", encode_auction(a.after));
          if (a.outbid != 0)
            user_push(self, a.outbid, personal_event("outbid", s, a.after));
          a.bid.rp.deliver(a.after);
        }
        flush_bids(self, ctx);
        try_close(self, ctx);
        quit_if_done(self);
      },
      [self, ctx, batch](caf::error& err) {
        self->state.bid_writing = false;
        for (auto& a : *batch)
          a.bid.rp.deliver(err);
        flush_bids(self, ctx);
        try_close(self, ctx);
        quit_if_done(self);
      });
}

// -- loading and passivation ---------------------------------------------------------


void load(stream_pointer self, const context_ptr& ctx, std::uint64_t id) {
  db_command cmd{{persistence::stream_by_id(id), persistence::drop_active(id), persistence::drop_bought(id),
                  persistence::auction_latest(id)}};
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, std::move(cmd))
    .await(
      [self, ctx](const db_result& r) {
        auto& s = self->state;
        auto found = persistence::decode_streams(r.results[0]);
        if (found.empty()) {
          arm(self, tick::idle, 0, std::chrono::milliseconds{0}); // nothing to keep: end soon
          return;
        }
        s.exists = true;
        s.info = std::move(found.front());
        s.key_hash = persistence::decode_key_hash(r.results[0]);
        auto drops = persistence::decode_drops(r.results[1]);
        if (!drops.empty()) {
          s.drop = std::move(drops.front());
          for (const auto& row : r.results[2].rows) {
            auto units = std::stoll(row[1].text);
            s.bought[std::stoull(row[0].text)] = units;
            s.drop->remaining -= units;
          }
          s.drop->remaining = std::max<std::int64_t>(0, s.drop->remaining);
          arm(self, tick::drop, s.drop_generation, std::chrono::milliseconds{std::max<std::int64_t>(0, s.drop->ends_at_ms - now_ms())});
        }
        auto auctions = persistence::decode_auctions(r.results[3]);
        if (!auctions.empty()) {
          s.auction = std::move(auctions.front());
          s.auction->next_minimum_minor = s.auction->open ? next_minimum_bid(ctx->tiers, *s.auction) : 0;
          if (s.auction->open)
            arm(self, tick::close, s.auction_generation, std::chrono::milliseconds{0});
        }
        watch_all(self, ctx);
        list_in_index(self, ctx);
      },
      [self](caf::error& err) {
        self->state.load_error = err;
        arm(self, tick::idle, 0, std::chrono::milliseconds{0});
      });
}

/// How often a stream looks at its statistics and its idleness.
std::chrono::milliseconds idle_period(const conf::stream_settings& cfg) {
  return std::chrono::milliseconds{std::max<std::uint64_t>(1, std::min<std::uint64_t>(cfg.stats_flush_s * 1000ull, cfg.idle_ms))};
}

/// A stream may end when idle unless it is live or runs something.
bool may_passivate(const stream_state& st) {
  bool busy = (st.auction && st.auction->open) || (st.drop && st.drop->active) || st.buys_in_flight > 0 || !st.hubs.empty();
  return st.info.status != stream_status::live && !busy;
}

/// The periodic tick: writes the viewer statistics while live, and
/// passivates a stream that is not live once unused for streams.idle_ms.
void on_idle_tick(stream_pointer self, const context_ptr& ctx, const stream_registry_actor& registry) {
  auto& st = self->state;
  if (st.load_error || !st.exists) {
    self->quit();
    return;
  }
  if (st.stats_dirty && st.info.status == stream_status::live) {
    st.stats_dirty = false;
    self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                  db_command{{persistence::stream_save(st.info, st.key_hash)}})
      .then([](const db_result&) {}, [self](caf::error&) { self->state.stats_dirty = true; });
  }
  auto idle = std::chrono::steady_clock::now() - st.last_activity >= std::chrono::milliseconds{ctx->cfg.idle_ms};
  if (idle && may_passivate(st)) {
    // Whatever the registry forwarded before it agreed reaches this actor
    // before the agreement (one mailbox, in order) and is served first.
    // Should that have made the stream busy (it went live, a drop or an
    // auction opened), a fresh actor takes over at once: the registry holds
    // the wake-up until this one is down, and the fresh one loads it all
    // from committed state (its hubs, which monitor it, report again).
    self->request(registry, ctx->step_timeout, idle_atom::value, st.info.id)
      .then(
        [self, registry](bool agreed) {
          if (!agreed)
            return;
          auto& s = self->state;
          s.retiring = true;
          if (!may_passivate(s))
            caf::anon_send(registry, s.info.id, get_atom::value);
          quit_if_done(self);
        },
        [](caf::error&) {});
  }
  if (!st.retiring)
    arm(self, tick::idle, 0, idle_period(ctx->cfg));
}

stream_actor::behavior_type stream_behavior(stream_pointer self, std::uint64_t id, stream_registry_actor registry,
                                            context_ptr ctx) {
  auto& st = self->state;
  st.info.id = id;
  st.last_activity = std::chrono::steady_clock::now();
  st.viewers = self->home_system().groups().get_local(stream_group_name(id));
  st.relay = self->home_system().spawn(group_relay, caf::actor_cast<caf::actor>(self));
  self->link_to(st.relay);
  load(self, ctx, id);
  self->set_default_handler([self, ctx, registry](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (!msg.match_elements<tick_atom, std::uint8_t, std::uint64_t>())
      return caf::sec::unexpected_message;
    auto kind = static_cast<tick>(msg.get_as<std::uint8_t>(1));
    auto generation = msg.get_as<std::uint64_t>(2);
    auto& s = self->state;
    switch (kind) {
      case tick::idle:
        on_idle_tick(self, ctx, registry);
        break;
      case tick::push:
        push_due(self, ctx);
        break;
      case tick::drop:
        if (generation == s.drop_generation && s.drop && s.drop->active) {
          auto left = s.drop->ends_at_ms - now_ms();
          if (left > 0)
            arm(self, tick::drop, generation, std::chrono::milliseconds{left});
          else
            end_drop(self, ctx, "deadline", std::nullopt);
        }
        break;
      case tick::close:
        if (generation == s.auction_generation)
          try_close(self, ctx);
        break;
      case tick::ingest:
        if (generation == s.ingest_generation && !s.info.ingest_connected && s.info.status == stream_status::live)
          finish_stream(self, ctx, stream_status::ended, "ingest_lost", [](const caf::error*) {});
        break;
    }
    return caf::message{};
  });
  arm(self, tick::idle, 0, idle_period(ctx->cfg));
  auto touch = [self] { self->state.last_activity = std::chrono::steady_clock::now(); };
  return {
    [self, touch](get_atom) -> caf::result<stream_info> {
      touch();
      if (auto err = unusable(self->state))
        return *err;
      return self->state.info;
    },
    [self, touch](snapshot_atom) -> caf::result<stream_snapshot> {
      touch();
      if (auto err = unusable(self->state))
        return *err;
      return snapshot_of(self->state);
    },
    [self, ctx, touch](stats_atom, std::uint64_t user) -> caf::result<stream_stats> {
      touch();
      if (auto err = not_owner(self->state, user))
        return *err;
      auto rp = self->make_response_promise<stream_stats>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::stream_sales(self->state.info.id)}})
        .then(
          [self, rp](const db_result& r) mutable {
            stream_stats out{self->state.info, 0, 0};
            const auto& rows = r.results.front().rows;
            if (!rows.empty()) {
              out.orders = std::stoll(rows[0][0].text);
              out.revenue_minor = std::stoll(rows[0][1].text);
            }
            rp.deliver(out);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self, ctx, touch](update_atom, std::uint64_t user, const stream_patch& patch) -> caf::result<stream_info> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!is_open(s))
        return wrong_status(s, "scheduled or live");
      if (patch.has_scheduled_at && s.info.status != stream_status::scheduled)
        return make_error(errc::conflict, "only a scheduled stream can be moved",
                          {field_error{"scheduled_at_ms", "the stream is " + std::string{to_string(s.info.status)}}});
      auto rp = self->make_response_promise<stream_info>();
      auto apply = [self, ctx, patch, rp]() mutable {
        auto& mine = self->state;
        auto next = mine.info;
        if (patch.has_title)
          next.title = patch.title;
        if (patch.has_description)
          next.description = patch.description;
        if (patch.has_scheduled_at)
          next.scheduled_at_ms = patch.scheduled_at_ms;
        if (patch.has_featured) {
          next.featured = patch.featured;
          // What is pinned, dropped or auctioned stays featured.
          next.featured = with_featured(next.featured, next.pinned);
          if (mine.drop && mine.drop->active)
            next.featured = with_featured(next.featured, mine.drop->product_id);
          if (mine.auction && mine.auction->open)
            next.featured = with_featured(next.featured, mine.auction->product_id);
          if (next.featured.size() > ctx->cfg.featured_max) {
            rp.deliver(make_error(errc::validation_failed, "invalid fields: featured",
                                  {field_error{"featured", "holds more than " + std::to_string(ctx->cfg.featured_max)
                                                             + " products"}}));
            return;
          }
        }
        if (patch.has_allow_anonymous)
          next.allow_anonymous = patch.allow_anonymous;
        commit(
          self, ctx, db_command{{persistence::stream_save(next, mine.key_hash)}},
          [self, ctx, next, rp]() mutable {
            auto& after = self->state;
            after.info = next;
            watch_all(self, ctx);
            event(self, "stream_updated", "stream", encode_stream(after.info, false));
            list_in_index(self, ctx);
            rp.deliver(after.info);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      };
      if (!patch.has_featured) {
        apply();
        return rp;
      }
      auto seller = s.info.seller_id;
      with_own_products(self, ctx, seller, patch.featured, "featured", rp,
                        [apply](const std::vector<product>&) mutable { apply(); });
      return rp;
    },
    [self, ctx, touch](start_atom, std::uint64_t user) -> caf::result<stream_info> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (s.info.status != stream_status::scheduled)
        return wrong_status(s, "scheduled");
      auto rp = self->make_response_promise<stream_info>();
      go_live(self, ctx, answer(self, rp));
      return rp;
    },
    [self, ctx, touch](end_atom, std::uint64_t user) -> caf::result<stream_info> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!is_open(s))
        return wrong_status(s, "scheduled or live");
      auto rp = self->make_response_promise<stream_info>();
      if (s.info.status == stream_status::scheduled)
        finish_stream(self, ctx, stream_status::cancelled, "cancelled_by_seller", answer(self, rp));
      else
        finish_stream(self, ctx, stream_status::ended, "ended_by_seller", answer(self, rp));
      return rp;
    },
    [self, ctx, touch](key_atom, std::uint64_t user) -> caf::result<stream_keyed> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!is_open(s))
        return wrong_status(s, "scheduled or live");
      auto key = make_stream_key(s.info.id);
      auto hash = hash_stream_key(key);
      auto next = s.info;
      ++next.key_version;
      auto rp = self->make_response_promise<stream_keyed>();
      commit(
        self, ctx, db_command{{persistence::stream_save(next, hash)}},
        [self, next, hash, key, rp]() mutable {
          self->state.info = next;
          self->state.key_hash = hash;
          rp.deliver(stream_keyed{next, key});
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self, ctx, touch](ingest_atom, const std::string& key, bool publishing) -> caf::result<bool> {
      touch();
      auto& s = self->state;
      if (unusable(s) || !is_open(s) || !crypto::equal_constant_time(hash_stream_key(key), s.key_hash))
        return false;
      ++s.ingest_generation;
      if (!publishing) {
        s.info.ingest_connected = false;
        if (s.info.status == stream_status::live)
          arm(self, tick::ingest, s.ingest_generation, std::chrono::seconds{ctx->cfg.reconnect_window_s});
        return true;
      }
      s.info.ingest_connected = true;
      if (s.info.status == stream_status::live)
        return true;
      // The encoder connected to a scheduled stream: it goes live.
      auto rp = self->make_response_promise<bool>();
      go_live(self, ctx, [rp](const caf::error* err) mutable {
        if (err != nullptr)
          rp.deliver(*err);
        else
          rp.deliver(true);
      });
      return rp;
    },
    [self, ctx, touch](pin_atom, std::uint64_t user, std::uint64_t product_id) -> caf::result<stream_info> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!is_open(s))
        return wrong_status(s, "scheduled or live");
      auto rp = self->make_response_promise<stream_info>();
      auto apply = [self, ctx, product_id, rp]() mutable {
        auto& mine = self->state;
        auto next = mine.info;
        next.pinned = product_id;
        next.featured = with_featured(next.featured, product_id);
        commit(
          self, ctx, db_command{{persistence::stream_save(next, mine.key_hash)}},
          [self, ctx, next, product_id, rp]() mutable {
            auto& after = self->state;
            after.info = next;
            watch_product(self, ctx, product_id);
            json::writer w;
            w.begin_object().key("product_id");
            product_id != 0 ? w.string(ids::format(product_id)) : w.null();
            w.end_object();
            event(self, product_id != 0 ? "pinned" : "unpinned", "pin", w.str());
            list_in_index(self, ctx);
            rp.deliver(after.info);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      };
      if (product_id == 0) {
        apply();
        return rp;
      }
      auto seller = s.info.seller_id;
      with_own_products(self, ctx, seller, {product_id}, "product_id", rp,
                        [apply](const std::vector<product>&) mutable { apply(); });
      return rp;
    },
    [self, ctx, touch](drop_atom, std::uint64_t user, const drop_spec& spec) -> caf::result<stream_drop> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (s.info.status != stream_status::live)
        return wrong_status(s, "live");
      if (s.drop && s.drop->active)
        return make_error(errc::conflict, "a drop is running; end it first");
      auto rp = self->make_response_promise<stream_drop>();
      auto seller = s.info.seller_id;
      with_own_products(
        self, ctx, seller, {spec.product_id}, "product_id", rp,
        [self, ctx, spec, rp](const std::vector<product>& found) mutable {
          std::optional<caf::error> err;
          if (found.front().stock < spec.quantity)
            err = make_error(errc::conflict, "not enough stock for the drop",
                             {field_error{"quantity", "only " + std::to_string(found.front().stock) + " in stock"}});
          auto& mine = self->state;
          if (!err && mine.drop && mine.drop->active)
            err = make_error(errc::conflict, "a drop is running; end it first");
          if (err) {
            rp.deliver(*err);
            return;
          }
          stream_drop d;
          d.id = ids::next();
          d.product_id = spec.product_id;
          d.quantity = spec.quantity;
          d.remaining = spec.quantity;
          d.price_minor = spec.price_minor;
          d.per_buyer_limit = spec.per_buyer_limit;
          d.started_at_ms = now_ms();
          d.ends_at_ms = d.started_at_ms + spec.duration_s * 1000;
          d.active = true;
          auto next = mine.info;
          next.featured = with_featured(next.featured, d.product_id);
          commit(
            self, ctx, db_command{{persistence::drop_insert(next.id, d), persistence::stream_save(next, mine.key_hash)}},
            [self, ctx, d, next, rp]() mutable {
              auto& after = self->state;
              after.info = next;
              after.drop = d;
              after.bought.clear();
              after.unsettled.clear();
              ++after.drop_generation;
              watch_product(self, ctx, d.product_id);
              event(self, "drop_started", "drop", encode_drop(d));
              arm(self, tick::drop, after.drop_generation, std::chrono::milliseconds{d.ends_at_ms - now_ms()});
              rp.deliver(d);
            },
            [rp](caf::error& e) mutable { rp.deliver(e); });
        });
      return rp;
    },
    [self, ctx, touch](drop_atom, std::uint64_t user, std::uint64_t drop_id) -> caf::result<stream_drop> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!s.drop || s.drop->id != drop_id)
        return make_error(errc::not_found, "no such drop");
      auto rp = self->make_response_promise<stream_drop>();
      end_drop(self, ctx, "ended_by_seller", rp);
      return rp;
    },
    [self, ctx, touch](buy_atom, std::uint64_t drop_id, std::uint64_t buyer, const std::string& key,
                       const std::string& hash, const std::string& path, const std::string& request_id,
                       place_request req) -> caf::result<stored_reply> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      // A refusal is this key's outcome for good: the order service stores
      // it (or sends the outcome the key already has, e.g. the purchase a
      // lost reply told nothing of), and answers 503 when it cannot, so a
      // key refused now never buys later.
      auto refuse = [self, ctx, buyer, key, hash, path, request_id](caf::error err) -> caf::result<stored_reply> {
        return self->delegate(ctx->orders, refuse_atom::value, buyer, key, hash, path, request_id, std::move(err));
      };
      if (!s.drop || (drop_id != 0 && s.drop->id != drop_id))
        return refuse(make_error(errc::not_found, "no such drop"));
      drop_id = s.drop->id;
      auto& d = *s.drop;
      if (req.items.items.size() != 1)
        return refuse(make_error(errc::validation_failed, "a drop sells one product",
                                 {field_error{"items", "a drop sells one product"}}));
      auto quantity = req.items.items.front().quantity;
      if (!d.active || now_ms() >= d.ends_at_ms)
        return refuse(make_error(errc::conflict, "the drop has ended"));
      req.items.items.front().product_id = d.product_id;
      req.drop_id = d.id;
      req.drop_price_minor = d.price_minor;
      std::pair<std::uint64_t, std::string> k{buyer, key};
      bool admitted = false;
      // The same key again while its first request is on the way shares
      // that request's reply (the order service joins them): not counted twice.
      bool reused = false;
      if (auto u = s.unsettled.find(k); s.buying.count(k) == 0 && u != s.unsettled.end() && u->second == quantity) {
        // The retry of a purchase whose outcome was unknown: its units are
        // still taken for it (the order service replays it if it committed).
        s.unsettled.erase(u);
        s.buying.insert(k);
        ++s.buys_in_flight;
        admitted = true;
        reused = true;
      } else if (s.buying.count(k) == 0) {
        if (quantity > d.remaining)
          return refuse(make_error(errc::conflict, "the drop has " + std::to_string(d.remaining) + " left",
                                   {field_error{"quantity", "only " + std::to_string(d.remaining) + " left in the drop"}}));
        auto& mine = s.bought[buyer];
        if (mine + quantity > d.per_buyer_limit)
          return refuse(make_error(errc::conflict, "the drop allows " + std::to_string(d.per_buyer_limit) + " per buyer",
                                   {field_error{"quantity", "the drop allows " + std::to_string(d.per_buyer_limit)
                                                              + " per buyer; you have " + std::to_string(mine)}}));
        d.remaining -= quantity;
        mine += quantity;
        s.buying.insert(k);
        ++s.buys_in_flight;
        admitted = true;
        // No push yet: the sale's stock update carries the drop's remaining units.
      }
      auto rp = self->make_response_promise<stored_reply>();
      self->request(ctx->orders, ctx->order_timeout, place_atom::value, buyer, key, hash, path, request_id, req)
        .then(
          [self, ctx, rp, admitted, reused, drop_id, buyer, key, quantity](const stored_reply& r) mutable {
            // A 5xx is not a refusal: the sale may have committed after all.
            // Reused units were sold when the earlier attempt's success is
            // replayed.
            if (admitted)
              settle_buy(self, ctx, drop_id, buyer, key, quantity, r.fresh || (reused && r.status < 300),
                         r.status >= 500);
            rp.deliver(r);
          },
          [self, ctx, rp, admitted, drop_id, buyer, key, quantity](caf::error& err) mutable {
            if (admitted)
              settle_buy(self, ctx, drop_id, buyer, key, quantity, false, true);
            rp.deliver(err);
          });
      return rp;
    },
    [self, ctx, touch](auction_atom, std::uint64_t user, const auction_spec& spec) -> caf::result<stream_auction> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (s.info.status != stream_status::live)
        return wrong_status(s, "live");
      if ((s.auction && s.auction->open) || s.closing)
        return make_error(errc::conflict, "an auction is running");
      auto rp = self->make_response_promise<stream_auction>();
      auto seller = s.info.seller_id;
      with_own_products(
        self, ctx, seller, {spec.product_id}, "product_id", rp,
        [self, ctx, spec, rp](const std::vector<product>& found) mutable {
          std::optional<caf::error> err;
          if (found.front().stock < 1)
            err = make_error(errc::conflict, "the product is out of stock",
                             {field_error{"product_id", "is out of stock"}});
          auto& mine = self->state;
          if (!err && ((mine.auction && mine.auction->open) || mine.closing))
            err = make_error(errc::conflict, "an auction is running");
          if (err) {
            rp.deliver(*err);
            return;
          }
          stream_auction a;
          a.id = ids::next();
          a.product_id = spec.product_id;
          a.currency = found.front().currency;
          a.starting_price_minor = spec.starting_price_minor;
          a.sudden_death = spec.sudden_death;
          a.started_at_ms = now_ms();
          a.ends_at_ms = a.started_at_ms + spec.duration_s * 1000;
          a.open = true;
          a.next_minimum_minor = next_minimum_bid(ctx->tiers, a);
          auto next = mine.info;
          next.featured = with_featured(next.featured, a.product_id);
          commit(
            self, ctx, db_command{{persistence::auction_insert(next.id, a), persistence::stream_save(next, mine.key_hash)}},
            [self, ctx, a, next, rp]() mutable {
              auto& after = self->state;
              after.info = next;
              after.auction = a;
              ++after.auction_generation;
              watch_product(self, ctx, a.product_id);
              event(self, "auction_started", "auction", encode_auction(a));
              arm(self, tick::close, after.auction_generation, std::chrono::milliseconds{a.ends_at_ms - now_ms()});
              rp.deliver(a);
            },
            [rp](caf::error& e) mutable { rp.deliver(e); });
        });
      return rp;
    },
    [self, ctx, touch](bid_atom, std::uint64_t bidder, std::uint64_t auction_id,
                       std::int64_t amount) -> caf::result<stream_auction> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (!s.auction || (auction_id != 0 && auction_id != s.auction->id))
        return make_error(errc::not_found, "no such auction");
      auto at = now_ms();
      if (!s.auction->open || s.closing || at >= s.auction->ends_at_ms || s.info.status != stream_status::live)
        return make_error(errc::conflict, "the auction has closed");
      if (bidder == s.info.owner_id)
        return make_error(errc::forbidden, "a seller cannot bid in its own auction");
      if (s.bids.size() >= ctx->cfg.bid_queue_max)
        return make_error(errc::overloaded, "too many bids waiting (streams.bid_queue_max)");
      auto rp = self->make_response_promise<stream_auction>();
      pending_bid bid{bidder, amount, at, rp};
      if (s.bidders.count(bidder) != 0) {
        s.bids.push_back(std::move(bid));
        flush_bids(self, ctx);
        return rp;
      }
      // A first bid: the bidder must have somewhere to ship the item to.
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::latest_address(bidder), persistence::user_by_id(bidder)}})
        .then(
          [self, ctx, bid](const db_result& r) mutable {
            if (r.results[0].rows.empty()) {
              bid.rp.deliver(make_error(errc::validation_failed, "add a shipping address before bidding",
                                        {field_error{"address", "you have no shipping address"}}));
              return;
            }
            auto user = persistence::decode_user(r.results[1]);
            self->state.bidders[bid.bidder] = user ? user->display_name : std::string{};
            self->state.bids.push_back(std::move(bid));
            flush_bids(self, ctx);
          },
          [bid](caf::error& err) mutable { bid.rp.deliver(err); });
      return rp;
    },
    [self, ctx, touch](offer_atom, std::uint64_t user, std::uint64_t auction_id) -> caf::result<stream_auction> {
      touch();
      auto& s = self->state;
      if (auto err = not_owner(s, user))
        return *err;
      if (!s.auction || s.auction->id != auction_id)
        return make_error(errc::not_found, "no such auction");
      auto& a = *s.auction;
      if (a.open || s.closing)
        return make_error(errc::conflict, "the auction is still open");
      if (a.result == "no_bids" || a.bid_count == 0)
        return make_error(errc::conflict, "the auction had no bids");
      if (a.result == "offered")
        return make_error(errc::conflict, "the item was offered to the runner-up already");
      auto rp = self->make_response_promise<stream_auction>();
      auto offer = [self, ctx, rp, auction_id]() mutable {
        auto& mine = self->state;
        auto winner = mine.auction->leader_id;
        self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                      db_command{{persistence::auction_standings(auction_id, 10)}})
          .then(
            [self, ctx, rp, winner, auction_id](const db_result& r) mutable {
              std::uint64_t runner_up = 0;
              std::int64_t amount = 0;
              for (const auto& row : r.results.front().rows) {
                auto bidder = std::stoull(row[0].text);
                if (bidder != winner) {
                  runner_up = bidder;
                  amount = std::stoll(row[1].text);
                  break;
                }
              }
              if (runner_up == 0) {
                rp.deliver(make_error(errc::conflict, "there is no runner-up"));
                return;
              }
              self->state.closing = true;
              sell_item(self, ctx, runner_up, amount, "auction-" + ids::format(auction_id) + "-offer",
                        [self, ctx, rp, runner_up, amount, auction_id](const std::string& result,
                                                                      std::uint64_t order_id) mutable {
                          auto& after = self->state;
                          if (result != "sold" || !after.auction || after.auction->id != auction_id) {
                            after.closing = false;
                            rp.deliver(make_error(result == "failed" ? errc::database_unavailable : errc::conflict,
                                                  "the runner-up could not be offered the item: " + result));
                            return;
                          }
                          auto closed = *after.auction;
                          closed.result = "offered";
                          closed.offered_to = runner_up;
                          closed.winner_id = runner_up;
                          closed.order_id = order_id;
                          closed.price_minor = amount;
                          finish_auction(self, ctx, closed, rp);
                        });
            },
            [rp](caf::error& err) mutable { rp.deliver(err); });
      };
      if (a.result != "sold") {
        offer();
        return rp;
      }
      // The winner's order must have failed (its payment declined or never made).
      self->request(ctx->orders, ctx->step_timeout, get_atom::value, user, a.order_id)
        .then(
          [offer, rp](const order& o) mutable {
            if (o.status != order_status::cancelled) {
              rp.deliver(make_error(errc::conflict, "the winner's order is " + std::string{to_string(o.status)}
                                                      + "; the runner-up can be offered the item once it is cancelled"));
              return;
            }
            offer();
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self, ctx](viewers_atom, const caf::actor& hub, std::int64_t count, const std::vector<std::uint64_t>& users,
                std::int64_t anonymous) -> caf::result<caf::ok_atom> {
      auto& s = self->state;
      if (!s.exists)
        return make_error(errc::not_found, "no such stream");
      if (count <= 0)
        s.hubs.erase(hub.address());
      else
        s.hubs[hub.address()] = count;
      for (auto u : users)
        s.unique_users.insert(u);
      s.anonymous_joins += anonymous;
      std::int64_t total = 0;
      for (const auto& [addr, n] : s.hubs)
        total += n;
      s.info.unique_viewers = static_cast<std::int64_t>(s.unique_users.size()) + s.anonymous_joins;
      if (s.info.status == stream_status::live)
        s.info.peak_viewers = std::max(s.info.peak_viewers, total);
      s.stats_dirty = true;
      if (total != s.info.viewers) {
        s.info.viewers = total;
        state_changed(self, ctx, "viewers");
      }
      return caf::ok_atom::value;
    },
    [self, ctx](const stock_update& u) {
      auto& s = self->state;
      auto it = s.products.find(u.product_id);
      if (it == s.products.end())
        return;
      it->second.available = u.stock;
      it->second.price_minor = u.price_minor;
      it->second.currency = u.currency;
      it->second.version = u.sequence;
      s.updated.insert(u.product_id);
      state_changed(self, ctx, product_key(u.product_id), u.at_us);
    },
  };
}

stream_actor spawn_stream(caf::actor_system& sys, std::uint64_t id, stream_registry_actor registry, const context_ptr& ctx) {
  return sys.spawn(stream_behavior, id, std::move(registry), ctx);
}

// -- the live index -------------------------------------------------------------------------

struct index_state {
  std::unordered_map<std::uint64_t, stream_info> live;
  std::unordered_map<std::uint64_t, std::uint64_t> by_seller; ///< seller -> live stream
  static inline const char* name = "stream_index";
};

std::string live_cursor(const stream_info& s) {
  return std::to_string(s.viewers) + "." + ids::format(s.id);
}

/// (`page_max` only names the configuration; CAF 0.17 needs an argument, see bridge_actor.)
stream_index_actor::behavior_type stream_index(stream_index_actor::stateful_pointer<index_state> self,
                                               std::size_t /*page_max*/) {
  return {
    [self](put_atom, const stream_info& s) {
      self->state.live[s.id] = s;
      self->state.by_seller[s.seller_id] = s.id;
    },
    [self](delete_atom, std::uint64_t id) {
      auto& st = self->state;
      auto it = st.live.find(id);
      if (it == st.live.end())
        return;
      if (auto seller = st.by_seller.find(it->second.seller_id); seller != st.by_seller.end() && seller->second == id)
        st.by_seller.erase(seller);
      st.live.erase(it);
    },
    [self](list_atom, std::int64_t after_viewers, std::uint64_t after_id, std::uint32_t limit) -> live_page {
      // Most viewers first, then newest; the cursor is the last one shown.
      std::vector<const stream_info*> order;
      order.reserve(self->state.live.size());
      for (const auto& [id, s] : self->state.live)
        if (after_id == 0 || s.viewers < after_viewers || (s.viewers == after_viewers && s.id < after_id))
          order.push_back(&s);
      auto take = std::min<std::size_t>(limit, order.size());
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                        [](const stream_info* a, const stream_info* b) {
                          return a->viewers != b->viewers ? a->viewers > b->viewers : a->id > b->id;
                        });
      live_page page;
      for (std::size_t i = 0; i < take; ++i)
        page.items.push_back(*order[i]);
      if (order.size() > take && take > 0)
        page.next_cursor = live_cursor(page.items.back());
      return page;
    },
    [self](get_atom, std::uint64_t seller_id) -> std::uint64_t {
      auto it = self->state.by_seller.find(seller_id);
      return it == self->state.by_seller.end() ? 0 : it->second;
    },
  };
}

// -- the service ------------------------------------------------------------------------------

struct service_state {
  static inline const char* name = "stream_service";
};

stream_service_actor::behavior_type stream_service(stream_service_actor::stateful_pointer<service_state> self,
                                                   context_ptr ctx, seller_actor sellers, stream_directory streams) {
  return {
    [self, ctx, sellers, streams](create_atom, std::uint64_t user, const stream_draft& draft) -> caf::result<stream_keyed> {
      auto rp = self->make_response_promise<stream_keyed>();
      self->request(sellers, ctx->step_timeout, profile_atom::value, user)
        .then(
          [self, ctx, streams, user, draft, rp](const seller& shop) mutable {
            if (shop.status != seller_status::approved) {
              rp.deliver(make_error(errc::forbidden, "only approved sellers can stream"));
              return;
            }
            if (draft.featured.size() > ctx->cfg.featured_max) {
              rp.deliver(make_error(errc::validation_failed, "invalid fields: featured",
                                    {field_error{"featured", "holds more than " + std::to_string(ctx->cfg.featured_max)
                                                               + " products"}}));
              return;
            }
            with_own_products(
              self, ctx, shop.id, draft.featured, "featured", rp,
              [self, ctx, streams, user, draft, rp, shop](const std::vector<product>&) mutable {
                stream_info s;
                s.id = ids::next();
                s.seller_id = shop.id;
                s.owner_id = shop.user_id;
                s.shop_name = shop.shop_name;
                s.title = draft.title;
                s.description = draft.description;
                s.scheduled_at_ms = draft.scheduled_at_ms != 0 ? draft.scheduled_at_ms : now_ms();
                s.featured = draft.featured;
                s.allow_anonymous = draft.allow_anonymous;
                s.created_at_ms = now_ms();
                auto key = make_stream_key(s.id);
                self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                              db_command{{persistence::stream_insert(s, hash_stream_key(key))}})
                  .then(
                    [self, ctx, streams, user, draft, rp, s, key](const db_result&) mutable {
                      if (!draft.start_now) {
                        rp.deliver(stream_keyed{s, key});
                        return;
                      }
                      self->request(streams.route(s.id), ctx->step_timeout, s.id, start_atom::value, user)
                        .then([rp, key](const stream_info& live) mutable { rp.deliver(stream_keyed{live, key}); },
                              [rp](caf::error& e) mutable { rp.deliver(e); });
                    },
                    [rp](caf::error& e) mutable { rp.deliver(e); });
              });
          },
          [rp](caf::error& err) mutable {
            if (to_problem(err).code == errc::not_found)
              rp.deliver(make_error(errc::forbidden, "only approved sellers can stream"));
            else
              rp.deliver(err);
          });
      return rp;
    },
    [self, ctx](list_atom, std::uint64_t seller_id, bool upcoming, std::uint64_t before,
                std::uint32_t limit) -> caf::result<std::vector<stream_info>> {
      auto rp = self->make_response_promise<std::vector<stream_info>>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::streams_of_seller(seller_id, upcoming, before, limit)}})
        .then([rp](const db_result& r) mutable { rp.deliver(persistence::decode_streams(r.results.front())); },
              [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
  };
}

/// Starts the actors of the live streams (they list themselves), then ends.
caf::behavior stream_starter(caf::event_based_actor* self, context_ptr ctx, stream_directory streams) {
  self->request(ctx->db.reads, std::chrono::seconds{30}, query_atom::value, db_command{{persistence::streams_live()}})
    .then(
      [self, ctx, streams](const db_result& r) {
        for (const auto& row : r.results.front().rows) {
          auto id = std::stoull(row[0].text);
          self->send(streams.route(id), id, get_atom::value);
        }
        self->quit();
      },
      [self](caf::error& err) {
        log::warn("live streams not started", "\"error\":\"" + to_problem(err).detail + "\"");
        self->quit();
      });
  return {[](const stream_info&) {}};
}

} // namespace

std::string stream_group_name(std::uint64_t stream_id) {
  return "stream-" + ids::format(stream_id);
}

std::string user_group_name(std::uint64_t user_id) {
  return "user-" + ids::format(user_id);
}

std::string seller_live_group_name() {
  return "sellers-live";
}

void spawn_streams(caf::actor_system& sys, const conf::settings& cfg, services& s) {
  s.stream_index = sys.spawn(stream_index, cfg.streams.live_page_max);
  auto step = std::chrono::milliseconds{cfg.actors.step_timeout_ms};
  auto ctx = std::make_shared<const stream_context>(stream_context{
    cfg.streams, conf::parse_increment_tiers(cfg.streams.bid_increments), step, 3 * step, *s.db, s.products, s.users,
    s.orders, s.stream_index});
  s.streams.shards = registry::spawn_shards<stream_actor>(sys, cfg.actors.product_shards, ctx, spawn_stream,
                                                          registry::kind::stream);
  s.stream_service = sys.spawn(stream_service, ctx, s.sellers, s.streams);
  sys.spawn(stream_starter, ctx, s.streams);
}

} // namespace livemart
