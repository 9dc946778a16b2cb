#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

struct checkout_context {
  conf::order_settings orders;
  bool background_jobs; ///< sweep expired holds here (node.background_jobs)
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  product_directory products;
};

struct checkout_state {
  static inline const char* name = "checkouts";
};

using checkout_pointer = checkout_actor::stateful_pointer<checkout_state>;
using context_ptr = std::shared_ptr<const checkout_context>;
using checkout_promise = caf::typed_response_promise<checkout>;

/// Tells the products' actors about holds a checkout's transaction released.
void announce_released(checkout_pointer self, const context_ptr& ctx, const db_rows& rows) {
  for (const auto& move : persistence::decode_stock_moves(rows)) {
    self->send(ctx->products.route(move.product_id), move.product_id, applied_atom::value,
               static_cast<std::int32_t>(stock_kind::release), move.quantity, move.stock_version);
  }
}

/// Closes checkout `id` as `to` and releases its holds; `then()` afterwards
/// (also when the release failed: the sweeper retries expired ones).
template <class Then>
void release(checkout_pointer self, const context_ptr& ctx, std::uint64_t id, std::size_t lines, checkout_status to,
             bool due_only, Then then) {
  std::vector<std::uint64_t> ledger_ids;
  for (std::size_t i = 0; i < lines; ++i)
    ledger_ids.push_back(ids::next());
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                db_command{{persistence::checkout_release(id, to, due_only, ledger_ids)}})
    .then(
      [self, ctx, then](const db_result& r) mutable {
        announce_released(self, ctx, r.results.front());
        then();
      },
      [then, id](caf::error& err) mutable {
        log::warn("releasing a checkout's holds failed",
                  "\"checkout\":\"" + ids::format(id) + "\",\"code\":\"" + to_string(to_problem(err).code) + "\"");
        then();
      });
}

/// What the checkout collects while it reserves: one outcome per line.
struct reservation {
  checkout c;
  std::size_t waiting = 0;
  std::vector<caf::error> failures; ///< per line; empty error: reserved
};

/// Step 3: hold every line's stock in its product's actor, all at once; if
/// any line cannot be held, release what was and name the line.
void reserve_all(checkout_pointer self, const context_ptr& ctx, checkout c, checkout_promise rp) {
  auto state = std::make_shared<reservation>();
  state->c = std::move(c);
  state->waiting = state->c.lines.size();
  state->failures.resize(state->waiting);
  auto finish = [self, ctx, state, rp]() mutable {
    if (--state->waiting > 0)
      return;
    for (std::size_t i = 0; i < state->failures.size(); ++i) {
      if (!state->failures[i])
        continue;
      auto p = to_problem(state->failures[i]);
      auto err = p.code == errc::conflict ? line_error(errc::conflict, i, "quantity", p.detail)
                                          : state->failures[i];
      release(self, ctx, state->c.id, state->c.lines.size(), checkout_status::failed, false,
              [rp, err]() mutable { rp.deliver(err); });
      return;
    }
    rp.deliver(state->c);
  };
  for (std::size_t i = 0; i < state->c.lines.size(); ++i) {
    const auto& line = state->c.lines[i];
    auto product_id = line.product_id;
    auto quantity = line.quantity;
    auto failed = [state, finish, i](caf::error& err) mutable {
      state->failures[i] = std::move(err);
      finish();
    };
    self->request(ctx->products.route(product_id), ctx->step_timeout, product_id, reserve_atom::value, quantity,
                  state->c.id)
      .then([finish](const stock_update&) mutable { finish(); }, failed);
  }
}

/// Step 2: price the lines, then open the checkout (its row, lines and a
/// copy of the address, in one transaction) before holding any stock, so
/// that a hold always belongs to a checkout that will expire.
void open_checkout(checkout_pointer self, const context_ptr& ctx, std::uint64_t buyer, const checkout_request& req,
                   const std::vector<product>& products, checkout_promise rp) {
  checkout c;
  c.id = ids::next();
  c.buyer_id = buyer;
  c.address_id = req.address_id;
  for (std::size_t i = 0; i < products.size(); ++i) {
    const auto& p = products[i];
    if (p.status != product_status::active) {
      rp.deliver(line_error(errc::validation_failed, i, "product_id", "is not on sale"));
      return;
    }
    if (c.currency.empty())
      c.currency = p.currency;
    if (p.currency != c.currency) {
      rp.deliver(line_error(errc::validation_failed, i, "product_id",
                            "is priced in " + p.currency + "; a checkout is in one currency (" + c.currency + ")"));
      return;
    }
    c.lines.push_back({p.id, p.seller_id, p.title, p.price_minor, req.items[i].quantity});
  }
  auto totals = price_checkout(c.lines, ctx->orders);
  c.subtotal_minor = totals.subtotal_minor;
  c.shipping_minor = totals.shipping_minor;
  c.total_minor = totals.subtotal_minor + totals.shipping_minor;
  db_command cmd;
  cmd.statements.push_back(persistence::checkout_open(c, ctx->orders.hold_ttl_s));
  for (std::size_t i = 0; i < c.lines.size(); ++i)
    cmd.statements.push_back(persistence::checkout_line_insert(c.id, i, c.lines[i]));
  for (const auto& share : totals.sellers)
    cmd.statements.push_back(persistence::checkout_seller_insert(c.id, share));
  if (!req.idempotency_key.empty())
    cmd.statements.push_back(persistence::checkout_tag(c.id, req.idempotency_key, req.request_hash));
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self, ctx, c, rp](const db_result& r) mutable {
        c.expires_at_ms = persistence::decode_expires_at_ms(r.results.front());
        reserve_all(self, ctx, std::move(c), rp);
      },
      [rp](caf::error& err) mutable {
        if (to_problem(err).code == errc::validation_failed) // LM422 from checkout_open
          rp.deliver(make_error(errc::validation_failed, "address_id is not one of your addresses",
                                {field_error{"address_id", "is not one of your addresses"}}));
        else
          rp.deliver(std::move(err));
      });
}

