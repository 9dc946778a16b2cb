#include "order.hpp"
#include <protocol/wire/orders.hpp>

namespace livemart::orders {

/// Tells the buyer's user channel (any node) that the order's status changed.
void announce_status(order_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (!st.exists || st.o.status == st.announced)
    return;
  st.announced = st.o.status;
  auto json = encode_status_push(st.o);
  caf::anon_send(self->home_system().groups().get_local(user_group_name(st.o.buyer_id)), push_atom::value, json);
  tell_peers(ctx->products.routing, push_atom::value, st.o.buyer_id, json);
}

/// Ends the current job and starts the next one.
void done(order_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  announce_status(self, ctx);
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
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(std::move(cmd), self->state.fence))
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
                                          context_ptr ctx, entity_fence fence) {
  auto& st = self->state;
  st.fence = fence;
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

order_actor spawn_order(caf::actor_system& sys, std::uint64_t id, order_registry_actor registry, const context_ptr& ctx,
                        const entity_fence& fence) {
  return sys.spawn(order_behavior, id, std::move(registry), ctx, fence);
}

} // namespace livemart::orders

namespace livemart {

order_directory spawn_order_directory(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                                      product_directory products, user_directory users, gateway_actor gateway,
                                      std::shared_ptr<const routing_cell> routing) {
  using namespace orders;
  auto ctx = std::make_shared<const order_context>(order_context{
    std::chrono::milliseconds{cfg.actors.step_timeout_ms}, std::chrono::milliseconds{cfg.payments.gateway_timeout_ms},
    std::chrono::milliseconds{cfg.actors.order_idle_ms}, cfg.actors.order_queue_max, cfg.payments.gateway,
    cfg.payments.capture == "on_ship", db,
    std::move(products), std::move(users), std::move(gateway)});
  return order_directory{registry::spawn_shards<order_actor>(sys, cfg.actors.order_shards, ctx, orders::spawn_order,
                                                            registry::kind::order, routing),
                         routing, &node_hello::orders};
}

} // namespace livemart
