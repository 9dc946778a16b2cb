#pragma once

#include <string>
#include <string_view>

#include <protocol/problem.hpp>

/// A problem as the client reads it: an RFC 9457 problem+json document.
namespace livemart {

/// application/problem+json body. `instance` is the request path, `request_id`
/// ties the reply to the access log.
std::string render(const problem& p, std::string_view instance, std::string_view request_id);

} // namespace livemart
