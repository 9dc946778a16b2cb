#include <actors/services.hpp>
#include <persistence/database.hpp>
#include <actors/stock_book.hpp>

#include <actors/registry.hpp>
#include "fence.hpp"

#include <cassert>
#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/failpoint.hpp>
#include <protocol/ids.hpp>
#include <protocol/log.hpp>
#include <protocol/wire/orders.hpp>
#include <protocol/clock.hpp>

namespace livemart {
namespace {

using tick_atom = caf::atom_constant<caf::atom("idle_tick")>;

struct product_context {
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds idle;
  std::chrono::milliseconds detail_refresh;
  conf::order_settings orders; ///< shipping, payment deadline and batch size of direct sales
  persistence::database db;
  search_actor search;
  seller_actor sellers;
  category_actor categories;
  std::shared_ptr<const routing_cell> routing; ///< a cluster: peers follow the committed changes too
};

/// The product as committed; its stock rules (what is promised to changes
/// in flight) live in `book`.
struct product_state {
  // Not an aggregate: CAF 0.17 builds a state from the actor's pointer when
  // it can, and C++20 would then initialise the first member from it.
  product_state() = default;
  entity_fence fence; ///< every write carries it (fenced): none without a cluster
  bool loaded = false;
  bool exists = false;
  caf::error load_error;
  product committed;
  stock_book book;
  std::int64_t loaded_version = 0; ///< stock moves up to this one are in what was loaded
  std::uint64_t sequence = 0;
  std::size_t in_flight = 0; ///< writes of any kind
  std::chrono::steady_clock::time_point last_activity;
  bool retiring = false; ///< passivation agreed: end once nothing is in flight
  bool needs_reload = false; ///< the book may differ from the database: read it again once idle
  caf::group subscribers;
  // Direct sales: those waiting for the batch in flight to commit.
  struct pending_sale {
    sale_request req;
    order placed;
    recorded_reply reply; ///< the placement stored for the key with the sale
    caf::typed_response_promise<sale_result> rp;
  };
  std::vector<pending_sale> sales_waiting;
  bool selling = false; ///< a batch of sales is being written
  // The product page's extras, refreshed when older than detail_refresh.
  seller_summary seller;
  std::vector<category> breadcrumb;
  std::uint64_t breadcrumb_of = 0; ///< the category the breadcrumb is for
  std::chrono::steady_clock::time_point extras_at;
  bool extras_loaded = false;
  bool extras_refreshing = false;
  std::vector<caf::typed_response_promise<product_detail>> detail_waiting;
  static inline const char* name = "product";
};

using product_pointer = product_actor::stateful_pointer<product_state>;
using update_promise = caf::typed_response_promise<stock_update>;

stock_update snapshot(product_state& st) {
  return {st.committed.id,       st.sequence,          st.committed.stock, st.committed.reserved,
          st.committed.sold,     st.committed.price_minor, st.committed.currency, 0,
          st.committed.stock_version + st.committed.version};
}

/// The search index here and on every peer hears of the committed listing.
void index_listing(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  self->send(ctx->search, put_atom::value, self->state.committed);
  tell_peers(ctx->routing, put_atom::value, self->state.committed);
}

/// A reply for a product that cannot take the request, or none.
std::optional<caf::error> unusable(const product_state& st) {
  if (st.load_error)
    return st.load_error;
  if (!st.exists)
    return make_error(errc::not_found, "no such product");
  return std::nullopt;
}

/// A retiring actor ends once it owes nothing: no write in flight, no
/// product page waiting for its extras.
void quit_if_done(product_pointer self) {
  auto& st = self->state;
  if (st.retiring && st.in_flight == 0 && st.detail_waiting.empty() && !st.extras_refreshing)
    self->quit();
}

/// Reads the committed row again and starts the book over from it; `await`,
/// so nothing is handled against a half-updated book. Moves learned of
/// later are taken in only if newer than this read (stock_version).
void reload(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  auto& st = self->state;
  st.needs_reload = false;
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::product_by_id(st.committed.id)}})
    .await(
      [self](const db_result& r) {
        auto found = persistence::decode_products(r.results.front());
        if (found.empty())
          return;
        auto& s = self->state;
        const auto& row = found.front();
        s.book.load(row.stock, row.reserved, row.sold);
        s.loaded_version = row.stock_version;
        s.committed.stock = row.stock;
        s.committed.reserved = row.reserved;
        s.committed.sold = row.sold;
        s.committed.stock_version = row.stock_version;
      },
      [self](caf::error&) { self->state.needs_reload = true; });
}

