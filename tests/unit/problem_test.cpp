#include <protocol/json.hpp>
#include <protocol/messages.hpp>
#include <protocol/problem.hpp>
#include <protocol/wire/problem.hpp>

#include <catch2/catch.hpp>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;

using livemart::db_refusal;
using livemart::errc;
namespace json = livemart::json;

namespace {

constexpr errc all_codes[] = {
    errc::none,
    errc::malformed_json,
    errc::invalid_field_type,
    errc::unknown_field,
    errc::bad_request,
    errc::validation_failed,
    errc::unauthenticated,
    errc::invalid_credentials,
    errc::invalid_refresh_token,
    errc::forbidden,
    errc::not_found,
    errc::method_not_allowed,
    errc::conflict,
    errc::email_taken,
    errc::limit_reached,
    errc::body_too_large,
    errc::unsupported_media_type,
    errc::header_too_large,
    errc::rate_limited,
    errc::internal,
    errc::database_unavailable,
    errc::overloaded,
    errc::timeout,
    errc::shutting_down,
    errc::payment_declined,
    errc::gateway_unavailable,
    errc::not_implemented,
    errc::moved,
    errc::search_loading,
};

json::value parse_ok(std::string_view text) {
  auto result = json::parse(text);
  if (const auto* err = std::get_if<json::parse_error>(&result)) {
    INFO("text: " << text);
    FAIL("not JSON: " << err->message);
  }
  return std::move(std::get<json::value>(result));
}

std::int64_t integer_member(const json::value& v, std::string_view key) {
  const auto* m = v.find(key);
  REQUIRE(m != nullptr);
  REQUIRE(m->is_integer());
  return m->as_integer();
}

} // namespace

// --- the table -------------------------------------------------------------------

TEST_CASE("problem: every errc maps to the right HTTP status", "[problem]") {
  const auto [code, status] = GENERATE(table<errc, int>({
      {errc::malformed_json, 400},
      {errc::invalid_field_type, 400},
      {errc::unknown_field, 400},
      {errc::bad_request, 400},
      {errc::validation_failed, 422},
      {errc::unauthenticated, 401},
      {errc::invalid_credentials, 401},
      {errc::invalid_refresh_token, 401},
      {errc::forbidden, 403},
      {errc::not_found, 404},
      {errc::method_not_allowed, 405},
      {errc::conflict, 409},
      {errc::email_taken, 409},
      {errc::limit_reached, 409},
      {errc::body_too_large, 413},
      {errc::unsupported_media_type, 415},
      {errc::rate_limited, 429},
      {errc::header_too_large, 431},
      {errc::internal, 500},
      {errc::database_unavailable, 503},
      {errc::overloaded, 503},
      {errc::timeout, 503},
      {errc::shutting_down, 503},
      {errc::moved, 503},
      {errc::search_loading, 503},
  }));
  CAPTURE(static_cast<int>(code));
  CHECK(livemart::info(code).status == status);
}

TEST_CASE("problem: slugs and titles", "[problem]") {
  std::set<std::string_view> slugs;
  std::set<std::string_view> titles;
  for (auto code : all_codes) {
    const auto& i = livemart::info(code);
    CAPTURE(static_cast<int>(code), i.slug);
    CHECK_FALSE(i.slug.empty());
    CHECK_FALSE(i.title.empty());
    // Slugs are URL-friendly: lower-case letters and hyphens.
    CHECK(i.slug.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string_view::npos);
    CHECK(slugs.insert(i.slug).second);
    titles.insert(i.title);
    CHECK(livemart::to_string(code) == std::string{i.slug});
  }
  CHECK(slugs.size() == std::size(all_codes));
  CHECK(titles.size() == std::size(all_codes));
}