/// Step 1: read every product from its actor (current price and title).
void fetch_products(checkout_pointer self, const context_ptr& ctx, std::uint64_t buyer, checkout_request req,
                    checkout_promise rp) {
  struct gather {
    std::vector<product> products;
    std::size_t waiting = 0;
    bool failed = false;
  };
  auto state = std::make_shared<gather>();
  state->products.resize(req.items.size());
  state->waiting = req.items.size();
  for (std::size_t i = 0; i < req.items.size(); ++i) {
    auto product_id = req.items[i].product_id;
    auto fail = [state, rp, i](caf::error& err) mutable {
      if (state->failed)
        return;
      state->failed = true;
      auto p = to_problem(err);
      rp.deliver(p.code == errc::not_found ? line_error(errc::validation_failed, i, "product_id", "is not a product")
                                           : err);
    };
    self->request(ctx->products.route(product_id), ctx->step_timeout, product_id, get_atom::value)
      .then(
        [self, ctx, state, buyer, req, rp, i](const product& p) mutable {
          if (state->failed)
            return;
          state->products[i] = p;
          if (--state->waiting == 0)
            open_checkout(self, ctx, buyer, req, state->products, rp);
        },
        fail);
  }
}

using tick_atom = caf::atom_constant<caf::atom("sweep_tick")>;

/// Releases the holds of one batch of checkouts past their expiry, then
/// calls `done(released)`. Sweeps may overlap: each checkout is claimed by
/// one transaction only.
template <class Done>
void sweep(checkout_pointer self, const context_ptr& ctx, Done done) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::checkouts_due(ctx->orders.hold_sweep_batch)}})
    .then(
      [self, ctx, done](const db_result& r) mutable {
        const auto due = persistence::decode_due_checkouts(r.results.front());
        if (due.empty()) {
          done(std::uint64_t{0});
          return;
        }
        auto left = std::make_shared<std::size_t>(due.size());
        for (const auto& c : due) {
          release(self, ctx, c.id, c.lines, checkout_status::expired, true,
                  [left, done, total = due.size()]() mutable {
                    if (--*left == 0)
                      done(static_cast<std::uint64_t>(total));
                  });
        }
      },
      [done](caf::error&) mutable { done(std::uint64_t{0}); });
}

checkout_actor::behavior_type checkout_service(checkout_pointer self, context_ptr ctx) {
  // The periodic sweep: an internal tick through the default handler.
  auto next = [self, ctx]() {
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::chrono::milliseconds{ctx->orders.hold_sweep_interval_ms},
                           tick_atom::value);
  };
  self->set_default_handler([self, ctx, next](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    if (!view.copy_content_to_message().match_elements<tick_atom>())
      return caf::sec::unexpected_message;
    if (runs_cluster_jobs(ctx->products.routing))
      sweep(self, ctx, [next](std::uint64_t) { next(); });
    else
      next();
    return caf::message{};
  });
  if (ctx->background_jobs)
    next();
  return {
    [self, ctx](checkout_atom, std::uint64_t buyer, const checkout_request& req) -> caf::result<checkout> {
      auto rp = self->make_response_promise<checkout>();
      fetch_products(self, ctx, buyer, req, rp);
      return rp;
    },
    [self, ctx](sweep_atom) -> caf::result<std::uint64_t> {
      auto rp = self->make_response_promise<std::uint64_t>();
      sweep(self, ctx, [rp](std::uint64_t released) mutable { rp.deliver(released); });
      return rp;
    },
  };
}

} // namespace

checkout_actor spawn_checkouts(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                               product_directory products) {
  return sys.spawn(checkout_service, std::make_shared<const checkout_context>(checkout_context{
                                       cfg.orders, cfg.node.background_jobs,
                                       std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db,
                                       std::move(products)}));
}

} // namespace livemart
