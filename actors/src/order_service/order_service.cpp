#include "order_service.hpp"
#include <protocol/clock.hpp>

namespace livemart::order_desk {

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
        const auto due = persistence::decode_due_orders(r.results.front());
        if (due.empty()) {
          rp.deliver(std::uint64_t{0});
          return;
        }
        struct tally {
          std::size_t waiting = 0;
          std::uint64_t cancelled = 0;
        };
        auto t = std::make_shared<tally>(tally{due.size(), 0});
        auto one = [rp, t](bool ok) mutable {
          t->cancelled += ok ? 1 : 0;
          if (--t->waiting == 0)
            rp.deliver(t->cancelled);
        };
        order_command expire;
        expire.action = order_action::expire;
        for (auto id : due) {
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
        auto ours = persistence::decode_payment_ref(r.results.front());
        auto order_id = ours ? ours->order_id : ev.object.order_id;
        if (order_id == 0) {
          log::warn("a gateway event names no payment of ours", "\"event\":\"" + ev.id + "\"");
          rp.deliver(std::string{"ignored"});
          return;
        }
        ask_order(self, ctx, order_id, rp, event_atom::value, ev);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

order_service_actor::behavior_type order_service(order_pointer self, context_ptr ctx) {
  // Internal ticks: old idempotency records are forgotten once an hour,
  // unpaid orders past their hold are cancelled, payments are reconciled.
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    auto me = caf::actor_cast<caf::actor>(self);
    if (msg.match_elements<tick_atom>()) {
      if (runs_cluster_jobs(ctx->products.routing)) {
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                      db_command{{persistence::idempotency_expire(ctx->orders.idempotency_retention_h,
                                                                  ctx->orders.idempotency_expire_batch)}})
          .then([](const db_result&) {}, [](caf::error&) {});
      }
      caf::delayed_anon_send(me, std::chrono::seconds{ctx->orders.idempotency_expire_interval_s}, tick_atom::value);
    } else if (msg.match_elements<expiry_tick_atom>()) {
      if (!runs_cluster_jobs(ctx->products.routing)) {
        caf::delayed_anon_send(me, std::chrono::milliseconds{ctx->orders.expiry_sweep_interval_ms}, expiry_tick_atom::value);
        return caf::message{};
      }
      self->request(caf::actor_cast<order_service_actor>(self), ctx->step_timeout + ctx->change_timeout, sweep_atom::value)
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
      if (!runs_cluster_jobs(ctx->products.routing)) {
        caf::delayed_anon_send(me, std::chrono::seconds{ctx->payments.reconcile_interval_s}, reconcile_tick_atom::value);
        return caf::message{};
      }
      auto to = wall_clock::now_s() - static_cast<std::int64_t>(ctx->payments.reconcile_lag_s);
      auto from = to - static_cast<std::int64_t>(ctx->payments.reconcile_window_h) * 3600;
      self->request(caf::actor_cast<order_service_actor>(self), ctx->reconcile_timeout + ctx->change_timeout, reconcile_atom::value, from, to,
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
    caf::delayed_anon_send(me, std::chrono::seconds{ctx->orders.idempotency_expire_interval_s}, tick_atom::value);
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
    [self, ctx](refuse_atom, const purchase_key& key, const caf::error& refused) -> caf::result<purchase_outcome> {
      return accept_refusal(self, ctx, key, refused);
    },
    [self, ctx](place_atom, const purchase_key& key, const place_request& body) -> caf::result<purchase_outcome> {
      return accept_placement(self, ctx, key, body);
    },
  };
}

} // namespace livemart::order_desk

namespace livemart {

order_service_actor spawn_orders(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                 product_directory products, user_directory users, checkout_actor checkouts,
                                 order_directory order_actors, gateway_actor gateway) {
  using namespace order_desk;
  auto step = std::chrono::milliseconds{cfg.actors.step_timeout_ms};
  auto change = std::chrono::milliseconds{conf::order_change_budget_ms(cfg)};
  auto reconcile_budget = std::chrono::milliseconds{conf::reconcile_budget_ms(cfg)};
  return sys.spawn(order_service, std::make_shared<const order_context>(order_context{
                                    cfg.orders, cfg.payments, cfg.node.background_jobs, step, change, reconcile_budget,
                                    db, std::move(products), std::move(users), std::move(checkouts),
                                    std::move(order_actors), std::move(gateway)}));
}

} // namespace livemart
