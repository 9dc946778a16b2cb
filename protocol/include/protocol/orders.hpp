#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <conf/settings.hpp>
#include <protocol/users.hpp>

/// The Order service's domain types and wire format.
namespace livemart {

/// What a buyer asks for: quantities only. Prices, titles and sellers come
/// from the products, never from the client.
struct checkout_item {
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
};

struct checkout_request {
  std::vector<checkout_item> items;
  std::uint64_t address_id = 0;
};

/// {"items": [{"product_id": "...", "quantity": n}, ...], "address_id": "..."}.
/// A product may appear once; other keys (prices included) are refused.
decoded<checkout_request> decode_checkout(std::string_view body, const conf::settings& cfg);

/// A line with the snapshot taken at checkout.
struct checkout_line {
  std::uint64_t product_id = 0;
  std::uint64_t seller_id = 0;
  std::string title;
  std::int64_t unit_price_minor = 0;
  std::int64_t quantity = 0;
};

enum class checkout_status : std::uint8_t { open = 0, placed = 1, expired = 2, failed = 3 };
std::string_view to_string(checkout_status s);

struct checkout {
  std::uint64_t id = 0;
  std::uint64_t buyer_id = 0;
  std::uint64_t address_id = 0;
  std::vector<checkout_line> lines;
  std::string currency;
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
  std::int64_t total_minor = 0;
  checkout_status status = checkout_status::open;
  std::int64_t expires_at_ms = 0;
};

/// Subtotal and shipping of `lines`: shipping is charged per seller
/// (orders.shipping_per_seller_minor), free from a seller subtotal of
/// orders.free_shipping_from_minor.
struct checkout_totals {
  std::int64_t subtotal_minor = 0;
  std::int64_t shipping_minor = 0;
};
checkout_totals price_checkout(const std::vector<checkout_line>& lines, const conf::order_settings& cfg);

std::string encode(const checkout& c);

} // namespace livemart
