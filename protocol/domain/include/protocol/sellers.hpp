#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/catalog.hpp>
#include <protocol/users.hpp>

/// The Seller service's shop side: applications, verification, follows.
namespace livemart {

enum class seller_status : std::uint8_t { pending = 0, approved = 1, rejected = 2 };
std::string_view to_string(seller_status s);
bool from_string(std::string_view text, seller_status& out);

struct seller {
  std::uint64_t id = 0;
  std::uint64_t user_id = 0;
  std::string shop_name;
  std::string slug;
  std::string description;
  std::string contact_email;
  std::string country;
  std::string business_type; ///< individual or company
  seller_status status = seller_status::pending;
  std::string status_reason;
  std::int64_t follower_count = 0;
  std::int64_t active_product_count = 0;
  rating_summary rating; ///< over the reviews of all its products
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int32_t version = 0;
};

/// What an applicant sends; the slug is derived from the shop name.
struct seller_application {
  std::string shop_name;
  std::string slug;
  std::string description;
  std::string contact_email;
  std::string country;
  std::string business_type;
};

/// "Joe's Vintage Shop!" -> "joe-s-vintage-shop": lower-case ASCII letters
/// and digits, other runs become one hyphen, at most 48 characters.
/// Empty when the name has no ASCII letter or digit.
std::string slugify(std::string_view name);

} // namespace livemart
