#include "stream.hpp"
#include <protocol/wire/streams.hpp>

namespace livemart::streams {

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

caf::result<stream_drop> start_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const drop_spec& spec) {
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
}

caf::result<stream_drop> stop_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t user, std::uint64_t drop_id) {
  auto& s = self->state;
  if (auto err = not_owner(s, user))
    return *err;
  if (!s.drop || s.drop->id != drop_id)
    return make_error(errc::not_found, "no such drop");
  auto rp = self->make_response_promise<stream_drop>();
  end_drop(self, ctx, "ended_by_seller", rp);
  return rp;
}

caf::result<purchase_outcome> buy_from_drop(stream_pointer self, const context_ptr& ctx, std::uint64_t drop_id,
                                             const purchase_key& key, place_request req) {
  auto& s = self->state;
  if (auto err = unusable(s))
    return *err;
  // A refusal is this key's outcome for good: the order service stores
  // it (or sends the outcome the key already has, e.g. the purchase a
  // lost reply told nothing of), and answers 503 when it cannot, so a
  // key refused now never buys later.
  auto refuse = [self, ctx, key](caf::error err) -> caf::result<purchase_outcome> {
    return self->delegate(ctx->orders, refuse_atom::value, key, std::move(err));
  };
  if (!s.drop || (drop_id != 0 && s.drop->id != drop_id))
    return refuse(make_error(errc::not_found, "no such drop"));
  drop_id = s.drop->id;
  auto& d = *s.drop;
  if (req.items.items.size() != 1)
    return refuse(make_error(errc::validation_failed, "a drop sells one product",
                             {field_error{"items", "a drop sells one product"}}));
  auto quantity = req.items.items.front().quantity;
  if (auto ended = drop_ended(d, now_ms()))
    return refuse(*ended);
  req.items.items.front().product_id = d.product_id;
  req.drop_id = d.id;
  req.drop_price_minor = d.price_minor;
  auto buyer = key.buyer;
  std::pair<std::uint64_t, std::string> k{buyer, key.key};
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
    auto& mine = s.bought[buyer];
    if (auto over = drop_limit(d, mine, quantity))
      return refuse(*over);
    d.remaining -= quantity;
    mine += quantity;
    s.buying.insert(k);
    ++s.buys_in_flight;
    admitted = true;
    // No push yet: the sale's stock update carries the drop's remaining units.
  }
  auto rp = self->make_response_promise<purchase_outcome>();
  self->request(ctx->orders, ctx->order_timeout, place_atom::value, key, req)
    .then(
      [self, ctx, rp, admitted, reused, drop_id, buyer, key, quantity](const purchase_outcome& r) mutable {
        // Reused units were sold when the earlier attempt's success is replayed.
        if (admitted)
          settle_buy(self, ctx, drop_id, buyer, key.key, quantity, r.fresh || (reused && r.placed), false);
        rp.deliver(r);
      },
      [self, ctx, rp, admitted, drop_id, buyer, key, quantity](caf::error& err) mutable {
        // A failure is not a refusal: the sale may have committed after all.
        if (admitted)
          settle_buy(self, ctx, drop_id, buyer, key.key, quantity, false, true);
        rp.deliver(err);
      });
  return rp;
}

} // namespace livemart::streams
