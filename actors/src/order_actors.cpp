#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <actors/registry.hpp>

#include <cassert>
#include <deque>
#include <functional>
#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

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

void next(order_pointer self, const context_ptr& ctx);

/// Tells the buyer's user channel (any node) that the order's status changed.
void announce_status(order_pointer self) {
  auto& st = self->state;
  if (!st.exists || st.o.status == st.announced)
    return;
  st.announced = st.o.status;
  json::writer w;
  w.begin_object()
    .field("type", "order")
    .field("order_id", ids::format(st.o.id))
    .field("status", to_string(st.o.status))
    .field("total_minor", st.o.total_minor)
    .field("currency", st.o.currency)
    .end_object();
  caf::anon_send(self->home_system().groups().get_local(user_group_name(st.o.buyer_id)), push_atom::value, w.take());
}

/// Ends the current job and starts the next one.
void done(order_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  announce_status(self);
  st.busy = false;
  st.last_activity = std::chrono::steady_clock::now();
  if (st.queue.empty() && st.retiring) {
    self->quit();
    return;
  }
  next(self, ctx);
}

void fail(order_pointer self, const context_ptr& ctx, job& j, caf::error err) {
  if (j.kind == job::event)
    j.event_rp.deliver(std::move(err));
  else if (j.kind == job::command)
    j.order_rp.deliver(std::move(err));
  done(self, ctx);
}

void succeed(order_pointer self, const context_ptr& ctx, job& j) {
  if (j.kind == job::command)
    j.order_rp.deliver(self->state.o);
  done(self, ctx);
}

/// Reads the order as committed; `then` runs once it is loaded.
void load(order_pointer self, const context_ptr& ctx, std::function<void()> then) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::order_get(self->state.o.id)}})
    .then(
      [self, then](const db_result& r) {
        auto& st = self->state;
        st.loaded = true;
        st.needs_reload = false;
        auto found = persistence::decode_orders(r.results.front());
        st.exists = !found.empty();
        if (st.exists) {
          st.o = std::move(found.front());
          st.announced = st.o.status;
        }
        then();
      },
      [self, ctx, then](caf::error& err) {
        self->state.load_error = err;
        then();
      });
}

/// The order's transition to `to`, recorded as the first statement of a
/// change; apply_move() takes its result.
db_statement move_statement(const order& o, order_status to, std::uint64_t actor, const std::string& reason) {
  assert(order_edge(o.status, to)); // every move is an edge of the state machine
  return persistence::order_move(o.id, o.version, to, ids::next(), actor, reason);
}

void apply_move(order& o, order_status to, const std::string& reason, const db_rows& rows) {
  o.history.push_back({std::string{to_string(o.status)}, std::string{to_string(to)}, reason,
                       std::stoll(rows.rows[0][1].text)});
  o.status = to;
  o.version = static_cast<std::int32_t>(std::stol(rows.rows[0][0].text));
  o.updated_at_ms = std::stoll(rows.rows[0][1].text);
}

/// Tells the products that units came back (their actors did not make the move).
void announce_returns(const context_ptr& ctx, order_pointer self, const db_rows& rows) {
  for (const auto& row : rows.rows) {
    auto product_id = std::stoull(row[0].text);
    self->send(ctx->products.route(product_id), product_id, applied_atom::value,
               static_cast<std::int32_t>(stock_kind::sale_return), std::stoll(row[1].text),
               std::stoll(row[2].text));
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

/// Records the refund statements' effect in the actor's copy.
using refund_finish = std::function<void(std::vector<db_statement>, std::shared_ptr<job>, std::int64_t)>;

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
                          db_command{{persistence::refund_settle(refund_id, false, r.ref)}})
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
                db_command{{persistence::refund_insert(refund_id, payment_id, amount, reason)}})
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