TEST_CASE("problem: some slugs are part of the API", "[problem]") {
  CHECK(livemart::to_string(errc::email_taken) == "email-taken");
  CHECK(livemart::to_string(errc::validation_failed) == "validation-failed");
  CHECK(livemart::to_string(errc::malformed_json) == "malformed-json");
  CHECK(livemart::to_string(errc::invalid_credentials) == "invalid-credentials");
  CHECK(livemart::to_string(errc::rate_limited) == "rate-limited");
  CHECK(livemart::to_string(errc::database_unavailable) == "database-unavailable");
  CHECK(livemart::to_string(errc::method_not_allowed) == "method-not-allowed");
}

TEST_CASE("problem: an out-of-range code is treated as internal", "[problem]") {
  const auto& i = livemart::info(static_cast<errc>(200));
  CHECK(i.status == 500);
  CHECK(i.slug == "internal"sv);
}

TEST_CASE("problem: make_problem", "[problem]") {
  auto p = livemart::make_problem(errc::conflict, "version mismatch");
  CHECK(p.code == errc::conflict);
  CHECK(p.detail == "version mismatch");
  CHECK(p.fields.empty());
  CHECK(p.retry_after_s == 0);
  CHECK(p.allow.empty());
  CHECK(livemart::make_problem(errc::forbidden).detail.empty());
}

// --- render ------------------------------------------------------------------------

TEST_CASE("problem render: a minimal problem", "[problem]") {
  auto p = livemart::make_problem(errc::not_found, "no such address");
  auto v = parse_ok(livemart::render(p, "/users/me/addresses/9", "req-123"));
  REQUIRE(v.is_object());
  CHECK(v.string_or("type") == "/problems/not-found");
  CHECK(v.string_or("title") == std::string{livemart::info(errc::not_found).title});
  CHECK(integer_member(v, "status") == 404);
  CHECK(v.string_or("code") == "not-found");
  CHECK(v.string_or("detail") == "no such address");
  CHECK(v.string_or("instance") == "/users/me/addresses/9");
  CHECK(v.string_or("request_id") == "req-123");
  CHECK(v.find("errors") == nullptr);
  CHECK(v.find("retry_after_s") == nullptr);
}

TEST_CASE("problem render: every code renders valid JSON with its own type and status", "[problem]") {
  for (auto code : all_codes) {
    CAPTURE(static_cast<int>(code));
    auto v = parse_ok(livemart::render(livemart::make_problem(code, "d"), "/x", "r"));
    const auto& i = livemart::info(code);
    CHECK(v.string_or("type") == "/problems/" + std::string{i.slug});
    CHECK(v.string_or("code") == std::string{i.slug});
    CHECK(v.string_or("title") == std::string{i.title});
    CHECK(integer_member(v, "status") == i.status);
  }
}

TEST_CASE("problem render: an empty detail falls back to the title", "[problem]") {
  auto v = parse_ok(livemart::render(livemart::make_problem(errc::internal), "/", "r"));
  CHECK(v.string_or("detail") == std::string{livemart::info(errc::internal).title});
  CHECK(integer_member(v, "status") == 500);
}

TEST_CASE("problem render: field errors", "[problem]") {
  auto p = livemart::make_problem(errc::validation_failed, "invalid fields: email, password");
  p.fields = {{"email", "must be a valid e-mail address"}, {"password", "is too short"}};
  auto v = parse_ok(livemart::render(p, "/auth/register", "abc"));
  CHECK(integer_member(v, "status") == 422);
  const auto* errors = v.find("errors");
  REQUIRE(errors != nullptr);
  REQUIRE(errors->is_array());
  const auto& list = errors->as_array();
  REQUIRE(list.size() == 2);
  CHECK(list[0].string_or("field") == "email");
  CHECK(list[0].string_or("message") == "must be a valid e-mail address");
  CHECK(list[1].string_or("field") == "password");
  CHECK(list[1].string_or("message") == "is too short");
}

