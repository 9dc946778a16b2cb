// End-to-end tests of checkout: server-side prices, all-or-nothing stock
// holds, their expiry, and many buyers racing for little stock.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include <protocol/json.hpp>

#include "api.hpp"

using namespace livemart;
using namespace livemart::testing;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// True when a reply that arrived before now_ms() was certainly served
/// before `deadline_ms` (a time the database rounded to the millisecond).
bool certainly_before(std::int64_t deadline_ms) {
  return now_ms() + 2 < deadline_ms;
}

} // namespace

TEST_CASE("a checkout prices its lines on the server and holds their stock", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto camera = listing(m, s, "Camera", 2000, 5);
  auto strap = listing(m, s, "Strap", 500, 3);
  auto film = listing(m, other, "Film", 6000, 2);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);

  auto r = m.c.post("/orders/checkout", checkout_body({{camera, 2}, {strap, 1}, {film, 1}}, address), buyer.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto doc = r.json();
  CHECK(doc.string_or("status") == "open");
  CHECK(doc.string_or("currency") == "EUR");
  const auto& lines = doc.find("lines")->as_array();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].string_or("title") == "Camera");
  CHECK(integer_field(lines[0], "unit_price_minor") == 2000);
  CHECK(integer_field(lines[0], "line_total_minor") == 4000);
  CHECK(lines[2].string_or("seller_id") == other.seller_id);
  CHECK(integer_field(doc, "subtotal_minor") == 10500);
  // The first shop's 4,500 pays shipping; the second's 6,000 ships free.
  CHECK(integer_field(doc, "shipping_minor") == 499);
  CHECK(integer_field(doc, "total_minor") == 10999);
  auto expires = integer_field(doc, "expires_at_ms");
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  CHECK(expires > now_ms + 590'000);
  CHECK(expires < now_ms + 610'000);

  // The units are held: gone from the available stock, in the ledger.
  CHECK(stock_of(m, camera) == 3);
  CHECK(stock_of(m, strap) == 2);
  CHECK(stock_of(m, film) == 1);
  auto held = sql(m.db.url(), "SELECT count(*), sum(quantity) FROM stock_ledger WHERE kind = 'reserve' AND checkout_id = "
                                + doc.string_or("id"));
  CHECK(held.rows[0][0].text == "3");
  CHECK(held.rows[0][1].text == "4");
  // The shipping address is a copy: editing the address later leaves it alone.
  REQUIRE(m.c.patch("/users/addresses/" + address, R"({"city":"Hamburg"})", buyer.token).status == 200);
  CHECK(sql(m.db.url(), "SELECT city FROM addresses WHERE id = " + address).rows[0][0].text == "Hamburg");
  auto copy = sql(m.db.url(), "SELECT shipping_address->>'city' FROM checkouts WHERE id = " + doc.string_or("id"));
  CHECK(copy.rows[0][0].text == "Berlin");
}

TEST_CASE("a checkout holds all its lines or none, and names the line that failed", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto plenty = listing(m, s, "Plenty", 1000, 10);
  auto scarce = listing(m, s, "Scarce", 1000, 1);
  auto draft = m.c.post("/products", product_body(s.category, 1, "draft"), s.owner.token).json().string_or("id");
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);

  auto r = m.c.post("/orders/checkout", checkout_body({{plenty, 3}, {scarce, 2}}, address), buyer.token);
  check_problem(r, 409, "conflict");
  CHECK(r.error_fields() == std::vector<std::string>{"items[1].quantity"});
  // The hold on the first line was given back, in the same transaction that
  // closed the checkout.
  CHECK(stock_after_return(m, plenty, 10) == 10);
  CHECK(stock_after_return(m, scarce, 1) == 1);
  auto failed = sql(m.db.url(), "SELECT status FROM checkouts WHERE buyer_id = " + buyer.id);
  REQUIRE(failed.rows.size() == 1);
  CHECK(failed.rows[0][0].text == "failed");
  // One transaction wrote the release and the close: the same xmin, and the
  // same now() (a transaction's start) in both rows.
  auto released = sql(m.db.url(), "SELECT l.quantity, l.xmin = c.xmin, l.at = c.closed_at FROM stock_ledger l "
                                  "JOIN checkouts c ON c.id = l.checkout_id WHERE l.kind = 'release' AND c.buyer_id = "
                                  + buyer.id + " AND l.product_id = " + plenty);
  REQUIRE(released.rows.size() == 1);
  CHECK(released.rows[0][0].text == "3");
  CHECK(released.rows[0][1].text == "t");
  CHECK(released.rows[0][2].text == "t");
  auto ledger = sql(m.db.url(), "SELECT p.stock + p.reserved + p.sold = (SELECT sum(quantity) FROM stock_ledger l "
                                "WHERE l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = " + plenty);
  CHECK(ledger.rows[0][0].text == "t");

  // Products that cannot be bought, and addresses that are not the buyer's.
  auto not_on_sale = m.c.post("/orders/checkout", checkout_body({{draft, 1}}, address), buyer.token);
  check_problem(not_on_sale, 422, "validation-failed");
  CHECK(not_on_sale.error_fields() == std::vector<std::string>{"items[0].product_id"});
  auto missing = m.c.post("/orders/checkout", checkout_body({{plenty, 1}, {"4242", 1}}, address), buyer.token);
  CHECK(missing.error_fields() == std::vector<std::string>{"items[1].product_id"});
  auto stranger = sign_up(m.c, "stranger");
  auto foreign = m.c.post("/orders/checkout", checkout_body({{plenty, 1}}, address), stranger.token);
  check_problem(foreign, 422, "validation-failed");
  CHECK(foreign.error_fields() == std::vector<std::string>{"address_id"});
  check_problem(m.c.post("/orders/checkout", checkout_body({{plenty, 1}}, address)), 401, "unauthenticated");
  CHECK(stock_after_return(m, plenty, 10) == 10);
}

