#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <chrono>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/clock.hpp>

namespace livemart {
namespace {

constexpr std::size_t refresh_token_bytes = 32; // 256 bits

std::string token_hash_hex(const std::string& token) {
  return crypto::to_hex(crypto::sha256(token));
}

struct auth_context {
  conf::settings cfg;
  std::chrono::milliseconds step_timeout;
  jwt::config tokens;
  persistence::database db;
  hasher_actor hasher;
  limiter_directory limiter; ///< route(key): the node that counts that key
  user_directory users;
  sessions_actor sessions;

  /// How long a revocation is kept: until every access token it applies to
  /// has expired, allowing for clock skew and a refresh in flight.
  std::uint32_t revocation_keep_s() const { return tokens.ttl_s + tokens.clock_skew_s + 60; }
};

/// Asks the node that counts `key` (the owner of its slot, in a cluster)
/// whether one more attempt is allowed: 0, or the seconds to wait.
template <class SelfPtr>
auto check_limit(SelfPtr self, const auth_context& ctx, std::string key, std::uint32_t limit) {
  auto counter = ctx.limiter.route(key);
  return self->request(counter, ctx.step_timeout, check_atom::value, std::move(key), limit);
}

struct auth_state {
  static inline const char* name = "auth";
};

using auth_pointer = auth_actor::stateful_pointer<auth_state>;

/// Forwards an error reply to a promise.
template <class Promise>
auto fail_to(Promise rp) {
  return [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
}

/// Registration, after the rate limit passed: hash, insert, cache.
void register_user(auth_pointer self, std::shared_ptr<const auth_context> ctx, register_request req,
                   caf::typed_response_promise<user_profile> rp) {
      self->request(ctx->hasher, ctx->step_timeout, hash_atom::value, req.password)
        .then(
          [self, ctx, rp, req](const std::string& hash) mutable {
            auto id = ids::next();
            db_command cmd{{persistence::user_insert(id, req.email, hash, req.display_name, role::buyer)}};
            self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
              .then(
                [self, ctx, rp](const db_result& r) mutable {
                  auto user = persistence::decode_user(r.results.front());
                  if (!user) {
                    rp.deliver(make_error(errc::internal, "insert returned no row"));
                    return;
                  }
                  self->send(ctx->users.route(user->id), put_atom::value, *user);
                  rp.deliver(*user);
                },
                [rp](caf::error& err) mutable {
                  if (err == db_refusal::email_taken)
                    rp.deliver(make_error(errc::email_taken, "an account with this e-mail already exists",
                                          {field_error{"email", "is already registered"}}));
                  else
                    rp.deliver(std::move(err));
                });
          },
          fail_to(rp));
}

/// Login, after the rate limits passed: look up, verify, issue tokens.
void finish_login(auth_pointer self, std::shared_ptr<const auth_context> ctx, login_request req,
                  caf::typed_response_promise<token_pair> rp) {
  auto verify_and_issue = [self, ctx, rp](user_profile user, std::string stored, std::string password,
                                          bool suspended) mutable {
    self->request(ctx->hasher, ctx->step_timeout, verify_atom::value, std::move(stored), std::move(password))
      .then(
        [self, ctx, rp, user, suspended](const verify_result& v) mutable {
          if (!v.match) {
            rp.deliver(make_error(errc::invalid_credentials, "the e-mail or password is wrong"));
            return;
          }
          // Only the account's owner learns it is suspended (the password was right).
          if (suspended) {
            rp.deliver(make_error(errc::forbidden, "this account is suspended"));
            return;
          }
          // A login sees the row as it is now: refresh the owner's cache, so
          // changes made outside this node (create-admin) show up at once.
          auto user_id = user.id;
          self->send(ctx->users.route(user_id), put_atom::value, std::move(user));
          token_pair tokens;
          tokens.user_id = user_id;
          tokens.refresh_token = crypto::base64url_encode(crypto::random_bytes(refresh_token_bytes));
          tokens.refresh_expires_in_s = ctx->cfg.auth.refresh_token_ttl_s;
          auto token_id = ids::next();
          db_command cmd{{persistence::refresh_insert(token_id, user_id, token_id, token_hash_hex(tokens.refresh_token),
                                                      ctx->cfg.auth.refresh_token_ttl_s)}};
          if (!v.rehash.empty())
            cmd.statements.push_back(persistence::user_set_password_hash(user_id, v.rehash));
          self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
            .then(
              [ctx, rp, tokens, token_id](const db_result&) mutable {
                // The session is the refresh-token family this login begins.
                tokens.access_token = jwt::issue(ctx->tokens, tokens.user_id, token_id, wall_clock::now_s());
                tokens.access_expires_in_s = ctx->tokens.ttl_s;
                rp.deliver(std::move(tokens));
              },
              fail_to(rp));
        },
        fail_to(rp));
  };
  if (req.email.empty()) {
    // Not an e-mail address at all: spend the same time as a real check.
    verify_and_issue(user_profile{}, std::string{}, std::move(req.password), false);
    return;
  }
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::user_credentials(req.email)}})
    .then(
      [verify_and_issue, req](const db_result& r) mutable {
        auto found = persistence::decode_credentials(r.results.front());
        if (!found) {
          verify_and_issue(user_profile{}, std::string{}, std::move(req.password), false);
          return;
        }
        verify_and_issue(std::move(found->user), std::move(found->password_hash), std::move(req.password),
                         found->suspended);
      },
      fail_to(rp));
}