/// Reloads when a reload is due and no write of this actor is in flight.
void reload_if_due(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  auto& st = self->state;
  if (st.needs_reload && st.in_flight == 0 && !st.retiring)
    reload(self, ctx);
}

/// A write finished.
void settle(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  --self->state.in_flight;
  reload_if_due(self, ctx);
  quit_if_done(self);
}

/// Publishes the committed state with the next sequence number and tells
/// the search index.
stock_update publish(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  auto& st = self->state;
  st.committed.stock = st.book.stock();
  st.committed.reserved = st.book.reserved();
  st.committed.sold = st.book.sold();
  ++st.sequence;
  auto update = snapshot(st);
  update.at_us = wall_clock::now_us();
  caf::anon_send(st.subscribers, update);
  self->send(ctx->search, put_atom::value, update);
  tell_peers(ctx->routing, put_atom::value, update); // their index and this product's viewers there
  return update;
}

/// Publishes and answers.
void publish(product_pointer self, const std::shared_ptr<const product_context>& ctx, update_promise& rp) {
  rp.deliver(publish(self, ctx));
}

product_detail detail_of(const product_state& st) {
  return {st.committed, st.seller, st.breadcrumb};
}

/// Reads the seller summary and the breadcrumb again, then answers the
/// detail requests that waited for them.
void refresh_extras(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  auto& st = self->state;
  if (st.extras_refreshing)
    return;
  st.extras_refreshing = true;
  auto done = [self, ctx]() {
    auto& s = self->state;
    s.extras_refreshing = false;
    if (s.breadcrumb_of != s.committed.category_id && !s.detail_waiting.empty()) {
      refresh_extras(self, ctx); // the product moved meanwhile
      return;
    }
    for (auto& rp : s.detail_waiting)
      rp.deliver(detail_of(s));
    s.detail_waiting.clear();
    quit_if_done(self);
  };
  auto failed = [self](caf::error& err) {
    auto& s = self->state;
    s.extras_refreshing = false;
    for (auto& rp : s.detail_waiting)
      rp.deliver(err);
    s.detail_waiting.clear();
    quit_if_done(self);
  };
  auto category_id = st.committed.category_id;
  self->request(ctx->sellers, ctx->step_timeout, get_atom::value, st.committed.seller_id)
    .then(
      [self, ctx, done, failed, category_id](const seller& s) mutable {
        self->request(ctx->categories, ctx->step_timeout, path_atom::value, category_id)
          .then(
            [self, done, s, category_id](const std::vector<category>& path) mutable {
              auto& mine = self->state;
              mine.seller = seller_summary{s.id, s.shop_name, s.slug, s.follower_count, s.rating};
              mine.breadcrumb = path;
              mine.breadcrumb_of = category_id;
              mine.extras_at = std::chrono::steady_clock::now();
              mine.extras_loaded = true;
              done();
            },
            failed);
      },
      failed);
}

/// Checks and writes one stock move through the book; answers after the
/// commit with the published update.
caf::result<stock_update> move_stock(product_pointer self, const std::shared_ptr<const product_context>& ctx,
                                     stock_kind kind, std::int64_t quantity, std::string reason,
                                     std::uint64_t actor_id, std::uint64_t checkout_id = 0) {
  auto& st = self->state;
  if (auto err = unusable(st))
    return *err;
  if (auto err = st.book.begin(kind, quantity, st.committed.status == product_status::active))
    return *err;
  ++st.in_flight;
  auto rp = self->make_response_promise<stock_update>();
  auto statement = persistence::stock_move(ids::next(), st.committed.id, kind, quantity, reason, actor_id, checkout_id);
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{{std::move(statement)}}, self->state.fence))
    .then(
      [self, ctx, rp, kind, quantity](const db_result& r) mutable {
        auto& s = self->state;
        s.book.committed(kind, quantity);
        s.committed.stock_version =
          std::max<std::int64_t>(s.committed.stock_version, persistence::decode_stock_version(r.results.front()));
        publish(self, ctx, rp);
        settle(self, ctx);
      },
      [self, ctx, rp, kind, quantity](caf::error& err) mutable {
        self->state.book.failed(kind, quantity);
        // Refused by the database: nothing changed. Anything else (a timeout,
        // a lost connection) may have committed: read the truth again.
        bool short_of_stock = err == db_refusal::insufficient; // the database's own guard
        bool checkout_closed = err == db_refusal::wrong_state; // a hold for a checkout no longer open
        if (!short_of_stock && !checkout_closed)
          self->state.needs_reload = true;
        settle(self, ctx);
        if (short_of_stock)
          rp.deliver(make_error(errc::conflict, "out of stock"));
        else if (checkout_closed)
          rp.deliver(make_error(errc::conflict, "the checkout is " + refused_state(err)));
        else
          rp.deliver(std::move(err));
      });
  return rp;
}