TEST_CASE("expired holds return their stock", "[e2e][orders]") {
  marketplace m{{"--orders.hold_ttl_s=1", "--orders.hold_sweep_interval_ms=50"}};
  auto s = open_shop(m);
  auto item = listing(m, s, "Ephemeral", 1000, 4);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto r = m.c.post("/orders/checkout", checkout_body({{item, 3}}, address), buyer.token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto id = r.json().string_or("id");
  auto expires_at_ms = integer_field(r.json(), "expires_at_ms");
  // The hold was taken: its reserve stays in the ledger, whatever the sweeper did since.
  CHECK(sql(m.db.url(), "SELECT sum(quantity) FROM stock_ledger WHERE kind = 'reserve' AND checkout_id = " + id)
          .rows[0][0].text == "3");
  // A one-second hold may be over before the next request on a slow machine:
  // the stock must show it only when that reply came before the hold's end.
  auto during = stock_of(m, item);
  if (certainly_before(expires_at_ms))
    CHECK(during == 1);
  else
    CHECK((during == 1 || during == 4));
  CHECK(await_stock(m, item, 4));
  // Released by the sweeper, and not before the hold's end (by the
  // database's clock: the release's transaction started after it).
  auto row = sql(m.db.url(), "SELECT c.status, (SELECT sum(quantity) FROM stock_ledger l WHERE l.checkout_id = c.id AND "
                           "l.kind = 'release'), (SELECT bool_and(l.at >= c.expires_at) FROM stock_ledger l WHERE "
                           "l.checkout_id = c.id AND l.kind = 'release') FROM checkouts c WHERE c.id = " + id);
  CHECK(row.rows[0][0].text == "expired");
  CHECK(row.rows[0][1].text == "3");
  CHECK(row.rows[0][2].text == "t");
}


namespace {

http_client::header_list order_headers(const api_user& u, const std::string& key) {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + u.token}, {"Idempotency-Key", key}};
}

std::string place_body(const std::string& checkout) {
  return "{\"checkout_id\":" + quote(checkout) + "}";
}

http_reply place(http_client& c, const api_user& u, const std::string& checkout, const std::string& key) {
  return c.request("POST", "/orders", place_body(checkout), order_headers(u, key));
}

/// place() for a worker thread: no Catch assertion, nullopt without a reply.
std::optional<http_reply> try_place(http_client& c, const api_user& u, const std::string& checkout,
                                    const std::string& key) {
  return c.try_request("POST", "/orders", place_body(checkout), order_headers(u, key));
}

} // namespace

