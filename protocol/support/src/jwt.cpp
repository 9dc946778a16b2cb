#include <protocol/jwt.hpp>

#include <charconv>

#include <protocol/crypto.hpp>
#include <protocol/json.hpp>

namespace livemart::jwt {
namespace {

constexpr std::string_view token_type = "at+jwt"; // RFC 9068 access tokens
constexpr std::size_t token_bytes_max = 4096;
constexpr std::size_t key_bytes_min = 32;

std::variant<json::value, std::string> decode_part(std::string_view part, std::string_view what) {
  auto bytes = crypto::base64url_decode(part);
  if (!bytes)
    return std::string{what} + " is not base64url";
  auto parsed = json::parse(*bytes, 4);
  if (auto* err = std::get_if<json::parse_error>(&parsed))
    return std::string{what} + " is not JSON: " + err->message;
  auto& v = std::get<json::value>(parsed);
  if (!v.is_object())
    return std::string{what} + " is not an object";
  return std::move(v);
}

const key* find_key(const config& cfg, std::string_view kid) {
  for (const auto& k : cfg.keys)
    if (k.id == kid)
      return &k;
  return nullptr;
}

} // namespace

std::variant<std::vector<key>, std::string> parse_keys(std::string_view text) {
  std::vector<key> keys;
  if (text.empty())
    return std::string{"no keys configured"};
  for (bool more = true; more;) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    more = comma != std::string_view::npos;
    text = more ? text.substr(comma + 1) : std::string_view{};
    auto colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return std::string{"each key must be kid:hex"};
    auto id = item.substr(0, colon);
    auto secret = crypto::from_hex(item.substr(colon + 1));
    if (!secret)
      return "key " + std::string{id} + " is not hex";
    if (secret->size() < key_bytes_min)
      return "key " + std::string{id} + " is shorter than 256 bits";
    for (const auto& k : keys)
      if (k.id == id)
        return "duplicate kid " + std::string{id};
    keys.push_back(key{std::string{id}, std::move(*secret)});
  }
  if (keys.empty())
    return std::string{"no keys configured"};
  return keys;
}

std::string issue(const config& cfg, std::uint64_t user_id, std::uint64_t session_id, std::int64_t now_s) {
  const auto& k = cfg.keys.front();
  json::writer header;
  header.begin_object().field("alg", "HS256").field("typ", token_type).field("kid", k.id).end_object();
  json::writer payload;
  payload.begin_object()
    .field("iss", cfg.issuer)
    .field("aud", cfg.audience)
    .field("sub", std::to_string(user_id))
    .field("sid", std::to_string(session_id))
    .field("iat", now_s)
    .field("nbf", now_s)
    .field("exp", now_s + static_cast<std::int64_t>(cfg.ttl_s))
    .field("jti", crypto::base64url_encode(crypto::random_bytes(12)))
    .end_object();
  auto signing_input = crypto::base64url_encode(header.str()) + "." + crypto::base64url_encode(payload.str());
  auto signature = crypto::hmac_sha256(k.secret, signing_input);
  return signing_input + "." + crypto::base64url_encode(signature);
}

std::variant<claims, std::string> verify(const config& cfg, std::string_view token, std::int64_t now_s) {
  if (token.size() > token_bytes_max)
    return std::string{"token too long"};
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return std::string{"not a compact JWS"};
  auto header_part = token.substr(0, dot1);
  auto payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto signature_part = token.substr(dot2 + 1);

  auto header = decode_part(header_part, "header");
  if (auto* err = std::get_if<std::string>(&header))
    return *err;
  auto& h = std::get<json::value>(header);
  const auto* alg = h.find("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != "HS256")
    return std::string{"alg is not HS256"};
  const auto* typ = h.find("typ");
  if (typ == nullptr || !typ->is_string() || typ->as_string() != token_type)
    return std::string{"typ is not at+jwt"};
  if (h.find("crit") != nullptr)
    return std::string{"crit is not supported"};
  const auto* kid = h.find("kid");
  if (kid == nullptr || !kid->is_string())
    return std::string{"kid missing"};
  const auto* k = find_key(cfg, kid->as_string());
  if (k == nullptr)
    return std::string{"unknown kid"};

  auto signature = crypto::base64url_decode(signature_part);
  if (!signature)
    return std::string{"signature is not base64url"};
  auto expected = crypto::hmac_sha256(k->secret, token.substr(0, dot2));
  if (!crypto::equal_constant_time(*signature, expected))
    return std::string{"bad signature"};

  // Only a correctly signed payload is parsed.
  auto payload = decode_part(payload_part, "payload");
  if (auto* err = std::get_if<std::string>(&payload))
    return *err;
  auto& p = std::get<json::value>(payload);

  const auto* iss = p.find("iss");
  if (iss == nullptr || !iss->is_string() || iss->as_string() != cfg.issuer)
    return std::string{"wrong iss"};
  const auto* aud = p.find("aud");
  bool audience_ok = false;
  if (aud != nullptr && aud->is_string())
    audience_ok = aud->as_string() == cfg.audience;
  else if (aud != nullptr && aud->is_array())
    for (const auto& a : aud->as_array())
      audience_ok = audience_ok || (a.is_string() && a.as_string() == cfg.audience);
  if (!audience_ok)
    return std::string{"wrong aud"};

  // Plausible times only, so the arithmetic below cannot overflow.
  constexpr std::int64_t time_max_s = std::int64_t{1} << 40;
  auto plausible = [](const json::value* v) {
    return v != nullptr && v->is_integer() && v->as_integer() >= 0 && v->as_integer() < time_max_s;
  };
  auto skew = static_cast<std::int64_t>(cfg.clock_skew_s);
  const auto* exp = p.find("exp");
  if (!plausible(exp))
    return std::string{"exp missing"};
  if (exp->as_integer() + skew <= now_s)
    return std::string{"expired"};
  const auto* iat = p.find("iat");
  if (!plausible(iat))
    return std::string{"iat missing"};
  if (iat->as_integer() - skew > now_s)
    return std::string{"iat in the future"};
  if (const auto* nbf = p.find("nbf")) {
    if (!plausible(nbf))
      return std::string{"nbf malformed"};
    if (nbf->as_integer() - skew > now_s)
      return std::string{"not yet valid"};
  }
  // A token can never outlive the configured lifetime, whatever it claims.
  if (exp->as_integer() - iat->as_integer() > static_cast<std::int64_t>(cfg.ttl_s))
    return std::string{"lifetime too long"};

  const auto* sub = p.find("sub");
  if (sub == nullptr || !sub->is_string())
    return std::string{"sub missing"};
  claims c;
  const auto& s = sub->as_string();
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), c.user_id);
  if (ec != std::errc{} || end != s.data() + s.size() || c.user_id == 0)
    return std::string{"sub malformed"};
  // Every access token belongs to a session, which logout ends.
  const auto* sid = p.find("sid");
  if (sid == nullptr || !sid->is_string())
    return std::string{"sid missing"};
  const auto& sid_text = sid->as_string();
  auto [sid_end, sid_ec] = std::from_chars(sid_text.data(), sid_text.data() + sid_text.size(), c.session_id);
  if (sid_ec != std::errc{} || sid_end != sid_text.data() + sid_text.size() || c.session_id == 0)
    return std::string{"sid malformed"};
  c.issued_at_s = iat->as_integer();
  c.expires_at_s = exp->as_integer();
  c.token_id = p.string_or("jti");
  return c;
}

} // namespace livemart::jwt
