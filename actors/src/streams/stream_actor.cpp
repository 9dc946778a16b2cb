#include "stream.hpp"
#include <protocol/wire/streams.hpp>

/// One stream's actor: loading and passivation, status changes, the
/// featured and pinned products, viewer counts; its drops and auctions live
/// in drops.cpp and auctions.cpp, what viewers receive in pushes.cpp.
namespace livemart::streams {

/// Forwards the stock updates of the products a stream features: typed
/// actors cannot join groups in CAF 0.17, so this small actor does.
caf::behavior group_relay(caf::event_based_actor* self, caf::actor target) {
  return {
    [self](join_atom, const std::string& group) { self->join(self->home_system().groups().get_local(group)); },
    [self, target](const stock_update& u) { self->send(target, u); },
  };
}

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

std::vector<std::uint64_t> with_featured(std::vector<std::uint64_t> featured, std::uint64_t id) {
  if (id != 0 && std::find(featured.begin(), featured.end(), id) == featured.end())
    featured.push_back(id);
  return featured;
}

// -- status changes ---------------------------------------------------------------------

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
      tell_peers(ctx->products.routing, start_atom::value, s.info.seller_id, s.info);
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
          for (const auto& bought : persistence::decode_drop_purchases(r.results[2])) {
            s.bought[bought.buyer_id] = bought.units;
            s.drop->remaining -= bought.units;
          }
          s.drop->remaining = std::max<std::int64_t>(0, s.drop->remaining);
          arm(self, tick::drop, s.drop_generation, std::chrono::milliseconds{std::max<std::int64_t>(0, s.drop->ends_at_ms - now_ms())});
        }
        auto auctions = persistence::decode_auctions(r.results[3]);
        if (!auctions.empty()) {
          s.auction = std::move(auctions.front());
          s.auction->next_minimum_minor = s.auction->open ? next_minimum_bid(ctx->rules.tiers, *s.auction) : 0;
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
                  fenced(db_command{{persistence::stream_save(st.info, st.key_hash)}}, self->state.fence))
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
                                            context_ptr ctx, entity_fence fence) {
  auto& st = self->state;
  st.fence = fence;
  st.info.id = id;
  st.last_activity = std::chrono::steady_clock::now();
  st.viewers = self->home_system().groups().get_local(stream_group_name(id));
  st.relay = self->home_system().spawn(group_relay, caf::actor_cast<caf::actor>(self));
  self->link_to(st.relay);
  // A hub of another node ended, or its node is gone.
  self->set_down_handler([self, ctx](caf::down_msg& msg) { forget_hub(self, ctx, msg.source); });
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
      // A hub of another node hears every push after this snapshot, in order.
      follow_sender_hub(self);
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
            auto sales = persistence::decode_stream_sales(r.results.front());
            stream_stats out{self->state.info, sales.orders, sales.revenue_minor};
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
            event(self, product_id != 0 ? "pinned" : "unpinned", "pin", encode_pin(product_id));
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
      return start_drop(self, ctx, user, spec);
    },
    [self, ctx, touch](drop_atom, std::uint64_t user, std::uint64_t drop_id) -> caf::result<stream_drop> {
      touch();
      return stop_drop(self, ctx, user, drop_id);
    },
    [self, ctx, touch](buy_atom, std::uint64_t drop_id, const purchase_key& key,
                       place_request req) -> caf::result<purchase_outcome> {
      touch();
      return buy_from_drop(self, ctx, drop_id, key, std::move(req));
    },
    [self, ctx, touch](auction_atom, std::uint64_t user, const auction_spec& spec) -> caf::result<stream_auction> {
      touch();
      return open_auction(self, ctx, user, spec);
    },
    [self, ctx, touch](bid_atom, std::uint64_t bidder, std::uint64_t auction_id,
                       std::int64_t amount) -> caf::result<stream_auction> {
      touch();
      return place_bid(self, ctx, bidder, auction_id, amount);
    },
    [self, ctx, touch](offer_atom, std::uint64_t user, std::uint64_t auction_id) -> caf::result<stream_auction> {
      touch();
      return offer_to_runner_up(self, ctx, user, auction_id);
    },
    [self, ctx](viewers_atom, const caf::actor& hub, std::int64_t count, const std::vector<std::uint64_t>& users,
                std::int64_t anonymous) -> caf::result<caf::ok_atom> {
      auto& s = self->state;
      if (!s.exists)
        return make_error(errc::not_found, "no such stream");
      if (count <= 0) {
        s.hubs.erase(hub.address());
        if (s.remote_hubs.erase(hub.address()) != 0)
          self->demonitor(hub);
      } else {
        s.hubs[hub.address()] = count;
        follow_sender_hub(self);
      }
      for (auto u : users)
        s.unique_users.insert(u);
      s.anonymous_joins += anonymous;
      count_viewers(self, ctx);
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

stream_actor spawn_stream(caf::actor_system& sys, std::uint64_t id, stream_registry_actor registry, const context_ptr& ctx,
                          const entity_fence& fence) {
  return sys.spawn(stream_behavior, id, std::move(registry), ctx, fence);
}

} // namespace livemart::streams
