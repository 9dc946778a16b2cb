// The product actor against a real PostgreSQL: no oversell under
// concurrency, a balanced ledger, restarts from committed state.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

#include <actors/services.hpp>
#include <persistence/cluster_statements.hpp>
#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/metrics.hpp>
#include <protocol/wire/orders.hpp>

#include "db_fixture.hpp"
#include "pg_harness.hpp"

using namespace livemart;
using namespace livemart::testing;
namespace ps = livemart::persistence;

namespace {

/// A seller, a category and an active product with no stock yet.
std::uint64_t make_product(db_fixture& f, std::int64_t price_minor = 1999) {
  auto user_id = ids::next();
  ok(f.write({{ps::user_insert(user_id, "p." + unique_suffix() + "@example.com", "h", "Seller", role::seller)}}));
  seller_application a{"Shop " + unique_suffix(), "shop-" + unique_suffix(), "", "s@example.com", "DE", "company"};
  auto seller_id = ids::next();
  ok(f.write({{ps::seller_apply(seller_id, user_id, a, ids::next())}}));
  category c;
  c.id = ids::next();
  c.name = "Cat " + unique_suffix();
  c.slug = c.name;
  ok(f.write({{ps::category_insert(c)}}));
  product p;
  p.id = ids::next();
  p.seller_id = seller_id;
  p.category_id = c.id;
  p.title = "Camera";
  p.price_minor = price_minor;
  p.currency = "EUR";
  p.status = product_status::active;
  p.image_urls = {"https://img.example/1.jpg"};
  ok(f.write({{ps::product_insert(p)}}));
  return p.id;
}

struct products_fixture : db_fixture {
  explicit products_fixture(const std::string& url, std::uint32_t idle_ms = 300'000) : db_fixture(url) {
    conf::settings cfg;
    cfg.database.url = url;
    cfg.actors.product_idle_ms = idle_ms;
    users = spawn_user_directory(sys, cfg.actors, db);
    sellers = spawn_sellers(sys, cfg, db, users);
    categories = spawn_categories(sys, cfg, db);
    search = spawn_search(sys, cfg, db, categories);
    dir = spawn_product_directory(sys, cfg, db, search, sellers, categories);
  }
  ~products_fixture() {
    for (const auto& shard : dir.shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    for (const auto& shard : users.shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sellers, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(categories, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(search, caf::exit_reason::user_shutdown);
  }

  /// Kills `first` and returns the actor the registry spawns for `id` in
  /// its place. The registry forgets the dead one when its own down
  /// message arrives (until then it forwards to the dead one, and the
  /// request fails): ask until the replacement answers (bounded, no
  /// sleeping).
  product_actor replace(std::uint64_t id, const product_actor& first) {
    caf::scoped_actor self{sys};
    self->monitor(first);
    caf::anon_send_exit(first, caf::exit_reason::kill);
    self->receive([](caf::down_msg&) {});
    product_actor second;
    for (int attempt = 0; attempt < 100 && (!second || second == first); ++attempt)
      second = serving(id).value_or(product_actor{});
    REQUIRE(second != first);
    return second;
  }

  /// The actor that serves product `id` now: the one that answers a
  /// request routed to it (the registry forwards; the actor replies).
  std::optional<product_actor> serving(std::uint64_t id) {
    caf::scoped_actor self{sys};
    std::optional<product_actor> out;
    self->request(dir.route(id), std::chrono::seconds{10}, id, get_atom::value)
      .receive([&](product&) { out = caf::actor_cast<product_actor>(self->current_sender()); }, [](caf::error&) {});
    return out;
  }

  product_actor actor_of(std::uint64_t id) {
    auto actor = serving(id);
    REQUIRE(actor);
    return *actor;
  }

  user_directory users;
  seller_actor sellers;
  category_actor categories;
  search_actor search;
  product_directory dir;
};

/// A direct sale of `quantity` units of `b`'s product at 10.00 each, as
/// the product's actor would write it for Idempotency-Key `key`.
ps::sale_batch::sale direct_sale(const ps::sale_batch& b, std::uint64_t buyer, std::uint64_t address_id,
                                 const std::string& key, std::int64_t quantity, const std::string& title,
                                 std::int64_t shipping) {
  ps::sale_batch::sale s;
  s.placed.id = ids::next();
  s.placed.buyer_id = buyer;
  s.placed.seller_id = b.seller_id;
  s.placed.currency = b.currency;
  s.placed.items.push_back({b.product_id, title, 1000, quantity});
  s.placed.subtotal_minor = 1000 * quantity;
  s.placed.shipping_minor = shipping;
  s.placed.total_minor = s.placed.subtotal_minor + shipping;
  s.address_id = address_id;
  s.key = key;
  s.request_hash = "h";
  s.transition_id = ids::next();
  s.ledger_id = ids::next();
  s.reply = sealed(purchase_outcome::placement(0, {s.placed})).recorded.body;
  return s;
}

/// What the writer counts of the sales it merged into one products_sell.
long merged_sales() {
  auto text = metrics::registry::global().render();
  std::string name = "livemart_db_merged_sales_total ";
  auto at = text.find("\n" + name);
  return at == std::string::npos ? 0 : std::stol(text.substr(at + 1 + name.size()));
}

std::string ledger_balance(const std::string& url, std::uint64_t id) {
  // stock + reserved + sold must equal everything ever stocked.
  return sql(url, "SELECT (p.stock + p.reserved + p.sold) = COALESCE((SELECT sum(quantity) FROM stock_ledger l "
                  "WHERE l.product_id = p.id AND l.kind = 'restock'), 0) FROM products p WHERE p.id = "
                    + ids::format(id))
    .rows[0][0]
    .text;
}

} // namespace

TEST_CASE("many concurrent reservations never oversell and end exactly at zero", "[db][products]") {
  temp_database db;
  products_fixture f{db.url()};
  auto id = make_product(f);
  auto product = f.actor_of(id);
  caf::scoped_actor self{f.sys};
  self->request(product, std::chrono::seconds{10}, restock_atom::value, std::int64_t{20}, std::string{"initial"},
                std::uint64_t{0})
    .receive([](stock_update& u) { CHECK(u.stock == 20); }, [](caf::error& e) { FAIL(to_problem(e).detail); });

  constexpr int buyers = 60;
  using handle = decltype(self->request(product, std::chrono::seconds{10}, reserve_atom::value, std::int64_t{1}, std::uint64_t{0}));
  std::vector<handle> pending;
  for (int i = 0; i < buyers; ++i)
    pending.push_back(self->request(product, std::chrono::seconds{10}, reserve_atom::value, std::int64_t{1}, std::uint64_t{0}));
  int reserved = 0;
  int refused = 0;
  std::uint64_t last_sequence = 0;
  for (auto& h : pending)
    h.receive(
      [&](stock_update& u) {
        ++reserved;
        CHECK(u.sequence > last_sequence); // every change has its own, growing number
        last_sequence = u.sequence;
        CHECK(u.stock >= 0);
      },
      [&](caf::error& e) {
        CHECK(to_problem(e).code == errc::conflict);
        ++refused;
      });
  CHECK(reserved == 20);
  CHECK(refused == buyers - 20);
  auto row = sql(db.url(), "SELECT stock, reserved, sold FROM products WHERE id = " + ids::format(id)).rows[0];
  CHECK(row[0].text == "0");
  CHECK(row[1].text == "20");
  CHECK(ledger_balance(db.url(), id) == "t");
}

TEST_CASE("release, commit, restock and price changes keep the ledger balanced and are published", "[db][products]") {
  temp_database db;
  products_fixture f{db.url()};
  auto id = make_product(f);
  auto product = f.actor_of(id);
  caf::scoped_actor self{f.sys};
  self->join(f.sys.groups().get_local(product_group_name(id)));
  auto step = [&](auto... args) {
    stock_update out;
    self->request(product, std::chrono::seconds{10}, args...)
      .receive([&](stock_update& u) { out = u; }, [&](caf::error& e) { FAIL(to_problem(e).detail); });
    return out;
  };
  auto fails = [&](auto... args) {
    problem out;
    self->request(product, std::chrono::seconds{10}, args...)
      .receive([](stock_update&) { FAIL("expected a refusal"); }, [&](caf::error& e) { out = to_problem(e); });
    return out;
  };
  step(restock_atom::value, std::int64_t{10}, std::string{"delivery"}, std::uint64_t{0});
  step(reserve_atom::value, std::int64_t{4}, std::uint64_t{0});
  step(release_atom::value, std::int64_t{1});
  auto committed = step(commit_atom::value, std::int64_t{2});
  CHECK(committed.stock == 7);
  CHECK(committed.reserved == 1);
  CHECK(committed.sold == 2);
  auto adjusted = step(restock_atom::value, std::int64_t{-3}, std::string{"damaged"}, std::uint64_t{0});
  CHECK(adjusted.stock == 4);
  auto priced = step(price_atom::value, std::int64_t{2499});
  CHECK(priced.price_minor == 2499);

  CHECK(fails(reserve_atom::value, std::int64_t{5}, std::uint64_t{0}).code == errc::conflict);
  CHECK(fails(reserve_atom::value, std::int64_t{0}, std::uint64_t{0}).code == errc::validation_failed);
  CHECK(fails(commit_atom::value, std::int64_t{2}).code == errc::conflict);
  CHECK(fails(restock_atom::value, std::int64_t{-5}, std::string{"too many"}, std::uint64_t{0}).code == errc::conflict);
  CHECK(fails(price_atom::value, std::int64_t{-1}).code == errc::validation_failed);
  CHECK(ledger_balance(db.url(), id) == "t");

  // Subscribers saw every change, in order, without gaps.
  std::uint64_t expected = 1;
  for (int i = 0; i < 6; ++i)
    self->receive([&](const stock_update& u) { CHECK(u.sequence == expected++); },
                  caf::after(std::chrono::seconds{5}) >> [] { FAIL("a published change is missing"); });
}

TEST_CASE("a product actor that dies is replaced from committed state", "[db][products]") {
  temp_database db;
  products_fixture f{db.url()};
  auto id = make_product(f);
  auto first = f.actor_of(id);
  caf::scoped_actor self{f.sys};
  self->request(first, std::chrono::seconds{10}, restock_atom::value, std::int64_t{5}, std::string{"initial"},
                std::uint64_t{0})
    .receive([](stock_update&) {}, [](caf::error& e) { FAIL(to_problem(e).detail); });
  auto second = f.replace(id, first);
  self->request(second, std::chrono::seconds{10}, get_atom::value)
    .receive([](product& p) { CHECK(p.stock == 5); }, [](caf::error& e) { FAIL(to_problem(e).detail); });
  // An unknown product answers 404.
  auto unknown = ids::next();
  self->request(f.dir.route(unknown), std::chrono::seconds{10}, unknown, get_atom::value)
    .receive([](product&) { FAIL("no such product"); }, [](caf::error& e) { CHECK(to_problem(e).code == errc::not_found); });
}

TEST_CASE("an idle product actor is passivated through its registry and comes back from committed state",
          "[db][products]") {
  temp_database db;
  products_fixture f{db.url(), /*idle_ms=*/1000};
  auto id = make_product(f);
  auto first = f.actor_of(id);
  caf::scoped_actor self{f.sys};
  self->request(first, std::chrono::seconds{10}, restock_atom::value, std::int64_t{3}, std::string{"initial"},
                std::uint64_t{0})
    .receive([](stock_update&) {}, [](caf::error& e) { FAIL(to_problem(e).detail); });
  // Await the passivation itself (its down message), not a guessed delay.
  self->monitor(first);
  self->receive([](caf::down_msg& msg) { CHECK(msg.reason == caf::exit_reason::normal); },
                caf::after(std::chrono::seconds{10}) >> [] { FAIL("the idle actor was not passivated"); });
  // The registry had already let it go: the next lookup is a fresh actor
  // with the committed stock, and a request to the old handle is an error,
  // never silence.
  auto second = f.actor_of(id);
  CHECK(second != first);
  self->request(second, std::chrono::seconds{10}, reserve_atom::value, std::int64_t{3}, std::uint64_t{0})
    .receive([](stock_update& u) { CHECK(u.stock == 0); }, [](caf::error& e) { FAIL(to_problem(e).detail); });
  self->request(first, std::chrono::seconds{10}, get_atom::value)
    .receive([](product&) { FAIL("a passivated actor answered"); },
             [](caf::error& e) { CHECK(e == caf::sec::request_receiver_down); });
  CHECK(ledger_balance(db.url(), id) == "t");
}

TEST_CASE("the detail view carries the seller summary and the category breadcrumb", "[db][products]") {
  temp_database db;
  products_fixture f{db.url()};
  auto id = make_product(f);
  caf::scoped_actor self{f.sys};
  self->request(f.dir.route(id), std::chrono::seconds{10}, id, detail_atom::value)
    .receive(
      [&](product_detail& d) {
        CHECK(d.item.id == id);
        CHECK(d.item.title == "Camera");
        CHECK(d.seller.id == d.item.seller_id);
        CHECK(d.seller.shop_name.rfind("Shop ", 0) == 0);
        REQUIRE(d.breadcrumb.size() == 1);
        CHECK(d.breadcrumb.front().id == d.item.category_id);
      },
      [](caf::error& e) { FAIL(to_problem(e).detail); });
  self->request(f.dir.route(1), std::chrono::seconds{10}, std::uint64_t{1}, detail_atom::value)
    .receive([](product_detail&) { FAIL("no such product"); },
             [](caf::error& e) { CHECK(to_problem(e).code == errc::not_found); });
}

TEST_CASE("the search index loads the catalog and follows every committed change", "[db][products][search]") {
  temp_database db;
  auto url = db.url();
  std::uint64_t id = 0;
  {
    // A product that exists before the index loads.
    products_fixture seed{url};
    id = make_product(seed);
  }
  products_fixture f{url};
  caf::scoped_actor self{f.sys};
  self->request(f.search, std::chrono::seconds{30}, ready_atom::value)
    .receive([](std::uint64_t n) { CHECK(n == 1); }, [](caf::error& e) { FAIL(to_problem(e).detail); });
  auto find = [&](std::string q, bool in_stock = false) {
    search_query query;
    query.q = std::move(q);
    query.in_stock = in_stock;
    search_result out;
    self->request(f.search, std::chrono::seconds{10}, search_atom::value, query)
      .receive([&](search_result& r) { out = std::move(r); }, [](caf::error& e) { FAIL(to_problem(e).detail); });
    return out;
  };
  CHECK(find("camera").total == 1);
  CHECK(find("camera", true).total == 0); // no stock yet
  auto actor = f.actor_of(id);
  self->request(actor, std::chrono::seconds{10}, restock_atom::value, std::int64_t{2}, std::string{"in"}, std::uint64_t{0})
    .receive([](stock_update&) {}, [](caf::error& e) { FAIL(to_problem(e).detail); });
  // The reply comes after the index was told (same sender, in order).
  auto stocked = find("camera", true);
  REQUIRE(stocked.total == 1);
  CHECK(stocked.items.front().stock == 2);
  product_patch patch;
  patch.present = pf_title;
  patch.values.title = "Rangefinder";
  self->request(actor, std::chrono::seconds{10}, update_atom::value, patch)
    .receive([](product&) {}, [](caf::error& e) { FAIL(to_problem(e).detail); });
  CHECK(find("rangefinder").total == 1);
  CHECK(find("camera").total == 0);
  patch.present = pf_status;
  patch.values.status = product_status::archived;
  self->request(actor, std::chrono::seconds{10}, update_atom::value, patch)
    .receive([](product&) {}, [](caf::error& e) { FAIL(to_problem(e).detail); });
  CHECK(find("rangefinder").total == 0);
}

TEST_CASE("a move committed elsewhere is taken in once, never on top of a load that has it", "[db][products]") {
  temp_database db;
  products_fixture f{db.url()};
  auto id = make_product(f);
  caf::scoped_actor self{f.sys};
  auto ask = [&](const product_actor& a, auto... args) {
    stock_update out;
    self->request(a, std::chrono::seconds{10}, args...)
      .receive([&](stock_update& u) { out = u; }, [&](caf::error& e) { FAIL(to_problem(e).detail); });
    return out;
  };
  auto first = f.actor_of(id);
  ask(first, restock_atom::value, std::int64_t{5}, std::string{"in"}, std::uint64_t{0});
  ask(first, reserve_atom::value, std::int64_t{3}, std::uint64_t{0});
  // Another transaction releases two of the held units.
  auto moved = f.write({{ps::stock_move(ids::next(), id, stock_kind::release, 2, "checkout expired", 0)}});
  REQUIRE(std::holds_alternative<db_result>(moved));
  auto version = std::stoll(std::get<db_result>(moved).results.front().rows.front()[3].text);
  CHECK(ps::decode_stock_version(std::get<db_result>(moved).results.front()) == version);
  // The running actor learns of it through its registry and takes it in.
  self->send(f.dir.route(id), id, applied_atom::value, static_cast<std::int32_t>(stock_kind::release),
             std::int64_t{2}, version);
  auto seen = [&](const product_actor& a) {
    product out;
    self->request(a, std::chrono::seconds{10}, get_atom::value)
      .receive([&](product& p) { out = p; }, [&](caf::error& e) { FAIL(to_problem(e).detail); });
    return out;
  };
  // Asked through the registry too, so the question queues behind the notice.
  self->request(f.dir.route(id), std::chrono::seconds{10}, id, detail_atom::value)
    .receive(
      [](product_detail& d) {
        CHECK(d.item.stock == 4);
        CHECK(d.item.reserved == 1);
      },
      [](caf::error& e) { FAIL(to_problem(e).detail); });
  // A fresh actor loads the row with the move in it; the same notice
  // arriving late changes nothing.
  auto second = f.replace(id, first);
  CHECK(seen(second).stock == 4);
  self->send(second, applied_atom::value, static_cast<std::int32_t>(stock_kind::release), std::int64_t{2}, version);
  CHECK(seen(second).stock == 4);
  CHECK(seen(second).reserved == 1);
  CHECK(ledger_balance(db.url(), id) == "t");
}

TEST_CASE("holds are taken only for open checkouts, and only a fully held checkout is placed",
          "[db][products][checkouts]") {
  temp_database db;
  products_fixture f{db.url()};
  auto a = make_product(f);
  auto b = make_product(f);
  auto seller_of = [&](std::uint64_t id) {
    return std::stoull(sql(db.url(), "SELECT seller_id FROM products WHERE id = " + ids::format(id)).rows[0][0].text);
  };
  auto buyer = ids::next();
  ok(f.write({{ps::user_insert(buyer, "b." + unique_suffix() + "@example.com", "h", "Buyer", role::buyer)}}));
  address home;
  home.id = ids::next();
  home.user_id = buyer;
  home.name = "Ada";
  home.line1 = "Unter den Linden 1";
  home.city = "Berlin";
  home.postal_code = "10115";
  home.country = "DE";
  ok(f.write({{ps::address_create(home, 20)}}));
  checkout c;
  c.id = ids::next();
  c.buyer_id = buyer;
  c.address_id = home.id;
  c.currency = "EUR";
  c.lines = {{a, seller_of(a), "Camera", 1999, 1}, {b, seller_of(b), "Camera", 1999, 1}};
  auto totals = price_checkout(c.lines, conf::order_settings{});
  c.subtotal_minor = totals.subtotal_minor;
  c.shipping_minor = totals.shipping_minor;
  db_command open{{ps::checkout_open(c, 600)}};
  for (std::size_t i = 0; i < c.lines.size(); ++i)
    open.statements.push_back(ps::checkout_line_insert(c.id, i, c.lines[i]));
  for (const auto& share : totals.sellers)
    open.statements.push_back(ps::checkout_seller_insert(c.id, share));
  auto opened = ok(f.write(open));
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch()).count();
  auto expires_at_ms = ps::decode_expires_at_ms(opened.results.front());
  CHECK(expires_at_ms > now_ms + 590'000); // the 600 s hold
  CHECK(expires_at_ms < now_ms + 610'000);

  // Its parts, by seller then line: each line with its seller's share.
  auto parts = ps::decode_checkout_parts(ok(f.read({{ps::checkout_parts(c.id, buyer)}})).results.front());
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].share.seller_id < parts[1].share.seller_id);
  for (const auto& part : parts) {
    CHECK(part.status == "open");
    CHECK(part.currency == "EUR");
    CHECK(part.item.product_id == (part.share.seller_id == seller_of(a) ? a : b));
    CHECK(part.item.title == "Camera");
    CHECK(part.item.unit_price_minor == 1999);
    CHECK(part.item.quantity == 1);
    CHECK(part.share.subtotal_minor == 1999);
    auto share = std::find_if(totals.sellers.begin(), totals.sellers.end(),
                              [&](const seller_share& s) { return s.seller_id == part.share.seller_id; });
    REQUIRE(share != totals.sellers.end());
    CHECK(part.share.shipping_minor == share->shipping_minor);
  }

  caf::scoped_actor self{f.sys};
  auto ask = [&](std::uint64_t id, auto... args) -> std::optional<problem> {
    std::optional<problem> out;
    self->request(f.actor_of(id), std::chrono::seconds{10}, args...)
      .receive([](stock_update&) {}, [&](caf::error& e) { out = to_problem(e); });
    return out;
  };
  REQUIRE_FALSE(ask(a, restock_atom::value, std::int64_t{5}, std::string{"in"}, std::uint64_t{0}));
  REQUIRE_FALSE(ask(b, restock_atom::value, std::int64_t{5}, std::string{"in"}, std::uint64_t{0}));
  REQUIRE_FALSE(ask(a, reserve_atom::value, std::int64_t{1}, c.id));

  // Only the first line is held: the checkout cannot be placed.
  auto placed = f.write({{ps::checkout_place(c.id, buyer, {ids::next(), ids::next()}, {ids::next(), ids::next()},
                                             {ids::next(), ids::next()})}});
  REQUIRE(std::holds_alternative<caf::error>(placed));
  CHECK(std::get<caf::error>(placed) == db_refusal::wrong_state);
  CHECK(refused_state(std::get<caf::error>(placed)) == "incomplete");

  // Closed, it releases its hold, and takes no new one.
  auto released = f.write({{ps::checkout_release(c.id, checkout_status::failed, false, {ids::next(), ids::next()})}});
  REQUIRE(std::holds_alternative<db_result>(released));
  CHECK(std::get<db_result>(released).results.front().rows.size() == 1);
  auto moves = ps::decode_stock_moves(std::get<db_result>(released).results.front());
  REQUIRE(moves.size() == 1);
  CHECK(moves.front().product_id == a);
  CHECK(moves.front().quantity == 1);
  CHECK(moves.front().stock_version > 0);
  auto late = ask(b, reserve_atom::value, std::int64_t{1}, c.id);
  REQUIRE(late);
  CHECK(late->code == errc::conflict);
  for (auto id : {a, b}) {
    auto row = sql(db.url(), "SELECT stock, reserved FROM products WHERE id = " + ids::format(id)).rows[0];
    CHECK(row[0].text == "5");
    CHECK(row[1].text == "0");
    CHECK(ledger_balance(db.url(), id) == "t");
  }
}

TEST_CASE("a batch of direct sales sells a repeated key once, skips foreign addresses and keeps the ledger",
          "[db][products]") {
  temp_database db;
  db_fixture f{db.url()};
  auto product = make_product(f, 1000);
  ok(f.write({{ps::stock_move(ids::next(), product, stock_kind::restock, 10, "initial", 0)}}));
  auto buyer = ids::next();
  ok(f.write({{ps::user_insert(buyer, "b." + unique_suffix() + "@example.com", "h", "Buyer", role::buyer)}}));
  auto address = ids::next();
  sql(db.url(), "INSERT INTO addresses (id, user_id, name, line1, city, postal_code, country) VALUES ("
                  + std::to_string(address) + ", " + std::to_string(buyer) + ", 'B', 'Street 1', 'Berlin', '10115', 'DE')");
  auto seller = std::stoull(sql(db.url(), "SELECT seller_id FROM products WHERE id = " + std::to_string(product)).rows[0][0].text);

  ps::sale_batch b;
  b.product_id = product;
  b.seller_id = seller;
  b.currency = "EUR";
  b.payment_due_s = 600;
  auto sale_of = [&](std::uint64_t address_id, const std::string& key, std::int64_t quantity,
                     const std::string& title) {
    return direct_sale(b, buyer, address_id, key, quantity, title, 499);
  };
  auto add = [&](std::uint64_t address_id, const std::string& key, std::int64_t quantity) {
    // Quotes and commas in the title survive the array literal.
    b.sales.push_back(sale_of(address_id, key, quantity, "Camera \"M\", 1954"));
  };
  add(address, "k1", 2);
  add(address, "k1", 3);  // the same key again: sells once
  add(ids::next(), "k2", 1); // not the buyer's address
  add(address, "k3", 1);
  auto r = ok(f.write({{ps::product_sell(b)}}));
  std::vector<std::string> outcomes;
  for (const auto& row : r.results.front().rows)
    outcomes.push_back(row[1].text);
  CHECK(outcomes == std::vector<std::string>{"placed", "replay", "address", "placed"});
  auto sales = ps::decode_sales(r.results.front());
  REQUIRE(sales.size() == 4);
  for (std::size_t i = 0; i < sales.size(); ++i)
    CHECK(sales[i].index == i);
  CHECK(sales[0].outcome == sale_outcome::placed);
  CHECK(sales[1].outcome == sale_outcome::replay);
  CHECK(sales[2].outcome == sale_outcome::address);
  CHECK(sales[3].outcome == sale_outcome::placed);
  CHECK(sales[3].stock_version > 0);
  // The outcome stored for a sold key, as a retry with it reads it back:
  // the placement of its order, as the edge renders it.
  auto stored = ps::decode_idempotency_record(ok(f.read({{ps::idempotency_get(buyer, "k1")}})).results.front());
  REQUIRE(stored);
  CHECK(stored->request_hash == "h");
  CHECK(stored->outcome.replayed);
  CHECK(stored->outcome.placed);
  CHECK(stored->outcome.order_ids == std::vector<std::uint64_t>{b.sales[0].placed.id});
  CHECK(stored->outcome.recorded.status == 201);
  CHECK(stored->outcome.recorded.body == render_outcome(purchase_outcome::placement(0, {b.sales[0].placed})).body);
  CHECK_FALSE(ps::decode_idempotency_record(ok(f.read({{ps::idempotency_get(buyer, "k9")}})).results.front()));

  auto row = sql(db.url(), "SELECT p.stock, p.sold, (SELECT count(*) FROM orders), (SELECT string_agg(title, '|') FROM "
                           "order_items), p.stock + p.reserved + p.sold = (SELECT sum(quantity) FROM stock_ledger l "
                           "WHERE l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = "
                             + std::to_string(product));
  CHECK(row.rows[0][0].text == "7");
  CHECK(row.rows[0][1].text == "3");
  CHECK(row.rows[0][2].text == "2");
  CHECK(row.rows[0][3].text == "Camera \"M\", 1954|Camera \"M\", 1954");
  CHECK(row.rows[0][4].text == "t");

  // More than the stock: the whole batch is refused, nothing changes.
  ps::sale_batch big = b;
  big.sales = {sale_of(address, "k4", 8, "Camera")};
  CHECK(refusal(f.write({{ps::product_sell(big)}})) == db_refusal::insufficient);
  CHECK(sql(db.url(), "SELECT stock FROM products WHERE id = " + std::to_string(product)).rows[0][0].text == "7");
  CHECK(sql(db.url(), "SELECT count(*) FROM idempotency_keys WHERE key = 'k4'").rows[0][0].text == "0");
}

TEST_CASE("direct sales of many products in one batch are written by one statement, and a failing product fails "
          "alone",
          "[db][products]") {
  temp_database db;
  // A 200 ms flush interval: the commands sent below commit as one batch.
  conf::database_settings slow;
  slow.write_flush_interval_us = 200'000;
  db_fixture f{db.url(), slow};
  auto buyer = ids::next();
  ok(f.write({{ps::user_insert(buyer, "b." + unique_suffix() + "@example.com", "h", "Buyer", role::buyer)}}));
  auto address = ids::next();
  sql(db.url(), "INSERT INTO addresses (id, user_id, name, line1, city, postal_code, country) VALUES ("
                  + std::to_string(address) + ", " + std::to_string(buyer) + ", 'B', 'Street 1', 'Berlin', '10115', 'DE')");
  // Four products with 5 units each; the fourth is fenced by a slot this
  // node does not own.
  std::vector<ps::sale_batch> batches;
  for (int n = 0; n < 4; ++n) {
    auto product = make_product(f, 1000);
    ok(f.write({{ps::stock_move(ids::next(), product, stock_kind::restock, 5, "initial", 0)}}));
    ps::sale_batch b;
    b.product_id = product;
    b.seller_id = std::stoull(sql(db.url(), "SELECT seller_id FROM products WHERE id = " + std::to_string(product)).rows[0][0].text);
    b.currency = "EUR";
    b.payment_due_s = 600;
    batches.push_back(b);
  }
  auto sell = [&](ps::sale_batch& b, std::uint64_t address_id, const std::string& key, std::int64_t quantity) {
    b.sales.push_back(direct_sale(b, buyer, address_id, key, quantity, "Lens \"L\", 50mm", 0));
  };
  sell(batches[0], address, "a1", 2);
  sell(batches[0], address, "a1", 1);     // its key again: a replay
  sell(batches[0], ids::next(), "a2", 1); // not the buyer's address
  sell(batches[1], address, "b1", 4);
  sell(batches[1], address, "b2", 2);     // 6 of 5: the whole product refuses
  sell(batches[2], address, "c1", 5);     // all of it
  sell(batches[3], address, "d1", 1);     // fenced away
  std::vector<db_command> commands;
  for (int n = 0; n < 3; ++n)
    commands.push_back(db_command{{ps::product_sell(batches[n])}});
  commands.push_back(db_command{{ps::product_sell(batches[3])}, ps::cluster_fence(1, 7, 99)});

  auto merged_before = merged_sales();
  caf::scoped_actor self{f.sys};
  std::vector<decltype(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, commands[0]))> handles;
  for (auto& cmd : commands)
    handles.push_back(self->request(f.db.writes, std::chrono::seconds{10}, write_atom::value, cmd));
  std::vector<db_fixture::outcome> outcomes;
  for (auto& h : handles)
    h.receive([&](db_result& r) { outcomes.emplace_back(std::move(r)); },
              [&](caf::error& e) { outcomes.emplace_back(std::move(e)); });
  REQUIRE(outcomes.size() == 4);