TEST_CASE("placing a checkout makes one order per seller and sells its holds, once", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto camera = listing(m, s, "Camera", 2000, 5);
  auto film = listing(m, other, "Film", 6000, 2);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto co = m.c.post("/orders/checkout", checkout_body({{camera, 2}, {film, 1}}, address), buyer.token);
  REQUIRE(co.status == 201);
  auto checkout = co.json().string_or("id");

  auto first = place(m.c, buyer, checkout, "order-" + unique_suffix());
  INFO(first.body);
  REQUIRE(first.status == 201);
  auto doc = first.json();
  CHECK(doc.string_or("checkout_id") == checkout);
  const auto& orders = doc.find("orders")->as_array();
  REQUIRE(orders.size() == 2);
  std::int64_t total = 0;
  for (const auto& o : orders) {
    CHECK(o.string_or("status") == "pending");
    total += integer_field(o, "total_minor");
  }
  CHECK(total == integer_field(co.json(), "total_minor"));
  // The held units are sold now; nothing is reserved any more.
  auto camera_row = sql(m.db.url(), "SELECT stock, reserved, sold FROM products WHERE id = " + camera).rows[0];
  CHECK(camera_row[0].text == "3");
  CHECK(camera_row[1].text == "0");
  CHECK(camera_row[2].text == "2");
  CHECK(stock_of(m, camera) == 3);
  auto film_row = sql(m.db.url(), "SELECT stock, reserved, sold FROM products WHERE id = " + film).rows[0];
  CHECK(film_row[0].text == "1");
  CHECK(film_row[1].text == "0");
  CHECK(film_row[2].text == "1");
  auto counts = sql(m.db.url(), "SELECT (SELECT count(*) FROM orders WHERE checkout_id = " + checkout + "), "
                                "(SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.checkout_id = "
                                  + checkout + "), (SELECT count(*) FROM order_transitions t JOIN orders o ON o.id = t.order_id "
                                  "WHERE o.checkout_id = " + checkout + "), (SELECT status FROM checkouts WHERE id = " + checkout + ")");
  CHECK(counts.rows[0][0].text == "2");
  CHECK(counts.rows[0][1].text == "2");
  CHECK(counts.rows[0][2].text == "2");
  CHECK(counts.rows[0][3].text == "placed");

  // Placing it again under another key: 409, nothing new.
  auto again = place(m.c, buyer, checkout, "order-" + unique_suffix());
  check_problem(again, 409, "conflict");
  CHECK(again.error_fields() == std::vector<std::string>{"checkout_id"});
  // Someone else's checkout does not exist for them.
  auto stranger = sign_up(m.c, "stranger");
  check_problem(place(m.c, stranger, checkout, "k-" + unique_suffix()), 404, "not-found");
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "2");
}

TEST_CASE("an Idempotency-Key replays the first reply, errors included, and refuses another request",
          "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto item = listing(m, s, "Lamp", 3000, 10);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto checkout = m.c.post("/orders/checkout", checkout_body({{item, 1}}, address), buyer.token).json().string_or("id");
  auto key = "key-" + unique_suffix();
  auto first = place(m.c, buyer, checkout, key);
  REQUIRE(first.status == 201);
  auto second = place(m.c, buyer, checkout, key);
  CHECK(second.status == 201);
  CHECK(second.body == first.body);
  // The same key with another body.
  auto other = place(m.c, buyer, "12345", key);
  check_problem(other, 409, "conflict");
  CHECK(other.error_fields() == std::vector<std::string>{"Idempotency-Key"});
  // An error is replayed as well: the checkout is unknown, then stays so.
  auto missing_key = "key-" + unique_suffix();
  auto missing = place(m.c, buyer, "999", missing_key);
  check_problem(missing, 404, "not-found");
  CHECK(place(m.c, buyer, "999", missing_key).body == missing.body);
  // Without a key: 400 naming the header.
  auto keyless = m.c.post("/orders", "{\"checkout_id\":" + quote(checkout) + "}", buyer.token);
  check_problem(keyless, 400, "bad-request");
  CHECK(keyless.error_fields() == std::vector<std::string>{"Idempotency-Key"});
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "1");
  // Keys are the buyer's own: another buyer's key of the same name is new.
  auto other_buyer = sign_up(m.c, "other");
  auto other_address = add_address(m.c, other_buyer);
  auto their_checkout = m.c.post("/orders/checkout", checkout_body({{item, 1}}, other_address), other_buyer.token);
  REQUIRE(their_checkout.status == 201);
  auto theirs = place(m.c, other_buyer, their_checkout.json().string_or("id"), key);
  INFO(theirs.body);
  CHECK(theirs.status == 201);
  CHECK(theirs.body != first.body);
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "2");
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders WHERE buyer_id = " + other_buyer.id).rows[0][0].text == "1");
  CHECK(sql(m.db.url(), "SELECT count(*) FROM idempotency_keys WHERE key = '" + key + "'").rows[0][0].text == "2");
}

