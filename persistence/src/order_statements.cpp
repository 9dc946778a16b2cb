#include <persistence/statements.hpp>

#include <array>
#include <cassert>
#include <string>
#include <vector>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/wire/orders.hpp>

#include "columns.hpp"
#include "statement_lists.hpp"

namespace livemart::persistence {
namespace {

#define LM_ORDER_COLUMNS \
  "o.id, o.checkout_id, o.buyer_id, o.seller_id, s.user_id AS seller_user_id, o.status, o.currency, " \
  "o.subtotal_minor, o.shipping_minor, o.total_minor, o.shipping_address::text AS shipping_address, " \
  "(SELECT json_agg(json_build_object('product_id', i.product_id::text, 'title', i.title, 'unit_price_minor', " \
  "i.unit_price_minor, 'quantity', i.quantity) ORDER BY i.line)::text FROM order_items i WHERE i.order_id = o.id) " \
  "AS items, o.carrier, o.tracking_number, o.refunded_minor, " \
  "(extract(epoch from o.payment_due_at) * 1000)::bigint AS payment_due_ms, (extract(epoch from o.created_at) * 1000)::bigint AS created_at_ms, " \
  "(extract(epoch from o.updated_at) * 1000)::bigint AS updated_at_ms, o.version"

// The size follows the list: a miscount once left entries with no name.
constexpr auto catalog = std::to_array<named_statement>({
  {"checkout_open", "SELECT id, expires_at_ms FROM checkout_open($1, $2, $3, $4, $5, $6, $7)"},
  {"checkout_line_insert",
   "INSERT INTO checkout_lines (checkout_id, line, product_id, seller_id, title, unit_price_minor, quantity) "
   "VALUES ($1, $2, $3, $4, $5, $6, $7)"},
  {"checkout_seller_insert",
   "INSERT INTO checkout_sellers (checkout_id, seller_id, subtotal_minor, shipping_minor) VALUES ($1, $2, $3, $4)"},
  {"checkout_release", "SELECT product_id, quantity, stock_version FROM checkout_release($1, $2, $3, $4::bigint[])"},
  {"checkout_tag", "UPDATE checkouts SET idempotency_key = $2, request_hash = $3 WHERE id = $1"},
  {"checkout_by_key",
   "SELECT c.id, c.status, c.request_hash, (SELECT count(*) FROM checkout_lines l WHERE l.checkout_id = c.id) AS lines "
   "FROM checkouts c WHERE c.buyer_id = $1 AND c.idempotency_key = $2"},
  {"checkouts_due",
   "SELECT c.id, (SELECT count(*) FROM checkout_lines l WHERE l.checkout_id = c.id) AS lines FROM checkouts c "
   "WHERE c.status = 'open' AND c.expires_at <= now() ORDER BY c.expires_at LIMIT $1"},
  {"checkout_place",
   "SELECT product_id, quantity, stock_version FROM checkout_place($1, $2, $3::bigint[], $4::bigint[], $5::bigint[])"},
  {"checkout_parts",
   "SELECT c.status, c.currency, l.seller_id, s.subtotal_minor, s.shipping_minor, l.product_id, l.title, "
   "l.unit_price_minor, l.quantity FROM checkouts c JOIN checkout_lines l ON l.checkout_id = c.id "
   "JOIN checkout_sellers s ON s.checkout_id = c.id AND s.seller_id = l.seller_id "
   "WHERE c.id = $1 AND c.buyer_id = $2 ORDER BY l.seller_id, l.line"},
  {"order_get",
   "SELECT " LM_ORDER_COLUMNS ", (SELECT json_agg(json_build_object('from', t.from_status, 'to', t.to_status, "
   "'reason', t.reason, 'at_ms', (extract(epoch from t.at) * 1000)::bigint) ORDER BY t.at, t.id)::text "
   "FROM order_transitions t WHERE t.order_id = o.id) AS history, "
   "(SELECT json_agg(json_build_object('id', p.id::text, 'gateway', p.gateway, 'gateway_ref', p.gateway_ref, "
   "'method', p.method, 'amount_minor', p.amount_minor, 'currency', p.currency, 'status', p.status, "
   "'failure_reason', p.failure_reason, 'next_action_url', p.next_action_url, 'refunded_minor', p.refunded_minor, "
   "'created_at_ms', (extract(epoch from p.created_at) * 1000)::bigint, "
   "'pending_refund', (SELECT json_build_object('id', r.id::text, 'amount_minor', r.amount_minor) FROM refunds r "
   "WHERE r.payment_id = p.id AND r.status = 'pending' ORDER BY r.id DESC LIMIT 1)) ORDER BY p.id)::text "
   "FROM payments p WHERE p.order_id = o.id) AS payments "
   "FROM orders o JOIN sellers s ON s.id = o.seller_id WHERE o.id = $1"},
  {"order_move", "SELECT version, updated_at_ms FROM order_move($1, $2, $3, $4, $5, $6)"},
  {"order_set_shipping", "UPDATE orders SET carrier = $2, tracking_number = $3 WHERE id = $1"},
  {"order_add_refunded", "UPDATE orders SET refunded_minor = refunded_minor + $2 WHERE id = $1"},
  {"order_return_stock",
   "SELECT product_id, quantity, stock_version FROM order_return_stock($1, $2::bigint[], $3)"},
  {"orders_due",
   "SELECT o.id FROM orders o WHERE o.status = 'pending' AND o.payment_due_at <= now() "
   "ORDER BY o.payment_due_at LIMIT $1"},
  {"orders_of_buyer",
   "SELECT " LM_ORDER_COLUMNS " FROM orders o JOIN sellers s ON s.id = o.seller_id "
   "WHERE o.buyer_id = $1 AND ($2::bigint = 0 OR o.id < $2::bigint) ORDER BY o.id DESC LIMIT $3"},
  {"orders_of_seller_user",
   "SELECT " LM_ORDER_COLUMNS " FROM orders o JOIN sellers s ON s.id = o.seller_id "
   "WHERE s.user_id = $1 AND ($2::bigint = 0 OR o.id < $2::bigint) ORDER BY o.id DESC LIMIT $3"},
  {"product_sell",
   "SELECT idx, outcome, stock_version FROM product_sell($1, $2, $3, $4, $5::bigint[], $6::bigint[], $7::bigint[], "
   "$8::integer[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::text[], "
   "$16::text[], $17::bigint[])"},
  // The writer's merge of the product_sell commands of one batch (sale_merge.hpp).
  {"products_sell",
   "SELECT product_no, idx, outcome, stock_version FROM products_sell($1::bigint[], $2::bigint[], $3::text[], "
   "$4::integer[], $5::integer[], $6::smallint[], $7::bigint[], $8::integer[], $9::bigint[], $10::bigint[], "
   "$11::bigint[], $12::integer[], $13::bigint[], $14::text[], $15::bigint[], $16::bigint[], $17::bigint[], "
   "$18::text[], $19::text[], $20::text[], $21::bigint[])"},
  {"payment_insert",
   "INSERT INTO payments (id, order_id, gateway, method, amount_minor, currency, status) "
   "VALUES ($1, $2, $3, $4, $5, $6, 'created')"},
  {"payment_update",
   "UPDATE payments SET status = $2, gateway_ref = COALESCE(NULLIF($3, ''), gateway_ref), failure_reason = $4, "
   "next_action_url = NULLIF($5, ''), updated_at = now() WHERE id = $1"},
  {"payment_add_refunded", "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = now() WHERE id = $1"},
  {"payment_by_ref", "SELECT id, order_id FROM payments WHERE gateway = $1 AND gateway_ref = $2"},
  {"payment_event_insert", "INSERT INTO payment_events (event_id, type, payment_id) VALUES ($1, $2, $3)"},
  {"refund_insert",
   "INSERT INTO refunds (id, payment_id, amount_minor, reason, status) VALUES ($1, $2, $3, $4, 'pending')"},
  {"refund_settle", "UPDATE refunds SET status = $2, gateway_ref = NULLIF($3, '') WHERE id = $1"},
  {"payments_between",
   "SELECT p.id, p.order_id, p.gateway_ref, p.status, p.amount_minor, p.currency, p.refunded_minor, o.status AS order_status, "
   "(SELECT count(*) FROM payments q WHERE q.order_id = p.order_id AND q.status = 'succeeded' AND q.id < p.id) "
   "AS earlier_paid, (extract(epoch from now() - p.created_at))::bigint AS age_s "
   "FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.gateway = $1 "
   "AND p.created_at >= to_timestamp($2) AND p.created_at < to_timestamp($3) ORDER BY p.id"},
  {"idempotency_get", "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2"},
  {"idempotency_insert",
   "INSERT INTO idempotency_keys (user_id, key, request_hash, status, body) VALUES ($1, $2, $3, $4, $5)"},
  {"idempotency_update", "UPDATE idempotency_keys SET status = $3, body = $4 WHERE user_id = $1 AND key = $2"},
  {"idempotency_expire",
   "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
   "WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)"},
});

#undef LM_ORDER_COLUMNS

} // namespace

std::span<const named_statement> order_statements() {
  return catalog;
}

namespace {
/// A PostgreSQL array literal of numbers.
template <class T>
std::string bigint_array(const std::vector<T>& values) {
  std::string out = "{";
  for (auto v : values) {
    if (out.size() > 1)
      out += ',';
    out += std::to_string(v);
  }
  return out + "}";
}
} // namespace

db_statement checkout_open(const checkout& c, std::uint32_t ttl_s) {
  return {"checkout_open",
          {db_uint(c.id), db_uint(c.buyer_id), db_uint(c.address_id), db_text(c.currency), db_int(c.subtotal_minor),
           db_int(c.shipping_minor), db_uint(ttl_s)}};
}

std::int64_t decode_expires_at_ms(const db_rows& rows) {
  return to_int(rows.rows.at(0)[column_index(rows, "expires_at_ms")]);
}

db_statement checkout_line_insert(std::uint64_t checkout_id, std::size_t line, const checkout_line& l) {
  return {"checkout_line_insert",
          {db_uint(checkout_id), db_uint(line), db_uint(l.product_id), db_uint(l.seller_id), db_text(l.title),
           db_int(l.unit_price_minor), db_int(l.quantity)}};
}

db_statement checkout_seller_insert(std::uint64_t checkout_id, const seller_share& share) {
  return {"checkout_seller_insert",
          {db_uint(checkout_id), db_uint(share.seller_id), db_int(share.subtotal_minor), db_int(share.shipping_minor)}};
}

db_statement checkout_release(std::uint64_t checkout_id, checkout_status to, bool due_only,
                              const std::vector<std::uint64_t>& ledger_ids) {
  return {"checkout_release",
          {db_uint(checkout_id), db_text(std::string{to_string(to)}), db_bool(due_only), db_text(bigint_array(ledger_ids))}};
}

std::vector<stock_move_row> decode_stock_moves(const db_rows& rows) {
  std::vector<stock_move_row> out;
  if (rows.rows.empty())
    return out;
  auto product = column_index(rows, "product_id"), quantity = column_index(rows, "quantity"),
       version = column_index(rows, "stock_version");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[product]), to_int(row[quantity]), to_int(row[version])});
  return out;
}

