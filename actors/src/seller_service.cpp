#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

namespace livemart {
namespace {

struct seller_context {
  conf::settings cfg;
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  user_directory users;
  std::shared_ptr<const routing_cell> routing; ///< a cluster: the user's sockets on other nodes follow too
};

struct seller_state {
  static inline const char* name = "sellers";
};

using seller_pointer = seller_actor::stateful_pointer<seller_state>;

caf::error no_such_seller() {
  return make_error(errc::not_found, "no such seller");
}

/// Answers with the single seller a statement returned, or 404.
auto deliver_one(caf::typed_response_promise<seller> rp) {
  return [rp](const db_result& r) mutable {
    auto found = persistence::decode_sellers(r.results.front());
    if (found.empty())
      rp.deliver(no_such_seller());
    else
      rp.deliver(std::move(found.front()));
  };
}

template <class T>
auto deliver_list(caf::typed_response_promise<T> rp) {
  return [rp](const db_result& r) mutable { rp.deliver(persistence::decode_sellers(r.results.front())); };
}

template <class Promise>
auto fail_to(Promise rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

seller_actor::behavior_type seller_service(seller_pointer self, std::shared_ptr<const seller_context> ctx) {
  auto read = [self, ctx](db_statement s) {
    return self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{std::move(s)}});
  };
  auto write = [self, ctx](db_statement s) {
    return self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{std::move(s)}});
  };
  return {
    [self, write](apply_atom, std::uint64_t user_id, const seller_application& a) -> caf::result<seller> {
      auto rp = self->make_response_promise<seller>();
      write(persistence::seller_apply(ids::next(), user_id, a, ids::next()))
        .then(deliver_one(rp), [rp](caf::error& err) mutable {
          if (is_duplicate(err))
            rp.deliver(make_error(errc::conflict, "this shop name is taken",
                                  {field_error{"shop_name", "is taken (names and their slugs are unique)"}}));
          else if (err == db_refusal::wrong_state)
            rp.deliver(make_error(errc::conflict, "you have already applied; your application is " + refused_state(err)));
          else
            rp.deliver(std::move(err));
        });
      return rp;
    },
    [self, read](get_atom, std::uint64_t seller_id) -> caf::result<seller> {
      auto rp = self->make_response_promise<seller>();
      read(persistence::seller_by_id(seller_id)).then(deliver_one(rp), fail_to(rp));
      return rp;
    },
    [self, read](profile_atom, std::uint64_t user_id) -> caf::result<seller> {
      auto rp = self->make_response_promise<seller>();
      read(persistence::seller_by_user(user_id)).then(deliver_one(rp), fail_to(rp));
      return rp;
    },
    [self, read](list_atom, seller_status status, std::uint64_t after, std::uint32_t limit)
      -> caf::result<std::vector<seller>> {
      auto rp = self->make_response_promise<std::vector<seller>>();
      read(persistence::sellers_by_status(status, after, limit)).then(deliver_list(rp), fail_to(rp));
      return rp;
    },
    [self, ctx, write](decide_atom, std::uint64_t seller_id, std::uint64_t actor_id, seller_status to,
                       const std::string& reason) -> caf::result<seller> {
      auto rp = self->make_response_promise<seller>();
      write(persistence::seller_decide(seller_id, to, actor_id, reason, ids::next()))
        .then(
          [self, ctx, rp](const db_result& r) mutable {
            auto found = persistence::decode_sellers(r.results.front());
            if (found.empty()) {
              rp.deliver(no_such_seller());
              return;
            }
            // The owner's role may have changed in the same transaction.
            self->send(ctx->users.route(found.front().user_id), forget_atom::value, found.front().user_id);
            rp.deliver(std::move(found.front()));
          },
          [rp](caf::error& err) mutable {
            if (err == db_refusal::wrong_state)
              rp.deliver(make_error(errc::conflict,
                                    "only a pending application can be decided; this one is " + refused_state(err)));
            else
              rp.deliver(std::move(err));
          });
      return rp;
    },
    [self, ctx, write](follow_atom, std::uint64_t user_id, std::uint64_t seller_id, bool follow)
      -> caf::result<std::int64_t> {
      auto rp = self->make_response_promise<std::int64_t>();
      write(persistence::seller_follow(user_id, seller_id, follow))
        .then(
          [self, ctx, rp, user_id, seller_id, follow](const db_result& r) mutable {
            auto followers = persistence::decode_follower_count(r.results.front());
            if (!followers) {
              rp.deliver(no_such_seller());
              return;
            }
            // The user's open channels follow along (go-live pushes).
            caf::anon_send(self->home_system().groups().get_local(user_group_name(user_id)), follow_atom::value,
                           seller_id, follow);
            tell_peers(ctx->routing, follow_atom::value, user_id, seller_id, follow);
            rp.deliver(*followers);
          },
          fail_to(rp));
      return rp;
    },
    [self, read](following_atom, std::uint64_t user_id, std::uint64_t after, std::uint32_t limit)
      -> caf::result<std::vector<seller>> {
      auto rp = self->make_response_promise<std::vector<seller>>();
      read(persistence::sellers_followed(user_id, after, limit)).then(deliver_list(rp), fail_to(rp));
      return rp;
    },
  };
}

} // namespace

seller_actor spawn_sellers(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                           user_directory users, std::shared_ptr<const routing_cell> routing) {
  return sys.spawn(seller_service,
                   std::make_shared<const seller_context>(seller_context{
                     cfg, std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db, std::move(users), std::move(routing)}));
}

} // namespace livemart
