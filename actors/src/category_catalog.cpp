#include <actors/services.hpp>
#include <persistence/database.hpp>

#include <algorithm>
#include <unordered_map>

#include <caf/all.hpp>

#include <persistence/statements.hpp>
#include <protocol/ids.hpp>
#include <protocol/wire/catalog.hpp>

namespace livemart {
namespace {

struct category_context {
  std::chrono::milliseconds step_timeout;
  persistence::database db;
  /// In a cluster every node holds a copy of the tree and any node may
  /// change it: a copy older than this is read again at its next use, and
  /// so is one that lacks what a request names (it may have been made on
  /// another node a moment ago). Zero without a cluster: this actor is the
  /// tree's only writer and its copy is always current.
  std::chrono::milliseconds max_age;
};

struct category_state {
  std::unordered_map<std::uint64_t, category> nodes;
  bool loaded = false;
  std::chrono::steady_clock::time_point loaded_at{};
  std::string public_tree; ///< rendered once per change, served as is
  std::unordered_map<std::uint64_t, category_scope> scopes; ///< search scopes asked since the last change
  static inline const char* name = "categories";

  void render() {
    scopes.clear();
    std::vector<category> all;
    all.reserve(nodes.size());
    for (const auto& [id, c] : nodes)
      all.push_back(c);
    public_tree = encode_tree(all, true);
  }

  /// True when `id` is `ancestor` or lies below it.
  bool within(std::uint64_t id, std::uint64_t ancestor) const {
    // Bounded by the number of nodes, so even a corrupt loop cannot hang us.
    for (std::size_t steps = 0; id != 0 && steps <= nodes.size(); ++steps) {
      if (id == ancestor)
        return true;
      auto it = nodes.find(id);
      id = it == nodes.end() ? 0 : it->second.parent_id;
    }
    return false;
  }

  /// Exists, and it and every ancestor are active.
  bool usable(std::uint64_t id) const {
    if (id == 0)
      return false;
    for (std::size_t steps = 0; id != 0 && steps <= nodes.size(); ++steps) {
      auto it = nodes.find(id);
      if (it == nodes.end() || !it->second.active)
        return false;
      id = it->second.parent_id;
    }
    return id == 0;
  }

  /// Searchable categories at or below `asked` (0: all), grouped into
  /// facet buckets (see category_scope).
  category_scope scope(std::uint64_t asked) const {
    category_scope out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> member_bucket;
    for (const auto& [id, c] : nodes) {
      if (!usable(id) || (asked != 0 && !within(id, asked)))
        continue;
      // The bucket: the ancestor (or self) whose parent is `asked`.
      auto bucket = id;
      for (std::size_t steps = 0; bucket != asked && steps <= nodes.size(); ++steps) {
        auto parent = nodes.at(bucket).parent_id;
        if (parent == asked)
          break;
        bucket = parent;
      }
      member_bucket.emplace_back(id, bucket);
    }
    std::sort(member_bucket.begin(), member_bucket.end());
    std::unordered_map<std::uint64_t, std::uint32_t> bucket_index;
    for (const auto& [member, bucket] : member_bucket) {
      auto [it, added] = bucket_index.emplace(bucket, static_cast<std::uint32_t>(out.buckets.size()));
      if (added)
        out.buckets.push_back(nodes.at(bucket));
      out.members.push_back(member);
      out.bucket_of.push_back(it->second);
    }
    return out;
  }

