#include <protocol/wire/catalog.hpp>

#include <algorithm>
#include <unordered_map>

#include <protocol/ids.hpp>
#include <protocol/json.hpp>
#include <protocol/sellers.hpp>
#include <protocol/validation.hpp>
#include <protocol/wire/body_reader.hpp>

namespace livemart {

namespace {

constexpr std::int64_t position_max = 1'000'000;

/// Reads the fields of a category body; `creating` requires a name.
decoded<category_patch> decode_category(std::string_view body, const conf::settings& cfg, bool creating) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  category_patch out;
  if (auto name = r.string("name", creating)) {
    out.present |= cf_name;
    out.values.name = std::move(*name);
    if (check_text(r, "name", out.values.name, 1, cfg.users.display_name_length_max)) {
      out.values.slug = slugify(out.values.name);
      if (out.values.slug.empty())
        r.invalid("name", "must contain at least one letter or digit (A-Z, 0-9)");
    }
  }
  // parent_id: an id string, or null for a root.
  if (r.is_null("parent_id")) {
    out.present |= cf_parent;
    out.values.parent_id = 0;
  } else if (auto parent = r.string("parent_id", false)) {
    out.present |= cf_parent;
    if (auto id = ids::parse(*parent))
      out.values.parent_id = *id;
    else
      r.invalid("parent_id", "must be a category id or null");
  }
  if (auto position = r.integer("position", false, -position_max, position_max)) {
    out.present |= cf_position;
    out.values.position = static_cast<std::int32_t>(*position);
  }
  if (!creating) {
    if (auto active = r.boolean("active", false)) {
      out.present |= cf_active;
      out.values.active = *active;
    }
  }
  if (auto p = r.finish())
    return std::move(*p);
  if (!creating && out.present == 0)
    return make_problem(errc::validation_failed, "the body names no field to change (name, parent_id, position, active)");
  return out;
}

void write_category(json::writer& w, const category& c) {
  w.field("id", ids::format(c.id))
    .key("parent_id");
  if (c.parent_id == 0)
    w.null();
  else
    w.string(ids::format(c.parent_id));
  w.field("name", c.name).field("slug", c.slug).field("position", c.position).field("active", c.active);
}

} // namespace

namespace {
constexpr std::int64_t price_minor_max = 1'000'000'000'000; // 10^10 units of a two-decimal currency
constexpr std::int64_t stock_change_max = 1'000'000'000;
constexpr std::size_t title_length_max = 200;
constexpr std::size_t description_length_max = 5'000;
constexpr std::size_t images_max = 10;

bool is_currency_code(std::string_view code) {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}
} // namespace

namespace {

/// The listing fields both a new product and an edit carry: category,
/// title, description and images. A new product must name the first two.
/// Returns the product_field bits of the fields present.
std::uint32_t read_listing(body_reader& r, const conf::settings& cfg, product& p, bool creating) {
  std::uint32_t present = 0;
  if (auto category_id = r.string("category_id", creating)) {
    present |= pf_category;
    if (auto id = ids::parse(*category_id))
      p.category_id = *id;
    else
      r.invalid("category_id", "must be a category id");
  }
  if (auto title = r.string("title", creating)) {
    present |= pf_title;
    p.title = std::move(*title);
    check_text(r, "title", p.title, 1, title_length_max);
  }
  if (auto description = r.string("description", false)) {
    present |= pf_description;
    p.description = std::move(*description);
    check_text(r, "description", p.description, 0, description_length_max, "\n");
  }
  if (auto urls = r.string_array("image_urls", false, images_max)) {
    present |= pf_images;
    for (auto& url : *urls)
      if (!validation::is_https_url(url, cfg.users.avatar_url_bytes_max)) {
        r.invalid("image_urls", "must be https URLs");
        break;
      }
    p.image_urls = std::move(*urls);
  }
  return present;
}

} // namespace

