#include "order.hpp"

namespace livemart::orders {

/// The order's transition to `to`, recorded as the first statement of a
/// change; apply_move() takes its result.
db_statement move_statement(const order& o, order_status to, std::uint64_t actor, const std::string& reason) {
  assert(order_edge(o.status, to)); // every move is an edge of the state machine
  return persistence::order_move(o.id, o.version, to, ids::next(), actor, reason);
}

void apply_move(order& o, order_status to, const std::string& reason, const db_rows& rows) {
  auto moved = persistence::decode_order_move(rows);
  o.history.push_back({std::string{to_string(o.status)}, std::string{to_string(to)}, reason, moved.updated_at_ms});
  o.status = to;
  o.version = moved.version;
  o.updated_at_ms = moved.updated_at_ms;
}

/// Tells the products that units came back (their actors did not make the move).
void announce_returns(const context_ptr& ctx, order_pointer self, const db_rows& rows) {
  for (const auto& move : persistence::decode_stock_moves(rows)) {
    self->send(ctx->products.route(move.product_id), move.product_id, applied_atom::value,
               static_cast<std::int32_t>(stock_kind::sale_return), move.quantity, move.stock_version);
  }
}

payment* find_payment(order& o, const std::function<bool(const payment&)>& pred) {
  for (auto it = o.payments.rbegin(); it != o.payments.rend(); ++it)
    if (pred(*it))
      return &*it;
  return nullptr;
}

std::vector<std::uint64_t> fresh_ids(std::size_t n) {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(ids::next());
  return out;
}

std::size_t distinct_products(const order& o) {
  std::vector<std::uint64_t> seen;
  for (const auto& i : o.items)
    if (std::find(seen.begin(), seen.end(), i.product_id) == seen.end())
      seen.push_back(i.product_id);
  return seen.size();
}

// -- cancel, expire, refund --------------------------------------------------------------

/// Cancels the order: a payment still in progress is cancelled at the
/// gateway first, a captured one is refunded in full, the units go back to
/// stock, all recorded in one transaction with the transition.
void cancel(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  stop_open_payment(self, ctx, j, [self, ctx, j] {
    // Paid at the last moment: an order that is paid for does not expire
    // (nor one whose hold has not ended by this node's clock: a later sweep takes it).
    if (j->cmd.action == order_action::expire && !payment_overdue(self->state.o, wall_clock::now_ms())) {
      succeed(self, ctx, *j);
      return;
    }
    auto reason = j->cmd.reason.empty()
                    ? std::string{j->cmd.action == order_action::expire ? "not paid before the hold ended" : "cancelled"}
                    : j->cmd.reason;
    auto finish = [self, ctx, reason](std::vector<db_statement> extra, std::shared_ptr<job> done_job) {
      const auto& ord = self->state.o;
      db_command cmd;
      cmd.statements.push_back(move_statement(ord, order_status::cancelled, done_job->user, reason));
      cmd.statements.push_back(persistence::order_return_stock(ord.id, fresh_ids(distinct_products(ord)), done_job->user));
      for (auto& stmt : extra)
        cmd.statements.push_back(std::move(stmt));
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
        .then(
          [self, ctx, done_job, reason](const db_result& r) {
            apply_move(self->state.o, order_status::cancelled, reason, r.results[0]);
            announce_returns(ctx, self, r.results[1]);
            succeed(self, ctx, *done_job);
          },
          [self, ctx, done_job](caf::error& err) {
            self->state.needs_reload = true;
            fail(self, ctx, *done_job, std::move(err));
          });
    };
    // Money only held is released, not refunded.
    if (auto* held = find_payment(self->state.o, [](const payment& p) { return p.status == payment_status::authorized; })) {
      auto id = held->id;
      self->request(ctx->gateway, ctx->gateway_timeout, cancel_atom::value, held->gateway_ref)
        .then(
          [self, ctx, j, id, finish](const gateway_record& r) {
            if (r.status != payment_status::canceled) {
              fail(self, ctx, *j, make_error(errc::gateway_unavailable,
                                             "the gateway did not release the authorization ("
                                               + std::string{to_string(r.status)} + "); the order is unchanged"));
              return;
            }
            if (auto* p = find_payment(self->state.o, [&](const payment& x) { return x.id == id; }))
              p->status = payment_status::canceled; // should the commit fail, the order is read again
            finish({persistence::payment_update(id, payment_status::canceled, r.ref, "", "")}, j);
          },
          [self, ctx, j](caf::error& err) { fail(self, ctx, *j, std::move(err)); });
      return;
    }
    auto* paid = find_payment(self->state.o, [](const payment& p) {
      return p.status == payment_status::succeeded && p.refunded_minor < p.amount_minor;
    });
    if (paid == nullptr) {
      finish({}, j);
      return;
    }
    auto payment_id = paid->id;
    give_back(self, ctx, j, payment_id, paid->amount_minor - paid->refunded_minor, "order cancelled: " + reason,
              [self, finish, payment_id](std::vector<db_statement> stmts, std::shared_ptr<job> done_job,
                                         std::int64_t amount) {
                // Noted now; should the commit fail, the order is read again.
                note_refund(self->state.o, payment_id, amount);
                finish(std::move(stmts), done_job);
              });
  });
}

void refund(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  auto& current = self->state.o;
  auto* paid = find_payment(current, [](const payment& p) {
    return p.status == payment_status::succeeded && p.refunded_minor < p.amount_minor;
  });
  auto remaining = std::min(current.total_minor - current.refunded_minor,
                            paid != nullptr ? paid->amount_minor - paid->refunded_minor : std::int64_t{0});
  if (remaining <= 0) {
    fail(self, ctx, *j, make_error(errc::conflict, "the order is refunded in full already"));
    return;
  }
  auto amount = j->cmd.amount_minor == 0 ? remaining : j->cmd.amount_minor;
  if (amount > remaining) {
    fail(self, ctx, *j,
         make_error(errc::validation_failed, "at most " + std::to_string(remaining) + " can be refunded",
                    {field_error{"amount_minor", "must be at most " + std::to_string(remaining)}}));
    return;
  }
  auto payment_id = paid->id;
  auto why = j->cmd.reason;
  give_back(self, ctx, j, payment_id, amount, "refund: " + why,
            [self, ctx, why, payment_id](std::vector<db_statement> stmts, std::shared_ptr<job> done_job,
                                         std::int64_t given) {
              // What was given back: an earlier refund with an unknown
              // outcome is settled first, at its own amount.
              auto reason = "refund of " + std::to_string(given) + (why.empty() ? "" : ": " + why);
              db_command cmd;
              cmd.statements.push_back(move_statement(self->state.o, order_status::refunded, done_job->user, reason));
              for (auto& s : stmts)
                cmd.statements.push_back(std::move(s));
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
                .then(
                  [self, ctx, done_job, reason, payment_id, given](const db_result& r) {
                    apply_move(self->state.o, order_status::refunded, reason, r.results[0]);
                    note_refund(self->state.o, payment_id, given);
                    succeed(self, ctx, *done_job);
                  },
                  [self, ctx, done_job](caf::error& err) {
                    self->state.needs_reload = true;
                    fail(self, ctx, *done_job, std::move(err));
                  });
            });
}

/// A payment that succeeded for an order that no longer needs it (cancelled
/// meanwhile, or paid twice): the money goes back.
void refund_surplus(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  auto* p = find_payment(self->state.o, [&](const payment& x) { return x.id == j->payment_id; });
  if (p == nullptr || p->status != payment_status::succeeded || p->refunded_minor >= p->amount_minor) {
    done(self, ctx);
    return;
  }
  auto payment_id = p->id;
  auto amount = p->amount_minor - p->refunded_minor;
  give_back(self, ctx, j, payment_id, amount, "payment not needed by the order",
            [self, ctx, payment_id](std::vector<db_statement> stmts, std::shared_ptr<job> done_job, std::int64_t given) {
              // Only the payment's own refunded sum: the order's total was never paid by it.
              stmts.pop_back();
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{std::move(stmts)}, self->state.fence))
                .then(
                  [self, ctx, done_job, payment_id, given](const db_result&) {
                    note_refund(self->state.o, payment_id, given, false);
                    done(self, ctx);
                  },
                  [self, ctx, done_job](caf::error&) {
                    self->state.needs_reload = true;
                    done(self, ctx);
                  });
            });
}