db_statement checkout_tag(std::uint64_t checkout_id, const std::string& key, const std::string& request_hash) {
  return {"checkout_tag", {db_uint(checkout_id), db_text(key), db_text(request_hash)}};
}

db_statement checkout_by_key(std::uint64_t buyer_id, const std::string& key) {
  return {"checkout_by_key", {db_uint(buyer_id), db_text(key)}};
}

std::optional<keyed_checkout> decode_keyed_checkout(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  const auto& row = rows.rows.front();
  keyed_checkout out;
  out.id = to_uint(row[idx("id")]);
  out.status = row[idx("status")].text;
  out.request_hash = row[idx("request_hash")].text;
  out.lines = static_cast<std::size_t>(to_uint(row[idx("lines")]));
  return out;
}

db_statement checkouts_due(std::size_t limit) {
  return {"checkouts_due", {db_uint(limit)}};
}

std::vector<due_checkout> decode_due_checkouts(const db_rows& rows) {
  std::vector<due_checkout> out;
  if (rows.rows.empty())
    return out;
  auto id = column_index(rows, "id"), lines = column_index(rows, "lines");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back({to_uint(row[id]), static_cast<std::size_t>(to_uint(row[lines]))});
  return out;
}

db_statement checkout_place(std::uint64_t checkout_id, std::uint64_t buyer_id, const std::vector<std::uint64_t>& order_ids,
                            const std::vector<std::uint64_t>& transition_ids,
                            const std::vector<std::uint64_t>& ledger_ids) {
  return {"checkout_place",
          {db_uint(checkout_id), db_uint(buyer_id), db_text(bigint_array(order_ids)), db_text(bigint_array(transition_ids)),
           db_text(bigint_array(ledger_ids))}};
}