TEST_CASE("ten concurrent placements with one key make one order and get the same reply", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto item = listing(m, s, "Vinyl", 2500, 10);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto checkout = m.c.post("/orders/checkout", checkout_body({{item, 2}}, address), buyer.token).json().string_or("id");
  auto key = "tap-" + unique_suffix();
  // Each thread leaves its outcome here; Catch assertions run only on this
  // thread, after the joins.
  struct outcome {
    std::optional<http_reply> reply;
    std::string error;
  };
  std::vector<outcome> outcomes(10);
  const auto port = m.srv.port();
  std::vector<std::thread> threads;
  for (auto& out : outcomes) {
    threads.emplace_back([&out, port, &buyer, &checkout, &key] {
      auto c = http_client::try_connect(port, out.error);
      if (c == nullptr)
        return;
      out.reply = try_place(*c, buyer, checkout, key);
      if (!out.reply)
        out.error = c->last_error();
    });
  }
  for (auto& t : threads)
    t.join();
  REQUIRE(outcomes[0].reply.has_value());
  for (const auto& out : outcomes) {
    INFO(out.error);
    REQUIRE(out.reply.has_value());
    CHECK(out.reply->status == 201);
    CHECK(out.reply->body == outcomes[0].reply->body);
  }
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "1");
  CHECK(sql(m.db.url(), "SELECT sold FROM products WHERE id = " + item).rows[0][0].text == "2");
}

TEST_CASE("an expired checkout cannot be placed", "[e2e][orders]") {
  marketplace m{{"--orders.hold_ttl_s=1", "--orders.hold_sweep_interval_ms=50"}};
  auto s = open_shop(m);
  auto item = listing(m, s, "Fleeting", 1000, 2);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto co = m.c.post("/orders/checkout", checkout_body({{item, 1}}, address), buyer.token);
  INFO(co.body);
  REQUIRE(co.status == 201);
  auto checkout = co.json().string_or("id");
  // The hold was taken (its reserve stays in the ledger), then the sweeper ended it.
  CHECK(sql(m.db.url(), "SELECT sum(quantity) FROM stock_ledger WHERE kind = 'reserve' AND checkout_id = " + checkout)
          .rows[0][0].text == "1");
  REQUIRE(await_stock(m, item, 2));
  CHECK(sql(m.db.url(), "SELECT status FROM checkouts WHERE id = " + checkout).rows[0][0].text == "expired");
  auto late = place(m.c, buyer, checkout, "late-" + unique_suffix());
  check_problem(late, 409, "conflict");
  CHECK(late.error_fields() == std::vector<std::string>{"checkout_id"});
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "0");
  CHECK(stock_after_return(m, item, 2) == 2);
}

