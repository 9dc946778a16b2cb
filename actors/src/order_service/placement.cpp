#include "order_service.hpp"

namespace livemart::order_desk {

stored_reply problem_reply(problem p, const placement& req) {
  auto status = info(p.code).status;
  if (status == 503 && p.retry_after_s == 0)
    p.retry_after_s = req.retry_after_s;
  return {static_cast<std::int32_t>(status), render(p, req.instance, req.request_id)};
}

/// The reply when a definitive outcome could not be stored, or a stored one
/// could not be read: never the unstored outcome (a retry with the same key
/// might then meet another one), but 503, so the client retries.
stored_reply unavailable_reply(const placement& req) {
  return problem_reply(make_problem(errc::database_unavailable,
                                    "the outcome could not be recorded; retry with the same Idempotency-Key"),
                       req);
}

/// Answers everyone waiting on the key and forgets it.
void finish(order_pointer self, const key_type& key, const stored_reply& reply) {
  auto it = self->state.placing.find(key);
  if (it == self->state.placing.end())
    return;
  for (auto& rp : it->second.waiting)
    rp.deliver(reply);
  self->state.placing.erase(it);
}


stored_reply mismatch_reply(const placement& req) {
  auto p = make_problem(errc::conflict, "this Idempotency-Key was used with a different request");
  p.fields.push_back({"Idempotency-Key", "was used with a different request"});
  return problem_reply(p, req);
}

/// Answers with the reply stored under the key (or a mismatch), e.g. after
/// an earlier attempt whose reply was lost (a timeout) committed after all.
void replay_stored(order_pointer self, const context_ptr& ctx, const placement& req) {
  key_type key{req.buyer, req.key};
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::idempotency_get(req.buyer, req.key)}})
    .then(
      [self, req, key](const db_result& r) {
        auto stored = persistence::decode_idempotency_record(r.results.front());
        if (!stored)
          finish(self, key, unavailable_reply(req)); // expired meanwhile: a retry records anew
        else if (stored->request_hash != req.request_hash)
          finish(self, key, mismatch_reply(req));
        else
          finish(self, key, stored->reply);
      },
      [self, req, key](caf::error&) { finish(self, key, unavailable_reply(req)); });
}

