#include "order_service.hpp"

namespace livemart::order_desk {

purchase_outcome refusal(problem p, const placement& req) {
  return sealed(purchase_outcome::refused(std::move(p), req.key.origin));
}

/// When a definitive outcome could not be stored, or a stored one could not
/// be read: never the unstored outcome (a retry with the same key might then
/// meet another one), but an error the edge answers 503, so the client retries.
caf::error unrecorded() {
  return make_error(errc::database_unavailable,
                    "the outcome could not be recorded; retry with the same Idempotency-Key");
}

/// Answers everyone waiting on the key, with its outcome or an error, and forgets it.
template <class Answer>
void answer_all(order_pointer self, const key_type& key, const Answer& answer) {
  auto it = self->state.placing.find(key);
  if (it == self->state.placing.end())
    return;
  for (auto& rp : it->second.waiting)
    rp.deliver(answer);
  self->state.placing.erase(it);
}

void finish(order_pointer self, const key_type& key, const purchase_outcome& outcome) {
  answer_all(self, key, outcome);
}

void fail(order_pointer self, const key_type& key, const caf::error& err) {
  answer_all(self, key, err);
}

caf::error mismatch() {
  return make_error(errc::conflict, "this Idempotency-Key was used with a different request",
                    {field_error{"Idempotency-Key", "was used with a different request"}});
}

/// Answers with the reply stored under the key (or a mismatch), e.g. after
/// an earlier attempt whose reply was lost (a timeout) committed after all.
void replay_stored(order_pointer self, const context_ptr& ctx, const placement& req) {
  auto key = req.waiting_key();
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::idempotency_get(req.key.buyer, req.key.key)}})
    .then(
      [self, req, key](const db_result& r) {
        auto stored = persistence::decode_idempotency_record(r.results.front());
        if (!stored)
          fail(self, key, unrecorded()); // expired meanwhile: a retry records anew
        else if (stored->request_hash != req.key.request_hash)
          fail(self, key, mismatch());
        else
          finish(self, key, stored->outcome);
      },
      [self, key](caf::error&) { fail(self, key, unrecorded()); });
}

/// Stores a definitive outcome for the key, then answers. When one is
/// stored already (an earlier attempt committed after all), that one is
/// sent; an outcome that could not be stored is never sent (503 instead),
/// so a key has one outcome forever.
void record_and_finish(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome outcome) {
  auto key = req.waiting_key();
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                db_command{{persistence::idempotency_insert(req.key, outcome.recorded)}})
    .then([self, key, outcome](const db_result&) { finish(self, key, outcome); },
          [self, ctx, req, key](caf::error& err) {
            if (err == db_refusal::idempotency_key_taken)
              replay_stored(self, ctx, req);
            else
              fail(self, key, unrecorded());
          });
}

/// Tells the products' actors about stock moves a transaction made outside
/// them (rows: product_id, quantity, stock_version).
void announce(order_pointer self, const context_ptr& ctx, const db_rows& rows, stock_kind kind) {
  for (const auto& move : persistence::decode_stock_moves(rows)) {
    self->send(ctx->products.route(move.product_id), move.product_id, applied_atom::value,
               static_cast<std::int32_t>(kind), move.quantity, move.stock_version);
  }
}

/// A buy-now's checkout that cannot be placed: its refusal is stored and its
/// holds released in one transaction, so a refused (or abandoned) attempt
/// never keeps units from other buyers until the hold expires.
void release_and_record(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome refusal) {
  auto key = req.waiting_key();
  std::vector<std::uint64_t> ledger_ids;
  for (std::size_t i = 0; i < req.buy_now_lines; ++i)
    ledger_ids.push_back(ids::next());
  db_command cmd{{persistence::idempotency_insert(req.key, refusal.recorded),
                  persistence::checkout_release(req.body.checkout_id, checkout_status::failed, false, ledger_ids)}};
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self, ctx, key, refusal](const db_result& r) {
        announce(self, ctx, r.results.at(1), stock_kind::release);
        finish(self, key, refusal);
      },
      [self, ctx, req, key](caf::error& err) {
        if (err == db_refusal::idempotency_key_taken)
          replay_stored(self, ctx, req);
        else
          fail(self, key, unrecorded());
      });
}

