#include <protocol/users.hpp>

#include <algorithm>

#include <protocol/address_fields.hpp>
#include <protocol/validation.hpp>

namespace livemart {

// -- roles ---------------------------------------------------------------------

std::string_view to_string(role r) {
  switch (r) {
    case role::seller: return "seller";
    case role::admin: return "admin";
    default: return "buyer";
  }
}

bool from_string(std::string_view text, role& out) {
  if (text == "buyer")
    out = role::buyer;
  else if (text == "seller")
    out = role::seller;
  else if (text == "admin")
    out = role::admin;
  else
    return false;
  return true;
}

namespace {

bool is_phone(std::string_view text) {
  // E.164-ish: an optional '+', digits, spaces, hyphens, dots and parentheses; 6..20 digits.
  std::size_t digits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9')
      ++digits;
    else if (c == '+' && i == 0)
      continue;
    else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
      return false;
  }
  return digits >= 6 && digits <= 20;
}

} // namespace

std::vector<field_error> validate_address(address& a, const conf::settings& cfg) {
  std::vector<field_error> errors;
  auto max = cfg.users.address_field_length_max;
  for (const auto& f : address_text_fields) {
    auto& text = a.*f.member;
    text = std::string{validation::trim(text)};
    if (validation::has_control_characters(text)) {
      errors.push_back({std::string{f.key}, "must not contain control characters"});
      continue;
    }
    auto length = validation::utf8_length(text);
    if (f.required && length == 0)
      errors.push_back({std::string{f.key}, "is required"});
    else if (length > max)
      errors.push_back({std::string{f.key}, "must be at most " + std::to_string(max) + " characters"});
  }
  bool country_ok = false;
  if (!a.country.empty()) {
    std::string upper = a.country;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (validation::is_country_code(upper)) {
      a.country = upper;
      country_ok = true;
    } else {
      errors.push_back({"country", "must be an ISO 3166-1 alpha-2 code such as US or DE"});
    }
  }
  if (country_ok && !a.postal_code.empty()) {
    if (auto code = validation::normalize_postal_code(a.country, a.postal_code))
      a.postal_code = std::move(*code);
    else
      errors.push_back({"postal_code", "is not a valid postal code for " + a.country});
  }
  if (!a.phone.empty() && !is_phone(a.phone))
    errors.push_back({"phone", "must be a phone number of 6 to 20 digits"});
  // Report each field once, in a stable order.
  std::vector<field_error> unique;
  for (auto& e : errors)
    if (std::none_of(unique.begin(), unique.end(), [&](const field_error& u) { return u.field == e.field; }))
      unique.push_back(std::move(e));
  return unique;
}

address apply_patch(const address& current, const address_patch& patch) {
  address out = current;
  for (const auto& f : address_text_fields)
    if (patch.present & f.bit)
      out.*f.member = patch.values.*f.member;
  if (patch.present & af_is_default)
    out.is_default = patch.values.is_default;
  return out;
}

} // namespace livemart
