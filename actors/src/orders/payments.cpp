#include "order.hpp"
#include <protocol/clock.hpp>

namespace livemart::orders {

/// Gives `amount` of payment `payment_id` back through the gateway, then
/// calls `finish` with the statements that record the refund (to commit with
/// the change that needed it) and the amount given back. A new refund gets
/// a pending row before the gateway is called (its id is the gateway's
/// idempotency key). A refund whose outcome is unknown (still pending from
/// an earlier attempt) is retried first, under its own id and amount, so
/// it happens once whatever the retries.
void give_back(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::uint64_t payment_id,
               std::int64_t amount, std::string reason, refund_finish finish) {
  auto* pay = find_payment(self->state.o, [&](const payment& p) { return p.id == payment_id; });
  auto ref = pay->gateway_ref;
  auto order_id = self->state.o.id;
  bool retry = pay->pending_refund_id != 0;
  auto refund_id = retry ? pay->pending_refund_id : ids::next();
  if (retry)
    amount = pay->pending_refund_minor;
  auto call_gateway = [self, ctx, j, refund_id, payment_id, ref, amount, order_id, finish]() {
    self->request(ctx->gateway, ctx->gateway_timeout, refund_atom::value, gateway_refund{refund_id, ref, amount})
      .then(
        [self, ctx, j, refund_id, payment_id, amount, order_id, finish](const gateway_record& r) {
          if (r.status != payment_status::succeeded) {
            // Refused: nothing was given back; the pending row closes.
            auto refused = make_error(errc::gateway_unavailable, "the gateway refused the refund: " + r.failure_reason);
            self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                          fenced(db_command{{persistence::refund_settle(refund_id, false, r.ref)}}, self->state.fence))
              .then(
                [self, ctx, j, payment_id, refused](const db_result&) {
                  if (auto* p = find_payment(self->state.o, [&](const payment& x) { return x.id == payment_id; }))
                    p->pending_refund_id = 0;
                  fail(self, ctx, *j, refused);
                },
                [self, ctx, j, refused](caf::error&) {
                  self->state.needs_reload = true;
                  fail(self, ctx, *j, refused);
                });
            return;
          }
          finish({persistence::refund_settle(refund_id, true, r.ref), persistence::payment_add_refunded(payment_id, amount),
                  persistence::order_add_refunded(order_id, amount)},
                 j, amount);
        },
        [self, ctx, j](caf::error& err) {
          // Unknown outcome: the row stays pending and the next attempt
          // retries this very refund.
          fail(self, ctx, *j, std::move(err));
        });
  };
  if (retry) {
    call_gateway();
    return;
  }
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                fenced(db_command{{persistence::refund_insert(refund_id, payment_id, amount, reason)}}, self->state.fence))
    .then(
      [self, payment_id, refund_id, amount, call_gateway](const db_result&) {
        if (auto* p = find_payment(self->state.o, [&](const payment& x) { return x.id == payment_id; })) {
          p->pending_refund_id = refund_id;
          p->pending_refund_minor = amount;
        }
        call_gateway();
      },
      [self, ctx, j](caf::error& err) {
        self->state.needs_reload = true;
        fail(self, ctx, *j, std::move(err));
      });
}

void note_refund(order& o, std::uint64_t payment_id, std::int64_t amount, bool of_the_order) {
  if (of_the_order)
    o.refunded_minor += amount;
  if (auto* p = find_payment(o, [&](const payment& x) { return x.id == payment_id; })) {
    p->refunded_minor += amount;
    p->pending_refund_id = 0;
    p->pending_refund_minor = 0;
  }
}

