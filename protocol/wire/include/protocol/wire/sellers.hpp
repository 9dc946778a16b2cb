#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/sellers.hpp>
#include <protocol/wire/decoded.hpp>

/// The JSON of the Seller service: applications in, shop pages out.
namespace livemart {

decoded<seller_application> decode_seller_application(std::string_view body, const conf::settings& cfg);
/// A rejection must say why: {"reason": "..."}.
decoded<std::string> decode_rejection(std::string_view body, const conf::settings& cfg);

/// The public shop page: no contact e-mail, no owner id; whether it is
/// live now (the stream's id, 0: not live).
std::string encode_public(const seller& s, std::uint64_t live_stream_id = 0);
/// What the owner and admins see.
std::string encode_private(const seller& s);
/// {"items": [...], "next_cursor": ...} with the public (or private) view
/// of each; `limit` is the page size asked for: a full page has a cursor.
std::string encode_list(const std::vector<seller>& list, bool private_view, std::size_t limit);

} // namespace livemart
