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
    if (auto id = item.id("product_id", true, "product"))
      line.product_id = *id;
    if (auto q = item.integer("quantity", true, 1, quantity_max))
      line.quantity = *q;
    if (line.product_id != 0 && !seen.insert(line.product_id).second)
      item.invalid("product_id", "appears on more than one line; put the whole quantity on one");
    out.items.push_back(line);
  });
  if (auto id = r.id("address_id", true, "address"))
    out.address_id = *id;
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
  for (const auto& [seller, amount] : per_seller) {
    auto shipping = amount < cfg.free_shipping_from_minor ? cfg.shipping_per_seller_minor : std::int64_t{0};
    out.shipping_minor += shipping;
    out.sellers.push_back({seller, amount, shipping});
  }
  return out;
}

decoded<place_request> decode_place(std::string_view body, const conf::settings& cfg) {
  {
    body_reader probe{body, cfg.http.json_depth_max, cfg.http.json_members_max};
    if (probe.ok() && !probe.has("checkout_id") && (probe.has("items") || probe.has("address_id"))) {
      auto items = decode_checkout(body, cfg);
      if (auto* p = std::get_if<problem>(&items))
        return std::move(*p);
      place_request out;
      out.items = std::get<checkout_request>(std::move(items));
      return out;
    }
  }
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  place_request out;
  if (auto id = r.id("checkout_id", true, "checkout"))
    out.checkout_id = *id;
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

namespace {
constexpr std::string_view order_status_names[] = {"pending", "confirmed", "shipped", "delivered", "cancelled", "refunded"};
}

std::string_view to_string(order_status s) {
  return order_status_names[static_cast<std::size_t>(s)];
}

bool from_string(std::string_view text, order_status& out) {
  for (std::size_t i = 0; i < std::size(order_status_names); ++i) {
    if (order_status_names[i] == text) {
      out = static_cast<order_status>(i);
      return true;
    }
  }
  return false;
}

namespace {

void write_items(json::writer& w, const std::vector<order_item>& items) {
  w.begin_array();
  for (const auto& i : items)
    w.begin_object()
      .field("product_id", ids::format(i.product_id))
      .field("title", i.title)
      .field("unit_price_minor", i.unit_price_minor)
      .field("quantity", i.quantity)
      .end_object();
  w.end_array();
}

void write_order(json::writer& w, const order& o, bool with_history) {
  w.begin_object()
    .field("id", ids::format(o.id))
    .field("checkout_id", ids::format(o.checkout_id))
    .field("buyer_id", ids::format(o.buyer_id))
    .field("seller_id", ids::format(o.seller_id))
    .field("status", to_string(o.status))
    .field("currency", o.currency)
    .field("subtotal_minor", o.subtotal_minor)
    .field("shipping_minor", o.shipping_minor)
    .field("total_minor", o.total_minor)
    .key("items");
  write_items(w, o.items);
  w.key("shipping_address");
  if (o.shipping_address_json.empty())
    w.null();
  else
    w.raw(o.shipping_address_json);
  if (with_history) {
    w.key("history").begin_array();
    for (const auto& t : o.history) {
      w.begin_object().key("from");
      if (t.from.empty())
        w.null();
      else
        w.string(t.from);
      w.field("to", t.to).field("reason", t.reason).field("at_ms", t.at_ms).end_object();
    }
    w.end_array();
  }
  w.field("created_at_ms", o.created_at_ms).field("updated_at_ms", o.updated_at_ms).field("version", o.version);
  w.end_object();
}

} // namespace

std::string encode(const order& o) {
  json::writer w;
  write_order(w, o, true);
  return w.take();
}

std::string encode_order_list(const std::vector<order>& list, std::size_t limit) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& o : list)
    write_order(w, o, false);
  w.end_array().key("next_cursor");
  if (!list.empty() && list.size() >= limit)
    w.string(ids::format(list.back().id));
  else
    w.null();
  w.end_object();
  return w.take();
}

std::string encode_placement(std::uint64_t checkout_id, const std::vector<order>& orders) {
  json::writer w;
  w.begin_object().field("checkout_id", ids::format(checkout_id)).key("orders").begin_array();
  for (const auto& o : orders) {
    w.begin_object()
      .field("id", ids::format(o.id))
      .field("seller_id", ids::format(o.seller_id))
      .field("status", to_string(o.status))
      .field("currency", o.currency)
      .field("subtotal_minor", o.subtotal_minor)
      .field("shipping_minor", o.shipping_minor)
      .field("total_minor", o.total_minor)
      .key("items");
    write_items(w, o.items);
    w.end_object();
  }
  w.end_array().end_object();
  return w.take();
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
