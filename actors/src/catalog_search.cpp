#include <actors/catalog_index.hpp>
#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/clock.hpp>
#include <protocol/json.hpp>
#include <protocol/log.hpp>

namespace livemart {
namespace {

using reload_atom = caf::atom_constant<caf::atom("reload")>;

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

struct search_state {
  catalog_index index;
  bool loaded = false;
  std::int64_t load_started_ms = 0; ///< when the load began (system clock)
  bool catching_up = false;
  std::optional<std::int64_t> catch_up_next; ///< asked meanwhile: since then, next
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting; ///< `ready`, asked while loading
  static inline const char* name = "catalog_search";
};

using search_pointer = search_actor::stateful_pointer<search_state>;
using context_ptr = std::shared_ptr<const search_context>;

void catch_up(search_pointer self, const context_ptr& ctx, std::int64_t since_ms, std::uint64_t after,
              std::size_t read = 0);

/// Loads the active products page by page, from the first id above `after`.
/// `await`: nothing else is handled before a page is in, so changes sent
/// meanwhile apply on top of the load, in the order their actors sent them.
void load_from(search_pointer self, const context_ptr& ctx, std::uint64_t after) {
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                db_command{{persistence::products_active_page(after, ctx->load_batch)}})
    .await(
      [self, ctx](const db_result& r) {
        auto page = persistence::decode_products(r.results.front());
        for (const auto& p : page)
          self->state.index.put(p);
        if (page.size() == ctx->load_batch) {
          load_from(self, ctx, page.back().id);
          return;
        }
        self->state.loaded = true;
        if (auto since = std::exchange(self->state.catch_up_next, std::nullopt))
          catch_up(self, ctx, *since, 0);
        for (auto& rp : self->state.waiting)
          rp.deliver(static_cast<std::uint64_t>(self->state.index.size()));
        self->state.waiting.clear();
      },
      [self, ctx, after](caf::error& err) {
        // Keep what is loaded and go on from there after a pause; searches
        // answer 503 until the index is complete.
        std::string fields = "\"error\":";
        json::append_string(fields, to_problem(err).detail);
        log::warn("loading the search index failed; retrying", fields);
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->retry_interval, reload_atom::value, after);
      });
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
        for (const auto& p : page)
          self->state.index.put(p);
        if (page.size() == ctx->load_batch) {
          catch_up(self, ctx, since_ms, page.back().id, read + page.size());
          return;
        }
        auto& st = self->state;
        st.catching_up = false;
        log::info("the search index caught up", "\"products_read\":" + std::to_string(read + page.size())
                                                  + ",\"since_ms\":" + std::to_string(since_ms));
        if (auto next = std::exchange(st.catch_up_next, std::nullopt))
          catch_up(self, ctx, *next, 0);
      },
      [self, ctx, since_ms, after, read](caf::error&) {
        caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), ctx->retry_interval, refresh_atom::value, since_ms,
                               after, static_cast<std::uint64_t>(read));
      });
}

search_actor::behavior_type catalog_search(search_pointer self, context_ptr ctx) {
  self->state.index = catalog_index{ctx->tuning};
  self->set_default_handler([self, ctx](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.copy_content_to_message();
    if (msg.match_elements<reload_atom, std::uint64_t>()) {
      load_from(self, ctx, msg.get_as<std::uint64_t>(1));
      return caf::message{};
    }
    if (msg.match_elements<refresh_atom, std::int64_t, std::uint64_t, std::uint64_t>()) { // a catch-up's retry
      catch_up(self, ctx, msg.get_as<std::int64_t>(1), msg.get_as<std::uint64_t>(2), msg.get_as<std::uint64_t>(3));
      return caf::message{};
    }
    return caf::sec::unexpected_message;
  });
  self->state.load_started_ms = wall_clock::now_ms();
  load_from(self, ctx, 0);
  return {
    [self, ctx](search_atom, const search_query& q) -> caf::result<search_result> {
      if (!self->state.loaded)
        return make_error(errc::database_unavailable, "the search index is still loading");
      auto rp = self->make_response_promise<search_result>();
      self->request(ctx->categories, ctx->step_timeout, scope_atom::value, q.category)
        .then([self, rp, q](const category_scope& scope) mutable { rp.deliver(self->state.index.search(q, scope)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](ready_atom) -> caf::result<std::uint64_t> {
      if (self->state.loaded)
        return static_cast<std::uint64_t>(self->state.index.size());
      auto rp = self->make_response_promise<std::uint64_t>();
      self->state.waiting.push_back(rp);
      return rp;
    },
    [self](put_atom, const product& p) { self->state.index.put(p); },
    [self](put_atom, const stock_update& u) { self->state.index.put(u); },
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
  return sys.spawn(catalog_search, std::make_shared<const search_context>(search_context{
                                     std::chrono::milliseconds{cfg.actors.step_timeout_ms},
                                     std::chrono::milliseconds{cfg.database.reconnect_interval_ms},
                                     std::chrono::milliseconds{cfg.database.statement_timeout_ms + cfg.actors.step_timeout_ms},
                                     cfg.catalog.search_load_batch, tuning, db, std::move(categories)}));
}

} // namespace livemart
