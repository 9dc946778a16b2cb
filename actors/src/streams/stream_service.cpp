#include "stream.hpp"

/// The live index (one actor: GET /streams/live, a shop's is_live),
/// scheduling streams, and starting the actors of the live ones.

namespace livemart {
namespace streams {

/// The ownership check of fetch_products' result.
std::optional<caf::error> foreign_product(const std::vector<product>& found, std::uint64_t seller_id,
                                          const std::string& field) {
  for (const auto& p : found)
    if (p.seller_id != seller_id || p.status == product_status::archived)
      return make_error(errc::validation_failed, "invalid fields: " + field,
                        {field_error{field, "product " + ids::format(p.id) + " is not one of your active products"}});
  return std::nullopt;
}

namespace {

// -- the live index -------------------------------------------------------------------------

struct index_state {
  std::unordered_map<std::uint64_t, stream_info> live;
  std::unordered_map<std::uint64_t, std::uint64_t> by_seller; ///< seller -> live stream
  static inline const char* name = "stream_index";
};

std::string live_cursor(const stream_info& s) {
  return std::to_string(s.viewers) + "." + ids::format(s.id);
}

/// (`page_max` only names the configuration; CAF 0.17 needs an argument, see bridge_actor.)
stream_index_actor::behavior_type stream_index(stream_index_actor::stateful_pointer<index_state> self,
                                               std::size_t /*page_max*/) {
  return {
    [self](put_atom, const stream_info& s) {
      self->state.live[s.id] = s;
      self->state.by_seller[s.seller_id] = s.id;
    },
    [self](delete_atom, std::uint64_t id) {
      auto& st = self->state;
      auto it = st.live.find(id);
      if (it == st.live.end())
        return;
      if (auto seller = st.by_seller.find(it->second.seller_id); seller != st.by_seller.end() && seller->second == id)
        st.by_seller.erase(seller);
      st.live.erase(it);
    },
    [self](list_atom, std::int64_t after_viewers, std::uint64_t after_id, std::uint32_t limit) -> live_page {
      // Most viewers first, then newest; the cursor is the last one shown.
      std::vector<const stream_info*> order;
      order.reserve(self->state.live.size());
      for (const auto& [id, s] : self->state.live)
        if (after_id == 0 || s.viewers < after_viewers || (s.viewers == after_viewers && s.id < after_id))
          order.push_back(&s);
      auto take = std::min<std::size_t>(limit, order.size());
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                        [](const stream_info* a, const stream_info* b) {
                          return a->viewers != b->viewers ? a->viewers > b->viewers : a->id > b->id;
                        });
      live_page page;
      for (std::size_t i = 0; i < take; ++i)
        page.items.push_back(*order[i]);
      if (order.size() > take && take > 0)
        page.next_cursor = live_cursor(page.items.back());
      return page;
    },
    [self](get_atom, std::uint64_t seller_id) -> std::uint64_t {
      auto it = self->state.by_seller.find(seller_id);
      return it == self->state.by_seller.end() ? 0 : it->second;
    },
  };
}

// -- the service ------------------------------------------------------------------------------

struct service_state {
  static inline const char* name = "stream_service";
};

stream_service_actor::behavior_type stream_service(stream_service_actor::stateful_pointer<service_state> self,
                                                   context_ptr ctx, seller_actor sellers, stream_directory streams) {
  return {
    [self, ctx, sellers, streams](create_atom, std::uint64_t user, const stream_draft& draft) -> caf::result<stream_keyed> {
      auto rp = self->make_response_promise<stream_keyed>();
      self->request(sellers, ctx->step_timeout, profile_atom::value, user)
        .then(
          [self, ctx, streams, user, draft, rp](const seller& shop) mutable {
            if (shop.status != seller_status::approved) {
              rp.deliver(make_error(errc::forbidden, "only approved sellers can stream"));
              return;
            }
            if (draft.featured.size() > ctx->cfg.featured_max) {
              rp.deliver(make_error(errc::validation_failed, "invalid fields: featured",
                                    {field_error{"featured", "holds more than " + std::to_string(ctx->cfg.featured_max)
                                                               + " products"}}));
              return;
            }
            with_own_products(
              self, ctx, shop.id, draft.featured, "featured", rp,
              [self, ctx, streams, user, draft, rp, shop](const std::vector<product>&) mutable {
                stream_info s;
                s.id = ids::next();
                s.seller_id = shop.id;
                s.owner_id = shop.user_id;
                s.shop_name = shop.shop_name;
                s.title = draft.title;
                s.description = draft.description;
                s.scheduled_at_ms = draft.scheduled_at_ms != 0 ? draft.scheduled_at_ms : now_ms();
                s.featured = draft.featured;
                s.allow_anonymous = draft.allow_anonymous;
                s.created_at_ms = now_ms();
                auto key = make_stream_key(s.id);
                self->request(ctx->db.writes, ctx->step_timeout, write_atom::value,
                              db_command{{persistence::stream_insert(s, hash_stream_key(key))}})
                  .then(
                    [self, ctx, streams, user, draft, rp, s, key](const db_result&) mutable {
                      if (!draft.start_now) {
                        rp.deliver(stream_keyed{s, key});
                        return;
                      }
                      self->request(streams.route(s.id), ctx->step_timeout, s.id, start_atom::value, user)
                        .then([rp, key](const stream_info& live) mutable { rp.deliver(stream_keyed{live, key}); },
                              [rp](caf::error& e) mutable { rp.deliver(e); });
                    },
                    [rp](caf::error& e) mutable { rp.deliver(e); });
              });
          },
          [rp](caf::error& err) mutable {
            if (to_problem(err).code == errc::not_found)
              rp.deliver(make_error(errc::forbidden, "only approved sellers can stream"));
            else
              rp.deliver(err);
          });
      return rp;
    },
    [self, ctx](list_atom, std::uint64_t seller_id, bool upcoming, std::uint64_t before,
                std::uint32_t limit) -> caf::result<std::vector<stream_info>> {
      auto rp = self->make_response_promise<std::vector<stream_info>>();
      self->request(ctx->db.reads, ctx->step_timeout, query_atom::value,
                    db_command{{persistence::streams_of_seller(seller_id, upcoming, before, limit)}})
        .then([rp](const db_result& r) mutable { rp.deliver(persistence::decode_streams(r.results.front())); },
              [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
  };
}

/// Starts the actors of the live streams (they list themselves), then ends.
caf::behavior stream_starter(caf::event_based_actor* self, context_ptr ctx, stream_directory streams) {
  self->request(ctx->db.reads, std::chrono::milliseconds{ctx->cfg.start_timeout_ms}, query_atom::value, db_command{{persistence::streams_live()}})
    .then(
      [self, ctx, streams](const db_result& r) {
        // In a cluster, each node wakes those it owns (the others' are
        // theirs to wake, and a request routed there now would be moved).
        const auto* table = streams.routing ? streams.routing->load() : nullptr;
        for (auto id : persistence::decode_stream_ids(r.results.front()))
          if (table == nullptr || table->owner_of(id) == table->me)
            self->send(streams.route(id), id, get_atom::value);
        self->quit();
      },
      [self](caf::error& err) {
        log::warn("live streams not started", "\"error\":\"" + to_problem(err).detail + "\"");
        self->quit();
      });
  return {[](const stream_info&) {}};
}

} // namespace
} // namespace streams

std::string stream_group_name(std::uint64_t stream_id) {
  return "stream-" + ids::format(stream_id);
}

std::string user_group_name(std::uint64_t user_id) {
  return "user-" + ids::format(user_id);
}

std::string seller_live_group_name() {
  return "sellers-live";
}

void spawn_streams(caf::actor_system& sys, const conf::settings& cfg, services& s) {
  using namespace streams;
  s.stream_index = sys.spawn(stream_index, cfg.streams.live_page_max);
  auto step = std::chrono::milliseconds{cfg.actors.step_timeout_ms};
  auto ctx = std::make_shared<const stream_context>(stream_context{
    cfg.streams,
    auction_rules{conf::parse_increment_tiers(cfg.streams.bid_increments),
                  static_cast<std::int64_t>(cfg.streams.auction_extend_window_s) * 1000,
                  static_cast<std::int64_t>(cfg.streams.auction_extend_to_s) * 1000},
    step, 3 * step, *s.db, s.products, s.users,
    s.orders, s.stream_index});
  s.streams.shards = registry::spawn_shards<stream_actor>(sys, cfg.actors.product_shards, ctx, spawn_stream,
                                                          registry::kind::stream, s.routing);
  s.streams.routing = s.routing;
  s.streams.peer_shards = &node_hello::streams;
  s.stream_service = sys.spawn(stream_service, ctx, s.sellers, s.streams);
  s.wake_live_streams = [&sys, ctx, streams = s.streams] { sys.spawn(stream_starter, ctx, streams); };
  s.wake_live_streams();
}

} // namespace livemart

