// Every JSON request decoder of protocol/ (the bodies the HTTP handlers read
// with request_context::decode_body), with the settings the server runs
// with. A refusal must render as problem+json; a success must keep the
// decoder's promises and encode back to JSON.
//
// Input: byte 0 picks the decoder (its distance from '@', modulo the number
// of decoders: '@' is the first, 'A' the second, ... in the order of
// `decoders` below, new ones at the end so that seeds keep their decoder),
// the rest is the request body.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <protocol/catalog.hpp>
#include <protocol/json.hpp>
#include <protocol/orders.hpp>
#include <protocol/sellers.hpp>
#include <protocol/streams.hpp>
#include <protocol/users.hpp>
#include <protocol/wire/body_reader.hpp>
#include <protocol/wire/catalog.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/wire/sellers.hpp>
#include <protocol/wire/streams.hpp>
#include <protocol/wire/users.hpp>

#include "common.hpp"

namespace {

using namespace livemart;
namespace fuzz = livemart::fuzz;

constexpr std::int64_t now_ms = fuzz::now_s * 1000;

/// A refusal renders; a success goes to `then`.
template <class T, class Then>
void check(decoded<T> result, Then then) {
  if (auto* p = std::get_if<problem>(&result)) {
    fuzz::require(p->code != errc::none, "a refusal has a code");
    fuzz::require_renderable(*p, "/fuzz");
    return;
  }
  then(std::get<T>(result));
}

template <class T>
void check(decoded<T> result) {
  check(std::move(result), [](const T&) {});
}

void check_checkout(const checkout_request& c) {
  const auto& cfg = fuzz::settings().orders;
  fuzz::require(!c.items.empty() && c.items.size() <= cfg.checkout_lines_max, "1 to orders.checkout_lines_max lines");
  fuzz::require(c.address_id != 0, "a checkout names an address");
  for (std::size_t i = 0; i < c.items.size(); ++i) {
    const auto& line = c.items[i];
    fuzz::require(line.product_id != 0, "each line names a product");
    fuzz::require(line.quantity >= 1 && line.quantity <= static_cast<std::int64_t>(cfg.line_quantity_max),
                  "a line's quantity is within 1..orders.line_quantity_max");
    for (std::size_t j = 0; j < i; ++j)
      fuzz::require(c.items[j].product_id != line.product_id, "a product appears on one line only");
  }
}

void check_payment_method(const payment_method& m) {
  fuzz::require(m.kind.empty() || m.kind == "card" || m.kind == "google_pay", "a known payment method kind");
  fuzz::require(m.kind.empty() == m.token.empty(), "a payment method has a token");
  fuzz::require(m.token.size() <= fuzz::settings().payments.token_bytes_max, "a token within payments.token_bytes_max");
}

/// Every string of a parsed document survives json::append_string and a
/// second parse unchanged (the writer's escaping is what clients read).
void check_strings(const json::value& v) {
  if (v.is_string()) {
    std::string quoted;
    json::append_string(quoted, v.as_string());
    auto again = json::parse(quoted);
    fuzz::require(std::holds_alternative<json::value>(again), "an escaped string parses");
    const auto& back = std::get<json::value>(again);
    fuzz::require(back.is_string() && back.as_string() == v.as_string(), "an escaped string reads back the same");
  } else if (v.is_array()) {
    for (const auto& item : v.as_array())
      check_strings(item);
  } else if (v.is_object()) {
    for (const auto& [key, item] : v.as_object()) {
      check_strings(json::value{key});
      check_strings(item);
    }
  }
}

using decoder = void (*)(std::string_view body);

const std::array<decoder, 34> decoders{{
  // '@' POST /auth/register
  [](std::string_view b) {
    check(decode_register(b, fuzz::settings()), [](const register_request& r) {
      fuzz::require(!r.email.empty() && r.email.find('@') != std::string::npos, "a normalised e-mail");
      user_profile u;
      u.email = r.email;
      u.display_name = r.display_name;
      fuzz::require_json(encode(u), "a profile");
    });
  },
  // 'A' POST /auth/login
  [](std::string_view b) { check(decode_login(b, fuzz::settings())); },
  // 'B' refresh without settings
  [](std::string_view b) { check(decode_refresh(b)); },
  // 'C' POST /auth/refresh, /auth/logout
  [](std::string_view b) { check(decode_refresh(b, fuzz::settings())); },
  // 'D' PATCH /auth/profile
  [](std::string_view b) {
    check(decode_profile_patch(b, fuzz::settings()), [](const profile_patch& p) {
      user_profile u;
      u.display_name = p.display_name;
      u.bio = p.bio;
      u.avatar_url = p.avatar_url;
      fuzz::require_json(encode(u), "a profile");
    });
  },
  // 'E' POST /users/addresses
  [](std::string_view b) {
    check(decode_address(b, fuzz::settings()), [](const address& a) {
      fuzz::require_json(encode(a), "an address");
      auto copy = a;
      fuzz::require(validate_address(copy, fuzz::settings()).empty(), "a decoded address passes validate_address");
    });
  },
  // 'F' PATCH /users/addresses/:id
  [](std::string_view b) {
    check(decode_address_patch(b, fuzz::settings()), [](const address_patch& p) {
      auto merged = apply_patch(address{}, p);
      (void)validate_address(merged, fuzz::settings());
      fuzz::require_json(encode(merged), "an address");
    });
  },
  // 'G' POST /admin/categories
  [](std::string_view b) {
    check(decode_category_create(b, fuzz::settings()),
          [](const category_patch& p) { fuzz::require_json(encode(p.values), "a category"); });
  },
  // 'H' PATCH /admin/categories/:id
  [](std::string_view b) {
    check(decode_category_patch(b, fuzz::settings()),
          [](const category_patch& p) { fuzz::require_json(encode(p.values), "a category"); });
  },
  // 'I' POST /products/:id/reviews
  [](std::string_view b) {
    check(decode_review(b, fuzz::settings()), [](const review_draft& d) {
      fuzz::require(d.rating >= 1 && d.rating <= 5, "a rating of 1 to 5");
      review r;
      r.rating = d.rating;
      r.title = d.title;
      r.body = d.body;
      fuzz::require_json(encode(r), "a review");
    });
  },
  // 'J' POST /products
  [](std::string_view b) {
    check(decode_product_create(b, fuzz::settings()),
          [](const product_draft& d) { fuzz::require_json(encode(d.values), "a product"); });
  },
  // 'K' PATCH /products/:id
  [](std::string_view b) {
    check(decode_product_patch(b, fuzz::settings()),
          [](const product_patch& p) { fuzz::require_json(encode(apply_patch(product{}, p)), "a product"); });
  },
  // 'L' POST /products/:id/restock
  [](std::string_view b) { check(decode_restock(b, fuzz::settings())); },
  // 'M' PUT /products/:id/price
  [](std::string_view b) { check(decode_price(b, fuzz::settings())); },
  // 'N' POST /orders/checkout
  [](std::string_view b) { check(decode_checkout(b, fuzz::settings()), check_checkout); },
  // 'O' POST /orders
  [](std::string_view b) {
    check(decode_place(b, fuzz::settings()), [](const place_request& p) {
      if (p.checkout_id == 0)
        check_checkout(p.items);
      check_payment_method(p.method);
    });
  },
  // 'P'..'T' POST /orders/:id/{pay,ship,deliver,cancel,refund}
  [](std::string_view b) {
    check(decode_order_command(order_action::pay, b, fuzz::settings()), [](const order_command& c) {
      fuzz::require(!c.method.kind.empty(), "pay names a payment method");
      check_payment_method(c.method);
    });
  },
  [](std::string_view b) { check(decode_order_command(order_action::ship, b, fuzz::settings())); },
  [](std::string_view b) { check(decode_order_command(order_action::deliver, b, fuzz::settings())); },
  [](std::string_view b) { check(decode_order_command(order_action::cancel, b, fuzz::settings())); },
  [](std::string_view b) {
    check(decode_order_command(order_action::refund, b, fuzz::settings()),
          [](const order_command& c) { fuzz::require(c.amount_minor >= 0, "a refund is not negative"); });
  },
  // 'U' POST /sellers/apply
  [](std::string_view b) {
    check(decode_seller_application(b, fuzz::settings()), [](const seller_application& a) {
      fuzz::require(!a.slug.empty() && a.slug == slugify(a.shop_name), "the slug is the shop name's");
      seller s;
      s.shop_name = a.shop_name;
      s.slug = a.slug;
      s.description = a.description;
      s.contact_email = a.contact_email;
      s.country = a.country;
      s.business_type = a.business_type;
      fuzz::require_json(encode_private(s), "a seller");
    });
  },
  // 'V' POST /admin/sellers/:id/reject
  [](std::string_view b) { check(decode_rejection(b, fuzz::settings())); },
  // 'W' POST /streams
  [](std::string_view b) {
    check(decode_stream_draft(b, fuzz::settings(), now_ms), [](const stream_draft& d) {
      fuzz::require(d.featured.size() <= fuzz::settings().streams.featured_max, "streams.featured_max");
      stream_info s;
      s.title = d.title;
      s.description = d.description;
      s.scheduled_at_ms = d.scheduled_at_ms;
      s.featured = d.featured;
      fuzz::require_json(encode_stream(s, true), "a stream");
    });
  },
  // 'X' PATCH /streams/:id
  [](std::string_view b) {
    check(decode_stream_patch(b, fuzz::settings(), now_ms), [](const stream_patch& p) {
      fuzz::require(p.featured.size() <= fuzz::settings().streams.featured_max, "streams.featured_max");
    });
  },
  // 'Y' POST /streams/:id/drops
  [](std::string_view b) {
    check(decode_drop_spec(b, fuzz::settings()), [](const drop_spec& d) {
      const auto& cfg = fuzz::settings().streams;
      fuzz::require(d.product_id != 0, "a drop names a product");
      fuzz::require(d.quantity >= 1 && d.quantity <= cfg.drop_quantity_max, "a drop's quantity within streams.drop_quantity_max");
      fuzz::require(d.per_buyer_limit >= 1 && d.per_buyer_limit <= cfg.drop_per_buyer_max, "streams.drop_per_buyer_max");
    });
  },
  // 'Z' POST /streams/:id/auctions
  [](std::string_view b) {
    check(decode_auction_spec(b, fuzz::settings()), [](const auction_spec& a) {
      fuzz::require(a.product_id != 0, "an auction names a product");
      fuzz::require(a.starting_price_minor >= 0, "a starting price is not negative");
    });
  },
  // '[' POST /streams/:id/drops/:drop_id/buy
  [](std::string_view b) {
    check(decode_drop_buy(b, fuzz::settings()), [](const place_request& p) {
      fuzz::require(p.checkout_id == 0, "a drop buy has no checkout");
      check_payment_method(p.method);
    });
  },
  // '\' POST /streams/:id/auctions/:auction_id/bids
  [](std::string_view b) {
    check(decode_bid(b, fuzz::settings()), [](std::int64_t amount) { fuzz::require(amount > 0, "a bid is positive"); });
  },
  // ']' POST /streams/:id/pin
  [](std::string_view b) {
    check(decode_pin(b), [](std::uint64_t id) { fuzz::require(id != 0, "a pin names a product"); });
  },
  // '^' the reader every decoder is built on, with every accessor
  [](std::string_view b) {
    const auto& http = fuzz::settings().http;
    body_reader r{b, http.json_depth_max, http.json_members_max};
    if (r.ok()) {
      (void)r.string("s", false, true);
      (void)r.boolean("b", false);
      (void)r.integer("i", false, -1000, 1000);
      (void)r.id("id", false, "thing");
      (void)r.string_array("a", false, 4);
      (void)r.is_null("n");
      r.objects("o", false, 0, 4, [](body_reader& item, std::size_t) {
        if (auto text = item.string("t", true)) {
          auto copy = *text;
          (void)check_text(item, "t", copy, 1, 16, "\n");
        }
      });
    }
    if (auto p = r.finish())
      fuzz::require_renderable(*p, "/fuzz");
  },
  // '_' json::parse with the request limits, and the writer's escaping
  [](std::string_view b) {
    const auto& http = fuzz::settings().http;
    auto parsed = json::parse(b, http.json_depth_max, http.json_members_max);
    if (auto* v = std::get_if<json::value>(&parsed))
      check_strings(*v);
  },
  // '`' POST /auth/password
  [](std::string_view b) {
    check(decode_password_change(b, fuzz::settings()), [](const password_change& c) {
      fuzz::require(c.new_password != c.current_password, "a new password differs from the current one");
    });
  },
  // 'a' POST /admin/users/:id/suspend
  [](std::string_view b) {
    check(decode_suspension(b, fuzz::settings()),
          [](const suspension& s) { fuzz::require(!s.reason.empty(), "a suspension says why"); });
  },
}};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  auto index = static_cast<std::uint8_t>(data[0] - '@') % decoders.size();
  decoders[index]({reinterpret_cast<const char*>(data) + 1, size - 1});
  return 0;
}
