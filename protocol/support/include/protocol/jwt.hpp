#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

/// Access tokens: compact JWS with HS256, algorithm fixed by the server.
/// The token's own "alg" is checked for equality, never used to choose.
namespace livemart::jwt {

struct key {
  std::string id;     ///< "kid"
  std::string secret; ///< raw bytes, 32 at least
};

struct config {
  std::vector<key> keys; ///< keys[0] signs; all verify (rotation)
  std::string issuer;
  std::string audience;
  std::uint32_t ttl_s = 900;
  std::uint32_t clock_skew_s = 30;
};

struct claims {
  std::uint64_t user_id = 0;
  std::uint64_t session_id = 0; ///< "sid": the login (refresh-token family) the token belongs to
  std::int64_t issued_at_s = 0;
  std::int64_t expires_at_s = 0;
  std::string token_id;
};

/// Parses "kid:hex,kid:hex". Fails on an empty list, a malformed entry, a
/// duplicate kid or a key shorter than 32 bytes.
std::variant<std::vector<key>, std::string> parse_keys(std::string_view text);

/// Signs a token for `user_id` in session `session_id` (its refresh-token
/// family, so that ending the session ends its access tokens), valid from
/// `now_s` for `cfg.ttl_s`.
std::string issue(const config& cfg, std::uint64_t user_id, std::uint64_t session_id, std::int64_t now_s);

/// Verifies signature, header and registered claims. On failure returns the
/// reason (for logs; clients only ever see a generic 401).
std::variant<claims, std::string> verify(const config& cfg, std::string_view token, std::int64_t now_s);

} // namespace livemart::jwt