TEST_CASE("receipts and order lists are shown only to the buyer, the order's seller and admins", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto other = open_shop(m);
  auto cup = listing(m, s, "Cup", 1200, 10);
  auto pot = listing(m, other, "Pot", 9000, 10);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  std::vector<std::string> placed;
  for (int i = 0; i < 3; ++i) {
    auto co = m.c.post("/orders/checkout", checkout_body({{cup, 1}}, address), buyer.token).json().string_or("id");
    auto r = place(m.c, buyer, co, "k-" + unique_suffix());
    REQUIRE(r.status == 201);
    placed.push_back(r.json().find("orders")->as_array().front().string_or("id"));
  }
  auto co = m.c.post("/orders/checkout", checkout_body({{pot, 1}}, address), buyer.token).json().string_or("id");
  auto pot_order = place(m.c, buyer, co, "k-" + unique_suffix()).json().find("orders")->as_array().front().string_or("id");

  auto receipt = m.c.get("/orders/" + placed[0], buyer.token);
  INFO(receipt.body);
  REQUIRE(receipt.status == 200);
  auto doc = receipt.json();
  CHECK(doc.string_or("status") == "pending");
  CHECK(doc.string_or("seller_id") == s.seller_id);
  CHECK(doc.find("items")->as_array().front().string_or("title") == "Cup");
  CHECK(doc.find("shipping_address")->string_or("city") == "Berlin");
  REQUIRE(doc.find("history")->as_array().size() == 1);
  CHECK(doc.find("history")->as_array().front().string_or("to") == "pending");
  CHECK(doc.find("seller_user_id") == nullptr);
  CHECK(m.c.get("/orders/" + placed[0], s.owner.token).status == 200);
  CHECK(m.c.get("/orders/" + placed[0], m.admin.token).status == 200);
  check_problem(m.c.get("/orders/" + placed[0], other.owner.token), 404, "not-found");
  auto stranger = sign_up(m.c, "stranger");
  check_problem(m.c.get("/orders/" + placed[0], stranger.token), 404, "not-found");
  check_problem(m.c.get("/orders/" + placed[0]), 401, "unauthenticated");

  // The buyer's history, newest first, two at a time.
  auto first_page = m.c.get("/orders?limit=2", buyer.token);
  REQUIRE(first_page.status == 200);
  auto page1 = first_page.json();
  const auto& first_items = page1.find("items")->as_array();
  REQUIRE(first_items.size() == 2);
  CHECK(first_items[0].string_or("id") == pot_order);
  CHECK(first_items[1].string_or("id") == placed[2]);
  auto second_page = m.c.get("/orders?limit=2&cursor=" + page1.string_or("next_cursor"), buyer.token);
  INFO(second_page.body);
  REQUIRE(second_page.status == 200);
  auto page2 = second_page.json();
  const auto& second_items = page2.find("items")->as_array();
  REQUIRE(second_items.size() == 2);
  CHECK(second_items[0].string_or("id") == placed[1]);
  CHECK(second_items[1].string_or("id") == placed[0]);
  CHECK(m.c.get("/orders", stranger.token).json().find("items")->as_array().empty());
  // List entries leave out payments and history (the receipt has them).
  CHECK(first_items[0].find("payments") == nullptr);
  CHECK(first_items[0].find("history") == nullptr);
  const auto* receipt_payments = doc.find("payments");
  CHECK((receipt_payments != nullptr && receipt_payments->is_array()));
  CHECK(doc.find("history")->is_array());
  // A shop's orders are for its seller only.
  check_problem(m.c.get("/sellers/me/orders", stranger.token), 403, "forbidden");
  check_problem(m.c.get("/sellers/me/orders", buyer.token), 403, "forbidden");
  // Each shop sees its own incoming orders only.
  CHECK(m.c.get("/sellers/me/orders", s.owner.token).json().find("items")->as_array().size() == 3);
  auto theirs = m.c.get("/sellers/me/orders", other.owner.token).json().find("items")->as_array();
  REQUIRE(theirs.size() == 1);
  CHECK(theirs.front().string_or("id") == pot_order);
}