/// Stores a definitive reply for the key, then answers. When a reply is
/// stored already (an earlier attempt committed after all), that one is
/// sent; a reply that could not be stored is never sent (503 instead), so
/// a key has one outcome forever.
void record_and_finish(order_pointer self, const context_ptr& ctx, const placement& req, stored_reply reply) {
  key_type key{req.buyer, req.key};
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                db_command{{persistence::idempotency_insert(req.buyer, req.key, req.request_hash, reply)}})
    .then([self, key, reply](const db_result&) { finish(self, key, reply); },
          [self, ctx, req, key](caf::error& err) {
            if (err == db_refusal::idempotency_key_taken)
              replay_stored(self, ctx, req);
            else
              finish(self, key, unavailable_reply(req));
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
void release_and_record(order_pointer self, const context_ptr& ctx, const placement& req, stored_reply refusal) {
  key_type key{req.buyer, req.key};
  std::vector<std::uint64_t> ledger_ids;
  for (std::size_t i = 0; i < req.buy_now_lines; ++i)
    ledger_ids.push_back(ids::next());
  db_command cmd{{persistence::idempotency_insert(req.buyer, req.key, req.request_hash, refusal),
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
          finish(self, key, unavailable_reply(req));
      });
}

/// Stores a definitive refusal of a placement (releasing a buy-now's holds
/// with it) and answers.
void refuse_placement(order_pointer self, const context_ptr& ctx, const placement& req, stored_reply refusal) {
  if (req.buy_now_lines > 0)
    release_and_record(self, ctx, req, std::move(refusal));
  else
    record_and_finish(self, ctx, req, std::move(refusal));
}

/// Turns a failed placement into its reply; 5xx outcomes are not stored
/// (the same key may succeed later: a buy-now's retry places the same
/// checkout, holds and all).
void placement_failed(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err) {
  auto p = to_problem(err);
  key_type key{req.buyer, req.key};
  if (p.code == errc::not_found) {
    refuse_placement(self, ctx, req, problem_reply(make_problem(errc::not_found, "no such checkout"), req));
    return;
  }
  if (err == db_refusal::wrong_state) {
    auto state = refused_state(err);
    auto message = state == "expired" ? "the checkout expired and its stock was released; check out again"
                                      : "the checkout is " + state + " and cannot be placed";
    auto conflict = make_problem(errc::conflict, message);
    conflict.fields.push_back({"checkout_id", state == "placed" ? "is already placed" : "is " + state});
    refuse_placement(self, ctx, req, problem_reply(conflict, req));
    return;
  }
  // Any other definitive refusal is stored too; a 5xx is not an outcome.
  if (info(p.code).status < 500)
    refuse_placement(self, ctx, req, problem_reply(p, req));
  else
    finish(self, key, problem_reply(p, req));
}

/// Reads the checkout to build the orders and the reply, then places it:
/// orders, items, sales from the holds and the stored reply in one
/// transaction.
void place(order_pointer self, const context_ptr& ctx, const placement& req) {
  auto read = db_command{{persistence::checkout_parts(req.body.checkout_id, req.buyer)}};
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
            o.buyer_id = req.buyer;
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
        stored_reply created{201, encode_placement(req.body.checkout_id, orders), true};
        db_command cmd{{persistence::checkout_place(req.body.checkout_id, req.buyer, order_ids, transition_ids, ledger_ids),
                        persistence::idempotency_insert(req.buyer, req.key, req.request_hash, created)}};
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
          .then(
            [self, ctx, req, created, orders](const db_result& placed) {
              // The sales happened outside the products' actors: tell them.
              announce(self, ctx, placed.results.front(), stock_kind::commit);
              if (req.body.method.kind.empty())
                finish(self, key_type{req.buyer, req.key}, created);
              else
                pay_placed(self, ctx, req, orders, created);
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
      [self, req](caf::error& err) { finish(self, key_type{req.buyer, req.key}, problem_reply(to_problem(err), req)); });
}

/// Pays every order of a placement with the request's method (one charge
/// per seller's order, as destination charges are made), then stores and
/// sends the placement with each order's status and payment. A declined
/// payment leaves its order pending: the placement still succeeded. When
/// the new reply cannot be stored, the one `stored` with the orders is sent:
/// what a retry with the key will get.
void pay_placed(order_pointer self, const context_ptr& ctx, const placement& req, const std::vector<order>& placed,
                const stored_reply& stored) {
  struct gather {
    std::vector<order> orders;
    std::size_t waiting = 0;
  };
  auto g = std::make_shared<gather>(gather{placed, placed.size()});
  auto one_done = [self, ctx, req, g, stored] {
    if (--g->waiting > 0)
      return;
    stored_reply reply{201, encode_placement(req.body.checkout_id, g->orders), true};
    self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                  db_command{{persistence::idempotency_update(req.buyer, req.key, reply)}})
      .then([self, req, reply](const db_result&) { finish(self, key_type{req.buyer, req.key}, reply); },
            [self, req, stored](caf::error&) { finish(self, key_type{req.buyer, req.key}, stored); });
  };
  for (std::size_t i = 0; i < placed.size(); ++i) {
    auto id = placed[i].id;
    order_command cmd;
    cmd.action = order_action::pay;
    cmd.method = req.body.method;
    const auto& route = ctx->order_actors.route(id);
    self->request(route, ctx->change_timeout, id, command_atom::value, req.buyer, cmd)
      .then([g, i, one_done](const order& o) { g->orders[i] = o; one_done(); },
            [self, ctx, route, id, g, i, one_done](caf::error&) {
              // Declined or not reached: show the order as it is now.
              self->request(route, ctx->step_timeout, id, get_atom::value, std::uint64_t{0})
                .then([g, i, one_done](const order& o) { g->orders[i] = o; one_done(); },
                      [one_done](caf::error&) { one_done(); });
            });
  }
}

/// A definitive refusal of a buy-now is the reply for its key (stored);
/// a 5xx is not (the same key may succeed later).
void buy_now_refused(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err) {
  auto p = to_problem_with_fields(err);
  if (info(p.code).status >= 500)
    finish(self, key_type{req.buyer, req.key}, problem_reply(p, req));
  else
    record_and_finish(self, ctx, req, problem_reply(p, req));
}

/// One-tap buy-now of several products: a checkout of the items (held as
/// usual), placed at once under the same key.
void buy_now(order_pointer self, const context_ptr& ctx, placement req) {
  auto items = req.body.items;
  items.idempotency_key = req.key;
  items.request_hash = req.request_hash;
  // Reading the products, opening the checkout and holding every line take
  // several steps: the budget of a whole change, not of one step.
  self->request(ctx->checkouts, ctx->change_timeout, checkout_atom::value, req.buyer, std::move(items))
    .then(
      [self, ctx, req](const checkout& c) mutable {
        req.body.checkout_id = c.id;
        req.buy_now_lines = c.lines.size();
        place(self, ctx, req);
      },
      [self, ctx, req](caf::error& err) {
        // Another node opened this key's checkout meanwhile: a retry finds it.
        if (err == db_refusal::checkout_key_taken)
          finish(self, key_type{req.buyer, req.key}, unavailable_reply(req));
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
  sale_request sale{req.buyer,           req.body.items.address_id, item.quantity,
                    req.key,             req.request_hash,          req.body.drop_id,
                    req.body.drop_price_minor};
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
          case sale_outcome::placed:
            if (req.body.method.kind.empty())
              finish(self, key_type{req.buyer, req.key}, {201, r.body, true});
            else
              pay_placed(self, ctx, req, {r.placed}, {201, r.body, true});
            return;
          case sale_outcome::replay:
            replay_stored(self, ctx, req);
            return;
          case sale_outcome::address: {
            auto p = make_problem(errc::validation_failed, "invalid fields: address_id");
            p.fields.push_back({"address_id", "is not one of your addresses"});
            record_and_finish(self, ctx, req, problem_reply(p, req));
            return;
          }
        }
      },
      refused);
}

caf::result<stored_reply> accept_refusal(order_pointer self, const context_ptr& ctx, std::uint64_t buyer, const std::string& key, const std::string& request_hash, const std::string& instance, const std::string& request_id, const caf::error& refusal) {
  // A refusal decided elsewhere (a drop's stream) becomes the key's
  // outcome like any other: stored first, and a key that has an outcome
  // already (or a request in flight) keeps that one.
  placement req{buyer, key, request_hash, instance, request_id, {}, ctx->retry_after_s};
  auto rp = self->make_response_promise<stored_reply>();
  key_type k{buyer, key};
  if (auto it = self->state.placing.find(k); it != self->state.placing.end()) {
    if (it->second.request_hash != request_hash)
      return mismatch_reply(req);
    it->second.waiting.push_back(rp);
    return rp;
  }
  self->state.placing[k] = in_flight{request_hash, {rp}};
  buy_now_refused(self, ctx, req, refusal);
  return rp;
}

caf::result<stored_reply> accept_placement(order_pointer self, const context_ptr& ctx, std::uint64_t buyer, const std::string& key, const std::string& request_hash, const std::string& instance, const std::string& request_id, const place_request& body) {
  placement req{buyer, key, request_hash, instance, request_id, body, ctx->retry_after_s};
  auto rp = self->make_response_promise<stored_reply>();
  key_type k{buyer, key};
  auto mismatch = [req] { return mismatch_reply(req); };
  if (auto it = self->state.placing.find(k); it != self->state.placing.end()) {
    if (it->second.request_hash != request_hash)
      return mismatch();
    it->second.waiting.push_back(rp);
    return rp;
  }
  self->state.placing[k] = in_flight{request_hash, {rp}};
  // A buy-now of one product goes straight to the product's actor.
  if (body.checkout_id == 0 && body.items.items.size() == 1) {
    direct_sale(self, ctx, req);
    return rp;
  }
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::idempotency_get(buyer, key), persistence::checkout_by_key(buyer, key)}})
    .then(
      [self, ctx, req, k, mismatch](const db_result& r) mutable {
        auto stored = persistence::decode_idempotency_record(r.results.front());
        if (!stored && req.body.checkout_id == 0) {
          // A buy-now tried before without an outcome (a failure, a lost
          // reply) left its checkout: place that one, holds and all.
          if (auto earlier = persistence::decode_keyed_checkout(r.results.at(1))) {
            if (earlier->request_hash != req.request_hash) {
              finish(self, k, mismatch());
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
        if (stored->request_hash != req.request_hash)
          finish(self, k, mismatch());
        else
          finish(self, k, stored->reply);
      },
      [self, req, k](caf::error& err) { finish(self, k, problem_reply(to_problem(err), req)); });
  return rp;
}

} // namespace livemart::order_desk
