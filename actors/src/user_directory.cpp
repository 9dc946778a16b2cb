#include <actors/services.hpp>
#include <persistence/database.hpp>


#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/metrics.hpp>

namespace livemart {
namespace {

using clock = std::chrono::steady_clock;

struct cached_user {
  user_profile profile;
  clock::time_point loaded;
};

struct shard_state {
  std::unordered_map<std::uint64_t, cached_user> cache;
  std::size_t cache_max = 0;
  clock::duration ttl{};
  static inline const char* name = "user_shard";

  /// A fresh cached profile, or nullptr when it must be read.
  const user_profile* fresh(std::uint64_t id) const {
    auto it = cache.find(id);
    if (it == cache.end() || clock::now() - it->second.loaded > ttl)
      return nullptr;
    return &it->second.profile;
  }

  /// Keeps the newest version: a slow read must not overwrite a fresher write.
  void remember(const user_profile& u) {
    auto it = cache.find(u.id);
    if (it != cache.end()) {
      if (it->second.profile.version <= u.version)
        it->second = cached_user{u, clock::now()};
      return;
    }
    if (cache.size() >= cache_max && !cache.empty())
      cache.erase(cache.begin());
    cache.emplace(u.id, cached_user{u, clock::now()});
  }
};

using shard_pointer = user_shard_actor::stateful_pointer<shard_state>;
using user_promise = caf::typed_response_promise<user_profile>;

/// Caches the user row a read or write returned and answers with it.
auto remember_and_deliver(shard_pointer self, user_promise rp) {
  return [self, rp](const db_result& r) mutable {
    auto user = persistence::decode_user(r.results.front());
    if (!user) {
      rp.deliver(make_error(errc::not_found, "no such user"));
      return;
    }
    self->state.remember(*user);
    rp.deliver(*user);
  };
}

auto fail_to(user_promise rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

user_shard_actor::behavior_type user_shard(shard_pointer self,
                                           conf::actor_settings cfg, persistence::database db) {
  self->state.cache_max = cfg.user_cache_entries_max;
  self->state.ttl = std::chrono::seconds{cfg.user_cache_ttl_s};
  auto db_timeout = std::chrono::milliseconds{cfg.step_timeout_ms};
  return {
    [self, db, db_timeout](get_atom, std::uint64_t id) -> caf::result<user_profile> {
      if (const auto* cached = self->state.fresh(id))
        return *cached;
      auto rp = self->make_response_promise<user_profile>();
      self->request(db.reads, db_timeout, query_atom::value, db_command{{persistence::user_by_id(id)}})
        .then(remember_and_deliver(self, rp), fail_to(rp));
      return rp;
    },
    [self, db, db_timeout](update_atom, std::uint64_t id, const profile_patch& patch) -> caf::result<user_profile> {
      auto rp = self->make_response_promise<user_profile>();
      self->request(db.writes, db_timeout, write_atom::value, db_command{{persistence::user_update_profile(id, patch)}})
        .then(remember_and_deliver(self, rp), fail_to(rp));
      return rp;
    },
    [self](put_atom, const user_profile& u) { self->state.remember(u); },
    [self](forget_atom, std::uint64_t id) { self->state.cache.erase(id); },
  };
}

} // namespace

user_directory spawn_user_directory(caf::actor_system& sys, const conf::actor_settings& cfg,
                                    const persistence::database& db) {
  user_directory dir;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, cfg.user_shards); ++i)
    dir.shards.push_back(sys.spawn(user_shard, cfg, db));
  return dir;
}

} // namespace livemart