/// Ends every session of `user` begun before now.
db_statement end_all(const std::shared_ptr<const auth_context>& ctx, std::uint64_t user, std::string_view reason) {
  // Session ids grow with time: every session begun before this id ends.
  auto cutoff = ids::next();
  return persistence::sessions_end_all(ids::next(), user, cutoff, reason, ctx->revocation_keep_s());
}

/// Runs `cmd`, whose statements may end sessions (session_end,
/// sessions_end_all), then puts the revocations in force on this node
/// before `then(result)`: the request that ended a session is answered
/// only once its tokens are refused.
template <class Then, class Fail>
void end_sessions(auth_pointer self, std::shared_ptr<const auth_context> ctx, db_command cmd, Then then, Fail fail) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
    .then(
      [self, ctx, then, fail](const db_result& r) mutable {
        std::vector<revocation> ended;
        for (const auto& rows : r.results)
          if (rows.column("forget_at_s") >= 0)
            for (auto& rev : persistence::decode_revocations(rows))
              ended.push_back(rev);
        if (ended.empty()) {
          then(r);
          return;
        }
        self->request(ctx->sessions, ctx->step_timeout, revoke_atom::value, std::move(ended))
          .then([then, r](caf::ok_atom) mutable { then(r); }, fail);
      },
      fail);
}

/// A password change: the current password proves the caller; the new one
/// is hashed and stored, every session ends, and a new one begins for the
/// caller, all in one transaction.
void change_password(auth_pointer self, std::shared_ptr<const auth_context> ctx, std::uint64_t user,
                     password_change change, caf::typed_response_promise<token_pair> rp) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::user_password_hash(user)}})
    .then(
      [self, ctx, rp, user, change](const db_result& r) mutable {
        auto stored = persistence::decode_password_hash(r.results.front());
        if (!stored) {
          rp.deliver(make_error(errc::unauthenticated, "no such account"));
          return;
        }
        self->request(ctx->hasher, ctx->step_timeout, verify_atom::value, *stored, change.current_password)
          .then(
            [self, ctx, rp, user, change](const verify_result& v) mutable {
              if (!v.match) {
                rp.deliver(make_error(errc::validation_failed, "current_password is wrong",
                                      {field_error{"current_password", "is wrong"}}));
                return;
              }
              self->request(ctx->hasher, ctx->step_timeout, hash_atom::value, change.new_password)
                .then(
                  [self, ctx, rp, user](const std::string& hash) mutable {
                    token_pair tokens;
                    tokens.user_id = user;
                    tokens.refresh_token = crypto::base64url_encode(crypto::random_bytes(refresh_token_bytes));
                    tokens.refresh_expires_in_s = ctx->cfg.auth.refresh_token_ttl_s;
                    auto ended = end_all(ctx, user, "password");
                    // After the cutoff: the caller's new session survives it.
                    auto session = ids::next();
                    db_command cmd{{persistence::user_change_password(user, hash), std::move(ended),
                                    persistence::refresh_insert(session, user, session,
                                                                token_hash_hex(tokens.refresh_token),
                                                                ctx->cfg.auth.refresh_token_ttl_s)}};
                    end_sessions(
                      self, ctx, std::move(cmd),
                      [self, ctx, rp, tokens, session, user](const db_result&) mutable {
                        self->send(ctx->users.route(user), forget_atom::value, user);
                        tokens.access_token = jwt::issue(ctx->tokens, user, session, wall_clock::now_s());
                        tokens.access_expires_in_s = ctx->tokens.ttl_s;
                        rp.deliver(std::move(tokens));
                      },
                      fail_to(rp));
                  },
                  fail_to(rp));
            },
            fail_to(rp));
      },
      fail_to(rp));
}

