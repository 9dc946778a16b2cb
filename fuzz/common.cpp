#include "common.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include <protocol/json.hpp>
#include <protocol/wire/problem.hpp>

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

void require_json(std::string_view text, std::string_view what) {
  auto parsed = json::parse(text, 64);
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