namespace {

/// The "field" names a problem lists in "errors"; nullopt when the body is
/// not JSON. No Catch assertion: for a worker thread.
std::optional<std::vector<std::string>> try_error_fields(const http_reply& r) {
  auto doc = r.try_json();
  if (!doc)
    return std::nullopt;
  std::vector<std::string> out;
  if (const auto* errors = doc->find("errors"); errors != nullptr && errors->is_array())
    for (const auto& e : errors->as_array())
      out.push_back(e.string_or("field"));
  return out;
}

/// 1,000 attempts of quantity 1 from 20 concurrent buyers against 100 units,
/// each `attempt(client, buyer, address)` answering 201 for an order, 409
/// naming items[0].quantity when sold out, nullopt when no reply came (it
/// runs on a worker thread: no Catch assertion). Exactly 100 orders, 900
/// clear refusals, stock 0 and a balanced ledger.
template <class Attempt>
void race_for_drop(Attempt attempt) {
  marketplace m{{"--auth.registrations_per_address_max=100"}}; // 20 sign-ups from one address
  auto s = open_shop(m);
  auto drop = listing(m, s, "Hot drop", 2500, 100);
  constexpr int buyers = 20;
  constexpr int attempts_each = 50;
  std::vector<std::pair<api_user, std::string>> people;
  for (int i = 0; i < buyers; ++i) {
    auto u = sign_up(m.c, "racer");
    auto a = add_address(m.c, u);
    people.emplace_back(u, a);
  }
  std::atomic<int> ordered{0};
  std::atomic<int> sold_out{0};
  std::atomic<int> other{0};
  std::mutex surprise_mutex;
  std::string first_surprise; ///< the first outcome that was neither, for the report
  auto note = [&](std::string what) {
    ++other;
    std::lock_guard<std::mutex> lock{surprise_mutex};
    if (first_surprise.empty())
      first_surprise = std::move(what);
  };
  const auto port = m.srv.port();
  std::vector<std::thread> threads;
  for (const auto& person : people) {
    threads.emplace_back([&, port, &buyer = person.first, &address = person.second] {
      std::string error;
      auto c = http_client::try_connect(port, error);
      for (int k = 0; k < attempts_each; ++k) {
        if (c == nullptr) {
          note(error);
          continue;
        }
        auto r = attempt(*c, drop, buyer, address);
        if (!r)
          note(c->last_error());
        else if (r->status == 201)
          ++ordered;
        else if (r->status == 409 && try_error_fields(*r) == std::vector<std::string>{"items[0].quantity"})
          ++sold_out;
        else
          note(std::to_string(r->status) + " " + r->body);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  INFO("first outcome that was neither an order nor sold out: " << first_surprise);
  CHECK(ordered == 100);
  auto placed = sql(m.db.url(), "SELECT count(*), sum(i.quantity) FROM orders o JOIN order_items i ON i.order_id = o.id "
                                "WHERE i.product_id = " + drop);
  CHECK(placed.rows[0][0].text == "100");
  CHECK(placed.rows[0][1].text == "100");
  CHECK(sold_out == buyers * attempts_each - 100);
  CHECK(other == 0);
  CHECK(stock_of(m, drop) == 0);
  auto row = sql(m.db.url(), "SELECT p.stock, p.reserved, p.sold, (SELECT sum(CASE WHEN kind = 'restock' THEN quantity "
                             "ELSE 0 END) FROM stock_ledger l WHERE l.product_id = p.id) FROM products p WHERE p.id = " + drop);
  CHECK(row.rows[0][0].text == "0");
  CHECK(row.rows[0][1].text == "0");
  CHECK(row.rows[0][2].text == "100");
  CHECK(row.rows[0][3].text == "100");
}

} // namespace

TEST_CASE("1,000 checkout attempts from 20 concurrent buyers for 100 units: exactly 100 orders, 900 sold-out errors", "[e2e][orders]") {
  race_for_drop([](http_client& c, const std::string& drop, const api_user& buyer,
                   const std::string& address) -> std::optional<http_reply> {
    auto r = c.try_request("POST", "/orders/checkout", checkout_body({{drop, 1}}, address),
                           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token}});
    if (!r || r->status != 201)
      return r;
    auto doc = r->try_json();
    if (!doc) {
      r->status = 0; // neither an order nor a refusal: reported as a surprise
      r->body = "a checkout's reply that is not JSON: " + r->body;
      return r;
    }
    return try_place(c, buyer, doc->string_or("id"), "race-" + unique_suffix());
  });
}

TEST_CASE("1,000 one-tap buy-now attempts from 20 concurrent buyers for 100 units: exactly 100 orders", "[e2e][orders]") {
  race_for_drop([](http_client& c, const std::string& drop, const api_user& buyer, const std::string& address) {
    return c.try_request("POST", "/orders", checkout_body({{drop, 1}}, address),
                         order_headers(buyer, "tap-" + unique_suffix()));
  });
}

TEST_CASE("one-tap buy-now checks out and places at once, idempotently", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto item = listing(m, s, "Drop tee", 3500, 2);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto buy = [&](int quantity, const std::string& key) {
    return m.c.request("POST", "/orders", checkout_body({{item, quantity}}, address),
                       {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                        {"Idempotency-Key", key}});
  };
  auto key = "tap-" + unique_suffix();
  auto first = buy(1, key);
  INFO(first.body);
  REQUIRE(first.status == 201);
  auto orders = first.json().find("orders")->as_array();
  REQUIRE(orders.size() == 1);
  CHECK(integer_field(orders.front(), "subtotal_minor") == 3500);
  CHECK(buy(1, key).body == first.body);
  CHECK(sql(m.db.url(), "SELECT sold FROM products WHERE id = " + item).rows[0][0].text == "1");
  // Sold out: the 409 names the line and is replayed for the same key.
  auto sold_out_key = "tap-" + unique_suffix();
  auto sold_out = buy(5, sold_out_key);
  check_problem(sold_out, 409, "conflict");
  CHECK(sold_out.error_fields() == std::vector<std::string>{"items[0].quantity"});
  // The detail keeps the reason after the field's name.
  auto detail = sold_out.json().string_or("detail");
  INFO(detail);
  CHECK(detail.rfind("items[0].quantity ", 0) == 0);
  CHECK(detail.size() > std::string{"items[0].quantity "}.size());
  CHECK_FALSE(sold_out.json().find("errors")->as_array().at(0).string_or("message").empty());
  CHECK(buy(5, sold_out_key).body == sold_out.body);
  CHECK(sql(m.db.url(), "SELECT count(*) FROM orders").rows[0][0].text == "1");
  CHECK(stock_of(m, item) == 1);
  // A checkout id and items together: items is not a field of that request.
  auto both = m.c.request("POST", "/orders", "{\"checkout_id\":\"1\",\"items\":[],\"address_id\":" + quote(address) + "}",
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                           {"Idempotency-Key", "both-" + unique_suffix()}});
  check_problem(both, 400, "unknown-field");
}

TEST_CASE("a buy-now of one product is a direct sale: no checkout, a ledger entry per order", "[e2e][orders]") {
  marketplace m;
  auto s = open_shop(m);
  auto item = listing(m, s, "Drop hoodie", 6000, 3);
  auto other_item = listing(m, s, "Sticker", 300, 3);
  auto buyer = sign_up(m.c, "buyer");
  auto address = add_address(m.c, buyer);
  auto stranger = sign_up(m.c, "stranger");
  auto strangers_address = add_address(m.c, stranger);
  auto buy = [&](const std::string& body, const std::string& key) {
    return m.c.request("POST", "/orders", body,
                       {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + buyer.token},
                        {"Idempotency-Key", key}});
  };
  auto r = buy(checkout_body({{item, 2}}, address), "d-" + unique_suffix());
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto doc = r.json();
  CHECK(doc.find("checkout_id")->is_null());
  auto order = doc.find("orders")->as_array().at(0);
  CHECK(integer_field(order, "subtotal_minor") == 12000);
  CHECK(integer_field(order, "shipping_minor") == 0); // free from 50.00
  auto receipt = m.c.get("/orders/" + order.string_or("id"), buyer.token).json();
  CHECK(receipt.find("checkout_id")->is_null());
  CHECK(receipt.find("payment_due_at_ms")->is_integer());
  CHECK(receipt.find("shipping_address")->string_or("city") == "Berlin");
  // No checkout, and one ledger entry: the sale itself.
  CHECK(sql(m.db.url(), "SELECT count(*) FROM checkouts WHERE buyer_id = " + buyer.id).rows[0][0].text == "0");
  auto entries = sql(m.db.url(), "SELECT kind, quantity FROM stock_ledger WHERE order_id = " + order.string_or("id"));
  REQUIRE(entries.rows.size() == 1);
  CHECK(entries.rows[0][0].text == "sale");
  CHECK(entries.rows[0][1].text == "2");
  CHECK(stock_of(m, item) == 1);

  // Someone else's address: 422 naming it, nothing sold, and replayed.
  auto key = "d-" + unique_suffix();
  auto foreign = buy(checkout_body({{item, 1}}, strangers_address), key);
  check_problem(foreign, 422, "validation-failed");
  CHECK(foreign.error_fields() == std::vector<std::string>{"address_id"});
  CHECK(buy(checkout_body({{item, 1}}, strangers_address), key).body == foreign.body);
  CHECK(stock_of(m, item) == 1);

  // Two products: the checkout path, still one request.
  auto two = buy(checkout_body({{item, 1}, {other_item, 1}}, address), "d-" + unique_suffix());
  INFO(two.body);
  REQUIRE(two.status == 201);
  CHECK(two.json().find("checkout_id")->is_string());
  // A direct sale can be cancelled like any order: the units come back.
  auto cancelled = m.c.post("/orders/" + order.string_or("id") + "/cancel", "", buyer.token);
  REQUIRE(cancelled.status == 200);
  CHECK(stock_after_return(m, item, 2) == 2);
  CHECK(sql(m.db.url(), "SELECT p.stock + p.reserved + p.sold = (SELECT sum(quantity) FROM stock_ledger l WHERE "
                        "l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = " + item).rows[0][0].text
        == "t");
}
