#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

namespace livemart {
namespace {

struct review_context {
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  product_directory products;
};
using context_ptr = std::shared_ptr<const review_context>;

/// Runs `then(product)` with the product as its actor knows it; a missing
/// product answers `rp` with 404.
template <class Promise, class F>
void with_product(review_actor::pointer self, const context_ptr& ctx, std::uint64_t id, Promise rp, F then) {
  self->request(ctx->products.route(id), ctx->step_timeout, id, get_atom::value)
    .then([then](const product& p) mutable { then(p); }, [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

review_actor::behavior_type review_service(review_actor::pointer self, context_ptr ctx) {
  return {
    [self, ctx](review_atom, std::uint64_t user, std::uint64_t product_id, const review_draft& draft) -> caf::result<review> {
      auto rp = self->make_response_promise<review>();
      with_product(self, ctx, product_id, rp, [self, ctx, rp, user, product_id, draft](const product&) mutable {
        auto id = ids::next();
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                      db_command{{persistence::review_create(id, product_id, user, draft)}})
          .then(
            [self, ctx, rp, user, product_id, draft](const db_result& r) mutable {
              auto created = persistence::decode_created_review(r.results.front());
              review out;
              out.id = created.id;
              out.product_id = product_id;
              out.seller_id = created.seller_id;
              out.buyer_id = user;
              out.buyer_name = created.buyer_name; // as the list shows it
              out.rating = draft.rating;
              out.title = draft.title;
              out.body = draft.body;
              out.created_at_ms = created.created_at_ms;
              self->send(ctx->products.route(product_id), product_id, rated_atom::value, created.product_rating.sum,
                         created.product_rating.count);
              rp.deliver(std::move(out));
            },
            [rp](caf::error& err) mutable {
              auto p = to_problem(err);
              if (p.code == errc::forbidden)
                rp.deliver(make_error(errc::forbidden, "only a buyer whose order with this product was delivered may review it"));
              else if (err == db_refusal::review_exists)
                rp.deliver(make_error(errc::conflict, "you reviewed this product already"));
              else
                rp.deliver(std::move(err));
            });
      });
      return rp;
    },
    [self, ctx](list_atom, std::uint64_t product_id, std::uint64_t before, std::uint32_t limit) -> caf::result<review_page> {
      auto rp = self->make_response_promise<review_page>();
      with_product(self, ctx, product_id, rp, [self, ctx, rp, product_id, before, limit](const product& p) mutable {
        self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                      db_command{{persistence::reviews_of(product_id, before, limit)}})
          .then(
            [rp, rating = p.rating](const db_result& r) mutable {
              rp.deliver(review_page{persistence::decode_reviews(r.results.front()), rating});
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      });
      return rp;
    },
  };
}

} // namespace

review_actor spawn_reviews(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                           product_directory products) {
  return sys.spawn(review_service, std::make_shared<const review_context>(review_context{
                                     std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db, std::move(products)}));
}

} // namespace livemart
