#include <actors/services.hpp>

#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>

namespace livemart {
namespace {

using tick_atom = caf::atom_constant<caf::atom("idle_tick")>;

struct product_context {
  std::chrono::milliseconds step_timeout;
  std::chrono::seconds idle;
  std::chrono::milliseconds detail_refresh;
  persistence::database db;
  search_actor search;
  seller_actor sellers;
  category_actor categories;
};

/// The product as committed, plus what is already promised to changes in
/// flight. Decreases are applied to `available` before their commit (so
/// nothing is promised twice); increases only after it (so nothing is
/// promised that may not commit).
struct product_state {
  bool loaded = false;
  bool exists = false;
  caf::error load_error;
  product committed;
  std::int64_t available = 0;        ///< stock minus reservations and adjustments in flight
  std::int64_t reserved_free = 0;    ///< reserved minus releases and commits in flight
  std::uint64_t sequence = 0;
  std::size_t in_flight = 0;
  std::chrono::steady_clock::time_point last_activity;
  bool retiring = false; ///< passivation agreed: end once nothing is in flight
  caf::group subscribers;
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
  return {st.committed.id, st.sequence, st.committed.stock, st.committed.reserved, st.committed.sold,
          st.committed.price_minor, st.committed.currency};
}

/// A reply for a product that cannot take the request, or none.
std::optional<caf::error> unusable(const product_state& st) {
  if (st.load_error)
    return st.load_error;
  if (!st.exists)
    return make_error(errc::not_found, "no such product");
  return std::nullopt;
}

caf::error bad_quantity() {
  return make_error(errc::validation_failed, "the quantity must be positive", {field_error{"quantity", "must be at least 1"}});
}

/// A write finished: a retiring actor ends once none is left.
void settle(product_pointer self) {
  auto& st = self->state;
  --st.in_flight;
  if (st.retiring && st.in_flight == 0)
    self->quit();
}

/// Publishes the committed state with the next sequence number, tells the
/// search index and answers.
void publish(product_pointer self, const std::shared_ptr<const product_context>& ctx, update_promise& rp) {
  auto& st = self->state;
  ++st.sequence;
  auto update = snapshot(st);
  caf::anon_send(st.subscribers, update);
  self->send(ctx->search, put_atom::value, update);
  rp.deliver(update);
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
  auto done = [self]() {
    auto& s = self->state;
    s.extras_refreshing = false;
    for (auto& rp : s.detail_waiting)
      rp.deliver(detail_of(s));
    s.detail_waiting.clear();
  };
  auto failed = [self](caf::error& err) {
    auto& s = self->state;
    s.extras_refreshing = false;
    for (auto& rp : s.detail_waiting)
      rp.deliver(err);
    s.detail_waiting.clear();
  };
  auto category_id = st.committed.category_id;
  self->request(ctx->sellers, ctx->step_timeout, get_atom::value, st.committed.seller_id)
    .then(
      [self, ctx, done, failed, category_id](const seller& s) mutable {
        self->request(ctx->categories, ctx->step_timeout, path_atom::value, category_id)
          .then(
            [self, done, s, category_id](const std::vector<category>& path) mutable {
              auto& st = self->state;
              st.seller = seller_summary{s.id, s.shop_name, s.slug, s.follower_count, s.rating};
              st.breadcrumb = path;
              st.breadcrumb_of = category_id;
              st.extras_at = std::chrono::steady_clock::now();
              st.extras_loaded = true;
              done();
            },
            failed);
      },
      failed);
}

/// Writes one stock move. `undo` reverts what was promised before the
/// commit if it fails; `apply` records the committed result.
template <class Undo>
void move_stock(product_pointer self, const std::shared_ptr<const product_context>& ctx, persistence::stock_kind kind,
                std::int64_t quantity, std::string reason, std::uint64_t actor_id, update_promise rp, Undo undo) {
  auto& st = self->state;
  ++st.in_flight;
  auto statement = persistence::stock_move(ids::next(), st.committed.id, kind, quantity, reason, actor_id);
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{std::move(statement)}})
    .then(
      [self, ctx, rp, kind, quantity](const db_result& r) mutable {
        auto& s = self->state;
        const auto& row = r.results.front().rows.front();
        s.committed.stock = std::stoll(row[0].text);
        s.committed.reserved = std::stoll(row[1].text);
        s.committed.sold = std::stoll(row[2].text);
        // Increases become usable only now that they are durable.
        if (kind == persistence::stock_kind::release || (kind == persistence::stock_kind::restock && quantity > 0))
          s.available += quantity;
        if (kind == persistence::stock_kind::reserve)
          s.reserved_free += quantity;
        publish(self, ctx, rp);
        settle(self);
      },
      [self, rp, undo](caf::error& err) mutable {
        undo(self->state);
        settle(self);
        auto p = to_problem(err);
        if (p.code == errc::limit_reached) // the database's own guard (LM409)
          rp.deliver(make_error(errc::conflict, "out of stock"));
        else
          rp.deliver(std::move(err));
      });
}