auth_actor::behavior_type auth_service(auth_pointer self, std::shared_ptr<const auth_context> ctx) {
  return {
    [self, ctx](register_atom, register_request& req, const std::string& client_network) -> caf::result<user_profile> {
      auto rp = self->make_response_promise<user_profile>();
      // Registration costs an Argon2id hash: bound it per client network so
      // it cannot starve logins of the hasher.
      check_limit(self, *ctx, "register:" + client_network,
                    static_cast<std::uint32_t>(ctx->cfg.auth.registrations_per_address_max))
        .then(
          [self, ctx, rp, req](std::uint32_t retry_after) mutable {
            if (retry_after > 0) {
              rp.deliver(make_rate_limited(retry_after));
              return;
            }
            register_user(self, ctx, std::move(req), rp);
          },
          fail_to(rp));
      return rp;
    },
    [self, ctx](login_atom, login_request& req, const std::string& client_address) -> caf::result<token_pair> {
      auto rp = self->make_response_promise<token_pair>();
      const auto& a = ctx->cfg.auth;
      // Per client address first, then per account: both must allow it.
      check_limit(self, *ctx, "address:" + client_address,
                    static_cast<std::uint32_t>(a.login_attempts_per_address_max))
        .then(
          [self, ctx, rp, req](std::uint32_t retry_after) mutable {
            if (retry_after > 0) {
              rp.deliver(make_rate_limited(retry_after));
              return;
            }
            check_limit(self, *ctx, "account:" + req.email,
                          static_cast<std::uint32_t>(ctx->cfg.auth.login_attempts_per_account_max))
              .then(
                [self, ctx, rp, req](std::uint32_t account_retry_after) mutable {
                  if (account_retry_after > 0) {
                    rp.deliver(make_rate_limited(account_retry_after));
                    return;
                  }
                  finish_login(self, ctx, std::move(req), rp);
                },
                fail_to(rp));
          },
          fail_to(rp));
      return rp;
    },
    [self, ctx](refresh_atom, const refresh_request& req) -> caf::result<token_pair> {
      auto rp = self->make_response_promise<token_pair>();
      token_pair tokens;
      tokens.refresh_token = crypto::base64url_encode(crypto::random_bytes(refresh_token_bytes));
      tokens.refresh_expires_in_s = ctx->cfg.auth.refresh_token_ttl_s;
      auto revocation_id = ids::next();
      db_command cmd{{persistence::refresh_rotate(token_hash_hex(req.refresh_token), ids::next(),
                                                  token_hash_hex(tokens.refresh_token), ctx->cfg.auth.refresh_token_ttl_s,
                                                  revocation_id, ctx->revocation_keep_s())}};
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, std::move(cmd))
        .then(
          [self, ctx, rp, tokens, revocation_id](const db_result& r) mutable {
            auto rotation = persistence::decode_refresh_rotation(r.results.front());
            const auto& outcome = rotation.outcome;
            if (outcome == "reused") {
              // A stolen token: its session ended in the database; end its
              // access tokens here before answering.
              revocation ended;
              ended.id = revocation_id;
              ended.user_id = rotation.user_id;
              ended.session_id = rotation.family_id;
              ended.forget_at_s = wall_clock::now_s() + ctx->revocation_keep_s();
              log::warn("refresh token reused; session ended", "\"user_id\":\"" + ids::format(ended.user_id) + "\"");
              auto refuse = [rp]() mutable {
                rp.deliver(make_error(errc::invalid_refresh_token, "the refresh token is not valid"));
              };
              self->request(ctx->sessions, ctx->step_timeout, revoke_atom::value, std::vector<revocation>{ended})
                .then([refuse](caf::ok_atom) mutable { refuse(); }, [refuse](caf::error&) mutable { refuse(); });
              return;
            }
            if (outcome == "suspended") {
              rp.deliver(make_error(errc::forbidden, "this account is suspended"));
              return;
            }
            if (outcome != "rotated") {
              rp.deliver(make_error(errc::invalid_refresh_token, "the refresh token is not valid"));
              return;
            }
            tokens.user_id = rotation.user_id;
            auto session = rotation.family_id;
            tokens.access_token = jwt::issue(ctx->tokens, tokens.user_id, session, wall_clock::now_s());
            tokens.access_expires_in_s = ctx->tokens.ttl_s;
            rp.deliver(std::move(tokens));
          },
          fail_to(rp));
      return rp;
    },
    [self, ctx](logout_atom, const refresh_request& req) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      end_sessions(self, ctx,
                   db_command{{persistence::session_end(ids::next(), token_hash_hex(req.refresh_token), "logout",
                                                        ctx->revocation_keep_s())}},
                   [rp](const db_result&) mutable { rp.deliver(caf::ok_atom::value); }, fail_to(rp));
      return rp;
    },
    [self, ctx](logout_all_atom, std::uint64_t user) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      end_sessions(self, ctx, db_command{{end_all(ctx, user, "logout_all")}},
                   [rp](const db_result&) mutable { rp.deliver(caf::ok_atom::value); }, fail_to(rp));
      return rp;
    },
    [self, ctx](password_atom, std::uint64_t user, const password_change& change) -> caf::result<token_pair> {
      auto rp = self->make_response_promise<token_pair>();
      // Guessing the current password with a stolen access token is limited
      // like guessing it at login.
      check_limit(self, *ctx, "password:" + ids::format(user),
                    static_cast<std::uint32_t>(ctx->cfg.auth.login_attempts_per_account_max))
        .then(
          [self, ctx, rp, user, change](std::uint32_t retry_after) mutable {
            if (retry_after > 0) {
              rp.deliver(make_rate_limited(retry_after));
              return;
            }
            change_password(self, ctx, user, change, rp);
          },
          fail_to(rp));
      return rp;
    },
    [self, ctx](suspend_atom, std::uint64_t admin, std::uint64_t user, bool suspend,
                const suspension& why) -> caf::result<user_profile> {
      auto rp = self->make_response_promise<user_profile>();
      if (admin == user) {
        rp.deliver(make_error(errc::forbidden, "an administrator cannot suspend their own account"));
        return rp;
      }
      db_command cmd{{persistence::user_set_suspended(user, suspend, suspend ? why.reason : std::string{})}};
      if (suspend)
        cmd.statements.push_back(end_all(ctx, user, "suspended"));
      end_sessions(
        self, ctx, std::move(cmd),
        [self, ctx, rp, admin, suspend, why](const db_result& r) mutable {
          auto profile = persistence::decode_user(r.results.front());
          if (!profile) {
            rp.deliver(make_error(errc::not_found, "no such user"));
            return;
          }
          self->send(ctx->users.route(profile->id), forget_atom::value, profile->id);
          log::warn(suspend ? "account suspended" : "account suspension lifted",
                    "\"user_id\":\"" + ids::format(profile->id) + "\",\"by\":\"" + ids::format(admin) + "\"");
          rp.deliver(std::move(*profile));
        },
        fail_to(rp));
      return rp;
    },
  };
}

} // namespace

auth_actor spawn_auth(caf::actor_system& sys, const conf::settings& cfg, const jwt::config& tokens,
                      const persistence::database& db, hasher_actor hasher, limiter_directory limiter,
                      user_directory users, sessions_actor sessions) {
  auto ctx = std::make_shared<const auth_context>(auth_context{cfg, std::chrono::milliseconds{cfg.actors.step_timeout_ms},
                                                               tokens, db, std::move(hasher), std::move(limiter),
                                                               std::move(users), std::move(sessions)});
  return sys.spawn(auth_service, std::move(ctx));
}

} // namespace livemart
