#include <actors/services.hpp>
#include <persistence/database.hpp>
#include <actors/sessions.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/log.hpp>
#include <protocol/clock.hpp>

namespace livemart {
namespace {

using poll_atom = caf::atom_constant<caf::atom("sess_poll")>;

/// Revocations read per poll at most; a backlog is read over several.
constexpr std::size_t poll_batch_max = 10'000;
/// Every this many polls the database forgets revocations past their time.
constexpr std::uint32_t forget_every_polls = 120;

struct sessions_context {
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds poll_interval;
  bool background_jobs;
  persistence::database db;
  std::shared_ptr<revocation_list> list;
  std::shared_ptr<const routing_cell> routing; ///< a cluster: one node forgets for all
};

struct sessions_state {
  std::map<std::uint64_t, revocation> by_id; ///< in force, by id
  std::uint64_t last_id = 0;                 ///< the newest revocation read
  std::uint32_t polls = 0;
  bool loaded = false;
  std::shared_ptr<const revocation_list::snapshot> published; ///< the last one every thread was given
  static inline const char* name = "sessions";
};

using sessions_pointer = sessions_actor::stateful_pointer<sessions_state>;
using context_ptr = std::shared_ptr<const sessions_context>;

/// Forgets revocations whose tokens have all expired; true when any was.
bool forget_expired(sessions_pointer self) {
  auto now = wall_clock::now_s();
  auto before = self->state.by_id.size();
  std::erase_if(self->state.by_id, [now](const auto& entry) { return entry.second.forget_at_s <= now; });
  return self->state.by_id.size() != before;
}

/// Revocations made since the base at most, before the base is rebuilt.
constexpr std::size_t recent_max = 1'024;

void add(revocation_list::entries& to, const revocation& r) {
  if (r.session_id != 0) {
    to.sessions.insert(r.session_id);
  } else {
    auto& cutoff = to.cutoffs[r.user_id];
    cutoff = std::max(cutoff, r.cutoff);
  }
}

/// Rebuilds the snapshot every thread reads from all that is in force now.
void publish_all(sessions_pointer self, const context_ptr& ctx) {
  auto base = std::make_shared<revocation_list::entries>();
  for (const auto& [id, r] : self->state.by_id)
    add(*base, r);
  auto next = std::make_shared<revocation_list::snapshot>();
  next->base = std::move(base);
  self->state.published = next;
  ctx->list->publish(std::move(next));
}

/// Publishes `added` on top of the last snapshot: only the recent part is
/// copied, until it grows past recent_max.
void publish_added(sessions_pointer self, const context_ptr& ctx, const std::vector<revocation>& added) {
  if (added.empty())
    return;
  const auto& last = self->state.published;
  if (!last || last->recent.sessions.size() + last->recent.cutoffs.size() + added.size() > recent_max) {
    publish_all(self, ctx);
    return;
  }
  auto next = std::make_shared<revocation_list::snapshot>(*last);
  for (const auto& r : added)
    add(next->recent, r);
  self->state.published = next;
  ctx->list->publish(std::move(next));
}

/// Takes revocations in; returns those that were new.
std::vector<revocation> take(sessions_pointer self, const std::vector<revocation>& list) {
  std::vector<revocation> added;
  for (const auto& r : list) {
    self->state.last_id = std::max(self->state.last_id, r.id);
    if (self->state.by_id.emplace(r.id, r).second)
      added.push_back(r);
  }
  return added;
}

void schedule_poll(sessions_pointer self, const context_ptr& ctx) {
  // An internal tick, through the default handler: not part of the interface.
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->poll_interval, poll_atom::value);
}

sessions_actor::behavior_type sessions_service(sessions_pointer self, context_ptr ctx) {
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    if (!view.copy_content_to_message().match_elements<poll_atom>())
      return caf::sec::unexpected_message;
    // Revocations made elsewhere (other nodes, tools), and the end of those
    // whose tokens have all expired.
    self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                  db_command{{persistence::revocations_since(self->state.last_id, poll_batch_max)}})
      .then(
        [self, ctx](const db_result& r) {
          auto added = take(self, persistence::decode_revocations(r.results.front()));
          if (forget_expired(self))
            publish_all(self, ctx);
          else
            publish_added(self, ctx, added);
          schedule_poll(self, ctx);
        },
        [self, ctx](caf::error&) {
          if (forget_expired(self))
            publish_all(self, ctx);
          schedule_poll(self, ctx);
        });
    if (ctx->background_jobs && ++self->state.polls % forget_every_polls == 0 && runs_cluster_jobs(ctx->routing))
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                    db_command{{persistence::revocations_forget()}})
        .then([](const db_result&) {}, [](caf::error&) {});
    return caf::message{};
  });
  return {
    [self, ctx](caf::get_atom) -> caf::result<std::uint64_t> {
      // Ready once the revocations in force are loaded: a node must not
      // accept a token whose session ended before it started.
      if (self->state.loaded)
        return static_cast<std::uint64_t>(self->state.by_id.size());
      auto rp = self->make_response_promise<std::uint64_t>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::revocations_since(0, std::numeric_limits<std::int32_t>::max())}})
        .await(
          [self, ctx, rp](const db_result& r) mutable {
            take(self, persistence::decode_revocations(r.results.front()));
            forget_expired(self);
            publish_all(self, ctx);
            if (!self->state.loaded) {
              self->state.loaded = true;
              schedule_poll(self, ctx);
            }
            rp.deliver(static_cast<std::uint64_t>(self->state.by_id.size()));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self, ctx](revoke_atom, const std::vector<revocation>& list) {
      // Revocations this node just committed: in force before the request
      // that made them is answered.
      publish_added(self, ctx, take(self, list));
      return caf::ok_atom::value;
    },
  };
}

} // namespace

sessions_actor spawn_sessions(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                              std::shared_ptr<revocation_list> list, std::shared_ptr<const routing_cell> routing) {
  auto ctx = std::make_shared<const sessions_context>(sessions_context{
    std::chrono::milliseconds{cfg.actors.step_timeout_ms}, std::chrono::milliseconds{cfg.auth.revocation_poll_ms},
    cfg.node.background_jobs, db, std::move(list), std::move(routing)});
  return sys.spawn(sessions_service, std::move(ctx));
}

} // namespace livemart
