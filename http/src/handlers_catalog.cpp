#include "context.hpp"

#include <protocol/catalog.hpp>
#include <protocol/ids.hpp>
#include <protocol/search.hpp>
#include <protocol/wire/catalog.hpp>
#include <protocol/wire/search.hpp>

namespace livemart::http {

void add_catalog_routes(router& r) {
  // Served from the category actor's memory: no database round trip.
  r.add("GET", "/categories", [](const context_ptr& ctx) {
    ctx->ask(
      ctx->svc().categories, [ctx](const std::string& tree) { ctx->respond_json(200, tree); }, get_atom::value);
  });

  r.add("POST", "/admin/categories", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto patch = ctx->decode_body(decode_category_create, ctx->cfg());
    if (!patch)
      return;
    ctx->with_role(role::admin, [ctx, patch = std::move(*patch)](const user_profile&) {
      ctx->ask(
        ctx->svc().categories,
        [ctx](const category& c) {
          response res;
          res.status = 201;
          res.body = encode(c);
          res.headers.emplace_back("Location", "/admin/categories/" + ids::format(c.id));
          ctx->respond(std::move(res));
        },
        create_atom::value, patch);
    });
  });

  r.add("PATCH", "/admin/categories/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("category");
    if (!id)
      return;
    auto patch = ctx->decode_body(decode_category_patch, ctx->cfg());
    if (!patch)
      return;
    ctx->with_role(role::admin, [ctx, id = *id, patch = std::move(*patch)](const user_profile&) {
      ctx->ask(
        ctx->svc().categories, [ctx](const category& c) { ctx->respond_json(200, encode(c)); }, update_atom::value, id,
        patch);
    });
  });

  r.add("DELETE", "/admin/categories/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("category");
    if (!id)
      return;
    ctx->with_role(role::admin, [ctx, id = *id](const user_profile&) {
      ctx->ask(
        ctx->svc().categories, [ctx](caf::ok_atom) { ctx->respond_no_content(); }, delete_atom::value, id);
    });
  });
}

std::optional<search_query> read_search_query(const context_ptr& ctx) {
  auto query = decode_search_query([&ctx](std::string_view name) { return ctx->query(name); }, ctx->cfg());
  if (auto* p = std::get_if<problem>(&query)) {
    ctx->respond_problem(std::move(*p));
    return std::nullopt;
  }
  return std::get<search_query>(std::move(query));
}

void search(const context_ptr& ctx, search_query query) {
  ctx->ask(
    ctx->svc().search, [ctx](const search_result& result) { ctx->respond_json(200, encode(result)); },
    search_atom::value, std::move(query));
}

void add_product_routes(router& r) {
  r.add("POST", "/products", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto draft = ctx->decode_body(decode_product_create, ctx->cfg());
    if (!draft)
      return;
    ctx->ask(
      ctx->svc().product_service,
      [ctx](const product& p) {
        response res;
        res.status = 201;
        res.body = encode(p);
        res.headers.emplace_back("Location", "/products/" + ids::format(p.id));
        ctx->respond(std::move(res));
      },
      create_atom::value, ctx->user_id(), std::move(*draft));
  });

  // Search: words, filters, sorts, keyset pages and category facets.
  r.add("GET", "/products", [](const context_ptr& ctx) {
    if (auto query = read_search_query(ctx))
      search(ctx, std::move(*query));
  });

  // The detail view: stock and price from the product's actor, with its
  // seller summary and category breadcrumb (the registry forwards).
  r.add("GET", "/products/:id", [](const context_ptr& ctx) {
    auto id = ctx->path_id("product");
    if (!id)
      return;
    ctx->ask(
      ctx->svc().products.route(*id),
      [ctx](const product_detail& d) {
        if (d.item.status == product_status::draft)
          ctx->respond_problem(make_problem(errc::not_found, "no such product"));
        else
          ctx->respond_json(200, encode(d));
      },
      *id, detail_atom::value);
  });

  // Listing changes, archiving included (status "archived"): owner or admin.
  r.add("PATCH", "/products/:id", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("product");
    if (!id)
      return;
    auto patch = ctx->decode_body(decode_product_patch, ctx->cfg());
    if (!patch)
      return;
    ctx->ask(
      ctx->svc().product_service, [ctx](const product& p) { ctx->respond_json(200, encode(p)); }, update_atom::value,
      ctx->user_id(), *id, std::move(*patch));
  });

  r.add("POST", "/products/:id/restock", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("product");
    if (!id)
      return;
    auto change = ctx->decode_body(decode_restock, ctx->cfg());
    if (!change)
      return;
    ctx->ask(
      ctx->svc().product_service, [ctx](const stock_update& u) { ctx->respond_json(200, encode(u)); },
      restock_atom::value, ctx->user_id(), *id, change->first, change->second);
  });

  r.add("PUT", "/products/:id/price", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("product");
    if (!id)
      return;
    auto price = ctx->decode_body(decode_price, ctx->cfg());
    if (!price)
      return;
    ctx->ask(
      ctx->svc().product_service, [ctx](const stock_update& u) { ctx->respond_json(200, encode(u)); },
      price_atom::value, ctx->user_id(), *id, *price);
  });

  // Verified reviews: 403 without a delivered order of the product, 409 for
  // a second review by the same buyer.
  r.add("POST", "/products/:id/reviews", [](const context_ptr& ctx) {
    if (!ctx->authenticate())
      return;
    auto id = ctx->path_id("product");
    if (!id)
      return;
    auto draft = ctx->decode_body(decode_review, ctx->cfg());
    if (!draft)
      return;
    ctx->ask(
      ctx->svc().reviews,
      [ctx](const review& rv) {
        response res;
        res.status = 201;
        res.body = encode(rv);
        res.headers.emplace_back("Location", "/products/" + ids::format(rv.product_id) + "/reviews");
        ctx->respond(std::move(res));
      },
      review_atom::value, ctx->user_id(), *id, std::move(*draft));
  });

  r.add("GET", "/products/:id/reviews", [](const context_ptr& ctx) {
    auto id = ctx->path_id("product");
    if (!id)
      return;
    request_context::page page;
    if (!ctx->read_page(page))
      return;
    ctx->ask(
      ctx->svc().reviews,
      [ctx, limit = page.limit](const review_page& reviews) { ctx->respond_json(200, encode(reviews, limit)); },
      list_atom::value, *id, page.after, page.limit);
  });
}

} // namespace livemart::http
