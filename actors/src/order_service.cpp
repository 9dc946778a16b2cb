#include <actors/services.hpp>

#include <map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

using tick_atom = caf::atom_constant<caf::atom("idem_tick")>;

struct order_context {
  conf::order_settings orders;
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  product_directory products;
  user_directory users;
  checkout_actor checkouts;
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
};

stored_reply problem_reply(const problem& p, const placement& req) {
  return {static_cast<std::int32_t>(info(p.code).status), render(p, req.instance, req.request_id)};
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
          finish(self, key, problem_reply(make_problem(errc::conflict, "the request changed meanwhile; retry"), req));
        else if (stored[0][0].text != req.request_hash)
          finish(self, key, mismatch_reply(req));
        else
          finish(self, key, {static_cast<std::int32_t>(std::stoi(stored[0][1].text)), stored[0][2].text});
      },
      [self, req, key](caf::error& e) { finish(self, key, problem_reply(to_problem(e), req)); });
}

/// Stores a definitive reply for the key, then answers. When a reply is
/// stored already (an earlier attempt committed after all), that one is
/// sent; a reply that could not be stored is still sent.
void record_and_finish(order_pointer self, const context_ptr& ctx, const placement& req, stored_reply reply) {
  key_type key{req.buyer, req.key};
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                db_command{{persistence::idempotency_insert(req.buyer, req.key, req.request_hash, reply)}})
    .then([self, key, reply](const db_result&) { finish(self, key, reply); },
          [self, ctx, req, key, reply](caf::error& err) {
            if (to_problem(err).detail == key_taken)
              replay_stored(self, ctx, req);
            else
              finish(self, key, reply);
          });
}

/// Turns a failed placement into its reply; 5xx outcomes are not stored
/// (the same key may succeed later).
void placement_failed(order_pointer self, const context_ptr& ctx, const placement& req, const caf::error& err) {
  auto p = to_problem(err);
  key_type key{req.buyer, req.key};
  if (p.code == errc::not_found) {
    record_and_finish(self, ctx, req, problem_reply(make_problem(errc::not_found, "no such checkout"), req));
    return;
  }
  if (p.code == errc::limit_reached && p.detail.rfind("checkout_", 0) == 0) {
    auto state = p.detail.substr(9);
    auto message = state == "expired" ? "the checkout expired and its stock was released; check out again"
                                      : "the checkout is " + state + " and cannot be placed";
    auto conflict = make_problem(errc::conflict, message);
    conflict.fields.push_back({"checkout_id", state == "placed" ? "is already placed" : "is " + state});
    record_and_finish(self, ctx, req, problem_reply(conflict, req));
    return;
  }
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
        stored_reply created{201, encode_placement(req.body.checkout_id, orders)};
        db_command cmd{{persistence::checkout_place(req.body.checkout_id, req.buyer, order_ids, transition_ids, ledger_ids),
                        persistence::idempotency_insert(req.buyer, req.key, req.request_hash, created)}};
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
          .then(
            [self, ctx, req, created](const db_result& placed) {
              // The sales happened outside the products' actors: tell them.
              for (const auto& sale : placed.results.front().rows) {
                auto product_id = std::stoull(sale[0].text);
                self->send(ctx->products.shard_for(product_id), applied_atom::value, product_id,
                           static_cast<std::int32_t>(persistence::stock_kind::commit), std::stoll(sale[1].text),
                           std::stoll(sale[2].text));
              }
              finish(self, key_type{req.buyer, req.key}, created);
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

/// One-tap buy-now: a checkout of the items (held as usual), placed at once
/// under the same key. A checkout that cannot be made is the reply, stored
/// like any definitive error.
void buy_now(order_pointer self, const context_ptr& ctx, placement req) {
  self->request(ctx->checkouts, ctx->step_timeout, checkout_atom::value, req.buyer, req.body.items)
    .then(
      [self, ctx, req](const checkout& c) mutable {
        req.body.checkout_id = c.id;
        place(self, ctx, req);
      },
      [self, ctx, req](caf::error& err) {
        auto p = to_problem_with_fields(err);
        if (info(p.code).status >= 500)
          finish(self, key_type{req.buyer, req.key}, problem_reply(p, req));
        else
          record_and_finish(self, ctx, req, problem_reply(p, req));
      });
}

order_service_actor::behavior_type order_service(order_pointer self, context_ptr ctx) {
  // Old idempotency records are forgotten once an hour, a batch at a time.
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    if (!view.copy_content_to_message().match_elements<tick_atom>())
      return caf::sec::unexpected_message;
    self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                  db_command{{persistence::idempotency_expire(ctx->orders.idempotency_retention_h, 10'000)}})
      .then([](const db_result&) {}, [](caf::error&) {});
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::chrono::hours{1}, tick_atom::value);
    return caf::message{};
  });
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::chrono::minutes{1}, tick_atom::value);
  return {
    [self, ctx](get_atom, std::uint64_t user, std::uint64_t id) -> caf::result<order> {
      auto rp = self->make_response_promise<order>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::order_get(id)}})
        .then(
          [self, ctx, rp, user](const db_result& r) mutable {
            auto found = persistence::decode_orders(r.results.front());
            if (found.empty()) {
              rp.deliver(make_error(errc::not_found, "no such order"));
              return;
            }
            auto o = std::move(found.front());
            if (o.buyer_id == user || o.seller_user_id == user) {
              rp.deliver(std::move(o));
              return;
            }
            // Anyone else: an admin, or 404 as if it did not exist.
            self->request(ctx->users.shard_for(user), ctx->step_timeout, get_atom::value, user)
              .then(
                [rp, o](const user_profile& me) mutable {
                  if (me.role == role::admin)
                    rp.deliver(std::move(o));
                  else
                    rp.deliver(make_error(errc::not_found, "no such order"));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
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
    [self, ctx](place_atom, std::uint64_t buyer, const std::string& key, const std::string& request_hash,
                const std::string& instance, const std::string& request_id,
                const place_request& body) -> caf::result<stored_reply> {
      placement req{buyer, key, request_hash, instance, request_id, body};
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
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::idempotency_get(buyer, key)}})
        .then(
          [self, ctx, req, k, mismatch](const db_result& r) {
            const auto& stored = r.results.front().rows;
            if (stored.empty() && req.body.checkout_id == 0) {
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
                                 product_directory products, user_directory users, checkout_actor checkouts) {
  return sys.spawn(order_service, std::make_shared<const order_context>(order_context{
                                    cfg.orders, std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db,
                                    std::move(products), std::move(users), std::move(checkouts)}));
}

} // namespace livemart
