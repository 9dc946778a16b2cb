#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/users.hpp>

/// The Catalog service's domain types and their rules (their JSON:
/// protocol/wire/catalog.hpp).
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

/// Reviews summed up: the average is sum / count (none while count is 0).
struct rating_summary {
  std::int64_t sum = 0;
  std::int32_t count = 0;
  /// The average times 100, rounded (0 without reviews): a sort key.
  std::int64_t average_x100() const { return count == 0 ? 0 : (sum * 200 + count) / (2 * count); }
};

enum class product_status : std::uint8_t { draft = 0, active = 1, archived = 2 };
std::string_view to_string(product_status s);
bool from_string(std::string_view text, product_status& out);

struct product {
  std::uint64_t id = 0;
  std::uint64_t seller_id = 0;
  std::uint64_t category_id = 0;
  std::string title;
  std::string description;
  std::int64_t price_minor = 0; ///< integer minor units of `currency`
  std::string currency;         ///< ISO 4217
  std::int64_t stock = 0;       ///< available now
  std::int64_t reserved = 0;    ///< held by checkouts
  std::int64_t sold = 0;
  product_status status = product_status::draft;
  std::vector<std::string> image_urls;
  rating_summary rating;
  std::int64_t stock_version = 0; ///< counts the product's stock moves
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int32_t version = 0;
};

/// A verified buyer's review of a product.
struct review {
  std::uint64_t id = 0;
  std::uint64_t product_id = 0;
  std::uint64_t seller_id = 0;
  std::uint64_t buyer_id = 0;
  std::string buyer_name; ///< display name, as read back
  std::int32_t rating = 0; ///< 1 to 5
  std::string title;
  std::string body;
  std::int64_t created_at_ms = 0;
};

/// {"rating": 1..5, "title"?, "body"?} (bounded by catalog.review_*_length_max).
struct review_draft {
  std::int32_t rating = 0;
  std::string title;
  std::string body;
};

/// A page of reviews, newest first, with the product's rating.
struct review_page {
  std::vector<review> items;
  rating_summary rating;
};

/// restock: stock changes (+/-); reserve: stock to held; release: held back
/// to stock; commit: held to sold; sale_return: sold back to stock (a
/// cancelled order); sale: stock to sold at once (a direct sale).
enum class stock_kind { restock = 0, reserve = 1, release = 2, commit = 3, sale_return = 4, sale = 5 };

/// What a product actor answers to a stock or price change and publishes
/// to its subscribers. `sequence` counts this product's changes since its
/// actor started, so a subscriber can tell when it missed one.
struct stock_update {
  std::uint64_t product_id = 0;
  std::uint64_t sequence = 0;
  std::int64_t stock = 0;
  std::int64_t reserved = 0;
  std::int64_t sold = 0;
  std::int64_t price_minor = 0;
  std::string currency;
  std::int64_t at_us = 0; ///< when the change was published (system clock, microseconds)
  /// The product's stock_version plus its listing version: every committed
  /// change raises one of them and lowers neither, so of two updates of a
  /// product the newer has the larger version, whichever actor or node
  /// sent it (`sequence` counts one actor's publications only).
  std::int64_t version = 0;
};

/// The shop as a product page shows it.
struct seller_summary {
  std::uint64_t id = 0;
  std::string shop_name;
  std::string slug;
  std::int64_t follower_count = 0;
  rating_summary rating;
};

/// `GET /products/:id`: the product with its current stock and price, its
/// seller and its category's breadcrumb (root first).
struct product_detail {
  product item;
  seller_summary seller;
  std::vector<category> breadcrumb;
};

/// A new product: category, title, description?, price_minor, currency,
/// stock? (initial units), status? (draft or active), image_urls?.
/// The seller comes from the caller, never from the body.
struct product_draft {
  product values;
  std::int64_t initial_stock = 0;
};
/// Bits of `product_patch::present`.
enum product_field : std::uint32_t {
  pf_title = 1u << 0, pf_description = 1u << 1, pf_status = 1u << 2, pf_category = 1u << 3, pf_images = 1u << 4,
};

/// A change to a product's listing (stock and price have their own calls).
struct product_patch {
  std::uint32_t present = 0;
  product values;
};
/// A copy of `current` with the patch applied.
product apply_patch(const product& current, const product_patch& patch);

} // namespace livemart
