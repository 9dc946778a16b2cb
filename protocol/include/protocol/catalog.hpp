#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/users.hpp>

/// The Catalog service's domain types and wire format.
namespace livemart {

struct category {
  std::uint64_t id = 0;
  std::uint64_t parent_id = 0; ///< 0: a root
  std::string name;
  std::string slug;
  std::int32_t position = 0;   ///< order among siblings, then name
  bool active = true;
  std::int32_t version = 0;
};

/// Bits of `category_patch::present`.
enum category_field : std::uint32_t { cf_name = 1u << 0, cf_parent = 1u << 1, cf_position = 1u << 2, cf_active = 1u << 3 };

/// A new category (present bits ignored) or a change to one.
struct category_patch {
  std::uint32_t present = 0;
  category values;
};

decoded<category_patch> decode_category_create(std::string_view body, const conf::settings& cfg);
decoded<category_patch> decode_category_patch(std::string_view body, const conf::settings& cfg);

std::string encode(const category& c);
/// The nested tree of `all`: roots and children ordered by position, then
/// name. With `active_only`, inactive categories and everything below them
/// are left out.
std::string encode_tree(const std::vector<category>& all, bool active_only);

} // namespace livemart