/// Release or commit: both take units out of the reservations, which are
/// promised at once and given back if the write fails.
caf::result<stock_update> take_reserved(product_pointer self, const std::shared_ptr<const product_context>& ctx,
                                        persistence::stock_kind kind, std::int64_t quantity) {
  auto& s = self->state;
  if (auto err = unusable(s))
    return *err;
  if (quantity <= 0)
    return bad_quantity();
  if (s.reserved_free < quantity)
    return make_error(errc::conflict, "only " + std::to_string(s.reserved_free) + " units are reserved");
  s.reserved_free -= quantity;
  auto rp = self->make_response_promise<stock_update>();
  move_stock(self, ctx, kind, quantity, {}, 0, rp, [quantity](product_state& back) { back.reserved_free += quantity; });
  return rp;
}

product_actor::behavior_type product_behavior(product_pointer self, std::uint64_t id,
                                              product_registry_actor registry,
                                              std::shared_ptr<const product_context> ctx) {
  auto& st = self->state;
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
        s.available = s.committed.stock;
        s.reserved_free = s.committed.reserved;
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
    if (s.in_flight == 0 && std::chrono::steady_clock::now() - s.last_activity >= ctx->idle) {
      // Passivation goes through the registry, so that it hands out no new
      // requests to an actor that is ending.
      self->request(registry, ctx->step_timeout, idle_atom::value, s.committed.id)
        .then(
          [self](bool agreed) {
            auto& st = self->state;
            if (!agreed)
              return;
            st.retiring = true;
            if (st.in_flight == 0)
              self->quit();
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
    [self, ctx, touch](reserve_atom, std::int64_t quantity) -> caf::result<stock_update> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (quantity <= 0)
        return bad_quantity();
      if (s.committed.status != product_status::active)
        return make_error(errc::conflict, "the product is not on sale (" + std::string{to_string(s.committed.status)} + ")");
      if (s.available < quantity)
        return make_error(errc::conflict, "out of stock: " + std::to_string(s.available) + " left");
      s.available -= quantity; // promised now, so no one else can have it
      auto rp = self->make_response_promise<stock_update>();
      move_stock(self, ctx, persistence::stock_kind::reserve, quantity, {}, 0, rp,
                 [quantity](product_state& back) { back.available += quantity; });
      return rp;
    },
    [self, ctx, touch](release_atom, std::int64_t quantity) -> caf::result<stock_update> {
      touch();
      return take_reserved(self, ctx, persistence::stock_kind::release, quantity);
    },
    [self, ctx, touch](commit_atom, std::int64_t quantity) -> caf::result<stock_update> {
      touch();
      return take_reserved(self, ctx, persistence::stock_kind::commit, quantity);
    },
    [self, ctx, touch](restock_atom, std::int64_t delta, const std::string& reason,
                       std::uint64_t actor_id) -> caf::result<stock_update> {
      touch();
      auto& s = self->state;
      if (auto err = unusable(s))
        return *err;
      if (delta == 0)
        return make_error(errc::validation_failed, "the change must not be zero", {field_error{"delta", "must not be 0"}});
      if (delta < 0) {
        if (s.available < -delta)
          return make_error(errc::conflict, "only " + std::to_string(s.available) + " units can be removed");
        s.available += delta; // a removal is promised at once
      }
      auto rp = self->make_response_promise<stock_update>();
      move_stock(self, ctx, persistence::stock_kind::restock, delta, reason, actor_id, rp, [delta](product_state& back) {
        if (delta < 0)
          back.available -= delta;
      });
      return rp;
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
                    db_command{{persistence::product_update(apply_patch(s.committed, patch))}})
        .await(
          [self, ctx, rp](const db_result& r) mutable {
            auto& current = self->state;
            auto rows = persistence::decode_products(r.results.front());
            if (rows.empty()) {
              rp.deliver(make_error(errc::conflict, "the product changed outside livemart; retry"));
              settle(self);
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
            self->send(ctx->search, put_atom::value, current.committed);
            rp.deliver(current.committed);
            settle(self);
          },
          [self, rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
            settle(self);
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
                    db_command{{persistence::product_set_price(s.committed.id, price_minor)}})
        .then(
          [self, ctx, rp](const db_result& r) mutable {
            auto rows = persistence::decode_products(r.results.front());
            if (!rows.empty()) {
              self->state.committed.price_minor = rows.front().price_minor;
              self->state.committed.version = rows.front().version;
              self->state.committed.updated_at_ms = rows.front().updated_at_ms;
            }
            publish(self, ctx, rp);
            settle(self);
          },
          [self, rp](caf::error& err) mutable {
            rp.deliver(std::move(err));
            settle(self);
          });
      return rp;
    },
  };
}

struct registry_state {
  std::unordered_map<std::uint64_t, product_actor> live;
  std::shared_ptr<const product_context> ctx;
  static inline const char* name = "product_registry";
};

using registry_pointer = product_registry_actor::stateful_pointer<registry_state>;

product_actor find_or_spawn(registry_pointer self, std::uint64_t id) {
  auto& live = self->state.live;
  if (auto it = live.find(id); it != live.end())
    return it->second;
  auto actor = self->home_system().spawn(product_behavior, id, caf::actor_cast<product_registry_actor>(self),
                                         self->state.ctx);
  self->monitor(actor);
  live.emplace(id, actor);
  return actor;
}

product_registry_actor::behavior_type product_registry(registry_pointer self, std::shared_ptr<const product_context> ctx) {
  self->state.ctx = std::move(ctx);
  // Supervision: a product actor that ends (crashed) is forgotten; the next
  // request spawns a fresh one from committed state.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& live = self->state.live;
    for (auto it = live.begin(); it != live.end(); ++it) {
      if (it->second.address() == msg.source) {
        live.erase(it);
        return;
      }
    }
  });
  // The product actors end with their registry (at shutdown).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (const auto& [id, actor] : self->state.live)
      self->send_exit(actor, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](get_atom, std::uint64_t id) -> product_actor { return find_or_spawn(self, id); },
    [self](detail_atom, std::uint64_t id) -> caf::delegated<product_detail> {
      return self->delegate(find_or_spawn(self, id), detail_atom::value);
    },
    [self](idle_atom, std::uint64_t id) -> bool {
      auto& live = self->state.live;
      auto it = live.find(id);
      if (it == live.end() || it->second.address() != self->current_sender())
        return false;
      self->demonitor(it->second.address());
      live.erase(it);
      return true;
    },
  };
}

} // namespace

std::string product_group_name(std::uint64_t product_id) {
  return "product-" + ids::format(product_id);
}

const product_registry_actor& product_directory::shard_for(std::uint64_t product_id) const {
  auto h = product_id * 0x9E3779B97F4A7C15ull;
  return shards[(h >> 32) % shards.size()];
}

product_directory spawn_product_directory(caf::actor_system& sys, const conf::settings& cfg,
                                          const persistence::database& db, search_actor search, seller_actor sellers,
                                          category_actor categories) {
  auto ctx = std::make_shared<const product_context>(product_context{
    std::chrono::milliseconds{cfg.actors.step_timeout_ms}, std::chrono::seconds{cfg.actors.product_idle_s},
    std::chrono::milliseconds{cfg.catalog.detail_refresh_ms}, db, std::move(search), std::move(sellers),
    std::move(categories)});
  product_directory dir;
  for (std::size_t i = 0; i < cfg.actors.product_shards; ++i)
    dir.shards.push_back(sys.spawn(product_registry, ctx));
  return dir;
}

} // namespace livemart
