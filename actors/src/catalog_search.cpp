#include <actors/catalog_index.hpp>
#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <chrono>
#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/clock.hpp>
#include <protocol/failpoint.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>
#include <protocol/metrics.hpp>

namespace livemart {
namespace {

using reload_atom = caf::atom_constant<caf::atom("reload")>;
using gauge_atom = caf::atom_constant<caf::atom("gauge")>;

/// How often the index's size in bytes is measured for /metrics.
constexpr std::chrono::seconds gauge_interval{10};

struct search_metrics {
  metrics::gauge& products = metrics::registry::global().make_gauge(
    "livemart_search_index_products", "Products in this node's search index");
  metrics::gauge& bytes = metrics::registry::global().make_gauge(
    "livemart_search_index_bytes", "Heap bytes this node's search index holds");
  metrics::gauge& loading = metrics::registry::global().make_gauge(
    "livemart_search_index_loading", "1 while the search index loads after a start (searches answer 503)");
};

search_metrics& index_metrics() {
  static search_metrics m;
  return m;
}

struct search_context {
  std::chrono::milliseconds step_timeout;
  std::chrono::milliseconds retry_interval;
  /// How far before the moment asked a catch-up reads: a change's time is
  /// its transaction's start, which may precede its commit by this much.
  std::chrono::milliseconds catch_up_margin;
  std::size_t load_batch;
  search_tuning tuning;
  persistence::database db;
  category_actor categories;
};

/// A shard's products and heap bytes.
using index_size = std::pair<std::uint64_t, std::uint64_t>;

using shard_actor = caf::typed_actor<
  caf::replies_to<search_atom, search_query, category_scope, bool>::with<search_page>,
  caf::reacts_to<put_atom, product>,
  caf::reacts_to<put_atom, stock_update>,
  caf::reacts_to<put_atom, std::vector<product>>,
  /// The load is over: give back what it left spare; products, heap bytes.
  caf::replies_to<ready_atom>::with<index_size>,
  caf::replies_to<get_atom>::with<index_size>>;

/// One part of the node's index: the only writer of its products, which
/// the search actor assigns by id. A search is pure CPU on an index far
/// bigger than the caches; the scheduler runs the parts of one search on
/// all its threads at once. (Detached, one thread each, the wake-ups cost
/// more than the parallelism won on 2 cores: 2,005 against 2,240
/// searches/s.)
shard_actor::behavior_type shard(search_tuning tuning) {
  auto index = std::make_shared<catalog_index>(tuning);
  return {
    [index](search_atom, const search_query& q, const category_scope& scope, bool fuzzy) {
      return index->page(q, scope, fuzzy);
    },
    [index](put_atom, const product& p) { index->put(p); },
    [index](put_atom, const stock_update& u) { index->put(u); },
    [index](put_atom, const std::vector<product>& page) {
      for (const auto& p : page)
        index->put(p);
    },
    [index](ready_atom) {
      index->shrink(); // the allocator gives the pages read back to the system as they age
      return index_size{index->size(), index->memory_bytes()};
    },
    [index](get_atom) { return index_size{index->size(), index->memory_bytes()}; },
  };
}

struct search_state {
  std::vector<shard_actor> shards;
  bool loaded = false;
  std::int64_t load_started_ms = 0; ///< when the load began (system clock)
  std::chrono::steady_clock::time_point load_started;
  /// Stock changes that arrived while loading, sent again once loaded:
  /// the product's page may come after them, with an older stock.
  std::unordered_map<std::uint64_t, stock_update> early_stock;
  bool catching_up = false;
  std::optional<std::int64_t> catch_up_next; ///< asked meanwhile: since then, next
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting; ///< `ready`, asked while loading
  static inline const char* name = "catalog_search";
};

using search_pointer = search_actor::stateful_pointer<search_state>;
using context_ptr = std::shared_ptr<const search_context>;

std::size_t shard_index(search_pointer self, std::uint64_t product_id) {
  return (product_id * 0x9e3779b97f4a7c15ull >> 32) % self->state.shards.size();
}

const shard_actor& shard_of(search_pointer self, std::uint64_t product_id) {
  return self->state.shards[shard_index(self, product_id)];
}

/// Sends a page of products to their shards, one message per shard.
void distribute(search_pointer self, std::vector<product>& page) {
  auto& shards = self->state.shards;
  std::vector<std::vector<product>> parts(shards.size());
  for (auto& p : page)
    parts[shard_index(self, p.id)].push_back(std::move(p));
  for (std::size_t i = 0; i < shards.size(); ++i)
    if (!parts[i].empty())
      self->send(shards[i], put_atom::value, std::move(parts[i]));
}

/// Asks every shard the same question; `done` gets the answers, in shard
/// order, once all are in; the first error goes to `failed` alone.
template <class T, class Done, class Failed, class... Ts>
void ask_shards(search_pointer self, std::chrono::milliseconds timeout, Done done, Failed failed, Ts... xs) {
  struct gather {
    std::vector<T> answers;
    std::size_t left;
    bool failed = false;
    Done done;
    Failed on_error;
  };
  auto n = self->state.shards.size();
  auto g = std::make_shared<gather>(gather{std::vector<T>(n), n, false, std::move(done), std::move(failed)});
  for (std::size_t i = 0; i < n; ++i)
    self->request(self->state.shards[i], timeout, xs...)
      .then(
        [g, i](T& answer) {
          g->answers[i] = std::move(answer);
          if (--g->left == 0 && !g->failed)
            g->done(g->answers);
        },
        [g](caf::error& err) {
          if (!std::exchange(g->failed, true))
            g->on_error(err);
        });
}

/// The index's products and heap bytes, summed over the shards (after the
/// load, `ready` first makes each shard give back what the load left).
template <class Done>
void measure(search_pointer self, const context_ptr& ctx, bool after_load, Done done) {
  auto sum = [done](std::vector<index_size>& parts) mutable {
    index_size total{0, 0};
    for (const auto& [products, bytes] : parts) {
      total.first += products;
      total.second += bytes;
    }
    index_metrics().products.set(static_cast<std::int64_t>(total.first));
    index_metrics().bytes.set(static_cast<std::int64_t>(total.second));
    done(total);
  };
  auto failed = [](const caf::error&) {};
  if (after_load)
    ask_shards<index_size>(self, ctx->step_timeout, std::move(sum), failed, ready_atom::value);
  else
    ask_shards<index_size>(self, ctx->step_timeout, std::move(sum), failed, get_atom::value);
}

void catch_up(search_pointer self, const context_ptr& ctx, std::int64_t since_ms, std::uint64_t after,
              std::size_t read = 0);

void loaded(search_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  for (const auto& [id, u] : st.early_stock)
    self->send(shard_of(self, id), put_atom::value, u);
  st.early_stock = {};
  // The shards answer once they have indexed every page sent before.
  measure(self, ctx, true, [self, ctx](index_size total) {
    auto& state = self->state;
    state.loaded = true;
    index_metrics().loading.set(0);
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), gauge_interval, gauge_atom::value);
    auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - state.load_started);
    log::info("search index loaded", "\"products\":" + std::to_string(total.first) + ",\"bytes\":"
                                       + std::to_string(total.second) + ",\"shards\":"
                                       + std::to_string(state.shards.size()) + ",\"ms\":" + std::to_string(ms.count()));
    if (auto since = std::exchange(state.catch_up_next, std::nullopt))
      catch_up(self, ctx, *since, 0);
    for (auto& rp : state.waiting)
      rp.deliver(total.first);
    state.waiting.clear();
  });
}

