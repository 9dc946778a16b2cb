#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

namespace livemart {
namespace {

struct address_context {
  conf::settings cfg;
  std::chrono::milliseconds step_timeout;
  persistence::database db;
};

struct address_state {
  static inline const char* name = "addresses";
};

using address_pointer = address_actor::stateful_pointer<address_state>;

caf::error not_found() {
  return make_error(errc::not_found, "no such address");
}

/// Read, merge, validate, write if unchanged since the read; on a concurrent
/// change, start over (optimistic concurrency on the address's version).
void update_address(address_pointer self, std::shared_ptr<const address_context> ctx, std::uint64_t user_id,
                    std::uint64_t id, address_patch patch, caf::typed_response_promise<address> rp, int attempt) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::address_get(id, user_id)}})
    .then(
      [self, ctx, user_id, id, patch, rp, attempt](const db_result& r) mutable {
        auto found = persistence::decode_addresses(r.results.front());
        if (found.empty()) {
          rp.deliver(not_found());
          return;
        }
        auto merged = apply_patch(found.front(), patch);
        auto errors = validate_address(merged, ctx->cfg);
        if (!errors.empty()) {
          auto detail = "invalid fields: " + list_field_names(errors);
          rp.deliver(make_error(errc::validation_failed, std::move(detail), std::move(errors)));
          return;
        }
        self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{persistence::address_update(merged)}})
          .then(
            [rp](const db_result& w) mutable {
              auto updated = persistence::decode_addresses(w.results.front());
              if (updated.empty())
                rp.deliver(not_found());
              else
                rp.deliver(std::move(updated.front()));
            },
            [self, ctx, user_id, id, patch, rp, attempt](caf::error& err) mutable {
              auto p = to_problem(err);
              if (err == db_refusal::stale && static_cast<std::size_t>(attempt + 1) < ctx->cfg.actors.update_attempts_max) {
                update_address(self, ctx, user_id, id, std::move(patch), rp, attempt + 1);
              } else if (p.code == errc::validation_failed) {
                rp.deliver(make_error(errc::validation_failed, "the default address cannot be unset; make another address the default",
                                      {field_error{"is_default", "cannot be false on the default address"}}));
              } else if (p.code == errc::conflict) {
                rp.deliver(make_error(errc::conflict, "the address changed concurrently; retry"));
              } else {
                rp.deliver(std::move(err));
              }
            });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

address_actor::behavior_type address_service(address_pointer self, std::shared_ptr<const address_context> ctx) {
  return {
    [self, ctx](list_atom, std::uint64_t user_id) -> caf::result<std::vector<address>> {
      auto rp = self->make_response_promise<std::vector<address>>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::address_list(user_id)}})
        .then([rp](const db_result& r) mutable { rp.deliver(persistence::decode_addresses(r.results.front())); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self, ctx](create_atom, address a) -> caf::result<address> {
      auto rp = self->make_response_promise<address>();
      a.id = ids::next();
      db_command cmd{{persistence::address_create(a, ctx->cfg.users.addresses_per_user_max)}};
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
        .then(
          [rp](const db_result& r) mutable {
            auto created = persistence::decode_addresses(r.results.front());
            if (created.empty())
              rp.deliver(make_error(errc::internal, "insert returned no row"));
            else
              rp.deliver(std::move(created.front()));
          },
          [rp, ctx](caf::error& err) mutable {
            if (to_problem(err).code == errc::limit_reached)
              rp.deliver(make_error(errc::limit_reached,
                                    "at most " + std::to_string(ctx->cfg.users.addresses_per_user_max) + " addresses per user"));
            else
              rp.deliver(std::move(err));
          });
      return rp;
    },
    [self, ctx](update_atom, std::uint64_t user_id, std::uint64_t id, address_patch& patch) -> caf::result<address> {
      auto rp = self->make_response_promise<address>();
      update_address(self, ctx, user_id, id, std::move(patch), rp, 0);
      return rp;
    },
    [self, ctx](delete_atom, std::uint64_t user_id, std::uint64_t id) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{persistence::address_delete(id, user_id)}})
        .then(
          [rp](const db_result& r) mutable {
            if (r.results.front().rows.empty())
              rp.deliver(not_found());
            else
              rp.deliver(caf::ok_atom::value);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

address_actor spawn_addresses(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db) {
  return sys.spawn(address_service, std::make_shared<const address_context>(
                                      address_context{cfg, std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db}));
}

} // namespace livemart