TEST_CASE("problem render: retry_after_s", "[problem]") {
  auto p = livemart::make_problem(errc::rate_limited, "slow down");
  p.retry_after_s = 7;
  auto v = parse_ok(livemart::render(p, "/auth/login", "r"));
  CHECK(integer_member(v, "status") == 429);
  CHECK(integer_member(v, "retry_after_s") == 7);

  auto unavailable = livemart::make_problem(errc::database_unavailable);
  unavailable.retry_after_s = 2;
  auto u = parse_ok(livemart::render(unavailable, "/", "r"));
  CHECK(integer_member(u, "status") == 503);
  CHECK(integer_member(u, "retry_after_s") == 2);
}

TEST_CASE("problem render: hostile text is escaped", "[problem]") {
  auto p = livemart::make_problem(errc::bad_request, "quote \" backslash \\ newline \n tab \t bell \x07");
  p.fields = {{"we\"ird", "line\nbreak"}};
  const std::string instance = "/path\"with\\odd\x01chars";
  const std::string request_id = "id\"}";
  auto v = parse_ok(livemart::render(p, instance, request_id));
  CHECK(v.string_or("detail") == p.detail);
  CHECK(v.string_or("instance") == instance);
  CHECK(v.string_or("request_id") == request_id);
  REQUIRE(v.find("errors") != nullptr);
  CHECK(v.find("errors")->as_array()[0].string_or("field") == "we\"ird");
  CHECK(v.find("errors")->as_array()[0].string_or("message") == "line\nbreak");
}

// --- from caf::error ------------------------------------------------------------------

TEST_CASE("problem to_problem: our own errors keep code and detail", "[problem]") {
  for (auto code : all_codes) {
    if (code == errc::none)
      continue; // code 0 is "no error" in CAF
    CAPTURE(static_cast<int>(code));
    auto p = livemart::to_problem(livemart::make_error(code, "d"));
    CHECK(p.code == code);
    CHECK(p.detail == "d");
    CHECK(p.fields.empty());
    CHECK(p.retry_after_s == 0);
  }
  auto p = livemart::to_problem(livemart::make_error(errc::email_taken));
  CHECK(p.code == errc::email_taken);
  CHECK(p.detail.empty());
}

TEST_CASE("problem to_problem: a CAF request timeout is errc::timeout", "[problem]") {
  auto p = livemart::to_problem(caf::make_error(caf::sec::request_timeout));
  CHECK(p.code == errc::timeout);
  CHECK(livemart::info(p.code).status == 503);
}

TEST_CASE("problem to_problem: a receiver that ended meanwhile is a 503 to retry", "[problem]") {
  auto p = livemart::to_problem(caf::make_error(caf::sec::request_receiver_down));
  CHECK(p.code == errc::overloaded);
  CHECK(livemart::info(p.code).status == 503);
}

TEST_CASE("problem to_problem: other CAF errors are internal and do not leak", "[problem]") {
  for (auto code : {caf::sec::unexpected_message, caf::sec::unexpected_response, caf::sec::runtime_error,
                    caf::sec::invalid_argument}) {
    CAPTURE(static_cast<int>(code));
    auto p = livemart::to_problem(caf::make_error(code));
    CHECK(p.code == errc::internal);
    CHECK(p.detail.empty());
  }
  // A foreign category with a string context: the text is not passed on.
  caf::error foreign{std::uint8_t{3}, caf::atom("other"), caf::make_message("secret internals"s)};
  auto p = livemart::to_problem(foreign);
  CHECK(p.code == errc::internal);
  CHECK(p.detail.empty());
  CHECK(livemart::to_problem(caf::make_error(caf::sec::runtime_error, "boom"s)).detail.empty());
  CHECK(livemart::to_problem_with_fields(foreign).code == errc::internal);
  CHECK(livemart::to_problem_with_fields(foreign).fields.empty());
}