// -- capture -------------------------------------------------------------------------

/// Ships an order whose payment is only authorized: the money is captured
/// first, and the capture is recorded with the shipment in one transaction.
/// A refused capture leaves the order confirmed (502).
void capture_then_ship(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, std::uint64_t payment_id) {
  auto* held = find_payment(self->state.o, [&](const payment& p) { return p.id == payment_id; });
  self->request(ctx->gateway, ctx->gateway_timeout, capture_atom::value, held->gateway_ref, payment_id)
    .then(
      [self, ctx, j, payment_id](const gateway_record& r) {
        if (r.status != payment_status::succeeded) {
          fail(self, ctx, *j,
               make_error(errc::gateway_unavailable, "the gateway did not capture the payment ("
                                                       + (r.failure_reason.empty() ? std::string{to_string(r.status)} : r.failure_reason)
                                                       + "); the order stays confirmed"));
          return;
        }
        const auto& current = self->state.o;
        auto reason = "shipped with " + j->cmd.carrier + " " + j->cmd.tracking_number;
        db_command cmd{{move_statement(current, order_status::shipped, j->user, reason),
                        persistence::order_set_shipping(current.id, j->cmd.carrier, j->cmd.tracking_number),
                        persistence::payment_update(payment_id, payment_status::succeeded, r.ref, "", "")}};
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
          .then(
            [self, ctx, j, payment_id, reason](const db_result& res) {
              auto& o = self->state.o;
              apply_move(o, order_status::shipped, reason, res.results[0]);
              o.carrier = j->cmd.carrier;
              o.tracking_number = j->cmd.tracking_number;
              if (auto* p = find_payment(o, [&](const payment& x) { return x.id == payment_id; }))
                p->status = payment_status::succeeded;
              succeed(self, ctx, *j);
            },
            [self, ctx, j](caf::error& err) {
              self->state.needs_reload = true;
              fail(self, ctx, *j, std::move(err));
            });
      },
      [self, ctx, j](caf::error& err) {
        // Unknown outcome: captured or not, the gateway's event or
        // reconciliation tells; capturing again is idempotent.
        fail(self, ctx, *j, std::move(err));
      });
}

} // namespace livemart::orders
