#include "stream.hpp"
#include <protocol/wire/streams.hpp>

namespace livemart::streams {

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
        auto address_id = persistence::decode_latest_address(r.results.front());
        if (!address_id) {
          done(std::string{"no_address"}, std::uint64_t{0});
          return;
        }
        place_request req;
        req.items.items.push_back({product_id, 1});
        req.items.address_id = *address_id;
        req.drop_price_minor = price;
        purchase_key purchase{buyer, key, std::string{"auction"}, {path, {}}};
        self->request(ctx->orders, ctx->order_timeout, place_atom::value, purchase, req)
          .then(
            [done](const purchase_outcome& outcome) mutable {
              if (outcome.placed)
                done(std::string{"sold"}, outcome.order_ids.empty() ? std::uint64_t{0} : outcome.order_ids.front());
              else if (outcome.refusal.code != errc::conflict)
                done(std::string{"refused"}, std::uint64_t{0});
              else
                done(std::string{"out_of_stock"}, std::uint64_t{0});
            },
            [done](caf::error&) mutable { done(std::string{"failed"}, std::uint64_t{0}); });
      },
      [done](caf::error&) mutable { done(std::string{"failed"}, std::uint64_t{0}); });
}

/// Writes the close of the auction, then answers `rp` (an offer to the
/// runner-up) or, for the deadline's close, tries again shortly on failure
/// (the order's key makes the retry place no second order).
void finish_auction(stream_pointer self, const context_ptr& ctx, stream_auction closed,
                    std::optional<caf::typed_response_promise<stream_auction>> rp = std::nullopt) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{{persistence::auction_close(closed)}}, self->state.fence))
    .then(
      [self, ctx, closed, rp](const db_result&) mutable {
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
          user_push(self, ctx, closed.winner_id, personal_event("auction_won", s, closed));
      },
      [self, ctx, rp](caf::error& err) mutable {
        self->state.closing = false;
        if (rp)
          rp->deliver(err);
        else
          arm(self, tick::close, self->state.auction_generation,
              std::chrono::milliseconds{ctx->cfg.auction_close_retry_ms});
      });
}

/// Closes the auction once its deadline has passed and no bid is pending:
/// the winner gets a pending order at the winning price.
void try_close(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (!st.auction || !st.auction->open || st.closing)
    return;
  auto left = auction_time_left(*st.auction, now_ms());
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
                arm(self, tick::close, self->state.auction_generation,
                    std::chrono::milliseconds{ctx->cfg.auction_close_retry_ms});
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
    bid_verdict verdict;
  };
  std::vector<bid_attempt> attempts;
  attempts.reserve(st.bids.size());
  for (const auto& b : st.bids)
    attempts.push_back({b.bidder, st.bidders[b.bidder], b.amount, b.at_ms});
  auto verdicts = evaluate_bids(*st.auction, attempts, ctx->rules);
  auto batch = std::make_shared<std::vector<accepted>>();
  auto next = *st.auction;
  db_command cmd;
  for (std::size_t i = 0; i < st.bids.size(); ++i) {
    auto& v = verdicts[i];
    if (v.refusal) {
      st.bids[i].rp.deliver(*v.refusal);
      continue;
    }
    next = v.after;
    for (auto& s : persistence::auction_bid(ids::next(), next))
      cmd.statements.push_back(std::move(s));
    batch->push_back({st.bids[i], std::move(v)});
  }
  st.bids.clear();
  if (batch->empty()) {
    try_close(self, ctx);
    return;
  }
  st.bid_writing = true;
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
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
          const auto& after = a.verdict.after;
          event(self, "bid", "auction", encode_auction(after));
          if (a.verdict.extended)
            event(self, "auction_extended", "auction", encode_auction(after));
          if (a.verdict.outbid != 0)
            user_push(self, ctx, a.verdict.outbid, personal_event("outbid", s, after));
          a.bid.rp.deliver(after);
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

caf::result<stream_auction> open_auction(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const auction_spec& spec) {
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
      a.next_minimum_minor = next_minimum_bid(ctx->rules.tiers, a);
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
}

caf::result<stream_auction> place_bid(stream_pointer self, const context_ptr& ctx, std::uint64_t bidder, std::uint64_t auction_id, std::int64_t amount) {
  auto& s = self->state;
  if (auto err = unusable(s))
    return *err;
  if (!s.auction || (auction_id != 0 && auction_id != s.auction->id))
    return make_error(errc::not_found, "no such auction");
  auto at = now_ms();
  if (auto refused = bid_refusal(*s.auction, s.info.status == stream_status::live, s.closing, s.info.owner_id, bidder, at))
    return *refused;
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
}

caf::result<stream_auction> offer_to_runner_up(stream_pointer self, const context_ptr& ctx, std::uint64_t user, std::uint64_t auction_id) {
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
          for (const auto& standing : persistence::decode_auction_standings(r.results.front())) {
            if (standing.bidder_id != winner) {
              runner_up = standing.bidder_id;
              amount = standing.amount_minor;
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
}

} // namespace livemart::streams
