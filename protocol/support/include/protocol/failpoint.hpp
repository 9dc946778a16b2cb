#pragma once

#include <string>
#include <string_view>

/// Named failure points for the crash and outage harnesses. Their behaviour
/// is compiled only into test builds (CMake option LIVEMART_FAILPOINTS); in
/// any other build `hit` returns false at once and `arm` refuses.
///
/// A test arms points through the environment, before the server starts:
///   LIVEMART_FAILPOINTS="db.before_commit.checkout_place=error*1;db.after_commit.product_sell=crash"
/// Actions: `crash` (the process is killed with SIGKILL, as kill -9 would),
/// `error` (the caller fails as if the database had gone away), each
/// optionally limited to the first N hits (`error*2`), and `pause` (the
/// process stops itself with SIGSTOP, as a frozen node would).
namespace livemart::failpoint {

/// True in builds that carry failpoints.
bool compiled_in();

/// Arms the points of `spec`; returns an error message, or "" on success.
/// Call once, before any thread may hit a point.
std::string arm(std::string_view spec);

/// At point `name`: crashes or pauses the process when armed to, or returns
/// true when the caller must fail. Without armed points: false, at once.
bool hit(std::string_view name);

} // namespace livemart::failpoint