/// Writes the sales waiting as one batch (one statement, see product_sell),
/// unless a batch is in flight: its commit starts the next one. So under
/// load each write carries every sale that arrived during the previous one.
void flush_sales(product_pointer self, const std::shared_ptr<const product_context>& ctx) {
  auto& st = self->state;
  if (st.selling || st.sales_waiting.empty())
    return;
  auto take = std::min(st.sales_waiting.size(), ctx->orders.sale_batch_max);
  auto batch = std::make_shared<std::vector<product_state::pending_sale>>(
    std::make_move_iterator(st.sales_waiting.begin()), std::make_move_iterator(st.sales_waiting.begin() + static_cast<std::ptrdiff_t>(take)));
  st.sales_waiting.erase(st.sales_waiting.begin(), st.sales_waiting.begin() + static_cast<std::ptrdiff_t>(take));
  persistence::sale_batch b;
  b.product_id = st.committed.id;
  b.seller_id = st.committed.seller_id;
  b.currency = st.committed.currency;
  b.payment_due_s = ctx->orders.hold_ttl_s;
  for (const auto& sale : *batch) {
    b.sales.push_back({sale.placed, sale.req.address_id, sale.req.key, sale.req.request_hash, sale.req.drop_id,
                       ids::next(), ids::next(), sale.reply.body});
  }
  st.selling = true;
  ++st.in_flight;
  using kind = stock_kind;
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, fenced(db_command{{persistence::product_sell(b)}}, self->state.fence))
    .then(
      [self, ctx, batch](const db_result& r) {
        auto& s = self->state;
        bool sold = false;
        for (const auto& row : persistence::decode_sales(r.results.front())) {
          auto& sale = (*batch)[row.index];
          s.committed.stock_version = std::max<std::int64_t>(s.committed.stock_version, row.stock_version);
          if (row.outcome == sale_outcome::placed) {
            s.book.committed(kind::sale, sale.req.quantity);
            sold = true;
            sale.rp.deliver(sale_result{sale_outcome::placed, std::move(sale.placed), std::move(sale.reply)});
          } else {
            s.book.failed(kind::sale, sale.req.quantity);
            sale.rp.deliver(sale_result{row.outcome, {}, {}});
          }
        }
        if (sold)
          publish(self, ctx);
        s.selling = false;
        flush_sales(self, ctx);
        settle(self, ctx);
      },
      [self, ctx, batch](caf::error& err) {
        auto& s = self->state;
        // Refused by the database (the book promised what the row does not
        // have) or an unknown outcome: either way, read the truth again.
        s.needs_reload = true;
        for (auto& sale : *batch) {
          s.book.failed(kind::sale, sale.req.quantity);
          sale.rp.deliver(err == db_refusal::insufficient ? make_error(errc::conflict, "out of stock") : err);
        }
        s.selling = false;
        flush_sales(self, ctx);
        settle(self, ctx);
      });
}