  /// The root first, `id` last.
  std::vector<category> path(std::uint64_t id) const {
    std::vector<category> out;
    for (std::size_t steps = 0; id != 0 && steps <= nodes.size(); ++steps) {
      auto it = nodes.find(id);
      if (it == nodes.end())
        break;
      out.push_back(it->second);
      id = it->second.parent_id;
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  bool has_children(std::uint64_t id) const {
    for (const auto& [other, c] : nodes)
      if (c.parent_id == id)
        return true;
    return false;
  }
};

using category_pointer = category_actor::stateful_pointer<category_state>;

caf::error no_such_category() {
  return make_error(errc::not_found, "no such category");
}

caf::error bad_parent(std::string message) {
  return make_error(errc::validation_failed, message, {field_error{"parent_id", message}});
}

/// Runs `then` once the tree is in memory (and, in a cluster, recent, and
/// holding what `has` asks for if it can). Loading uses `await`: no other
/// message is handled before the tree is there.
template <class Promise, class F, class Has>
void with_tree(category_pointer self, const std::shared_ptr<const category_context>& ctx, Promise rp, F then, Has has) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  // In a cluster, a request that names a category this copy lacks reads
  // the table again first (a request naming none that exists costs one
  // read of it: the front door's limits bound how many).
  bool fresh = st.loaded && (ctx->max_age.count() == 0 || (now - st.loaded_at <= ctx->max_age && has()));
  if (fresh) {
    then();
    return;
  }
  self->request(ctx->db.reads, ctx->step_timeout, query_atom::value, db_command{{persistence::category_all()}})
    .await(
      [self, then, now](const db_result& r) mutable {
        auto& s = self->state;
        s.nodes.clear();
        for (auto& c : persistence::decode_categories(r.results.front()))
          s.nodes.emplace(c.id, std::move(c));
        s.loaded = true;
        s.loaded_at = now;
        s.render();
        then();
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

template <class Promise, class F>
void with_tree(category_pointer self, const std::shared_ptr<const category_context>& ctx, Promise rp, F then) {
  with_tree(self, ctx, std::move(rp), std::move(then), [] { return true; });
}

/// Writes one statement and waits for COMMIT before handling anything else:
/// the in-memory tree must never be checked against a change in flight
/// (two concurrent moves could otherwise build a cycle).
template <class Promise, class F>
void write_then(category_pointer self, const std::shared_ptr<const category_context>& ctx, db_statement statement,
                Promise rp, F then) {
  self->request(ctx->db.writes, ctx->step_timeout, write_atom::value, db_command{{std::move(statement)}})
    .await(then, [rp](caf::error& err) mutable {
      if (is_duplicate(err))
        rp.deliver(make_error(errc::conflict, "a sibling category has this name",
                              {field_error{"name", "is taken by a sibling category"}}));
      else
        rp.deliver(std::move(err));
    });
}

category_actor::behavior_type category_catalog(category_pointer self, std::shared_ptr<const category_context> ctx) {
  return {
    [self, ctx](get_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      with_tree(self, ctx, rp, [self, rp]() mutable { rp.deliver(self->state.public_tree); });
      return rp;
    },
    [self, ctx](check_atom, std::uint64_t id) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      with_tree(self, ctx, rp, [self, rp, id]() mutable { rp.deliver(self->state.usable(id)); },
                [self, id] { return self->state.usable(id); });
      return rp;
    },
    [self, ctx](scope_atom, std::uint64_t asked) -> caf::result<category_scope> {
      auto rp = self->make_response_promise<category_scope>();
      with_tree(self, ctx, rp, [self, rp, asked]() mutable {
        auto& st = self->state;
        if (asked != 0 && !st.usable(asked)) {
          rp.deliver(make_error(errc::bad_request, "query parameter \"category\" is not an active category",
                                {field_error{"category", "is not an active category"}}));
          return;
        }
        auto it = st.scopes.find(asked);
        if (it == st.scopes.end())
          it = st.scopes.emplace(asked, st.scope(asked)).first;
        rp.deliver(it->second);
      }, [self, asked] { return asked == 0 || self->state.usable(asked); });
      return rp;
    },
    [self, ctx](path_atom, std::uint64_t id) -> caf::result<std::vector<category>> {
      auto rp = self->make_response_promise<std::vector<category>>();
      with_tree(self, ctx, rp, [self, rp, id]() mutable { rp.deliver(self->state.path(id)); },
                [self, id] { return self->state.nodes.count(id) != 0; });
      return rp;
    },
    [self, ctx](create_atom, const category_patch& patch) -> caf::result<category> {
      auto rp = self->make_response_promise<category>();
      with_tree(self, ctx, rp, [self, ctx, rp, patch]() mutable {
        auto c = patch.values;
        c.id = ids::next();
        c.active = true;
        c.version = 1;
        if (c.parent_id != 0 && self->state.nodes.count(c.parent_id) == 0) {
          rp.deliver(bad_parent("is not a category"));
          return;
        }
        write_then(self, ctx, persistence::category_insert(c), rp, [self, rp](const db_result& r) mutable {
          auto rows = persistence::decode_categories(r.results.front());
          self->state.nodes[rows.front().id] = rows.front();
          self->state.render();
          rp.deliver(rows.front());
        });
      }, [self, parent = patch.values.parent_id] { return parent == 0 || self->state.nodes.count(parent) != 0; });
      return rp;
    },
    [self, ctx](update_atom, std::uint64_t id, const category_patch& patch) -> caf::result<category> {
      auto rp = self->make_response_promise<category>();
      with_tree(self, ctx, rp, [self, ctx, rp, id, patch]() mutable {
        auto& st = self->state;
        auto it = st.nodes.find(id);
        if (it == st.nodes.end()) {
          rp.deliver(no_such_category());
          return;
        }
        auto c = it->second;
        if (patch.present & cf_name) {
          c.name = patch.values.name;
          c.slug = patch.values.slug;
        }
        if (patch.present & cf_position)
          c.position = patch.values.position;
        if (patch.present & cf_active)
          c.active = patch.values.active;
        if (patch.present & cf_parent) {
          auto parent = patch.values.parent_id;
          if (parent != 0 && st.nodes.count(parent) == 0) {
            rp.deliver(bad_parent("is not a category"));
            return;
          }
          // Moving a category below itself or its own descendant is a cycle.
          if (parent != 0 && st.within(parent, id)) {
            rp.deliver(bad_parent("would put the category below itself (a cycle)"));
            return;
          }
          c.parent_id = parent;
        }
        write_then(self, ctx, persistence::category_update(c), rp, [self, rp](const db_result& r) mutable {
          auto rows = persistence::decode_categories(r.results.front());
          if (rows.empty()) {
            // Without a cluster only this actor writes categories: a version
            // mismatch means someone edited the table by hand (in a cluster,
            // or another node changed it). Reload on next use.
            self->state.loaded = false;
            self->state.nodes.clear();
            rp.deliver(make_error(errc::conflict, "the category changed outside livemart; retry"));
            return;
          }
          self->state.nodes[rows.front().id] = rows.front();
          self->state.render();
          rp.deliver(rows.front());
        });
      }, [self, id, patch] {
        const auto& nodes = self->state.nodes;
        return nodes.count(id) != 0
               && (!(patch.present & cf_parent) || patch.values.parent_id == 0 || nodes.count(patch.values.parent_id) != 0);
      });
      return rp;
    },
    [self, ctx](delete_atom, std::uint64_t id) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      with_tree(self, ctx, rp, [self, ctx, rp, id]() mutable {
        if (self->state.nodes.count(id) == 0) {
          rp.deliver(no_such_category());
          return;
        }
        if (self->state.has_children(id)) {
          rp.deliver(make_error(errc::conflict, "the category has subcategories; deactivate it instead"));
          return;
        }
        write_then(self, ctx, persistence::category_delete(id), rp, [self, rp, id](const db_result& r) mutable {
          if (r.results.front().rows.empty()) {
            rp.deliver(make_error(errc::conflict, "the category has products; deactivate it instead"));
            return;
          }
          self->state.nodes.erase(id);
          self->state.render();
          rp.deliver(caf::ok_atom::value);
        });
      }, [self, id] { return self->state.nodes.count(id) != 0; });
      return rp;
    },
  };
}

} // namespace

category_actor spawn_categories(caf::actor_system& sys, const conf::settings& cfg, const persistence::database& db) {
  auto max_age = cfg.cluster.enabled ? std::chrono::milliseconds{cfg.catalog.detail_refresh_ms} : std::chrono::milliseconds{0};
  return sys.spawn(category_catalog, std::make_shared<const category_context>(category_context{
                                       std::chrono::milliseconds{cfg.actors.step_timeout_ms}, db, max_age}));
}

} // namespace livemart