/// Stops a payment still open at the gateway (processing, or waiting for
/// 3-D Secure) and records what the gateway then reports: canceled, failed,
/// or succeeded after all (which confirms a pending order). One the gateway
/// can no longer stop is a 409. Then `then()`.
void stop_open_payment(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::function<void()> then) {
  auto* open = find_payment(self->state.o, [](const payment& p) {
    return (p.status == payment_status::processing || p.status == payment_status::requires_action)
           && !p.gateway_ref.empty();
  });
  if (open == nullptr) {
    then();
    return;
  }
  auto id = open->id;
  self->request(ctx->gateway, ctx->gateway_timeout, cancel_atom::value, open->gateway_ref)
    .then(
      [self, ctx, j, id, then](const gateway_record& r) {
        if (r.status == payment_status::processing || r.status == payment_status::requires_action
            || r.status == payment_status::created) {
          fail(self, ctx, *j,
               make_error(errc::conflict, "payment " + ids::format(id)
                                            + " is being processed by the gateway and cannot be stopped; retry once it settles"));
          return;
        }
        const auto& current = self->state.o;
        auto* p = find_payment(self->state.o, [&](const payment& x) { return x.id == id; });
        auto reason = p->failure_reason.empty() ? r.failure_reason : p->failure_reason;
        bool confirm = (r.status == payment_status::succeeded || r.status == payment_status::authorized)
                       && current.status == order_status::pending;
        auto why = "payment " + ids::format(id) + " succeeded";
        db_command cmd;
        if (confirm)
          cmd.statements.push_back(move_statement(current, order_status::confirmed, 0, why));
        cmd.statements.push_back(persistence::payment_update(id, r.status, r.ref, reason, ""));
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
          .then(
            [self, id, r, reason, confirm, why, then](const db_result& res) {
              if (confirm)
                apply_move(self->state.o, order_status::confirmed, why, res.results[0]);
              auto* mine = find_payment(self->state.o, [&](const payment& x) { return x.id == id; });
              mine->status = r.status;
              mine->failure_reason = reason;
              mine->next_action_url.clear();
              then();
            },
            [self, ctx, j](caf::error& err) {
              self->state.needs_reload = true;
              fail(self, ctx, *j, std::move(err));
            });
      },
      [self, ctx, j](caf::error& err) { fail(self, ctx, *j, std::move(err)); });
}

// -- pay ------------------------------------------------------------------------------

void charge(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j);

/// Pays for a pending order: a payment still open at the gateway (say,
/// waiting for 3-D Secure) is stopped first, so one order is never charged
/// twice; if it succeeded meanwhile, that is the payment.
void pay(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  stop_open_payment(self, ctx, j, [self, ctx, j] {
    if (self->state.o.status != order_status::pending) {
      succeed(self, ctx, *j); // the earlier payment went through
      return;
    }
    charge(self, ctx, j);
  });
}

void charge(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  auto& current = self->state.o;
  if (auto* unknown = find_payment(current, [](const payment& p) { return p.status == payment_status::created; })) {
    fail(self, ctx, *j,
         make_error(errc::conflict, "the outcome of payment " + ids::format(unknown->id)
                                      + " is not known yet; it is settled by the gateway's report or by reconciliation"));
    return;
  }
  payment p;
  p.id = ids::next();
  p.order_id = current.id;
  p.gateway = ctx->gateway_name;
  p.method = j->cmd.method.kind;
  p.amount_minor = current.total_minor;
  p.currency = current.currency;
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{{persistence::payment_insert(p)}}, self->state.fence))
    .then(
      [self, ctx, j, p](const db_result&) mutable {
        p.created_at_ms = wall_clock::now_ms();
        self->state.o.payments.push_back(p);
        gateway_charge charge{p.id, p.order_id, p.amount_minor, p.currency, j->cmd.method, ctx->capture_on_ship};
        self->request(ctx->gateway, ctx->gateway_timeout, charge_atom::value, std::move(charge))
          .then(
            [self, ctx, j, p](const gateway_record& r) {
              const auto& before = self->state.o;
              std::vector<db_statement> stmts;
              bool confirm = (r.status == payment_status::succeeded || r.status == payment_status::authorized)
                             && before.status == order_status::pending;
              std::string reason = "payment " + ids::format(p.id) + " succeeded";
              if (confirm)
                stmts.push_back(move_statement(before, order_status::confirmed, j->user, reason));
              stmts.push_back(persistence::payment_update(p.id, r.status, r.ref, r.failure_reason, r.next_action_url));
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{std::move(stmts)}, self->state.fence))
                .then(
                  [self, ctx, j, p, r, confirm, reason](const db_result& res) {
                    auto& o = self->state.o;
                    if (confirm)
                      apply_move(o, order_status::confirmed, reason, res.results[0]);
                    if (auto* mine = find_payment(o, [&](const payment& x) { return x.id == p.id; })) {
                      mine->status = r.status;
                      mine->gateway_ref = r.ref;
                      mine->failure_reason = r.failure_reason;
                      mine->next_action_url = r.next_action_url;
                    }
                    if (r.status == payment_status::failed) {
                      auto err = make_error(errc::payment_declined,
                                            "the payment was declined (" + r.failure_reason
                                              + "); the order stays pending: pay with another method before its hold ends",
                                            {field_error{j->cmd.method.kind == "card" ? "payment_method" : "google_pay_token",
                                                         "was declined: " + r.failure_reason}});
                      fail(self, ctx, *j, std::move(err));
                      return;
                    }
                    succeed(self, ctx, *j);
                  },
                  [self, ctx, j](caf::error& err) {
                    self->state.needs_reload = true;
                    fail(self, ctx, *j, std::move(err));
                  });
            },
            [self, ctx, j](caf::error& err) {
              // The charge's outcome is unknown; the payment stays
              // `created` until the gateway's event or reconciliation.
              fail(self, ctx, *j, make_error(errc::gateway_unavailable,
                                             "the payment gateway did not answer (" + to_problem(err).detail
                                               + "); the payment is settled when the gateway reports it"));
            });
      },
      [self, ctx, j](caf::error& err) {
        self->state.needs_reload = true; // the row may exist after all
        fail(self, ctx, *j, std::move(err));
      });
}