product_actor::behavior_type product_behavior(product_pointer self, std::uint64_t id,
                                              product_registry_actor registry,
                                              std::shared_ptr<const product_context> ctx, entity_fence fence) {
  auto& st = self->state;
  st.fence = fence;
  st.committed.id = id;
  st.last_activity = std::chrono::steady_clock::now();
  st.subscribers = self->home_system().groups().get_local(product_group_name(id));
  // Load the committed state before anything else is handled (await).
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::product_by_id(id)}})
    .await(
      [self](const db_result& r) {
        auto& s = self->state;
        s.loaded = true;
        auto found = persistence::decode_products(r.results.front());
        if (found.empty())
          return;
        s.exists = true;
        s.committed = std::move(found.front());
        s.book.load(s.committed.stock, s.committed.reserved, s.committed.sold);
        s.loaded_version = s.committed.stock_version;
      },
      [self](caf::error& err) {
        // Answer what is queued with the error, then end: the registry
        // spawns a fresh actor for the next request.
        self->state.load_error = err;
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), std::chrono::milliseconds{0}, tick_atom::value);
      });
  // Passivation: a periodic tick checks for idleness; ticks are internal, so
  // they go through the default handler instead of the public interface.
  self->set_default_handler([self, ctx, registry](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (!msg.match_elements<tick_atom>())
      return caf::sec::unexpected_message;
    auto& s = self->state;
    if (s.load_error) {
      self->quit();
      return caf::message{};
    }
    if (std::chrono::steady_clock::now() - s.last_activity < ctx->idle) {
      // Busy: once per idle period, compare with the database anyway, so a
      // move whose notice was lost cannot keep the book off for long.
      s.needs_reload = true;
      reload_if_due(self, ctx);
    } else if (s.in_flight == 0) {
      // Passivation goes through the registry, so that it forwards nothing
      // more to an actor that is ending.
      self->request(registry, ctx->step_timeout, idle_atom::value, s.committed.id)
        .then(
          [self](bool agreed) {
            if (!agreed)
              return;
            // The registry forwards nothing more and holds new requests until
            // this actor is gone; what it forwarded before came first (one
            // mailbox, in order) and was handled or is still in flight.
            self->state.retiring = true;
            quit_if_done(self);
          },
          [](caf::error&) {});
    }
    if (!s.retiring)
      caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->idle, tick_atom::value);
    return caf::message{};
  });
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->idle, tick_atom::value);
  auto touch = [self] { self->state.last_activity = std::chrono::steady_clock::now(); };
  return {
    [self, touch](get_atom) -> caf::result<product> {
      touch();
      if (auto err = unusable(self->state))
        return *err;
      return self->state.committed;
    },
    [self, ctx, touch](detail_atom) -> caf::result<product_detail> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (s.extras_loaded && s.breadcrumb_of == s.committed.category_id) {
        // Served as is; refreshed in the background once too old.
        if (std::chrono::steady_clock::now() - s.extras_at >= ctx->detail_refresh)
          refresh_extras(self, ctx);
        return detail_of(s);
      }
      auto rp = self->make_response_promise<product_detail>();
      s.detail_waiting.push_back(rp);
      refresh_extras(self, ctx);
      return rp;
    },
    [self, ctx, touch](sell_atom, const sale_request& req) -> caf::result<sale_result> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (auto err = s.book.begin(stock_kind::sale, req.quantity, s.committed.status == product_status::active))
        return *err;
      // (Test builds: the process may die here, the units promised in
      // memory and not yet written.)
      failpoint::hit("product.sell.promised");
      // The order as it will be committed: prices from this actor, never the client.
      product_state::pending_sale sale;
      sale.req = req;
      auto& o = sale.placed;
      o.id = ids::next();
      o.buyer_id = req.buyer_id;
      o.seller_id = s.committed.seller_id;
      o.currency = s.committed.currency;
      // A drop's price is set by the drop's stream actor, never by a client.
      auto unit_price = req.unit_price_minor >= 0 ? req.unit_price_minor : s.committed.price_minor;
      o.items.push_back({s.committed.id, s.committed.title, unit_price, req.quantity});
      auto totals = price_checkout({{s.committed.id, s.committed.seller_id, s.committed.title, unit_price,
                                     req.quantity}},
                                   ctx->orders);
      o.subtotal_minor = totals.subtotal_minor;
      o.shipping_minor = totals.shipping_minor;
      o.total_minor = o.subtotal_minor + o.shipping_minor;
      // The reply for the key, rendered once: stored with the sale, then sent.
      sale.reply = sealed(purchase_outcome::placement(0, {o})).recorded;
      sale.rp = self->make_response_promise<sale_result>();
      auto rp = sale.rp;
      s.sales_waiting.push_back(std::move(sale));
      flush_sales(self, ctx);
      return rp;
    },
    [self, ctx, touch](reserve_atom, std::int64_t quantity, std::uint64_t checkout_id) -> caf::result<stock_update> {
      touch();
      return move_stock(self, ctx, stock_kind::reserve, quantity, {}, 0, checkout_id);
    },
    [self, ctx](applied_atom, std::int32_t kind, std::int64_t quantity, std::int64_t version) {
      // A move another transaction committed (a checkout's holds released or
      // sold). Skipped when it is already in what this actor loaded.
      auto& s = self->state;
      if (!s.exists || version <= s.loaded_version)
        return;
      auto k = static_cast<stock_kind>(kind);
      if (!s.book.absorb(k, quantity)) {
        log::warn("a product's stock book disagreed with a committed move; it reloads",
                  "\"product\":\"" + ids::format(s.committed.id) + "\"");
        s.needs_reload = true;
      }
      s.committed.stock_version = std::max(s.committed.stock_version, version);
      publish(self, ctx);
      reload_if_due(self, ctx);
    },
    [self, ctx](rated_atom, std::int64_t sum, std::int32_t count) {
      // A review committed; the search index sorts by rating, so it hears too.
      auto& s = self->state;
      if (!s.exists || count <= s.committed.rating.count)
        return;
      s.committed.rating = {sum, count};
      index_listing(self, ctx);
    },
    [self, ctx, touch](release_atom, std::int64_t quantity) -> caf::result<stock_update> {
      touch();
      return move_stock(self, ctx, stock_kind::release, quantity, {}, 0);
    },
    [self, ctx, touch](commit_atom, std::int64_t quantity) -> caf::result<stock_update> {
      touch();
      return move_stock(self, ctx, stock_kind::commit, quantity, {}, 0);
    },
    [self, ctx, touch](restock_atom, std::int64_t delta, const std::string& reason,
                       std::uint64_t actor_id) -> caf::result<stock_update> {
      touch();
      return move_stock(self, ctx, stock_kind::restock, delta, reason, actor_id);
    },
    [self, ctx, touch](update_atom, const product_patch& patch) -> caf::result<product> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      auto rp = self->make_response_promise<product>();
      ++s.in_flight;
      // Await: a second edit must see this one's version.
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                    fenced(db_command{{persistence::product_update(apply_patch(s.committed, patch))}}, self->state.fence))
        .await(
          [self, ctx, rp](const db_result& r) mutable {
            auto& current = self->state;
            auto rows = persistence::decode_products(r.results.front());
            if (rows.empty()) {
              rp.deliver(make_error(errc::conflict, "the product changed outside livemart; retry"));
              settle(self, ctx);
              return;
            }
            // Stock fields stay as this actor knows them; only the listing changed.
            const auto& row = rows.front();
            current.committed.title = row.title;
            current.committed.description = row.description;
            current.committed.status = row.status;
            current.committed.category_id = row.category_id;
            current.committed.image_urls = row.image_urls;
            current.committed.version = row.version;
            current.committed.updated_at_ms = row.updated_at_ms;
            index_listing(self, ctx);
            rp.deliver(current.committed);
            settle(self, ctx);
          },
          [self, ctx, rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
            settle(self, ctx);
          });
      return rp;
    },
    [self, ctx, touch](price_atom, std::int64_t price_minor) -> caf::result<stock_update> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (price_minor < 0)
        return make_error(errc::validation_failed, "a price cannot be negative", {field_error{"price_minor", "must be 0 or more"}});
      auto rp = self->make_response_promise<stock_update>();
      ++s.in_flight;
      self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                    fenced(db_command{{persistence::product_set_price(s.committed.id, price_minor)}}, self->state.fence))
        .then(
          [self, ctx, rp](const db_result& r) mutable {
            auto rows = persistence::decode_products(r.results.front());
            if (!rows.empty()) {
              self->state.committed.price_minor = rows.front().price_minor;
              self->state.committed.version = rows.front().version;
              self->state.committed.updated_at_ms = rows.front().updated_at_ms;
            }
            publish(self, ctx, rp);
            settle(self, ctx);
          },
          [self, ctx, rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
            settle(self, ctx);
          });
      return rp;
    },
  };
}

product_actor spawn_product(caf::actor_system& sys, std::uint64_t id, product_registry_actor registry,
                            const std::shared_ptr<const product_context>& ctx, const entity_fence& fence) {
  return sys.spawn(product_behavior, id, std::move(registry), ctx, fence);
}

} // namespace

std::string product_group_name(std::uint64_t product_id) {
  return "product-" + ids::format(product_id);
}

product_directory spawn_product_directory(caf::actor_system& sys, const conf::settings& cfg,
                                          const persistence::database& db, search_actor search, seller_actor sellers,
                                          category_actor categories, std::shared_ptr<const routing_cell> routing) {
  auto ctx = std::make_shared<const product_context>(product_context{
    std::chrono::milliseconds{cfg.actors.step_timeout_ms}, std::chrono::milliseconds{cfg.actors.product_idle_ms},
    std::chrono::milliseconds{cfg.catalog.detail_refresh_ms}, cfg.orders, db, std::move(search), std::move(sellers),
    std::move(categories), routing});
  return product_directory{registry::spawn_shards<product_actor>(sys, cfg.actors.product_shards, ctx, spawn_product,
                                                                  registry::kind::product, routing),
                           routing, &node_hello::products};
}

} // namespace livemart