  auto first = ps::decode_sales(ok(outcomes[0]).results.front());
  REQUIRE(first.size() == 3);
  CHECK(first[0].outcome == sale_outcome::placed);
  CHECK(first[1].outcome == sale_outcome::replay);
  CHECK(first[2].outcome == sale_outcome::address);
  for (std::size_t i = 0; i < first.size(); ++i)
    CHECK(first[i].index == i);
  CHECK(refusal(outcomes[1]) == db_refusal::insufficient);
  auto third = ps::decode_sales(ok(outcomes[2]).results.front());
  REQUIRE(third.size() == 1);
  CHECK(third[0].outcome == sale_outcome::placed);
  CHECK(refusal(outcomes[3]) == db_refusal::not_owner);

  // One products_sell did it all (the writer counts what it merged).
  CHECK(merged_sales() == merged_before + 4);
  auto row = [&](std::size_t n) {
    return sql(db.url(), "SELECT p.stock, p.sold, p.stock_version, (SELECT count(*) FROM order_items i WHERE "
                         "i.product_id = p.id), p.stock + p.reserved + p.sold = (SELECT sum(quantity) FROM stock_ledger "
                         "l WHERE l.product_id = p.id AND l.kind = 'restock') FROM products p WHERE p.id = "
                           + std::to_string(batches[n].product_id))
      .rows[0];
  };
  CHECK(row(0)[0].text == "3");
  CHECK(row(0)[1].text == "2");
  CHECK(row(0)[2].text == std::to_string(first[0].stock_version));
  CHECK(row(1)[0].text == "5"); // refused: nothing sold, nothing written
  CHECK(row(1)[3].text == "0");
  CHECK(row(2)[0].text == "0");
  CHECK(row(3)[0].text == "5");
  for (std::size_t n = 0; n < 4; ++n)
    CHECK(row(n)[4].text == "t");
  CHECK(sql(db.url(), "SELECT count(*) FROM idempotency_keys WHERE key IN ('b1', 'b2', 'd1')").rows[0][0].text == "0");
  CHECK(sql(db.url(), "SELECT string_agg(DISTINCT title, '|') FROM order_items").rows[0][0].text == "Lens \"L\", 50mm");
}
