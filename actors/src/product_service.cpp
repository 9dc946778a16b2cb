#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

namespace livemart {
namespace {

struct service_context {
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  user_directory users;
  seller_actor sellers;
  category_actor categories;
  search_actor search;
  product_directory products;
};

struct service_state {
  static inline const char* name = "product_service";
};

using service_pointer = product_service_actor::stateful_pointer<service_state>;
using context_ptr = std::shared_ptr<const service_context>;

template <class Promise>
auto fail_to(Promise rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

caf::error not_yours() {
  return make_error(errc::forbidden, "only the owning seller or an admin may change this product");
}

/// Asks product `id`'s actor and runs `then(reply)`; errors go to `rp`.
template <class T, class Promise, class Then, class... Ts>
void ask_product_then(service_pointer self, const context_ptr& ctx, std::uint64_t id, Promise rp, Then then, Ts... xs) {
  self->request(ctx->products.route(id), ctx->step_timeout, id, xs...)
    .then([then](const T& reply) mutable { then(reply); }, fail_to(rp));
}

/// Like ask_product_then, answering `rp` with the reply.
template <class T, class Promise, class... Ts>
void ask_product(service_pointer self, const context_ptr& ctx, std::uint64_t id, Promise rp, Ts... xs) {
  ask_product_then<T>(self, ctx, id, rp, [rp](const T& reply) mutable { rp.deliver(reply); }, xs...);
}

/// Runs `then()` when `user_id` may change product `id`: an admin, or the
/// approved seller who owns it.
template <class Promise, class F>
void with_owned_product(service_pointer self, const context_ptr& ctx, std::uint64_t user_id, std::uint64_t id,
                        Promise rp, F then) {
  ask_product_then<product>(
    self, ctx, id, rp,
    [self, ctx, user_id, rp, then](const product& p) mutable {
      self->request(ctx->users.route(user_id), ctx->step_timeout, get_atom::value, user_id)
        .then(
          [self, ctx, user_id, rp, then, seller_id = p.seller_id](const user_profile& me) mutable {
            if (me.role == role::admin) {
              then();
              return;
            }
            self->request(ctx->sellers, ctx->step_timeout, profile_atom::value, user_id)
              .then(
                [rp, then, seller_id](const seller& mine) mutable {
                  if (mine.id != seller_id || mine.status != seller_status::approved)
                    rp.deliver(not_yours());
                  else
                    then();
                },
                [rp](caf::error& err) mutable {
                  // No shop at all: not the owner.
                  rp.deliver(to_problem(err).code == errc::not_found ? not_yours() : std::move(err));
                });
          },
          fail_to(rp));
    },
    get_atom::value);
}

product_service_actor::behavior_type product_service(service_pointer self, context_ptr ctx) {
  return {
    [self, ctx](create_atom, std::uint64_t user_id, product_draft draft) -> caf::result<product> {
      auto rp = self->make_response_promise<product>();
      self->request(ctx->sellers, ctx->step_timeout, profile_atom::value, user_id)
        .then(
          [self, ctx, user_id, draft, rp](const seller& mine) mutable {
            if (mine.status != seller_status::approved) {
              rp.deliver(make_error(errc::forbidden, "only approved sellers can list products"));
              return;
            }
            self->request(ctx->categories, ctx->step_timeout, check_atom::value, draft.values.category_id)
              .then(
                [self, ctx, user_id, draft, rp, seller_id = mine.id](bool usable) mutable {
                  if (!usable) {
                    rp.deliver(make_error(errc::validation_failed, "no such active category",
                                          {field_error{"category_id", "is not an active category"}}));
                    return;
                  }
                  auto p = draft.values;
                  p.id = ids::next();
                  p.seller_id = seller_id;
                  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{persistence::product_insert(p)}})
                    .then(
                      [self, ctx, user_id, draft, rp](const db_result& r) mutable {
                        auto created = persistence::decode_products(r.results.front()).front();
                        // The index learns of the product before any stock
                        // change of it can be sent (those come later, from
                        // its actor), and even if the initial restock fails.
                        self->send(ctx->search, put_atom::value, created);
                        tell_peers(ctx->products.routing, put_atom::value, created);
                        if (draft.initial_stock == 0) {
                          rp.deliver(std::move(created));
                          return;
                        }
                        // Initial stock goes through the product's actor and ledger
                        // like any restock, so the ledger balances from the start.
                        ask_product_then<stock_update>(
                          self, ctx, created.id, rp,
                          [rp, created](const stock_update& u) mutable {
                            created.stock = u.stock;
                            rp.deliver(std::move(created));
                          },
                          restock_atom::value, draft.initial_stock, std::string{"initial stock"}, user_id);
                      },
                      fail_to(rp));
                },
                fail_to(rp));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(to_problem(err).code == errc::not_found
                         ? make_error(errc::forbidden, "only approved sellers can list products")
                         : std::move(err));
          });
      return rp;
    },
    [self, ctx](restock_atom, std::uint64_t user_id, std::uint64_t id, std::int64_t delta,
                const std::string& reason) -> caf::result<stock_update> {
      auto rp = self->make_response_promise<stock_update>();
      with_owned_product(self, ctx, user_id, id, rp, [self, ctx, id, user_id, delta, reason, rp]() mutable {
        ask_product<stock_update>(self, ctx, id, rp, restock_atom::value, delta, reason, user_id);
      });
      return rp;
    },
    [self, ctx](price_atom, std::uint64_t user_id, std::uint64_t id, std::int64_t price) -> caf::result<stock_update> {
      auto rp = self->make_response_promise<stock_update>();
      with_owned_product(self, ctx, user_id, id, rp, [self, ctx, id, price, rp]() mutable {
        ask_product<stock_update>(self, ctx, id, rp, price_atom::value, price);
      });
      return rp;
    },
    [self, ctx](update_atom, std::uint64_t user_id, std::uint64_t id, const product_patch& patch)
      -> caf::result<product> {
      auto rp = self->make_response_promise<product>();
      with_owned_product(self, ctx, user_id, id, rp, [self, ctx, id, patch, rp]() mutable {
        auto edit = [self, ctx, id, patch, rp]() mutable {
          ask_product<product>(self, ctx, id, rp, update_atom::value, patch);
        };
        if ((patch.present & pf_category) == 0) {
          edit();
          return;
        }
        // A product moves only into an existing, active category.
        self->request(ctx->categories, ctx->step_timeout, check_atom::value, patch.values.category_id)
          .then(
            [rp, edit](bool usable) mutable {
              if (usable)
                edit();
              else
                rp.deliver(make_error(errc::validation_failed, "no such active category",
                                      {field_error{"category_id", "is not an active category"}}));
            },
            fail_to(rp));
      });
      return rp;
    },
  };
}

} // namespace

product_service_actor spawn_product_service(caf::actor_system& sys, const conf::settings& cfg,
                                            const persistence::database& db, user_directory users,
                                            seller_actor sellers, category_actor categories, search_actor search,
                                            product_directory products) {
  return sys.spawn(product_service,
                   std::make_shared<const service_context>(service_context{std::chrono::milliseconds{cfg.actors.step_timeout_ms},
                                                                           db, std::move(users), std::move(sellers),
                                                                           std::move(categories), std::move(search),
                                                                           std::move(products)}));
}

} // namespace livemart
