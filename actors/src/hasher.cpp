#include <actors/services.hpp>

#include <caf/all.hpp>

#include <sodium.h>

#include <protocol/worker_pool.hpp>
#include <protocol/crypto.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

struct hasher_state {
  std::string dummy_hash; ///< verified against for unknown accounts
  static inline const char* name = "hasher";
};

/// One Argon2id worker. Runs on its own thread (detached): hashing takes
/// tens of milliseconds and must never stall a scheduler thread.
caf::behavior hash_worker(caf::stateful_actor<hasher_state>* self, conf::auth_settings cfg, caf::actor pool) {
  const auto ops = static_cast<unsigned long long>(cfg.argon2_iterations);
  const auto mem = cfg.argon2_memory_kib * 1024;
  auto hash = [ops, mem](const std::string& password) -> std::optional<std::string> {
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
      return std::nullopt; // out of memory
    return std::string{out};
  };
  refuse_unknown_jobs(self, pool);
  // Same parameters as real hashes, so its cost is the same.
  if (auto dummy = hash(crypto::to_hex(crypto::random_bytes(16))))
    self->state.dummy_hash = *dummy;
  return {
    [self, pool, hash](hash_atom, const std::string& password) -> caf::result<std::string> {
      auto h = hash(password);
      report_done(self, pool);
      if (!h)
        return make_error(errc::overloaded, "out of memory while hashing");
      return *h;
    },
    [self, pool, hash, ops, mem](verify_atom, const std::string& stored, const std::string& password) -> caf::result<verify_result> {
      verify_result r;
      const auto& target = stored.empty() ? self->state.dummy_hash : stored;
      r.match = crypto_pwhash_str_verify(target.c_str(), password.data(), password.size()) == 0 && !stored.empty();
      // Parameters changed since this hash was made: store a fresh one.
      if (r.match && crypto_pwhash_str_needs_rehash(stored.c_str(), ops, mem) != 0)
        r.rehash = hash(password).value_or("");
      report_done(self, pool);
      return r;
    },
  };
}

} // namespace

hasher_actor spawn_hasher(caf::actor_system& sys, const conf::auth_settings& cfg) {
  if (sodium_init() < 0) {
    log::error("libsodium failed to initialise");
    std::abort();
  }
  worker_pool_options options{"hasher", cfg.hash_workers, cfg.hash_queue_max};
  auto pool = spawn_worker_pool(sys, options, [&sys, cfg](caf::actor owner) {
    return sys.spawn<caf::detached>(hash_worker, cfg, owner);
  });
  return caf::actor_cast<hasher_actor>(pool);
}

} // namespace livemart
