#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

using tick_atom = caf::atom_constant<caf::atom("idem_tick")>;
using expiry_tick_atom = caf::atom_constant<caf::atom("exp_tick")>;
using reconcile_tick_atom = caf::atom_constant<caf::atom("rec_tick")>;

struct order_context {
  conf::order_settings orders;
  conf::payment_settings payments;
  bool background_jobs;
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds change_timeout; ///< one order change, gateway calls included
  std::chrono::milliseconds reconcile_timeout; ///< listing a window's payments at the gateway (up to 100 pages)
  std::uint32_t retry_after_s;                 ///< told with every 503 (database.retry_after_s)
  persistence::database db;
  product_directory products;
  user_directory users;
  checkout_actor checkouts;
  order_directory order_actors;
  gateway_actor gateway;
};

using key_type = std::pair<std::uint64_t, std::string>; ///< user, Idempotency-Key

/// A placement in progress: later requests with its key wait for its reply.
struct in_flight {
  std::string request_hash;
  std::vector<caf::typed_response_promise<stored_reply>> waiting;
};

struct order_state {
  std::map<key_type, in_flight> placing;
  static inline const char* name = "orders";
};

using order_pointer = order_service_actor::stateful_pointer<order_state>;
using context_ptr = std::shared_ptr<const order_context>;

/// What a placement request needs to know about itself.
struct placement {
  std::uint64_t buyer = 0;
  std::string key;
  std::string request_hash;
  std::string instance;
  std::string request_id;
  place_request body;
  std::uint32_t retry_after_s = 0; ///< told with a 503
  /// A buy-now's own checkout (made for its key): its lines. A refusal of
  /// its placement releases its holds in the transaction that stores it.
  std::size_t buy_now_lines = 0;
};

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

constexpr std::string_view key_taken = "unique:idempotency_keys_pkey";

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
        const auto& stored = r.results.front().rows;
        if (stored.empty())
          finish(self, key, unavailable_reply(req)); // expired meanwhile: a retry records anew
        else if (stored[0][0].text != req.request_hash)
          finish(self, key, mismatch_reply(req));
        else
          finish(self, key, {static_cast<std::int32_t>(std::stoi(stored[0][1].text)), stored[0][2].text});
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
            if (to_problem(err).detail == key_taken)
              replay_stored(self, ctx, req);
            else
              finish(self, key, unavailable_reply(req));
          });
}