db_statement checkout_parts(std::uint64_t checkout_id, std::uint64_t buyer_id) {
  return {"checkout_parts", {db_uint(checkout_id), db_uint(buyer_id)}};
}

std::vector<checkout_part> decode_checkout_parts(const db_rows& rows) {
  std::vector<checkout_part> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto status = idx("status"), currency = idx("currency"), seller = idx("seller_id"), subtotal = idx("subtotal_minor"),
       shipping = idx("shipping_minor"), product = idx("product_id"), title = idx("title"),
       unit_price = idx("unit_price_minor"), quantity = idx("quantity");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows) {
    checkout_part p;
    p.status = row[status].text;
    p.currency = row[currency].text;
    p.share.seller_id = to_uint(row[seller]);
    p.share.subtotal_minor = to_int(row[subtotal]);
    p.share.shipping_minor = to_int(row[shipping]);
    p.item.product_id = to_uint(row[product]);
    p.item.title = row[title].text;
    p.item.unit_price_minor = to_int(row[unit_price]);
    p.item.quantity = to_int(row[quantity]);
    out.push_back(std::move(p));
  }
  return out;
}

db_statement order_get(std::uint64_t id) {
  return {"order_get", {db_uint(id)}};
}

db_statement orders_of(std::uint64_t user_id, bool as_seller, std::uint64_t before_id, std::size_t limit) {
  return {as_seller ? "orders_of_seller_user" : "orders_of_buyer", {db_uint(user_id), db_uint(before_id), db_uint(limit)}};
}

