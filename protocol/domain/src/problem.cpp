#include <protocol/problem.hpp>

#include <array>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace livemart {
namespace {

constexpr auto category = caf::atom("livemart");
constexpr auto db_category = caf::atom("lm_db");

/// How a database refusal reads at the edge when no actor handled it.
errc edge_code(db_refusal what) {
  switch (what) {
    case db_refusal::wrong_state:
    case db_refusal::insufficient: return errc::limit_reached;
    case db_refusal::not_owner: return errc::moved;
    default: return errc::conflict;
  }
}

std::string_view db_refusal_name(db_refusal what) {
  switch (what) {
    case db_refusal::duplicate: return "duplicate";
    case db_refusal::email_taken: return "email_taken";
    case db_refusal::idempotency_key_taken: return "idempotency_key_taken";
    case db_refusal::checkout_key_taken: return "checkout_key_taken";
    case db_refusal::payment_event_seen: return "payment_event_seen";
    case db_refusal::review_exists: return "review_exists";
    case db_refusal::stale: return "stale";
    case db_refusal::wrong_state: return "wrong_state";
    case db_refusal::insufficient: return "insufficient";
    case db_refusal::not_owner: return "not_owner";
  }
  return "refused";
}

struct row {
  errc code;
  problem_info info;
};

// The one table from domain error to HTTP status and problem type.
constexpr std::array<row, 29> table{{
  {errc::none, {200, "none", "No error"}},
  {errc::malformed_json, {400, "malformed-json", "The request body is not valid JSON"}},
  {errc::invalid_field_type, {400, "invalid-field-type", "A field has the wrong type"}},
  {errc::unknown_field, {400, "unknown-field", "The request has a field this endpoint does not accept"}},
  {errc::bad_request, {400, "bad-request", "The request is malformed"}},
  {errc::validation_failed, {422, "validation-failed", "The request has invalid fields"}},
  {errc::unauthenticated, {401, "unauthenticated", "A valid access token is required"}},
  {errc::invalid_credentials, {401, "invalid-credentials", "The e-mail or password is wrong"}},
  {errc::invalid_refresh_token, {401, "invalid-refresh-token", "The refresh token is not valid"}},
  {errc::forbidden, {403, "forbidden", "You may not do this"}},
  {errc::not_found, {404, "not-found", "No such resource"}},
  {errc::method_not_allowed, {405, "method-not-allowed", "This method is not allowed here"}},
  {errc::conflict, {409, "conflict", "The request conflicts with the current state"}},
  {errc::email_taken, {409, "email-taken", "An account with this e-mail already exists"}},
  {errc::limit_reached, {409, "limit-reached", "A limit on this resource has been reached"}},
  {errc::body_too_large, {413, "body-too-large", "The request body is too large"}},
  {errc::unsupported_media_type, {415, "unsupported-media-type", "The body must be application/json"}},
  {errc::header_too_large, {431, "header-too-large", "The request headers are too large"}},
  {errc::rate_limited, {429, "rate-limited", "Too many requests"}},
  {errc::internal, {500, "internal", "Internal server error"}},
  {errc::database_unavailable, {503, "database-unavailable", "The database is unavailable"}},
  {errc::overloaded, {503, "overloaded", "The server is overloaded"}},
  {errc::timeout, {503, "timeout", "The request took too long"}},
  {errc::shutting_down, {503, "shutting-down", "The server is shutting down"}},
  {errc::payment_declined, {402, "payment-declined", "The payment was declined"}},
  {errc::gateway_unavailable, {502, "payment-gateway-unavailable", "The payment gateway failed"}},
  {errc::not_implemented, {501, "not-implemented", "The server does not implement this"}},
  {errc::moved, {503, "moved", "The resource moved to another node; retry"}},
  {errc::search_loading, {503, "search-loading", "The search index is still loading; retry"}},
}};

} // namespace

caf::error make_error(db_refusal what, std::string detail) {
  return caf::error{static_cast<std::uint8_t>(what), db_category, caf::make_message(std::move(detail))};
}

bool is_duplicate(const caf::error& err) {
  if (err.category() != db_category)
    return false;
  auto what = static_cast<db_refusal>(err.code());
  return what != db_refusal::stale && what != db_refusal::wrong_state && what != db_refusal::insufficient
         && what != db_refusal::not_owner;
}

std::string refused_state(const caf::error& err) {
  if (err == db_refusal::wrong_state && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return {};
}

caf::error make_error(errc code, std::string detail) {
  return caf::error{static_cast<std::uint8_t>(code), category, caf::make_message(std::move(detail))};
}

const problem_info& info(errc code) {
  for (const auto& r : table)
    if (r.code == code)
      return r.info;
  return table[static_cast<std::size_t>(errc::internal)].info;
}

std::string to_string(errc code) {
  return std::string{info(code).slug};
}

problem make_problem(errc code, std::string detail) {
  problem p;
  p.code = code;
  p.detail = std::move(detail);
  return p;
}

std::string list_field_names(const std::vector<field_error>& fields) {
  std::string names;
  for (const auto& f : fields)
    names += (names.empty() ? "" : ", ") + f.field;
  return names;
}

problem invalid_fields(std::vector<field_error> fields) {
  auto p = make_problem(errc::validation_failed, "invalid fields: " + list_field_names(fields));
  p.fields = std::move(fields);
  return p;
}

problem to_problem(const caf::error& err) {
  if (err.category() == category) {
    problem p;
    p.code = static_cast<errc>(err.code());
    if (err.context().match_elements<std::string>())
      p.detail = err.context().get_as<std::string>(0);
    return p;
  }
  if (err.category() == db_category) {
    auto what = static_cast<db_refusal>(err.code());
    auto detail = std::string{db_refusal_name(what)};
    if (err.context().match_elements<std::string>() && !err.context().get_as<std::string>(0).empty())
      detail += ": " + err.context().get_as<std::string>(0);
    return make_problem(edge_code(what), std::move(detail));
  }
  if (err == caf::sec::request_timeout)
    return make_problem(errc::timeout, "the request took longer than the configured budget");
  // The receiver ended while the request waited (an actor passivated or
  // restarted in that moment): nothing happened, a retry will find a new one.
  if (err == caf::sec::request_receiver_down)
    return make_problem(errc::overloaded, "the request raced an actor restart; retry");
  return make_problem(errc::internal);
}

bool is_refusal(errc code) {
  return info(code).status < 500;
}

errc errc_of_slug(std::string_view slug) {
  for (const auto& r : table)
    if (r.code != errc::none && r.info.slug == slug)
      return r.code;
  return errc::none;
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
    auto text = to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>())
      text += ": " + ctx.get_as<std::string>(0);
    return text;
  });
  cfg.add_error_category(db_category, [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
    auto text = "database refused: " + std::string{db_refusal_name(static_cast<db_refusal>(code))};
    if (ctx.match_elements<std::string>())
      text += ": " + ctx.get_as<std::string>(0);
    return text;
  });
}

} // namespace livemart
