#pragma once

#include <variant>

#include <protocol/problem.hpp>

namespace livemart {

/// A decoded request body, or the problem to answer with.
template <class T>
using decoded = std::variant<T, problem>;

} // namespace livemart
