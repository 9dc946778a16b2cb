#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/problem.hpp>

/// The User service's domain types and their rules (their JSON:
/// protocol/wire/users.hpp).
namespace livemart {

enum class role : std::uint8_t { buyer = 0, seller = 1, admin = 2 };
std::string_view to_string(role r);
bool from_string(std::string_view text, role& out);

struct user_profile {
  std::uint64_t id = 0;
  std::string email;
  std::string display_name;
  std::string bio;
  std::string avatar_url;
  livemart::role role = role::buyer;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int32_t version = 0;
};

struct register_request {
  std::string email; ///< normalised
  std::string password;
  std::string display_name;
};

struct login_request {
  std::string email; ///< normalised; may be syntactically invalid (then it simply never matches)
  std::string password;
};

struct refresh_request {
  std::string refresh_token;
};

/// POST /auth/password: the current password proves the caller, the new one
/// follows the registration policy.
struct password_change {
  std::string current_password;
  std::string new_password;
};

/// POST /admin/users/:id/suspend: why (shown to admins, logged).
struct suspension {
  std::string reason;
};

/// An ended session (`session_id`, a refresh-token family), or every
/// session of a user begun before `cutoff` (session ids grow with time).
/// Kept until `forget_at_s`, when no access token it could have issued is
/// valid any more.
struct revocation {
  std::uint64_t id = 0; ///< the order in which nodes learn of them
  std::uint64_t user_id = 0;
  std::uint64_t session_id = 0; ///< 0: every session below `cutoff`
  std::uint64_t cutoff = 0;
  std::int64_t forget_at_s = 0;
};

struct token_pair {
  std::string access_token;
  std::uint32_t access_expires_in_s = 0;
  std::string refresh_token;
  std::uint32_t refresh_expires_in_s = 0;
  std::uint64_t user_id = 0;
};

struct profile_patch {
  bool has_display_name = false;
  std::string display_name;
  bool has_bio = false;
  std::string bio;        ///< "" clears
  bool has_avatar_url = false;
  std::string avatar_url; ///< "" clears
};

struct address {
  std::uint64_t id = 0;
  std::uint64_t user_id = 0;
  std::string name;
  std::string line1;
  std::string line2;
  std::string city;
  std::string region;
  std::string postal_code;
  std::string country;
  std::string phone;
  bool is_default = false;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int32_t version = 0;
};

/// Bits of `address_patch::present`.
enum address_field : std::uint32_t {
  af_name = 1u << 0, af_line1 = 1u << 1, af_line2 = 1u << 2, af_city = 1u << 3, af_region = 1u << 4,
  af_postal_code = 1u << 5, af_country = 1u << 6, af_phone = 1u << 7, af_is_default = 1u << 8,
};

struct address_patch {
  std::uint32_t present = 0;
  address values;
};

/// Every rule of an address; normalises country and postal code in place.
std::vector<field_error> validate_address(address& a, const conf::settings& cfg);
/// Applies a patch to a copy of `current`.
address apply_patch(const address& current, const address_patch& patch);

} // namespace livemart
