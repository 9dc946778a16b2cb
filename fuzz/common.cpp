#include "common.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include <protocol/json.hpp>
#include <protocol/validation.hpp>

namespace livemart::fuzz {

const conf::settings& settings() {
  static const conf::settings loaded = [] {
    const std::vector<std::string> args{"--config=" LIVEMART_CONF_FILE};
    auto result = conf::load(args, [](const char*) -> const char* { return nullptr; });
    for (const auto& error : result.errors)
      std::fprintf(stderr, "fuzz: settings: %s\n", error.c_str());
    if (!result.errors.empty())
      std::abort();
    return result.values;
  }();
  return loaded;
}

const jwt::config& tokens() {
  static const jwt::config made = [] {
    // Through parse_keys, as app/main.cpp reads auth.jwt_keys.
    auto keys = jwt::parse_keys("k1:" + std::string(64, 'a') + ",k0:" + std::string(64, 'b'));
    require(std::holds_alternative<std::vector<jwt::key>>(keys), "the fuzz keys parse");
    const auto& cfg = settings();
    return jwt::config{std::get<std::vector<jwt::key>>(keys), cfg.auth.jwt_issuer, cfg.auth.jwt_audience,
                       cfg.auth.access_token_ttl_s, cfg.auth.clock_skew_s};
  }();
  return made;
}

void require(bool condition, std::string_view what) {
  if (condition)
    return;
  std::fprintf(stderr, "fuzz: property broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

namespace {

/// LIVEMART_FUZZ_ALLOW=invalid-utf8 looks past a known bug so that a long
/// run can find others: client bytes that are not UTF-8 (a request path)
/// copied into a JSON body as they are (fuzz/crashes/http_request/). The
/// body must still be JSON once those bytes are replaced. Off by default.
bool invalid_utf8_allowed() {
  static const bool allowed = [] {
    const char* allow = std::getenv("LIVEMART_FUZZ_ALLOW");
    return allow != nullptr && std::string_view{allow}.find("invalid-utf8") != std::string_view::npos;
  }();
  return allowed;
}

/// `text` with every byte that is not part of well-formed UTF-8 replaced by '?'.
std::string replace_invalid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = 1;
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0xc0)
      length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (c < 0x80 || (c >= 0xc0 && i + length <= text.size() && validation::is_valid_utf8(text.substr(i, length)))) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

} // namespace

void require_json(std::string_view text, std::string_view what) {
  auto parsed = json::parse(text, 64);
  if (std::holds_alternative<json::parse_error>(parsed) && invalid_utf8_allowed() && !validation::is_valid_utf8(text)) {
    require_json(replace_invalid_utf8(text), what);
    return;
  }
  if (auto* err = std::get_if<json::parse_error>(&parsed)) {
    std::fprintf(stderr, "fuzz: %.*s is not JSON (%s): %.*s\n", static_cast<int>(what.size()), what.data(),
                 err->message.c_str(), static_cast<int>(text.size()), text.data());
    std::abort();
  }
}

void require_renderable(const problem& p, std::string_view instance) {
  auto status = info(p.code).status;
  require(status >= 400 && status <= 599, "a problem answers with a 4xx or 5xx status");
  require_json(render(p, instance, "fuzz-request-id"), "a problem+json body");
}

} // namespace livemart::fuzz
