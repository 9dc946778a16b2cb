#include <protocol/search.hpp>

namespace livemart {
namespace {

constexpr auto& sort_names = search_sort_names;

} // namespace

std::string_view to_string(search_sort s) {
  return sort_names[static_cast<std::size_t>(s)];
}

bool from_string(std::string_view text, search_sort& out) {
  for (std::size_t i = 0; i < std::size(sort_names); ++i) {
    if (sort_names[i] == text) {
      out = static_cast<search_sort>(i);
      return true;
    }
  }
  return false;
}

} // namespace livemart