std::vector<order> decode_orders(const db_rows& rows) {
  std::vector<order> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), checkout = idx("checkout_id"), buyer = idx("buyer_id"), seller = idx("seller_id"),
       seller_user = idx("seller_user_id"), status = idx("status"), currency = idx("currency"),
       subtotal = idx("subtotal_minor"), shipping = idx("shipping_minor"), total = idx("total_minor"),
       address = idx("shipping_address"), items = idx("items"), created = idx("created_at_ms"),
       updated = idx("updated_at_ms"), version = idx("version"), carrier = idx("carrier"),
       tracking = idx("tracking_number"), refunded = idx("refunded_minor"), due = idx("payment_due_ms");
  // A list leaves out the history and the payments (a receipt has them).
  auto history = rows.column("history"), payments = rows.column("payments");
  auto at = [](const std::vector<db_value>& row, std::size_t i) -> const db_value& { return row[i]; };
  for (const auto& row : rows.rows) {
    order o;
    o.id = to_uint(at(row, id));
    o.checkout_id = at(row, checkout).is_null ? 0 : to_uint(at(row, checkout));
    o.buyer_id = to_uint(at(row, buyer));
    o.seller_id = to_uint(at(row, seller));
    o.seller_user_id = to_uint(at(row, seller_user));
    from_string(at(row, status).text, o.status);
    o.currency = at(row, currency).text;
    o.subtotal_minor = to_int(at(row, subtotal));
    o.shipping_minor = to_int(at(row, shipping));
    o.total_minor = to_int(at(row, total));
    o.shipping_address_json = at(row, address).text;
    if (auto parsed = json::parse(at(row, items).text); std::holds_alternative<json::value>(parsed)) {
      const auto& list = std::get<json::value>(parsed);
      if (list.is_array())
        for (const auto& i : list.as_array())
          o.items.push_back({ids::parse(i.string_or("product_id")).value_or(0), i.string_or("title"),
                             i.find("unit_price_minor")->as_integer(), i.find("quantity")->as_integer()});
    }
    if (history >= 0) {
      if (auto parsed = json::parse(row[static_cast<std::size_t>(history)].text); std::holds_alternative<json::value>(parsed)) {
        const auto& list = std::get<json::value>(parsed);
        if (list.is_array())
          for (const auto& t : list.as_array())
            o.history.push_back({t.string_or("from"), t.string_or("to"), t.string_or("reason"),
                                 t.find("at_ms")->as_integer()});
      }
    }
    o.carrier = at(row, carrier).text;
    o.tracking_number = at(row, tracking).text;
    o.refunded_minor = to_int(at(row, refunded));
    o.payment_due_ms = at(row, due).is_null ? 0 : to_int(at(row, due));
    if (payments >= 0) {
      if (auto parsed = json::parse(row[static_cast<std::size_t>(payments)].text); std::holds_alternative<json::value>(parsed)) {
        const auto& list = std::get<json::value>(parsed);
        if (list.is_array())
          for (const auto& p : list.as_array()) {
            payment pay;
            pay.id = ids::parse(p.string_or("id")).value_or(0);
            pay.order_id = o.id;
            pay.gateway = p.string_or("gateway");
            pay.gateway_ref = p.string_or("gateway_ref");
            pay.method = p.string_or("method");
            pay.amount_minor = p.find("amount_minor")->as_integer();
            pay.currency = p.string_or("currency");
            from_string(p.string_or("status"), pay.status);
            pay.failure_reason = p.string_or("failure_reason");
            pay.next_action_url = p.string_or("next_action_url");
            pay.refunded_minor = p.find("refunded_minor")->as_integer();
            pay.created_at_ms = p.find("created_at_ms")->as_integer();
            if (const auto* pending = p.find("pending_refund"); pending != nullptr && pending->is_object()) {
              pay.pending_refund_id = ids::parse(pending->string_or("id")).value_or(0);
              pay.pending_refund_minor = pending->find("amount_minor")->as_integer();
            }
            o.payments.push_back(std::move(pay));
          }
      }
    }
    o.created_at_ms = to_int(at(row, created));
    o.updated_at_ms = to_int(at(row, updated));
    o.version = static_cast<std::int32_t>(to_int(at(row, version)));
    out.push_back(std::move(o));
  }
  return out;
}