/// Stores a definitive refusal of a placement (releasing a buy-now's holds
/// with it) and answers.
void refuse_placement(order_pointer self, const context_ptr& ctx, const placement& req, purchase_outcome refusal) {
  if (req.buy_now_lines > 0)
    release_and_record(self, ctx, req, std::move(refusal));
  else
    record_and_finish(self, ctx, req, std::move(refusal));
}

/// Turns a failed placement into its outcome; a failure of ours is not one
/// (the same key may succeed later: a buy-now's retry places the same
/// checkout, holds and all).
void placement_failed(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err) {
  auto p = to_problem(err);
  if (p.code == errc::not_found) {
    refuse_placement(self, ctx, req, refusal(make_problem(errc::not_found, "no such checkout"), req));
    return;
  }
  if (err == db_refusal::wrong_state) {
    auto state = refused_state(err);
    auto message = state == "expired" ? "the checkout expired and its stock was released; check out again"
                                      : "the checkout is " + state + " and cannot be placed";
    auto conflict = make_problem(errc::conflict, message);
    conflict.fields.push_back({"checkout_id", state == "placed" ? "is already placed" : "is " + state});
    refuse_placement(self, ctx, req, refusal(conflict, req));
    return;
  }
  // Any other definitive refusal is stored too; a failure of ours is not an outcome.
  if (is_refusal(p.code))
    refuse_placement(self, ctx, req, refusal(p, req));
  else
    fail(self, req.waiting_key(), err);
}

/// Reads the checkout to build the orders and the reply, then places it:
/// orders, items, sales from the holds and the stored reply in one
/// transaction.
void place(order_pointer self, const context_ptr& ctx, const placement& req) {
  auto read = db_command{{persistence::checkout_parts(req.body.checkout_id, req.key.buyer)}};
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, std::move(read))
    .then(
      [self, ctx, req](const db_result& r) {
        const auto parts = persistence::decode_checkout_parts(r.results.front());
        if (parts.empty()) {
          placement_failed(self, ctx, req, make_error(errc::not_found, "checkout_missing"));
          return;
        }
        // One order per seller, in seller order (as checkout_place numbers them).
        std::vector<order> orders;
        for (const auto& part : parts) {
          auto seller = part.share.seller_id;
          if (orders.empty() || orders.back().seller_id != seller) {
            order o;
            o.id = ids::next();
            o.checkout_id = req.body.checkout_id;
            o.buyer_id = req.key.buyer;
            o.seller_id = seller;
            o.currency = part.currency;
            o.subtotal_minor = part.share.subtotal_minor;
            o.shipping_minor = part.share.shipping_minor;
            o.total_minor = o.subtotal_minor + o.shipping_minor;
            orders.push_back(std::move(o));
          }
          orders.back().items.push_back(part.item);
        }
        std::vector<std::uint64_t> order_ids;
        std::vector<std::uint64_t> transition_ids;
        for (const auto& o : orders) {
          order_ids.push_back(o.id);
          transition_ids.push_back(ids::next());
        }
        std::vector<std::uint64_t> ledger_ids;
        for (std::size_t i = 0; i < parts.size(); ++i)
          ledger_ids.push_back(ids::next());
        auto created = sealed(purchase_outcome::placement(req.body.checkout_id, orders));
        db_command cmd{{persistence::checkout_place(req.body.checkout_id, req.key.buyer, order_ids, transition_ids,
                                                    ledger_ids),
                        persistence::idempotency_insert(req.key, created.recorded)}};
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
          .then(
            [self, ctx, req, created](const db_result& placed) {
              // The sales happened outside the products' actors: tell them.
              announce(self, ctx, placed.results.front(), stock_kind::commit);
              if (req.body.method.kind.empty())
                finish(self, req.waiting_key(), created);
              else
                pay_placed(self, ctx, req, created);
            },
            [self, ctx, req](caf::error& err) {
              if (err == db_refusal::idempotency_key_taken) {
                // Another node stored a reply for this key first: send that one.
                replay_stored(self, ctx, req);
                return;
              }
              placement_failed(self, ctx, req, err);
            });
      },
      [self, req](caf::error& err) { fail(self, req.waiting_key(), err); });
}