/// Loads the active products page by page, by category then id (so that a
/// category's products sit together in the index and a page of it reads
/// memory in order), from the first after (`category`, `after`). The next
/// page is asked for before this one goes to the shards, so PostgreSQL
/// reads while the shards index; searches meanwhile answer 503
/// search-loading, and changes sent meanwhile apply by version whatever
/// the order.
void load_from(search_pointer self, const context_ptr& ctx, std::uint64_t category, std::uint64_t after) {
  auto retry = [self, ctx, category, after](const std::string& why) {
    // Keep what is loaded and go on from there after a pause; searches
    // answer 503 until the index is complete.
    std::string fields = "\"error\":";
    json::append_string(fields, why);
    log::warn("loading the search index failed; retrying", fields);
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->retry_interval, reload_atom::value, category,
                           after);
  };
  if (failpoint::hit("search.load_page"))
    return retry("failure point search.load_page");
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::products_active_page(category, after, ctx->load_batch)}})
    .then(
      [self, ctx](const db_result& r) {
        auto page = persistence::decode_products(r.results.front());
        bool more = page.size() == ctx->load_batch;
        if (more)
          load_from(self, ctx, page.back().category_id, page.back().id);
        distribute(self, page);
        if (!more)
          loaded(self, ctx);
      },
      [retry](caf::error& err) { retry(to_problem(err).detail); });
}

/// Reads again the products changed since `since_ms` (ids above `after`),
/// page by page, while searches go on: what a node missed while a peer's
/// link was down, or before it was up. The index keeps the newer of what
/// it has and what it reads.
void catch_up(search_pointer self, const context_ptr& ctx, std::int64_t since_ms, std::uint64_t after,
              std::size_t read) {
  self->state.catching_up = true;
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::products_changed_page(since_ms, after, ctx->load_batch)}})
    .then(
      [self, ctx, since_ms, read](const db_result& r) {
        auto page = persistence::decode_products(r.results.front());
        auto count = page.size();
        auto last = page.empty() ? 0 : page.back().id;
        distribute(self, page);
        if (count == ctx->load_batch) {
          catch_up(self, ctx, since_ms, last, read + count);
          return;
        }
        auto& st = self->state;
        st.catching_up = false;
        log::info("the search index caught up", "\"products_read\":" + std::to_string(read + count)
                                                  + ",\"since_ms\":" + std::to_string(since_ms));
        if (auto next = std::exchange(st.catch_up_next, std::nullopt))
          catch_up(self, ctx, *next, 0);
      },
      [self, ctx, since_ms, after, read](caf::error&) {
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->retry_interval, refresh_atom::value, since_ms,
                               after, static_cast<std::uint64_t>(read));
      });
}