db_statement order_move(std::uint64_t id, std::int32_t version, order_status to, std::uint64_t transition_id,
                        std::uint64_t actor_id, const std::string& reason) {
  return {"order_move",
          {db_uint(id), db_int(version), db_text(std::string{to_string(to)}), db_uint(transition_id), db_uint(actor_id),
           db_text(reason)}};
}

order_moved decode_order_move(const db_rows& rows) {
  const auto& row = rows.rows.at(0);
  order_moved out;
  out.version = static_cast<std::int32_t>(to_int(row[column_index(rows, "version")]));
  out.updated_at_ms = to_int(row[column_index(rows, "updated_at_ms")]);
  return out;
}

db_statement order_set_shipping(std::uint64_t id, const std::string& carrier, const std::string& tracking_number) {
  return {"order_set_shipping", {db_uint(id), db_text(carrier), db_text(tracking_number)}};
}

db_statement order_add_refunded(std::uint64_t id, std::int64_t amount_minor) {
  return {"order_add_refunded", {db_uint(id), db_int(amount_minor)}};
}

db_statement order_return_stock(std::uint64_t id, const std::vector<std::uint64_t>& ledger_ids, std::uint64_t actor_id) {
  return {"order_return_stock", {db_uint(id), db_text(bigint_array(ledger_ids)), db_uint(actor_id)}};
}