/// Pays every order of a placement with the request's method (one charge
/// per seller's order, as destination charges are made), then stores and
/// sends the placement with each order's status and payment. A declined
/// payment leaves its order pending: the placement still succeeded. When
/// the paid outcome cannot be stored, the one `placed` stored with the
/// orders is sent: what a retry with the key will get.
void pay_placed(order_pointer self, const context_ptr& ctx, const placement& req, const purchase_outcome& placed) {
  struct gather {
    purchase_outcome paid;
    std::size_t waiting = 0;
  };
  auto g = std::make_shared<gather>(gather{placed, placed.orders.size()});
  auto one_done = [self, ctx, req, g, placed] {
    if (--g->waiting > 0)
      return;
    g->paid = sealed(std::move(g->paid)); // its orders now show their payments
    self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                  db_command{{persistence::idempotency_update(req.key, g->paid.recorded)}})
      .then([self, req, g](const db_result&) { finish(self, req.waiting_key(), g->paid); },
            [self, req, placed](caf::error&) { finish(self, req.waiting_key(), placed); });
  };
  for (std::size_t i = 0; i < placed.orders.size(); ++i) {
    auto id = placed.orders[i].id;
    order_command cmd;
    cmd.action = order_action::pay;
    cmd.method = req.body.method;
    const auto& route = ctx->order_actors.route(id);
    self->request(route, ctx->change_timeout, id, command_atom::value, req.key.buyer, cmd)
      .then([g, i, one_done](const order& o) { g->paid.orders[i] = o; one_done(); },
            [self, ctx, route, id, g, i, one_done](caf::error&) {
              // Declined or not reached: show the order as it is now.
              self->request(route, ctx->step_timeout, id, get_atom::value, std::uint64_t{0})
                .then([g, i, one_done](const order& o) { g->paid.orders[i] = o; one_done(); },
                      [one_done](caf::error&) { one_done(); });
            });
  }
}

/// A definitive refusal of a buy-now is the outcome for its key (stored);
/// a failure of ours is not (the same key may succeed later).
void buy_now_refused(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err) {
  auto p = to_problem_with_fields(err);
  if (is_refusal(p.code))
    record_and_finish(self, ctx, req, refusal(std::move(p), req));
  else
    fail(self, req.waiting_key(), err);
}

/// One-tap buy-now of several products: a checkout of the items (held as
/// usual), placed at once under the same key.
void buy_now(order_pointer self, const context_ptr& ctx, placement req) {
  auto items = req.body.items;
  items.idempotency_key = req.key.key;
  items.request_hash = req.key.request_hash;
  // Reading the products, opening the checkout and holding every line take
  // several steps: the budget of a whole change, not of one step.
  self->request(ctx->checkouts, ctx->change_timeout, checkout_atom::value, req.key.buyer, std::move(items))
    .then(
      [self, ctx, req](const checkout& c) mutable {
        req.body.checkout_id = c.id;
        req.buy_now_lines = c.lines.size();
        place(self, ctx, req);
      },
      [self, ctx, req](caf::error& err) {
        // Another node opened this key's checkout meanwhile: a retry finds it.
        if (err == db_refusal::checkout_key_taken)
          fail(self, req.waiting_key(), unrecorded());
        else
          buy_now_refused(self, ctx, req, err);
      });
}