/// Every shard answers for its products; the pages merge into one answer.
/// When few match exactly, all are asked again with similar words.
void search_shards(search_pointer self, const context_ptr& ctx, caf::typed_response_promise<search_result> rp,
                   const search_query& q, const category_scope& scope, bool fuzzy) {
  auto done = [self, ctx, rp, q, scope, fuzzy](std::vector<search_page>& pages) mutable {
    std::uint64_t total = 0;
    for (const auto& p : pages)
      total += p.result.total;
    if (!fuzzy && total < ctx->tuning.fuzzy_below && !search_words(q.q).empty()) {
      search_shards(self, ctx, rp, q, scope, true);
      return;
    }
    rp.deliver(merge_search_pages(q, pages, ctx->tuning.facets_max));
  };
  auto failed = [rp](const caf::error& err) mutable { rp.deliver(err); };
  ask_shards<search_page>(self, ctx->step_timeout, std::move(done), std::move(failed), search_atom::value, q, scope,
                          fuzzy);
}

search_actor::behavior_type catalog_search(search_pointer self, context_ptr ctx, std::size_t shards) {
  for (std::size_t i = 0; i < shards; ++i) {
    auto s = self->home_system().spawn(shard, ctx->tuning);
    self->link_to(s);
    self->state.shards.push_back(std::move(s));
  }
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (msg.match_elements<reload_atom, std::uint64_t, std::uint64_t>()) {
      load_from(self, ctx, msg.get_as<std::uint64_t>(1), msg.get_as<std::uint64_t>(2));
      return caf::message{};
    }
    if (msg.match_elements<gauge_atom>()) {
      measure(self, ctx, false, [](index_size) {});
      caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), gauge_interval, gauge_atom::value);
      return caf::message{};
    }
    if (msg.match_elements<refresh_atom, std::int64_t, std::uint64_t, std::uint64_t>()) { // a catch-up's retry
      catch_up(self, ctx, msg.get_as<std::int64_t>(1), msg.get_as<std::uint64_t>(2), msg.get_as<std::uint64_t>(3));
      return caf::message{};
    }
    return caf::sec::unexpected_message;
  });
  self->state.load_started_ms = wall_clock::now_ms();
  self->state.load_started = std::chrono::steady_clock::now();
  index_metrics().loading.set(1);
  load_from(self, ctx, 0, 0);
  return {
    [self, ctx](search_atom, const search_query& q) -> caf::result<search_result> {
      if (!self->state.loaded)
        return make_error(errc::search_loading, "the search index is still loading");
      auto rp = self->make_response_promise<search_result>();
      self->request(ctx->categories, ctx->step_timeout, scope_atom::value, q.category)
        .then([self, ctx, rp, q](const category_scope& scope) { search_shards(self, ctx, rp, q, scope, false); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self, ctx](ready_atom) -> caf::result<std::uint64_t> {
      auto rp = self->make_response_promise<std::uint64_t>();
      if (self->state.loaded)
        measure(self, ctx, false, [rp](index_size total) mutable { rp.deliver(total.first); });
      else
        self->state.waiting.push_back(rp);
      return rp;
    },
    [self](put_atom, const product& p) { self->send(shard_of(self, p.id), put_atom::value, p); },
    [self](put_atom, const stock_update& u) {
      auto& st = self->state;
      self->send(shard_of(self, u.product_id), put_atom::value, u);
      if (!st.loaded)
        if (auto [it, added] = st.early_stock.emplace(u.product_id, u); !added && u.version >= it->second.version)
          it->second = u;
    },
    [self, ctx](refresh_atom, std::int64_t since_ms) {
      auto& st = self->state;
      auto since = (since_ms == 0 ? st.load_started_ms : since_ms) - ctx->catch_up_margin.count();
      if (!st.loaded || st.catching_up) {
        st.catch_up_next = st.catch_up_next ? std::min(*st.catch_up_next, since) : since;
        return;
      }
      catch_up(self, ctx, since, 0);
    },
  };
}

} // namespace

search_actor spawn_search(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db,
                          category_actor categories) {
  search_tuning tuning{cfg.catalog.search_fuzzy_below, cfg.catalog.search_prefix_terms_max, cfg.catalog.search_facets_max};
  return sys.spawn(catalog_search,
                   std::make_shared<const search_context>(search_context{
                     std::chrono::milliseconds{cfg.actors.step_timeout_ms},
                     std::chrono::milliseconds{cfg.database.reconnect_interval_ms},
                     std::chrono::milliseconds{cfg.database.statement_timeout_ms + cfg.actors.step_timeout_ms},
                     cfg.catalog.search_load_batch, tuning, db, std::move(categories)}),
                   cfg.catalog.search_shards);
}

} // namespace livemart
