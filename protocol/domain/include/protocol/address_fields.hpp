#pragma once

#include <string>
#include <string_view>

#include <protocol/users.hpp>

namespace livemart {

/// The text fields of an address, by JSON name and patch bit: the rules
/// (validate_address, apply_patch) and the decoders (protocol/wire/users.hpp)
/// walk the same table.
struct address_text_field {
  std::string_view key;
  std::string address::*member;
  address_field bit;
  bool required;
};

inline constexpr address_text_field address_text_fields[] = {
  {"name", &address::name, af_name, true},
  {"line1", &address::line1, af_line1, true},
  {"line2", &address::line2, af_line2, false},
  {"city", &address::city, af_city, true},
  {"region", &address::region, af_region, false},
  {"postal_code", &address::postal_code, af_postal_code, true},
  {"country", &address::country, af_country, true},
  {"phone", &address::phone, af_phone, false},
};

} // namespace livemart
