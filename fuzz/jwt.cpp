// Access tokens (protocol/jwt.hpp) as the server checks them: jwt::verify
// with keys read by jwt::parse_keys and the issuer, audience, lifetime and
// clock skew of conf/livemart.conf, at a fixed time.
//
// Input, used three ways:
// - the whole input is a token, verified as an Authorization header's is;
// - when it holds a newline, the text before it is a header's JSON and the
//   text after it a payload's: they are signed with the server's key and
//   verified, so the claim checks behind the signature are reached too;
// - the whole input is an auth.jwt_keys setting, for jwt::parse_keys.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <protocol/crypto.hpp>
#include <protocol/jwt.hpp>

#include "common.hpp"

namespace {

using namespace livemart;
namespace fuzz = livemart::fuzz;

/// What a verified token must be, whatever it claimed.
void check_claims(const jwt::claims& c) {
  const auto& cfg = fuzz::tokens();
  fuzz::require(c.user_id != 0, "a verified token names a user");
  fuzz::require(c.session_id != 0, "a verified token names its session");
  fuzz::require(c.expires_at_s + static_cast<std::int64_t>(cfg.clock_skew_s) > fuzz::now_s, "a verified token has not expired");
  fuzz::require(c.issued_at_s - static_cast<std::int64_t>(cfg.clock_skew_s) <= fuzz::now_s, "a verified token was issued");
  fuzz::require(c.expires_at_s - c.issued_at_s <= static_cast<std::int64_t>(cfg.ttl_s),
                "a verified token lives at most auth.access_token_ttl_s");
}

void verify(std::string_view token) {
  auto verified = jwt::verify(fuzz::tokens(), token, fuzz::now_s);
  if (auto* c = std::get_if<jwt::claims>(&verified))
    check_claims(*c);
  else
    fuzz::require(!std::get<std::string>(verified).empty(), "a refusal says why");
}

/// Signs `header_json`.`payload_json` with the signing key, as a client
/// holding the key (or the server itself) would.
std::string sign(std::string_view header_json, std::string_view payload_json) {
  auto input = crypto::base64url_encode(header_json) + "." + crypto::base64url_encode(payload_json);
  return input + "." + crypto::base64url_encode(crypto::hmac_sha256(fuzz::tokens().keys.front().secret, input));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  verify(text);

  if (auto newline = text.find('\n'); newline != std::string_view::npos)
    verify(sign(text.substr(0, newline), text.substr(newline + 1)));

  auto keys = jwt::parse_keys(text);
  if (auto* list = std::get_if<std::vector<jwt::key>>(&keys)) {
    fuzz::require(!list->empty(), "parse_keys yields a key");
    for (const auto& k : *list)
      fuzz::require(!k.id.empty() && k.secret.size() >= 32, "each key has a kid and 256 bits");
  }

  // What the server issues, it accepts, for any user and session.
  std::uint64_t user = 14695981039346656037ull;
  for (std::size_t i = 0; i < size; ++i)
    user = (user ^ data[i]) * 1099511628211ull;
  auto session = (user >> 1) | 1;
  user |= 1;
  auto issued = jwt::verify(fuzz::tokens(), jwt::issue(fuzz::tokens(), user, session, fuzz::now_s), fuzz::now_s);
  fuzz::require(std::holds_alternative<jwt::claims>(issued) && std::get<jwt::claims>(issued).user_id == user
                  && std::get<jwt::claims>(issued).session_id == session,
                "an issued token verifies for its user and session");
  return 0;
}