/// One-tap buy-now of one product: a direct sale by the product's actor,
/// which writes it with the other sales of its batch (order, item, ledger
/// entry and the reply for the key, in one transaction). No checkout, no
/// read first: a key used before shows up as a conflict in that
/// transaction, and then its stored reply is sent.
void direct_sale(order_pointer self, const context_ptr& ctx, const placement& req) {
  const auto& item = req.body.items.items.front();
  sale_request sale{req.key.buyer, req.body.items.address_id, item.quantity,          req.key.key,
                    req.key.request_hash, req.body.drop_id, req.body.drop_price_minor};
  auto refused = [self, ctx, req](caf::error& err) {
    auto p = to_problem(err);
    if (p.code == errc::not_found)
      buy_now_refused(self, ctx, req, line_error(errc::validation_failed, 0, "product_id", "is not a product"));
    else if (p.code == errc::conflict)
      buy_now_refused(self, ctx, req, line_error(errc::conflict, 0, "quantity", p.detail));
    else if (p.code == errc::validation_failed)
      buy_now_refused(self, ctx, req, line_error(errc::validation_failed, 0, "quantity", "must be at least 1"));
    else
      buy_now_refused(self, ctx, req, err);
  };
  self->request(ctx->products.route(item.product_id), ctx->step_timeout, item.product_id, sell_atom::value, sale)
    .then(
      [self, ctx, req](const sale_result& r) {
        switch (r.outcome) {
          case sale_outcome::placed: {
            // Sealed by the product's actor, which stored this reply with the sale.
            auto placed = purchase_outcome::placement(0, {r.placed});
            placed.recorded = r.reply;
            if (req.body.method.kind.empty())
              finish(self, req.waiting_key(), placed);
            else
              pay_placed(self, ctx, req, placed);
            return;
          }
          case sale_outcome::replay:
            replay_stored(self, ctx, req);
            return;
          case sale_outcome::address: {
            auto p = make_problem(errc::validation_failed, "invalid fields: address_id");
            p.fields.push_back({"address_id", "is not one of your addresses"});
            record_and_finish(self, ctx, req, refusal(std::move(p), req));
            return;
          }
        }
      },
      refused);
}

caf::result<purchase_outcome> accept_refusal(order_pointer self, const context_ptr& ctx, const purchase_key& key,
                                             const caf::error& refused) {
  // A refusal decided elsewhere (a drop's stream) becomes the key's
  // outcome like any other: stored first, and a key that has an outcome
  // already (or a request in flight) keeps that one.
  placement req{key, {}};
  auto rp = self->make_response_promise<purchase_outcome>();
  auto k = req.waiting_key();
  if (auto it = self->state.placing.find(k); it != self->state.placing.end()) {
    if (it->second.request_hash != key.request_hash)
      return mismatch();
    it->second.waiting.push_back(rp);
    return rp;
  }
  self->state.placing[k] = in_flight{key.request_hash, {rp}};
  buy_now_refused(self, ctx, req, refused);
  return rp;
}

caf::result<purchase_outcome> accept_placement(order_pointer self, const context_ptr& ctx, const purchase_key& key,
                                               const place_request& body) {
  placement req{key, body};
  auto rp = self->make_response_promise<purchase_outcome>();
  auto k = req.waiting_key();
  if (auto it = self->state.placing.find(k); it != self->state.placing.end()) {
    if (it->second.request_hash != key.request_hash)
      return mismatch();
    it->second.waiting.push_back(rp);
    return rp;
  }
  self->state.placing[k] = in_flight{key.request_hash, {rp}};
  // A buy-now of one product goes straight to the product's actor.
  if (body.checkout_id == 0 && body.items.items.size() == 1) {
    direct_sale(self, ctx, req);
    return rp;
  }
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::idempotency_get(key.buyer, key.key),
                            persistence::checkout_by_key(key.buyer, key.key)}})
    .then(
      [self, ctx, req, k](const db_result& r) mutable {
        auto stored = persistence::decode_idempotency_record(r.results.front());
        if (!stored && req.body.checkout_id == 0) {
          // A buy-now tried before without an outcome (a failure, a lost
          // reply) left its checkout: place that one, holds and all.
          if (auto earlier = persistence::decode_keyed_checkout(r.results.at(1))) {
            if (earlier->request_hash != req.key.request_hash) {
              fail(self, k, mismatch());
              return;
            }
            req.body.checkout_id = earlier->id;
            req.buy_now_lines = earlier->lines;
            place(self, ctx, req);
            return;
          }
          buy_now(self, ctx, req);
          return;
        }
        if (!stored) {
          place(self, ctx, req);
          return;
        }
        if (stored->request_hash != req.key.request_hash)
          fail(self, k, mismatch());
        else
          finish(self, k, stored->outcome);
      },
      [self, k](caf::error& err) { fail(self, k, err); });
  return rp;
}

} // namespace livemart::order_desk