namespace {
/// A PostgreSQL array literal of text values, each quoted and escaped.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char ch : values[i]) {
      if (ch == '"' || ch == '\\')
        out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}
} // namespace

db_statement product_sell(const sale_batch& b) {
  std::vector<std::uint64_t> order_ids, buyers, addresses, transition_ids, ledger_ids, drops;
  std::vector<std::int64_t> quantities, unit_prices, shipping;
  std::vector<std::string> titles, keys, hashes, replies;
  for (const auto& sale : b.sales) {
    const auto& o = sale.placed;
    const auto& item = o.items.front();
    order_ids.push_back(o.id);
    buyers.push_back(o.buyer_id);
    addresses.push_back(sale.address_id);
    quantities.push_back(item.quantity);
    unit_prices.push_back(item.unit_price_minor);
    titles.push_back(item.title);
    shipping.push_back(o.shipping_minor);
    transition_ids.push_back(sale.transition_id);
    ledger_ids.push_back(sale.ledger_id);
    keys.push_back(sale.key);
    hashes.push_back(sale.request_hash);
    replies.push_back(sale.reply);
    drops.push_back(sale.drop_id);
  }
  return {"product_sell",
          {db_uint(b.product_id), db_uint(b.seller_id), db_text(b.currency), db_uint(b.payment_due_s),
           db_text(bigint_array(order_ids)), db_text(bigint_array(buyers)), db_text(bigint_array(addresses)),
           db_text(bigint_array(quantities)), db_text(bigint_array(unit_prices)), db_text(text_array(titles)),
           db_text(bigint_array(shipping)), db_text(bigint_array(transition_ids)), db_text(bigint_array(ledger_ids)),
           db_text(text_array(keys)), db_text(text_array(hashes)), db_text(text_array(replies)),
           db_text(bigint_array(drops))}};
}

std::vector<sale_row> decode_sales(const db_rows& rows) {
  std::vector<sale_row> out;
  if (rows.rows.empty())
    return out;
  auto index = column_index(rows, "idx"), outcome = column_index(rows, "outcome"),
       version = column_index(rows, "stock_version");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows) {
    sale_row s;
    s.index = static_cast<std::size_t>(to_int(row[index]) - 1);
    const auto& text = row[outcome].text;
    s.outcome = text == "placed"   ? sale_outcome::placed
                : text == "replay" ? sale_outcome::replay
                                   : sale_outcome::address;
    s.stock_version = to_int(row[version]);
    out.push_back(s);
  }
  return out;
}

db_statement orders_due(std::size_t limit) {
  return {"orders_due", {db_uint(limit)}};
}

std::vector<std::uint64_t> decode_due_orders(const db_rows& rows) {
  std::vector<std::uint64_t> out;
  if (rows.rows.empty())
    return out;
  auto id = column_index(rows, "id");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows)
    out.push_back(to_uint(row[id]));
  return out;
}

db_statement payment_insert(const payment& p) {
  return {"payment_insert",
          {db_uint(p.id), db_uint(p.order_id), db_text(p.gateway), db_text(p.method), db_int(p.amount_minor),
           db_text(p.currency)}};
}

db_statement payment_update(std::uint64_t id, payment_status status, const std::string& gateway_ref,
                            const std::string& failure_reason, const std::string& next_action_url) {
  return {"payment_update",
          {db_uint(id), db_text(std::string{to_string(status)}), db_text(gateway_ref), db_text(failure_reason),
           db_text(next_action_url)}};
}

db_statement payment_add_refunded(std::uint64_t id, std::int64_t amount_minor) {
  return {"payment_add_refunded", {db_uint(id), db_int(amount_minor)}};
}

