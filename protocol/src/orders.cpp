#include <protocol/orders.hpp>

#include <map>
#include <set>

#include <protocol/body_reader.hpp>
#include <protocol/ids.hpp>
#include <protocol/json.hpp>

namespace livemart {

decoded<checkout_request> decode_checkout(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  checkout_request out;
  std::set<std::uint64_t> seen;
  auto quantity_max = static_cast<std::int64_t>(cfg.orders.line_quantity_max);
  r.objects("items", true, 1, cfg.orders.checkout_lines_max, [&](body_reader& item, std::size_t) {
    checkout_item line;
    if (auto id = item.string("product_id", true)) {
      if (auto parsed = ids::parse(*id))
        line.product_id = *parsed;
      else
        item.invalid("product_id", "is not a product id");
    }
    if (auto q = item.integer("quantity", true, 1, quantity_max))
      line.quantity = *q;
    if (line.product_id != 0 && !seen.insert(line.product_id).second)
      item.invalid("product_id", "appears on more than one line; put the whole quantity on one");
    out.items.push_back(line);
  });
  if (auto id = r.string("address_id", true)) {
    if (auto parsed = ids::parse(*id))
      out.address_id = *parsed;
    else
      r.invalid("address_id", "is not an address id");
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

std::string_view to_string(checkout_status s) {
  static constexpr std::string_view names[] = {"open", "placed", "expired", "failed"};
  return names[static_cast<std::size_t>(s)];
}

checkout_totals price_checkout(const std::vector<checkout_line>& lines, const conf::order_settings& cfg) {
  checkout_totals out;
  std::map<std::uint64_t, std::int64_t> per_seller;
  for (const auto& l : lines) {
    auto amount = l.unit_price_minor * l.quantity;
    out.subtotal_minor += amount;
    per_seller[l.seller_id] += amount;
  }
  for (const auto& [seller, amount] : per_seller)
    if (amount < cfg.free_shipping_from_minor)
      out.shipping_minor += cfg.shipping_per_seller_minor;
  return out;
}

std::string encode(const checkout& c) {
  json::writer w;
  w.begin_object()
    .field("id", ids::format(c.id))
    .field("status", to_string(c.status))
    .field("address_id", ids::format(c.address_id))
    .key("lines")
    .begin_array();
  for (const auto& l : c.lines)
    w.begin_object()
      .field("product_id", ids::format(l.product_id))
      .field("seller_id", ids::format(l.seller_id))
      .field("title", l.title)
      .field("unit_price_minor", l.unit_price_minor)
      .field("quantity", l.quantity)
      .field("line_total_minor", l.unit_price_minor * l.quantity)
      .end_object();
  w.end_array()
    .field("currency", c.currency)
    .field("subtotal_minor", c.subtotal_minor)
    .field("shipping_minor", c.shipping_minor)
    .field("total_minor", c.total_minor)
    .field("expires_at_ms", c.expires_at_ms)
    .end_object();
  return w.take();
}

} // namespace livemart
