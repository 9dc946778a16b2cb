#include <protocol/orders.hpp>

#include <map>

#include <protocol/crypto.hpp>
#include <protocol/ids.hpp>

namespace livemart {

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

std::string_view to_string(order_action a) {
  static constexpr std::string_view names[] = {"pay", "ship", "deliver", "cancel", "refund", "expire"};
  return names[static_cast<std::size_t>(a)];
}

bool order_edge(order_status from, order_status to) {
  for (auto a = 0; a <= static_cast<int>(order_action::expire); ++a)
    for (auto p = 0; p <= static_cast<int>(order_party::system); ++p) {
      auto rule = order_transition_rule(from, static_cast<order_action>(a), static_cast<order_party>(p));
      if (rule.allowed && rule.to == to)
        return true;
    }
  return false;
}

bool payment_overdue(const order& o, std::int64_t now_ms) {
  return o.status == order_status::pending && o.payment_due_ms != 0 && now_ms >= o.payment_due_ms;
}

transition_rule order_transition_rule(order_status from, order_action action, order_party party) {
  using st = order_status;
  using act = order_action;
  transition_rule r;
  auto forbid = [&](std::string why) {
    r.code = errc::forbidden;
    r.why = std::move(why);
    return r;
  };
  auto allow = [&](st to) {
    r.allowed = true;
    r.to = to;
    r.code = errc::none;
    return r;
  };
  bool staff = party == order_party::seller || party == order_party::admin;
  switch (action) {
    case act::pay:
      if (party != order_party::buyer)
        return forbid("only the buyer pays for an order");
      if (from == st::pending)
        return allow(st::confirmed);
      break;
    case act::ship:
      if (!staff)
        return forbid("only the seller ships an order");
      if (from == st::confirmed)
        return allow(st::shipped);
      break;
    case act::deliver:
      if (!staff && party != order_party::system)
        return forbid("only the seller or the carrier marks an order delivered");
      if (from == st::shipped)
        return allow(st::delivered);
      break;
    case act::cancel:
      if (from == st::pending || from == st::confirmed)
        return allow(st::cancelled);
      break;
    case act::refund:
      if (!staff)
        return forbid("only the seller or an admin refunds a delivered order; before shipping, cancel it");
      if (from == st::delivered || from == st::refunded)
        return allow(st::refunded);
      break;
    case act::expire:
      if (party != order_party::system)
        return forbid("orders expire by themselves");
      if (from == st::pending)
        return allow(st::cancelled);
      break;
  }
  static constexpr std::string_view rule[] = {
    "only a pending order can be paid",
    "only a confirmed (paid) order can be shipped",
    "only a shipped order can be delivered",
    "only a pending or confirmed order can be cancelled (after shipping, refund it)",
    "only a delivered order can be refunded (cancel one not yet shipped)",
    "only a pending order expires",
  };
  r.code = errc::conflict;
  r.why = "the order is ";
  r.why.append(to_string(from)).append("; ").append(rule[static_cast<std::size_t>(action)]);
  return r;
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

purchase_outcome purchase_outcome::placement(std::uint64_t checkout_id, std::vector<order> orders) {
  purchase_outcome out;
  out.placed = true;
  out.fresh = true;
  out.checkout_id = checkout_id;
  for (const auto& o : orders)
    out.order_ids.push_back(o.id);
  out.orders = std::move(orders);
  return out;
}

purchase_outcome purchase_outcome::refused(problem p, request_origin origin) {
  purchase_outcome out;
  out.refusal = std::move(p);
  out.origin = std::move(origin);
  return out;
}

std::string purchase_fingerprint(const place_request& req, std::uint64_t drop_named) {
  std::string canonical = "purchase v1\ncheckout " + ids::format(req.checkout_id) + "\naddress "
                          + ids::format(req.items.address_id) + "\ndrop " + ids::format(drop_named) + "\n";
  for (const auto& item : req.items.items)
    canonical += "item " + ids::format(item.product_id) + " " + std::to_string(item.quantity) + "\n";
  // Length-prefixed: a token cannot pose as another field.
  canonical += "method " + req.method.kind + "\ntoken " + std::to_string(req.method.token.size()) + " "
               + req.method.token + "\n";
  return crypto::to_hex(crypto::sha256(canonical));
}

} // namespace livemart