TEST_CASE("problem to_problem_with_fields: field lists survive", "[problem]") {
  std::vector<livemart::field_error> fields{{"email", "is required"}, {"password", "is too short"}};
  auto err = livemart::make_error(errc::validation_failed, "invalid fields: email, password", fields);
  auto p = livemart::to_problem_with_fields(err);
  CHECK(p.code == errc::validation_failed);
  CHECK(p.detail == "invalid fields: email, password");
  REQUIRE(p.fields.size() == 2);
  CHECK(p.fields[0].field == "email");
  CHECK(p.fields[0].message == "is required");
  CHECK(p.fields[1].field == "password");
  CHECK(p.fields[1].message == "is too short");
  CHECK(p.retry_after_s == 0);

  // The plain conversion keeps at least the code.
  CHECK(livemart::to_problem(err).code == errc::validation_failed);
}

TEST_CASE("problem to_problem_with_fields: retry_after survives", "[problem]") {
  auto p = livemart::to_problem_with_fields(livemart::make_rate_limited(7));
  CHECK(p.code == errc::rate_limited);
  CHECK(p.retry_after_s == 7);
  CHECK_FALSE(p.detail.empty());
  CHECK(p.fields.empty());
  auto v = parse_ok(livemart::render(p, "/auth/login", "r"));
  CHECK(integer_member(v, "retry_after_s") == 7);
  CHECK(integer_member(v, "status") == 429);
}

TEST_CASE("problem to_problem_with_fields: plain errors behave like to_problem", "[problem]") {
  auto p = livemart::to_problem_with_fields(livemart::make_error(errc::conflict, "version mismatch"));
  CHECK(p.code == errc::conflict);
  CHECK(p.detail == "version mismatch");
  CHECK(p.fields.empty());
  CHECK(p.retry_after_s == 0);

  auto t = livemart::to_problem_with_fields(caf::make_error(caf::sec::request_timeout));
  CHECK(t.code == errc::timeout);
  CHECK(t.fields.empty());
}

TEST_CASE("problem: the error category renders errors by slug", "[problem]") {
  caf::actor_system_config cfg;
  livemart::add_message_types(cfg);
  auto it = cfg.error_renderers.find(caf::atom("livemart"));
  REQUIRE(it != cfg.error_renderers.end());
  auto err = livemart::make_error(errc::email_taken, "a@b.co");
  CHECK(it->second(err.code(), err.category(), err.context()) == "email-taken: a@b.co");
  auto bare = livemart::make_error(errc::forbidden);
  CHECK(it->second(bare.code(), bare.category(), bare.context()).rfind("forbidden", 0) == 0);
}

TEST_CASE("database refusals are typed, and read at the edge as before", "[problem][db]") {
  auto expired = livemart::make_error(db_refusal::wrong_state, "expired");
  CHECK(expired == db_refusal::wrong_state);
  CHECK_FALSE(expired == db_refusal::stale);
  CHECK(livemart::refused_state(expired) == "expired");
  CHECK(livemart::refused_state(livemart::make_error(db_refusal::stale, "address_changed")).empty());
  CHECK(livemart::to_problem(expired).code == errc::limit_reached);
  CHECK(livemart::to_problem(livemart::make_error(db_refusal::insufficient, "insufficient_stock")).code == errc::limit_reached);
  for (auto what : {db_refusal::duplicate, db_refusal::email_taken, db_refusal::idempotency_key_taken,
                    db_refusal::checkout_key_taken, db_refusal::payment_event_seen, db_refusal::review_exists}) {
    CHECK(livemart::is_duplicate(livemart::make_error(what)));
    CHECK(livemart::to_problem(livemart::make_error(what)).code == errc::conflict);
  }
  CHECK_FALSE(livemart::is_duplicate(livemart::make_error(db_refusal::stale)));
  CHECK_FALSE(livemart::is_duplicate(livemart::make_error(errc::conflict, "unique:users_email_key"))); // only persistence types them
  CHECK(livemart::to_problem(livemart::make_error(db_refusal::stale)).code == errc::conflict);
}
