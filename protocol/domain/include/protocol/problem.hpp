#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

/// Domain errors as values (style.md, point 3). One enum crosses actor
/// boundaries; one table maps each code to an HTTP status and an RFC 9457
/// problem type. Nothing here knows about Beast or JSON: the problem+json
/// document is rendered by protocol/wire/problem.hpp.
namespace livemart {

enum class errc : std::uint8_t {
  none = 0,
  malformed_json = 1,        ///< 400 the body is not JSON
  invalid_field_type,        ///< 400 a field has the wrong JSON type
  unknown_field,             ///< 400 a field the endpoint does not accept
  bad_request,               ///< 400 other malformed requests (query, path, headers)
  validation_failed,         ///< 422 well-formed but semantically invalid
  unauthenticated,           ///< 401 missing or invalid access token
  invalid_credentials,       ///< 401 wrong e-mail or password (never says which)
  invalid_refresh_token,     ///< 401 unknown, expired, revoked or reused refresh token
  forbidden,                 ///< 403
  not_found,                 ///< 404
  method_not_allowed,        ///< 405
  conflict,                  ///< 409
  email_taken,               ///< 409
  limit_reached,             ///< 409 a per-user quota (addresses, ...)
  body_too_large,            ///< 413
  unsupported_media_type,    ///< 415
  header_too_large,          ///< 431
  rate_limited,              ///< 429
  internal,                  ///< 500
  database_unavailable,      ///< 503 PostgreSQL is away or the outcome is unknown
  overloaded,                ///< 503 a bounded queue is full
  timeout,                   ///< 503 an actor did not answer within the request budget
  shutting_down,             ///< 503
  payment_declined,          ///< 402 the gateway declined the payment method
  gateway_unavailable,       ///< 502 the payment gateway failed or did not answer
  not_implemented,           ///< 501 a transfer coding this server does not implement
  moved,                     ///< 503 the entity's slot moved to another node meanwhile; retry
  search_loading,            ///< 503 the search index is still loading after a start
};

/// The CAF error category of `errc` values.
inline constexpr std::string_view error_category_name = "livemart";

/// ADL hook: lets `result<T>` handlers `return errc::x;` and build
/// `caf::error` values. Declared right after the enum (caf-0.17-notes §2).
caf::error make_error(errc code, std::string detail = {});

std::string to_string(errc code);

struct problem_info {
  int status;
  std::string_view slug;  ///< stable machine-readable code, e.g. "email-taken"
  std::string_view title; ///< short human summary, same for every occurrence
};

const problem_info& info(errc code);
/// Whether an error with this code is a definitive refusal of the request
/// (a client error: the same request would be refused again), as opposed
/// to a failure of ours that a retry may overcome. Only refusals are ever
/// stored as an Idempotency-Key's outcome.
bool is_refusal(errc code);
/// The code whose slug is `slug` (a problem document's "code"), or none.
errc errc_of_slug(std::string_view slug);

struct field_error {
  std::string field;   ///< JSON name, dotted for nested fields
  std::string message;
};

/// An RFC 9457 problem about to be rendered.
struct problem {
  errc code = errc::internal;
  std::string detail;
  std::vector<field_error> fields;
  std::uint32_t retry_after_s = 0;      ///< 429 and 503
  std::vector<std::string> allow;       ///< 405
};

problem make_problem(errc code, std::string detail = {});

/// A 422 naming every field in `fields` ("invalid fields: email, password").
problem invalid_fields(std::vector<field_error> fields);

/// "email, password": the field names, for details and messages.
std::string list_field_names(const std::vector<field_error>& fields);

/// What the database refused, typed: persistence maps SQLSTATEs and
/// constraint names to these (persistence/src/pg.cpp), so actors tell the
/// cases apart without reading constraint names or SQL messages. Compare
/// with `err == db_refusal::x`; to_problem renders one that reaches the
/// edge (a duplicate or a stale row is 409, a wrong state or too little
/// stock 409 as limit_reached was).
enum class db_refusal : std::uint8_t {
  duplicate = 1,         ///< a unique constraint not named below
  email_taken,           ///< users.email
  idempotency_key_taken, ///< an Idempotency-Key already has a row
  checkout_key_taken,    ///< a buy-now's checkout for this key exists
  payment_event_seen,    ///< a gateway event already applied
  review_exists,         ///< the buyer reviewed this product already
  stale,                 ///< the row changed since it was read (LM412)
  wrong_state,           ///< the row is not in the state the change needs (LM409 "<what>_<state>"); refused_state()
  insufficient,          ///< a stock move would go below zero (LM409 insufficient_*)
  not_owner,             ///< the fence: this node no longer owns the entity's slot (LM421)
};

caf::error make_error(db_refusal what, std::string detail = {});

/// Whether `err` is a refusal of any unique constraint.
bool is_duplicate(const caf::error& err);

/// The state a wrong_state refusal names: "expired" for a checkout that
/// expired, "approved" for a seller application decided already.
std::string refused_state(const caf::error& err);

/// Turns an error from an actor reply into a problem: our own category keeps
/// its code and detail; CAF's request timeout becomes `timeout`; everything
/// else is `internal` (and the detail is not leaked).
problem to_problem(const caf::error& err);

/// Registers the error category with CAF so errors print by name.
void add_error_category(caf::actor_system_config& cfg);

} // namespace livemart