/// Tells the products' actors about stock moves a transaction made outside
/// them (rows: product_id, quantity, stock_version).
void announce(order_pointer self, const context_ptr& ctx, const db_rows& rows, stock_kind kind) {
  for (const auto& row : rows.rows) {
    auto product_id = std::stoull(row[0].text);
    self->send(ctx->products.route(product_id), product_id, applied_atom::value, static_cast<std::int32_t>(kind),
               std::stoll(row[1].text), std::stoll(row[2].text));
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
        if (to_problem(err).detail == key_taken)
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
  if (p.code == errc::limit_reached && p.detail.rfind("checkout_", 0) == 0) {
    auto state = p.detail.substr(9);
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

void pay_placed(order_pointer self, const context_ptr& ctx, const placement& req, const std::vector<order>& placed,
                const stored_reply& stored);

/// Reads the checkout to build the orders and the reply, then places it:
/// orders, items, sales from the holds and the stored reply in one
/// transaction.
void place(order_pointer self, const context_ptr& ctx, const placement& req) {
  auto read = db_command{{persistence::checkout_parts(req.body.checkout_id, req.buyer)}};
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, std::move(read))
    .then(
      [self, ctx, req](const db_result& r) {
        const auto& rows = r.results.front().rows;
        if (rows.empty()) {
          placement_failed(self, ctx, req, make_error(errc::not_found, "checkout_missing"));
          return;
        }
        // One order per seller, in seller order (as checkout_place numbers them).
        std::vector<order> orders;
        for (const auto& row : rows) {
          auto seller = std::stoull(row[2].text);
          if (orders.empty() || orders.back().seller_id != seller) {
            order o;
            o.id = ids::next();
            o.checkout_id = req.body.checkout_id;
            o.buyer_id = req.buyer;
            o.seller_id = seller;
            o.currency = row[1].text;
            o.subtotal_minor = std::stoll(row[3].text);
            o.shipping_minor = std::stoll(row[4].text);
            o.total_minor = o.subtotal_minor + o.shipping_minor;
            orders.push_back(std::move(o));
          }
          orders.back().items.push_back(
            {std::stoull(row[5].text), row[6].text, std::stoll(row[7].text), std::stoll(row[8].text)});
        }
        std::vector<std::uint64_t> order_ids;
        std::vector<std::uint64_t> transition_ids;
        for (const auto& o : orders) {
          order_ids.push_back(o.id);
          transition_ids.push_back(ids::next());
        }
        std::vector<std::uint64_t> ledger_ids;
        for (std::size_t i = 0; i < rows.size(); ++i)
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
              if (to_problem(err).detail == key_taken) {
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
        if (to_problem(err).detail == "unique:checkouts_buyer_key_idx")
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

/// Asks the actor of order `id` and answers `rp`.
template <class Reply, class... Ts>
void ask_order(order_pointer self, const context_ptr& ctx, std::uint64_t id, caf::typed_response_promise<Reply> rp,
               Ts... xs) {
  self->request(ctx->order_actors.route(id), ctx->change_timeout, id, xs...)
    .then([rp](const Reply& reply) mutable { rp.deliver(reply); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Unpaid orders past their hold: each is cancelled by its actor (stock
/// back, an open payment cancelled at the gateway). Replies how many.
void sweep_due(order_pointer self, const context_ptr& ctx, caf::typed_response_promise<std::uint64_t> rp) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::orders_due(ctx->orders.expiry_sweep_batch)}})
    .then(
      [self, ctx, rp](const db_result& r) mutable {
        const auto& rows = r.results.front().rows;
        if (rows.empty()) {
          rp.deliver(std::uint64_t{0});
          return;
        }
        struct tally {
          std::size_t waiting = 0;
          std::uint64_t cancelled = 0;
        };
        auto t = std::make_shared<tally>(tally{rows.size(), 0});
        auto one = [rp, t](bool ok) mutable {
          t->cancelled += ok ? 1 : 0;
          if (--t->waiting == 0)
            rp.deliver(t->cancelled);
        };
        order_command expire;
        expire.action = order_action::expire;
        for (const auto& row : rows) {
          auto id = std::stoull(row[0].text);
          self->request(ctx->order_actors.route(id), ctx->change_timeout, id, command_atom::value, std::uint64_t{0}, expire)
            .then([one](const order& o) mutable { one(o.status == order_status::cancelled); },
                  [one](caf::error&) mutable { one(false); });
        }
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Sends a gateway event to the order whose payment it is about: found by
/// the gateway's reference, or by the ids in its metadata when it raced our
/// own record of that reference.
void route_event(order_pointer self, const context_ptr& ctx, const gateway_event& ev,
                 caf::typed_response_promise<std::string> rp) {
  if (ev.object.ref.empty()) {
    // Reconciliation's news about a payment the gateway never saw.
    if (ev.type == missing_payment_event && ev.object.order_id != 0)
      ask_order(self, ctx, ev.object.order_id, rp, event_atom::value, ev);
    else
      rp.deliver(std::string{"ignored"});
    return;
  }
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::payment_by_ref(ctx->payments.gateway, ev.object.ref)}})
    .then(
      [self, ctx, ev, rp](const db_result& r) mutable {
        const auto& rows = r.results.front().rows;
        auto order_id = rows.empty() ? ev.object.order_id : std::stoull(rows[0][1].text);
        if (order_id == 0) {
          log::warn("a gateway event names no payment of ours", "\"event\":\"" + ev.id + "\"");
          rp.deliver(std::string{"ignored"});
          return;
        }
        ask_order(self, ctx, order_id, rp, event_atom::value, ev);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Compares our payments created in [from_s, to_s) with the gateway's
/// records; with `repair`, applies what the gateway knows and we missed as
/// an event (once: its id names the reference and the status).
void reconcile(order_pointer self, const context_ptr& ctx, std::int64_t from_s, std::int64_t to_s, bool repair,
               caf::typed_response_promise<reconcile_report> rp) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::payments_between(ctx->payments.gateway, from_s, to_s)}})
    .then(
      [self, ctx, from_s, to_s, repair, rp](const db_result& r) mutable {
        auto ours = r.results.front();
        // The gateway's clock and ours differ a little: look a minute wider.
        self->request(ctx->gateway, ctx->reconcile_timeout, list_atom::value, from_s - 60, to_s + 60)
          .then(
            [self, ctx, from_s, to_s, repair, rp, ours](const std::vector<gateway_record>& theirs) mutable {
              reconcile_report report;
              report.from_s = from_s;
              report.to_s = to_s;
              report.payments_checked = ours.rows.size();
              report.gateway_records = theirs.size();
              std::vector<bool> matched(theirs.size(), false);
              std::vector<gateway_event> repairs;
              for (const auto& row : ours.rows) {
                reconcile_mismatch m;
                m.payment_id = std::stoull(row[0].text);
                m.order_id = std::stoull(row[1].text);
                m.gateway_ref = row[2].text;
                payment_status status{};
                from_string(row[3].text, status);
                auto amount = std::stoll(row[4].text);
                auto refunded = std::stoll(row[6].text);
                const auto& order_status_text = row[7].text;
                const gateway_record* rec = nullptr;
                for (std::size_t i = 0; i < theirs.size() && rec == nullptr; ++i) {
                  if ((!m.gateway_ref.empty() && theirs[i].ref == m.gateway_ref) || theirs[i].payment_id == m.payment_id) {
                    rec = &theirs[i];
                    matched[i] = true;
                  }
                }
                auto add = [&](std::string kind, std::string detail, bool repairable) {
                  m.kind = std::move(kind);
                  m.detail = std::move(detail);
                  m.repaired = repair && repairable;
                  report.mismatches.push_back(m);
                };
                if (rec == nullptr) {
                  // A payment whose outcome is unknown and that the gateway
                  // never received, well after any call could still land: failed.
                  auto settled_after_s = 60 + 2 * static_cast<std::int64_t>(ctx->payments.gateway_timeout_ms) / 1000;
                  bool lost = status == payment_status::created && std::stoll(row[9].text) > settled_after_s;
                  if (status != payment_status::failed && status != payment_status::canceled)
                    add("missing_at_gateway", "we have it as " + row[3].text + "; the gateway has no such payment", lost);
                  if (lost) {
                    gateway_event e;
                    e.id = "reconcile:missing:" + ids::format(m.payment_id);
                    e.type = std::string{missing_payment_event};
                    e.object.payment_id = m.payment_id;
                    e.object.order_id = m.order_id;
                    repairs.push_back(std::move(e));
                  }
                  continue;
                }
                m.gateway_ref = rec->ref;
                if (rec->amount_minor != amount)
                  add("amount_differs",
                      "ours " + std::to_string(amount) + ", the gateway's " + std::to_string(rec->amount_minor), false);
                auto event_for = [&](std::string type) {
                  gateway_event e;
                  e.id = "reconcile:" + rec->ref + ":" + std::string{to_string(rec->status)};
                  e.type = std::move(type);
                  e.object = *rec;
                  return e;
                };
                if (rec->status == payment_status::succeeded && status != payment_status::succeeded) {
                  add(order_status_text == "pending" ? "captured_order_pending" : "status_differs",
                      "captured at the gateway; ours is " + row[3].text + ", the order " + order_status_text, true);
                  repairs.push_back(event_for("payment_intent.succeeded"));
                } else if (status == payment_status::succeeded && rec->status != payment_status::succeeded) {
                  add("confirmed_not_captured",
                      "ours succeeded (order " + order_status_text + "); the gateway has " + std::string{to_string(rec->status)},
                      false);
                } else if ((rec->status == payment_status::failed || rec->status == payment_status::canceled)
                           && payment_may_move(status, rec->status)) {
                  add("status_differs", "the gateway has " + std::string{to_string(rec->status)} + ", ours " + row[3].text, true);
                  repairs.push_back(event_for(rec->status == payment_status::failed ? "payment_intent.payment_failed"
                                                                                     : "payment_intent.canceled"));
                }
                // Money kept for an order that does not need it (cancelled, or
                // paid by an earlier payment): a refund that failed or was lost.
                if (status == payment_status::succeeded && refunded < amount
                    && (order_status_text == "cancelled" || std::stoll(row[8].text) > 0)) {
                  add("refund_owed", "the order is " + order_status_text + "; " + std::to_string(amount - refunded)
                                       + " of this payment is still kept", true);
                  auto e = event_for("payment_intent.succeeded");
                  e.id = "reconcile:" + rec->ref + ":owed:" + std::to_string(to_s);
                  repairs.push_back(std::move(e));
                }
                if (rec->amount_refunded_minor != refunded)
                  add("refund_differs",
                      "refunded: ours " + std::to_string(refunded) + ", the gateway's "
                        + std::to_string(rec->amount_refunded_minor),
                      rec->amount_refunded_minor > refunded);
                if (rec->amount_refunded_minor > refunded) {
                  auto e = event_for("charge.refunded");
                  e.id = "reconcile:" + rec->ref + ":refunded:" + std::to_string(rec->amount_refunded_minor);
                  repairs.push_back(std::move(e));
                }
              }
              for (std::size_t i = 0; i < theirs.size(); ++i) {
                if (matched[i] || theirs[i].created_s < from_s || theirs[i].created_s >= to_s)
                  continue;
                reconcile_mismatch m;
                m.gateway_ref = theirs[i].ref;
                m.payment_id = theirs[i].payment_id;
                m.order_id = theirs[i].order_id;
                m.kind = "unknown_to_us";
                m.detail = "the gateway has a payment (" + std::string{to_string(theirs[i].status)} + ") we have no record of";
                report.mismatches.push_back(m);
              }
              if (!report.mismatches.empty())
                log::warn("reconciliation found mismatches",
                          "\"count\":" + std::to_string(report.mismatches.size()));
              if (!repair || repairs.empty()) {
                rp.deliver(std::move(report));
                return;
              }
              auto waiting = std::make_shared<std::size_t>(repairs.size());
              auto shared_report = std::make_shared<reconcile_report>(std::move(report));
              for (auto& e : repairs) {
                self->request(caf::actor_cast<order_service_actor>(self), ctx->change_timeout, event_atom::value, e)
                  .then([rp, waiting, shared_report](const std::string&) mutable {
                          if (--*waiting == 0)
                            rp.deliver(*shared_report);
                        },
                        [rp, waiting, shared_report](caf::error&) mutable {
                          if (--*waiting == 0)
                            rp.deliver(*shared_report);
                        });
              }
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

order_service_actor::behavior_type order_service(order_pointer self, context_ptr ctx) {
  // Internal ticks: old idempotency records are forgotten once an hour,
  // unpaid orders past their hold are cancelled, payments are reconciled.
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    auto me = caf::actor_cast<caf::actor>(self);
    if (msg.match_elements<tick_atom>()) {
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                    db_command{{persistence::idempotency_expire(ctx->orders.idempotency_retention_h, 10'000)}})
        .then([](const db_result&) {}, [](caf::error&) {});
      caf::delayed_anon_send(me, std::chrono::hours{1}, tick_atom::value);
    } else if (msg.match_elements<expiry_tick_atom>()) {
      self->request(caf::actor_cast<order_service_actor>(self), ctx->change_timeout * 4, sweep_atom::value)
        .then(
          [self, ctx](std::uint64_t) {
            caf::delayed_anon_send(caf::actor_cast<caf::actor>(self),
                                   std::chrono::milliseconds{ctx->orders.expiry_sweep_interval_ms}, expiry_tick_atom::value);
          },
          [self, ctx](caf::error&) {
            caf::delayed_anon_send(caf::actor_cast<caf::actor>(self),
                                   std::chrono::milliseconds{ctx->orders.expiry_sweep_interval_ms}, expiry_tick_atom::value);
          });
    } else if (msg.match_elements<reconcile_tick_atom>()) {
      auto to = now_s() - 300; // leave the last minutes to the gateway's own events
      auto from = to - static_cast<std::int64_t>(ctx->payments.reconcile_window_h) * 3600;
      self->request(caf::actor_cast<order_service_actor>(self), ctx->change_timeout * 4, reconcile_atom::value, from, to,
                    true)
        .then([](const reconcile_report&) {}, [](caf::error&) {});
      caf::delayed_anon_send(me, std::chrono::seconds{ctx->payments.reconcile_interval_s}, reconcile_tick_atom::value);
    } else {
      return caf::sec::unexpected_message;
    }
    return caf::message{};
  });
  auto me = caf::actor_cast<caf::actor>(self);
  if (ctx->background_jobs) {
    caf::delayed_anon_send(me, std::chrono::minutes{1}, tick_atom::value);
    caf::delayed_anon_send(me, std::chrono::milliseconds{ctx->orders.expiry_sweep_interval_ms}, expiry_tick_atom::value);
    if (ctx->payments.reconcile_interval_s > 0)
      caf::delayed_anon_send(me, std::chrono::seconds{ctx->payments.reconcile_interval_s}, reconcile_tick_atom::value);
  }
  return {
    [self, ctx](get_atom, std::uint64_t user, std::uint64_t id) -> caf::result<order> {
      auto rp = self->make_response_promise<order>();
      ask_order(self, ctx, id, rp, get_atom::value, user);
      return rp;
    },
    [self, ctx](command_atom, std::uint64_t user, std::uint64_t id, const order_command& cmd) -> caf::result<order> {
      auto rp = self->make_response_promise<order>();
      ask_order(self, ctx, id, rp, command_atom::value, user, cmd);
      return rp;
    },
    [self, ctx](event_atom, const gateway_event& ev) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      route_event(self, ctx, ev, rp);
      return rp;
    },
    [self, ctx](reconcile_atom, std::int64_t from_s, std::int64_t to_s, bool repair) -> caf::result<reconcile_report> {
      auto rp = self->make_response_promise<reconcile_report>();
      reconcile(self, ctx, from_s, to_s, repair, rp);
      return rp;
    },
    [self, ctx](sweep_atom) -> caf::result<std::uint64_t> {
      auto rp = self->make_response_promise<std::uint64_t>();
      sweep_due(self, ctx, rp);
      return rp;
    },
    [self, ctx](list_atom, std::uint64_t user, bool as_seller, std::uint64_t before,
                std::uint32_t limit) -> caf::result<std::vector<order>> {
      auto rp = self->make_response_promise<std::vector<order>>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::orders_of(user, as_seller, before, limit)}})
        .then([rp](const db_result& r) mutable { rp.deliver(persistence::decode_orders(r.results.front())); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self, ctx](refuse_atom, std::uint64_t buyer, const std::string& key, const std::string& request_hash,
                const std::string& instance, const std::string& request_id,
                const caf::error& refusal) -> caf::result<stored_reply> {
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
    },
    [self, ctx](place_atom, std::uint64_t buyer, const std::string& key, const std::string& request_hash,
                const std::string& instance, const std::string& request_id,
                const place_request& body) -> caf::result<stored_reply> {
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
            const auto& stored = r.results.front().rows;
            if (stored.empty() && req.body.checkout_id == 0) {
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
            if (stored.empty()) {
              place(self, ctx, req);
              return;
            }
            if (stored[0][0].text != req.request_hash)
              finish(self, k, mismatch());
            else
              finish(self, k, {static_cast<std::int32_t>(std::stoi(stored[0][1].text)), stored[0][2].text});
          },
          [self, req, k](caf::error& err) { finish(self, k, problem_reply(to_problem(err), req)); });
      return rp;
    },
  };
}

} // namespace

order_service_actor spawn_orders(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                 product_directory products, user_directory users, checkout_actor checkouts,
                                 order_directory order_actors, gateway_actor gateway) {
  auto step = std::chrono::milliseconds{cfg.actors.step_timeout_ms};
  // A change may call the gateway twice (cancel, then refund) between writes.
  auto gateway_call = std::chrono::milliseconds{cfg.payments.gateway_timeout_ms};
  auto change = 2 * gateway_call + 3 * step;
  return sys.spawn(order_service, std::make_shared<const order_context>(order_context{
                                    cfg.orders, cfg.payments, cfg.node.background_jobs, step, change, 101 * gateway_call,
                                    cfg.database.retry_after_s, db, std::move(products), std::move(users), std::move(checkouts),
                                    std::move(order_actors), std::move(gateway)}));
}

} // namespace livemart