db_statement payment_by_ref(const std::string& gateway, const std::string& ref) {
  return {"payment_by_ref", {db_text(gateway), db_text(ref)}};
}

std::optional<payment_ref> decode_payment_ref(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  const auto& row = rows.rows.front();
  return payment_ref{to_uint(row[column_index(rows, "id")]),
                     to_uint(row[column_index(rows, "order_id")])};
}

db_statement payment_event_insert(const std::string& event_id, const std::string& type, std::uint64_t payment_id) {
  return {"payment_event_insert", {db_text(event_id), db_text(type), db_uint(payment_id)}};
}

db_statement refund_insert(std::uint64_t id, std::uint64_t payment_id, std::int64_t amount_minor,
                           const std::string& reason) {
  return {"refund_insert", {db_uint(id), db_uint(payment_id), db_int(amount_minor), db_text(reason)}};
}

db_statement refund_settle(std::uint64_t id, bool succeeded, const std::string& gateway_ref) {
  return {"refund_settle", {db_uint(id), db_text(succeeded ? "succeeded" : "failed"), db_text(gateway_ref)}};
}

db_statement payments_between(const std::string& gateway, std::int64_t from_s, std::int64_t to_s) {
  return {"payments_between", {db_text(gateway), db_int(from_s), db_int(to_s)}};
}

std::vector<payment_check> decode_payment_checks(const db_rows& rows) {
  std::vector<payment_check> out;
  if (rows.rows.empty())
    return out;
  auto idx = [&](std::string_view name) { return column_index(rows, name); };
  auto id = idx("id"), order_id = idx("order_id"), ref = idx("gateway_ref"), status = idx("status"),
       amount = idx("amount_minor"), currency = idx("currency"), refunded = idx("refunded_minor"),
       order_state = idx("order_status"), earlier_paid = idx("earlier_paid"), age = idx("age_s");
  out.reserve(rows.rows.size());
  for (const auto& row : rows.rows) {
    payment_check p;
    p.id = to_uint(row[id]);
    p.order_id = to_uint(row[order_id]);
    p.gateway_ref = row[ref].text;
    from_string(row[status].text, p.status);
    p.amount_minor = to_int(row[amount]);
    p.currency = row[currency].text;
    p.refunded_minor = to_int(row[refunded]);
    from_string(row[order_state].text, p.order_status);
    p.earlier_paid = to_int(row[earlier_paid]);
    p.age_s = to_int(row[age]);
    out.push_back(std::move(p));
  }
  return out;
}

db_statement idempotency_get(std::uint64_t user_id, const std::string& key) {
  return {"idempotency_get", {db_uint(user_id), db_text(key)}};
}

std::optional<idempotency_record> decode_idempotency_record(const db_rows& rows) {
  if (rows.rows.empty())
    return std::nullopt;
  const auto& row = rows.rows.front();
  idempotency_record out;
  out.request_hash = row[column_index(rows, "request_hash")].text;
  recorded_reply stored;
  stored.status = static_cast<std::int32_t>(to_int(row[column_index(rows, "status")]));
  stored.body = row[column_index(rows, "body")].text;
  out.outcome = replayed_outcome(std::move(stored));
  return out;
}

db_statement idempotency_insert(const purchase_key& key, const recorded_reply& reply) {
  assert(reply.status != 0 && "only a sealed outcome is stored");
  return {"idempotency_insert",
          {db_uint(key.buyer), db_text(key.key), db_text(key.request_hash), db_int(reply.status), db_text(reply.body)}};
}

db_statement idempotency_update(const purchase_key& key, const recorded_reply& reply) {
  assert(reply.status != 0 && "only a sealed outcome is stored");
  return {"idempotency_update", {db_uint(key.buyer), db_text(key.key), db_int(reply.status), db_text(reply.body)}};
}

db_statement idempotency_expire(std::uint32_t retention_h, std::size_t limit) {
  return {"idempotency_expire", {db_uint(retention_h), db_uint(limit)}};
}

} // namespace livemart::persistence