decoded<product_draft> decode_product_create(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  product_draft out;
  auto& p = out.values;
  read_listing(r, cfg, p, true);
  if (auto price = r.integer("price_minor", true, 0, price_minor_max))
    p.price_minor = *price;
  if (auto currency = r.string("currency", true)) {
    if (is_currency_code(*currency))
      p.currency = std::move(*currency);
    else
      r.invalid("currency", "must be an ISO 4217 code in capitals, such as EUR or USD");
  }
  if (auto stock = r.integer("stock", false, 0, stock_change_max))
    out.initial_stock = *stock;
  p.status = product_status::draft;
  if (auto status = r.string("status", false)) {
    if (*status == "draft" || *status == "active")
      from_string(*status, p.status);
    else
      r.invalid("status", "must be draft or active");
  }
  if (auto problem_found = r.finish())
    return std::move(*problem_found);
  return out;
}

decoded<product_patch> decode_product_patch(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  product_patch out;
  out.present = read_listing(r, cfg, out.values, false);
  if (auto status = r.string("status", false)) {
    out.present |= pf_status;
    if (!from_string(*status, out.values.status))
      r.invalid("status", "must be draft, active or archived");
  }
  if (auto problem_found = r.finish())
    return std::move(*problem_found);
  if (out.present == 0)
    return make_problem(errc::validation_failed,
                        "the body names no field to change (title, description, status, category_id, image_urls)");
  return out;
}

decoded<std::pair<std::int64_t, std::string>> decode_restock(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  std::pair<std::int64_t, std::string> out;
  if (auto delta = r.integer("delta", true, -stock_change_max, stock_change_max)) {
    out.first = *delta;
    if (*delta == 0)
      r.invalid("delta", "must not be 0");
  }
  if (auto reason = r.string("reason", true)) {
    out.second = std::move(*reason);
    check_text(r, "reason", out.second, 1, cfg.users.bio_length_max);
  }
  if (auto problem_found = r.finish())
    return std::move(*problem_found);
  return out;
}

decoded<std::int64_t> decode_price(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  std::int64_t out = 0;
  if (auto price = r.integer("price_minor", true, 0, price_minor_max))
    out = *price;
  if (auto problem_found = r.finish())
    return std::move(*problem_found);
  return out;
}

void write_rating(json::writer& w, const rating_summary& r) {
  w.begin_object().key("average");
  if (r.count == 0)
    w.null();
  else
    w.number(static_cast<double>(r.average_x100()) / 100.0);
  w.field("count", r.count).end_object();
}

namespace {

/// The product's own fields, inside an object the caller opened.
void write_product_fields(json::writer& w, const product& p) {
  w.field("id", ids::format(p.id))
    .field("seller_id", ids::format(p.seller_id))
    .field("category_id", ids::format(p.category_id))
    .field("title", p.title)
    .field("description", p.description)
    .field("price_minor", p.price_minor)
    .field("currency", p.currency)
    .field("stock", p.stock)
    .field("status", to_string(p.status));
  w.key("image_urls").begin_array();
  for (const auto& url : p.image_urls)
    w.string(url);
  w.end_array().key("rating");
  write_rating(w, p.rating);
  w.field("created_at_ms", p.created_at_ms).field("updated_at_ms", p.updated_at_ms).field("version", p.version);
}

} // namespace

decoded<review_draft> decode_review(std::string_view body, const conf::settings& cfg) {
  body_reader r{body, cfg.http.json_depth_max, cfg.http.json_members_max};
  if (!r.ok())
    return *r.finish();
  review_draft out;
  if (auto rating = r.integer("rating", true, 1, 5))
    out.rating = static_cast<std::int32_t>(*rating);
  if (auto title = r.string("title", false)) {
    out.title = std::move(*title);
    check_text(r, "title", out.title, 0, cfg.catalog.review_title_length_max);
  }
  if (auto text = r.string("body", false)) {
    out.body = std::move(*text);
    check_text(r, "body", out.body, 0, cfg.catalog.review_body_length_max, "\n");
  }
  if (auto p = r.finish())
    return std::move(*p);
  return out;
}