void note_refund(order& o, std::uint64_t payment_id, std::int64_t amount, bool of_the_order = true) {
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
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
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
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{persistence::payment_insert(p)}})
    .then(
      [self, ctx, j, p](const db_result&) mutable {
        p.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
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
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{std::move(stmts)})
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

// -- cancel, expire, refund --------------------------------------------------------------

/// Cancels the order: a payment still in progress is cancelled at the
/// gateway first, a captured one is refunded in full, the units go back to
/// stock, all recorded in one transaction with the transition.
void cancel(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j) {
  stop_open_payment(self, ctx, j, [self, ctx, j] {
    // Paid at the last moment: an order that is paid for does not expire.
    if (j->cmd.action == order_action::expire && self->state.o.status != order_status::pending) {
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
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
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
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
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
              self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{std::move(stmts)})
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
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{std::move(stmts)})
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
        if (to_problem(err).detail == "unique:payment_events_pkey") {
          j->event_rp.deliver(std::string{"duplicate"});
          done(self, ctx);
          return;
        }
        self->state.needs_reload = true;
        fail(self, ctx, *j, std::move(err));
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
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
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

// -- commands ------------------------------------------------------------------------

void run_command(order_pointer self, const context_ptr& ctx, std::shared_ptr<job> j, order_party party) {
  auto& current = self->state.o;
  auto rule = order_transition_rule(current.status, j->cmd.action, party);
  if (!rule.allowed) {
    fail(self, ctx, *j, make_error(rule.code, rule.why));
    return;
  }
  switch (j->cmd.action) {
    case order_action::pay:
      pay(self, ctx, j);
      return;
    case order_action::cancel:
    case order_action::expire:
      cancel(self, ctx, j);
      return;
    case order_action::refund:
      refund(self, ctx, j);
      return;
    case order_action::ship:
      if (auto* held = find_payment(current, [](const payment& p) { return p.status == payment_status::authorized; })) {
        capture_then_ship(self, ctx, j, held->id);
        return;
      }
      [[fallthrough]];
    case order_action::deliver: {
      auto to = rule.to;
      auto reason = j->cmd.action == order_action::ship ? "shipped with " + j->cmd.carrier + " " + j->cmd.tracking_number
                                                        : (j->cmd.reason.empty() ? "delivered" : j->cmd.reason);
      db_command cmd{{move_statement(current, to, j->user, reason)}};
      if (j->cmd.action == order_action::ship)
        cmd.statements.push_back(persistence::order_set_shipping(current.id, j->cmd.carrier, j->cmd.tracking_number));
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
        .then(
          [self, ctx, j, to, reason](const db_result& r) {
            auto& o = self->state.o;
            apply_move(o, to, reason, r.results[0]);
            if (j->cmd.action == order_action::ship) {
              o.carrier = j->cmd.carrier;
              o.tracking_number = j->cmd.tracking_number;
            }
            succeed(self, ctx, *j);
          },
          [self, ctx, j](caf::error& err) {
            self->state.needs_reload = true;
            fail(self, ctx, *j, std::move(err));
          });
      return;
    }
  }
}

/// Who `user` is to this order; nullopt (404) for anyone without a part in it.
void with_party(order_pointer self, const context_ptr& ctx, std::uint64_t user,
                std::function<void(std::optional<order_party>)> then) {
  const auto& o = self->state.o;
  if (user == 0)
    return then(order_party::system);
  if (user == o.buyer_id)
    return then(order_party::buyer);
  if (user == o.seller_user_id)
    return then(order_party::seller);
  self->request(ctx->users.route(user), ctx->step_timeout, get_atom::value, user)
    .then([then](const user_profile& me) { then(me.role == role::admin ? std::optional{order_party::admin} : std::nullopt); },
          [then](caf::error&) { then(std::nullopt); });
}

void next(order_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (st.busy || st.queue.empty())
    return;
  st.busy = true;
  if (st.needs_reload) {
    load(self, ctx, [self, ctx] {
      self->state.busy = false;
      if (self->state.load_error) {
        // Still unreadable: answer what waits with the error.
        auto err = self->state.load_error;
        self->state.load_error = caf::error{};
        self->state.needs_reload = true;
        while (!self->state.queue.empty()) {
          auto j = std::move(self->state.queue.front());
          self->state.queue.pop_front();
          if (j.kind == job::event)
            j.event_rp.deliver(err);
          else if (j.kind == job::command)
            j.order_rp.deliver(err);
        }
        return;
      }
      next(self, ctx);
    });
    return;
  }
  auto j = std::make_shared<job>(std::move(st.queue.front()));
  st.queue.pop_front();
  switch (j->kind) {
    case job::event:
      apply_event(self, ctx, j);
      return;
    case job::surplus:
      refund_surplus(self, ctx, j);
      return;
    case job::command:
      with_party(self, ctx, j->user, [self, ctx, j](std::optional<order_party> party) {
        if (!party) {
          fail(self, ctx, *j, make_error(errc::not_found, "no such order"));
          return;
        }
        run_command(self, ctx, j, *party);
      });
      return;
  }
}

caf::error unusable(const order_state& st) {
  if (st.load_error)
    return st.load_error;
  if (!st.exists)
    return make_error(errc::not_found, "no such order");
  return {};
}

order_actor::behavior_type order_behavior(order_pointer self, std::uint64_t id, order_registry_actor registry,
                                          context_ptr ctx) {
  auto& st = self->state;
  st.o.id = id;
  st.last_activity = std::chrono::steady_clock::now();
  // Load the committed state before anything else is handled (await).
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::order_get(id)}})
    .await(
      [self](const db_result& r) {
        auto& s = self->state;
        s.loaded = true;
        auto found = persistence::decode_orders(r.results.front());
        s.exists = !found.empty();
        if (s.exists)
          s.o = std::move(found.front());
      },
      [self](caf::error& err) {
        // Answer what is queued with the error, then end: the registry
        // spawns a fresh actor for the next request.
        self->state.load_error = err;
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::chrono::milliseconds{0}, tick_atom::value);
      });
  self->set_default_handler([self, ctx, registry](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    if (!view.copy_content_to_message().match_elements<tick_atom>())
      return caf::sec::unexpected_message;
    auto& s = self->state;
    if (s.load_error || !s.exists) {
      self->quit();
      return caf::message{};
    }
    if (!s.busy && s.queue.empty() && std::chrono::steady_clock::now() - s.last_activity >= ctx->idle) {
      self->request(registry, ctx->step_timeout, idle_atom::value, s.o.id)
        .then(
          [self](bool agreed) {
            if (!agreed)
              return;
            self->state.retiring = true;
            if (!self->state.busy && self->state.queue.empty())
              self->quit();
          },
          [](caf::error&) {});
    }
    if (!s.retiring)
      caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->idle, tick_atom::value);
    return caf::message{};
  });
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->idle, tick_atom::value);
  auto enqueue = [self, ctx](job j) -> bool {
    auto& s = self->state;
    if (s.queue.size() >= ctx->queue_max)
      return false;
    s.queue.push_back(std::move(j));
    next(self, ctx);
    return true;
  };
  return {
    [self, ctx](get_atom, std::uint64_t user) -> caf::result<order> {
      auto& s = self->state;
      s.last_activity = std::chrono::steady_clock::now();
      if (auto err = unusable(s))
        return err;
      auto rp = self->make_response_promise<order>();
      with_party(self, ctx, user, [self, rp](std::optional<order_party> party) mutable {
        if (party)
          rp.deliver(self->state.o);
        else
          rp.deliver(make_error(errc::not_found, "no such order"));
      });
      return rp;
    },
    [self, enqueue](command_atom, std::uint64_t user, const order_command& cmd) -> caf::result<order> {
      if (auto err = unusable(self->state))
        return err;
      job j;
      j.user = user;
      j.cmd = cmd;
      j.order_rp = self->make_response_promise<order>();
      auto rp = j.order_rp;
      if (!enqueue(std::move(j)))
        return make_error(errc::overloaded, "too many changes are waiting for this order");
      return rp;
    },
    [self, enqueue](event_atom, const gateway_event& ev) -> caf::result<std::string> {
      if (auto err = unusable(self->state))
        return err;
      job j;
      j.kind = job::event;
      j.ev = ev;
      j.event_rp = self->make_response_promise<std::string>();
      auto rp = j.event_rp;
      if (!enqueue(std::move(j)))
        return make_error(errc::overloaded, "too many changes are waiting for this order");
      return rp;
    },
  };
}

order_actor spawn_order(caf::actor_system& sys, std::uint64_t id, order_registry_actor registry, const context_ptr& ctx) {
  return sys.spawn(order_behavior, id, std::move(registry), ctx);
}

} // namespace

order_directory spawn_order_directory(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                      product_directory products, user_directory users, gateway_actor gateway) {
  auto ctx = std::make_shared<const order_context>(order_context{
    std::chrono::milliseconds{cfg.actors.step_timeout_ms}, std::chrono::milliseconds{cfg.payments.gateway_timeout_ms},
    std::chrono::milliseconds{cfg.actors.order_idle_ms}, cfg.actors.order_queue_max, cfg.payments.gateway,
    cfg.payments.capture == "on_ship", db,
    std::move(products), std::move(users), std::move(gateway)});
  return order_directory{
    registry::spawn_shards<order_actor>(sys, cfg.actors.order_shards, ctx, spawn_order, registry::kind::order)};
}

} // namespace livemart
