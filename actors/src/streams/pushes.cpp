#include "stream.hpp"
#include <protocol/wire/streams.hpp>

namespace livemart::streams {

// -- pushes -------------------------------------------------------------------------

void send_push(stream_pointer self, std::string key, std::string json, std::int64_t at_us) {
  auto& st = self->state;
  stream_push push{std::move(key), std::move(json), st.seq, at_us};
  for (const auto& [addr, hub] : st.remote_hubs)
    caf::anon_send(hub, push);
  caf::anon_send(st.viewers, std::move(push));
}

void follow_sender_hub(stream_pointer self) {
  auto hub = caf::actor_cast<caf::actor>(self->current_sender());
  if (!hub || hub.node() == self->node())
    return;
  if (self->state.remote_hubs.emplace(hub.address(), hub).second)
    self->monitor(hub);
}

void forget_hub(stream_pointer self, const context_ptr& ctx, const caf::actor_addr& hub) {
  auto& st = self->state;
  if (st.remote_hubs.erase(hub) != 0)
    self->demonitor(hub);
  if (st.hubs.erase(hub) != 0)
    count_viewers(self, ctx);
}

void count_viewers(stream_pointer self, const context_ptr& ctx) {
  auto& s = self->state;
  std::int64_t total = 0;
  for (const auto& [addr, n] : s.hubs)
    total += n;
  s.info.unique_viewers = static_cast<std::int64_t>(s.unique_users.size()) + s.anonymous_joins;
  if (s.info.status == stream_status::live)
    s.info.peak_viewers = std::max(s.info.peak_viewers, total);
  s.stats_dirty = true;
  if (total != s.info.viewers) {
    s.info.viewers = total;
    state_changed(self, ctx, "viewers");
  }
}

/// An event that is never replaced by a later one: the next sequence number.
void event(stream_pointer self, std::string_view type, std::string_view field, std::string_view payload) {
  auto& st = self->state;
  ++st.seq;
  auto at = now_us();
  send_push(self, {}, encode_event_push(type, st.seq, field, payload, at), at);
}

void list_in_index(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  // Every node lists the live streams, wherever their actors run.
  if (st.info.status == stream_status::live) {
    self->send(ctx->index, put_atom::value, st.info);
    tell_peers(ctx->products.routing, put_atom::value, st.info);
  } else {
    self->send(ctx->index, delete_atom::value, st.info.id);
    tell_peers(ctx->products.routing, delete_atom::value, st.info.id);
  }
}

/// Sends the state push of `key` now.
void push_state(stream_pointer self, const context_ptr& ctx, const std::string& key) {
  auto& st = self->state;
  auto& slot = st.pushes[key];
  // at_us: when the value shown committed; first_at_us: the oldest change
  // this message stands for (the others were replaced by it).
  auto at = slot.last_change_us != 0 ? slot.last_change_us : now_us();
  auto first = slot.first_change_us != 0 ? slot.first_change_us : at;
  slot.first_change_us = 0;
  slot.last_change_us = 0;
  slot.due = false;
  slot.last_push = std::chrono::steady_clock::now();
  if (key == "viewers") {
    send_push(self, key, encode_viewers_push(st.info.viewers, st.seq), at);
    list_in_index(self, ctx);
  } else if (auto id = ids::parse(std::string_view{key}.substr(2)); id) { // "p:<id>"
    // A drop's remaining units travel with its product's stock: one
    // message for one purchase.
    auto drop = st.drop && st.drop->product_id == *id ? encode_drop(*st.drop) : std::string{};
    if (auto it = st.products.find(*id); it != st.products.end())
      send_push(self, key, encode_product_push(it->second, st.seq, at, first, now_us(), drop), at);
  }
}

/// A state changed: pushes it at once, or when its key's interval has
/// passed since its last push (so a product's stock reaches viewers at
/// most every streams.push_interval_ms, always with the latest value).
void state_changed(stream_pointer self, const context_ptr& ctx, const std::string& key, std::int64_t at_us) {
  auto& st = self->state;
  auto& slot = st.pushes[key];
  auto at = at_us != 0 ? at_us : now_us();
  if (slot.first_change_us == 0)
    slot.first_change_us = at;
  slot.last_change_us = at;
  auto interval = std::chrono::milliseconds{key == "viewers" ? ctx->cfg.viewer_push_interval_ms : ctx->cfg.push_interval_ms};
  auto since = std::chrono::steady_clock::now() - slot.last_push;
  if (interval.count() == 0 || since >= interval) {
    push_state(self, ctx, key);
    return;
  }
  slot.due = true;
  if (!st.push_tick_armed) {
    st.push_tick_armed = true;
    arm(self, tick::push, 0, std::chrono::duration_cast<std::chrono::milliseconds>(interval - since) + std::chrono::milliseconds{1});
  }
}

void push_due(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  st.push_tick_armed = false;
  auto now = std::chrono::steady_clock::now();
  std::optional<std::chrono::milliseconds> next;
  std::vector<std::string> ready;
  for (auto& [key, slot] : st.pushes) {
    if (!slot.due)
      continue;
    auto interval = std::chrono::milliseconds{key == "viewers" ? ctx->cfg.viewer_push_interval_ms : ctx->cfg.push_interval_ms};
    auto since = now - slot.last_push;
    if (since >= interval) {
      ready.push_back(key);
    } else {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(interval - since) + std::chrono::milliseconds{1};
      next = next ? std::min(*next, wait) : wait;
    }
  }
  for (const auto& key : ready)
    push_state(self, ctx, key);
  if (next) {
    st.push_tick_armed = true;
    arm(self, tick::push, 0, *next);
  }
}

std::string product_key(std::uint64_t id) {
  return "p:" + ids::format(id);
}

/// Starts following a product: its updates come through the relay, its
/// current state from its actor.
void watch_product(stream_pointer self, const context_ptr& ctx, std::uint64_t id) {
  auto& st = self->state;
  if (id == 0 || st.products.count(id) != 0)
    return;
  st.products[id].id = id;
  caf::anon_send(st.relay, join_atom::value, product_group_name(id));
  self->request(ctx->products.route(id), ctx->step_timeout, id, get_atom::value)
    .then(
      [self, ctx, id](const product& p) {
        auto& s = self->state;
        auto& sp = s.products[id];
        sp.title = p.title;
        sp.image_url = p.image_urls.empty() ? std::string{} : p.image_urls.front();
        sp.currency = p.currency;
        if (s.updated.count(id) == 0) { // an update that came first is newer
          sp.price_minor = p.price_minor;
          sp.available = p.stock;
        }
        state_changed(self, ctx, product_key(id));
      },
      [](caf::error&) {});
}

void watch_all(stream_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  for (auto id : st.info.featured)
    watch_product(self, ctx, id);
  watch_product(self, ctx, st.info.pinned);
  if (st.drop)
    watch_product(self, ctx, st.drop->product_id);
  if (st.auction)
    watch_product(self, ctx, st.auction->product_id);
}

stream_snapshot snapshot_of(const stream_state& st) {
  std::vector<stream_product> products;
  for (auto id : st.info.featured)
    if (auto it = st.products.find(id); it != st.products.end())
      products.push_back(it->second);
  return {st.seq, encode_snapshot(st.info, products, st.drop, st.auction, st.seq)};
}

void user_push(stream_pointer self, const context_ptr& ctx, std::uint64_t user, const std::string& json) {
  if (user == 0)
    return;
  caf::anon_send(self->home_system().groups().get_local(user_group_name(user)), push_atom::value, json);
  tell_peers(ctx->products.routing, push_atom::value, user, json);
}

std::string personal_event(std::string_view type, const stream_state& st, const stream_auction& a) {
  return encode_auction_event(type, st.info, a);
}

} // namespace livemart::streams