namespace {
void write_review(json::writer& w, const review& r) {
  w.begin_object()
    .field("id", ids::format(r.id))
    .field("product_id", ids::format(r.product_id))
    .field("seller_id", ids::format(r.seller_id))
    // No buyer_id: reviews are public, and an id ties a name to an account
    // (shops hide their owner's id the same way).
    .field("buyer_name", r.buyer_name)
    .field("verified_purchase", true)
    .field("rating", r.rating)
    .field("title", r.title)
    .field("body", r.body)
    .field("created_at_ms", r.created_at_ms)
    .end_object();
}
} // namespace

std::string encode(const review& r) {
  json::writer w;
  write_review(w, r);
  return w.take();
}

std::string encode(const review_page& page, std::size_t limit) {
  json::writer w;
  w.begin_object().key("items").begin_array();
  for (const auto& r : page.items)
    write_review(w, r);
  w.end_array().key("rating");
  write_rating(w, page.rating);
  w.key("next_cursor");
  if (!page.items.empty() && page.items.size() >= limit)
    w.string(ids::format(page.items.back().id));
  else
    w.null();
  w.end_object();
  return w.take();
}

std::string encode(const product& p) {
  json::writer w;
  w.begin_object();
  write_product_fields(w, p);
  w.end_object();
  return w.take();
}

std::string encode(const product_detail& d) {
  json::writer w;
  w.begin_object();
  write_product_fields(w, d.item);
  w.key("seller")
    .begin_object()
    .field("id", ids::format(d.seller.id))
    .field("shop_name", d.seller.shop_name)
    .field("slug", d.seller.slug)
    .field("follower_count", d.seller.follower_count)
    .key("rating");
  write_rating(w, d.seller.rating);
  w.end_object().key("breadcrumb").begin_array();
  for (const auto& c : d.breadcrumb)
    w.begin_object().field("id", ids::format(c.id)).field("name", c.name).field("slug", c.slug).end_object();
  w.end_array().end_object();
  return w.take();
}

std::string encode(const stock_update& u) {
  json::writer w;
  w.begin_object()
    .field("product_id", ids::format(u.product_id))
    .field("sequence", u.sequence)
    .field("stock", u.stock)
    .field("price_minor", u.price_minor)
    .field("currency", u.currency)
    .end_object();
  return w.take();
}

decoded<category_patch> decode_category_create(std::string_view body, const conf::settings& cfg) {
  return decode_category(body, cfg, true);
}

decoded<category_patch> decode_category_patch(std::string_view body, const conf::settings& cfg) {
  return decode_category(body, cfg, false);
}

std::string encode(const category& c) {
  json::writer w;
  w.begin_object();
  write_category(w, c);
  w.field("version", c.version);
  w.end_object();
  return w.take();
}

std::string encode_tree(const std::vector<category>& all, bool active_only) {
  std::unordered_map<std::uint64_t, std::vector<const category*>> children;
  for (const auto& c : all)
    children[c.parent_id].push_back(&c);
  for (auto& [parent, list] : children)
    std::sort(list.begin(), list.end(), [](const category* a, const category* b) {
      return a->position != b->position ? a->position < b->position : a->name < b->name;
    });
  json::writer w;
  // Depth-first with an explicit stack: the tree's depth is not bounded by
  // the call stack. Each frame is a list of siblings and the next index.
  struct frame {
    const std::vector<const category*>* siblings;
    std::size_t next;
  };
  static const std::vector<const category*> none;
  auto kids = [&](std::uint64_t id) -> const std::vector<const category*>& {
    auto it = children.find(id);
    return it == children.end() ? none : it->second;
  };
  w.begin_object().key("items").begin_array();
  std::vector<frame> stack{{&kids(0), 0}};
  while (!stack.empty()) {
    auto& top = stack.back();
    if (top.next == top.siblings->size()) {
      stack.pop_back();
      if (!stack.empty())
        w.end_array().end_object(); // children of the parent, then the parent
      continue;
    }
    const auto* c = (*top.siblings)[top.next++];
    if (active_only && !c->active)
      continue;
    w.begin_object();
    write_category(w, *c);
    w.key("children").begin_array();
    stack.push_back({&kids(c->id), 0});
  }
  w.end_array().end_object();
  return w.take();
}

} // namespace livemart
