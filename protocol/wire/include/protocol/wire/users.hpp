#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/users.hpp>
#include <protocol/wire/decoded.hpp>

/// The User service's JSON wire format: request bodies in, replies out.
namespace livemart {

decoded<register_request> decode_register(std::string_view body, const conf::settings& cfg);
decoded<login_request> decode_login(std::string_view body, const conf::settings& cfg);
decoded<refresh_request> decode_refresh(std::string_view body);
decoded<refresh_request> decode_refresh(std::string_view body, const conf::settings& cfg);
decoded<profile_patch> decode_profile_patch(std::string_view body, const conf::settings& cfg);
decoded<password_change> decode_password_change(std::string_view body, const conf::settings& cfg);
decoded<suspension> decode_suspension(std::string_view body, const conf::settings& cfg);
/// A new address: every rule checked, country and postal code normalised.
decoded<address> decode_address(std::string_view body, const conf::settings& cfg);
/// A partial update: types and shapes checked; the merged address is checked
/// with `validate_address` by whoever owns the current state.
decoded<address_patch> decode_address_patch(std::string_view body, const conf::settings& cfg);

std::string encode(const user_profile& u);
std::string encode(const token_pair& t);
std::string encode(const address& a);
std::string encode(const std::vector<address>& list);

} // namespace livemart