// -- gateway events ------------------------------------------------------------------

void apply_event(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  auto& current = self->state.o;
  const auto& ev = j->ev;
  auto* p = find_payment(current, [&](const payment& x) { return x.gateway_ref == ev.object.ref && !x.gateway_ref.empty(); });
  if (p == nullptr && ev.object.payment_id != 0)
    p = find_payment(current, [&](const payment& x) { return x.id == ev.object.payment_id; });
  payment_status incoming{};
  // Reconciliation's news that a payment whose outcome was unknown never
  // reached the gateway: it failed.
  bool missing = ev.type == missing_payment_event;
  if (missing)
    incoming = payment_status::failed;
  if (p == nullptr || (!missing && !event_outcome(ev.type, incoming)) || (missing && p->status != payment_status::created)) {
    j->event_rp.deliver(std::string{"ignored"});
    done(self, ctx);
    return;
  }
  auto payment_id = p->id;
  std::vector<db_statement> stmts;
  bool confirm = false;
  bool moves = false;
  std::int64_t refunded = 0;
  std::string reason = "payment " + ids::format(payment_id) + " succeeded (gateway event)";
  // Another payment that paid for the order and was not given back.
  bool paid_otherwise = find_payment(current, [&](const payment& x) {
                          return x.id != payment_id && x.refunded_minor < x.amount_minor
                                 && (x.status == payment_status::succeeded || x.status == payment_status::authorized);
                        }) != nullptr;
  if (ev.type == "charge.refunded") {
    refunded = std::max<std::int64_t>(0, ev.object.amount_refunded_minor - p->refunded_minor);
  } else if (payment_may_move(p->status, incoming)) {
    moves = true;
    confirm = (incoming == payment_status::succeeded || incoming == payment_status::authorized)
              && current.status == order_status::pending && !paid_otherwise;
  }
  // Money the order does not need (it was cancelled, or paid otherwise)
  // goes back; news of a success already known still checks this, so a
  // refund that failed before is tried again.
  bool surplus = incoming == payment_status::succeeded && ev.type != "charge.refunded" && !confirm
                 && p->refunded_minor < p->amount_minor
                 && (current.status == order_status::cancelled || paid_otherwise);
  if (confirm)
    stmts.push_back(move_statement(current, order_status::confirmed, 0, reason));
  stmts.push_back(persistence::payment_event_insert(ev.id, ev.type, payment_id));
  auto failure = missing ? std::string{"not_found_at_gateway"} : ev.object.failure_reason;
  if (moves)
    stmts.push_back(persistence::payment_update(payment_id, incoming, ev.object.ref, failure,
                                                incoming == payment_status::requires_action ? ev.object.next_action_url : ""));
  if (refunded > 0) {
    stmts.push_back(persistence::payment_add_refunded(payment_id, refunded));
    stmts.push_back(persistence::order_add_refunded(current.id, std::min(refunded, current.total_minor - current.refunded_minor)));
  }
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{std::move(stmts)}, self->state.fence))
    .then(
      [self, ctx, j, payment_id, incoming, confirm, moves, surplus, refunded, reason, failure](const db_result& r) {
        auto& o = self->state.o;
        if (confirm)
          apply_move(o, order_status::confirmed, reason, r.results[0]);
        auto* mine = find_payment(o, [&](const payment& x) { return x.id == payment_id; });
        if (moves) {
          mine->status = incoming;
          if (mine->gateway_ref.empty())
            mine->gateway_ref = j->ev.object.ref;
          mine->failure_reason = failure;
          mine->next_action_url = incoming == payment_status::requires_action ? j->ev.object.next_action_url : "";
        }
        if (refunded > 0) {
          mine->refunded_minor += refunded;
          o.refunded_minor += std::min(refunded, o.total_minor - o.refunded_minor);
        }
        j->event_rp.deliver(std::string{moves || refunded > 0 ? "applied" : "ignored"});
        if (surplus) {
          job follow;
          follow.kind = job::surplus;
          follow.payment_id = payment_id;
          self->state.queue.push_front(std::move(follow));
        }
        done(self, ctx);
      },
      [self, ctx, j](caf::error& err) {
        if (err == db_refusal::payment_event_seen) {
          j->event_rp.deliver(std::string{"duplicate"});
          done(self, ctx);
          return;
        }
        self->state.needs_reload = true;
        fail(self, ctx, *j, std::move(err));
      });
}

} // namespace livemart::orders
