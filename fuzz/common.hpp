#pragma once

#include <cstdint>
#include <string_view>

#include <conf/settings.hpp>
#include <protocol/jwt.hpp>
#include <protocol/problem.hpp>

/// What every fuzz target shares: the settings the server runs with, fixed
/// keys and a fixed clock (so a run is deterministic), and the oracles that
/// turn a wrong answer into a crash libFuzzer reports.
namespace livemart::fuzz {

/// The clock every target uses instead of the system's: 2023-11-14.
inline constexpr std::int64_t now_s = 1'700'000'000;

/// The settings `livemart serve --config=conf/livemart.conf` runs with, the
/// environment ignored so that a run does not depend on the shell.
const conf::settings& settings();

/// Access-token settings as app/main.cpp builds them from `settings()`,
/// with two fixed keys (the second as during a rotation).
const jwt::config& tokens();

/// Webhook signing secrets, two as during a rotation.
inline constexpr std::string_view webhook_secret = "whsec_fuzz0000000000000000000000000000000000000000";
inline constexpr std::string_view webhook_secret_old = "whsec_fuzz1111111111111111111111111111111111111111";

/// Aborts unless `text` is one JSON document: every body livemart builds
/// from client input (problems, replies) must stay JSON, however hostile the
/// input's bytes.
void require_json(std::string_view text, std::string_view what);

/// Aborts unless `p` renders as a client would receive it: a 4xx or 5xx
/// status and a problem+json body that is JSON.
void require_renderable(const problem& p, std::string_view instance);

/// Aborts with `what` when `condition` is false (assert() that stays in
/// every build and says which property broke).
void require(bool condition, std::string_view what);

} // namespace livemart::fuzz
