// The search index's rules and the search query's wire format.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include <actors/catalog_index.hpp>
#include <protocol/search.hpp>
#include <protocol/wire/search.hpp>

using namespace livemart;

namespace {

product item(std::uint64_t id, std::string title, std::uint64_t category, std::int64_t price, std::int64_t stock = 5,
             std::string description = "", std::uint64_t seller = 7) {
  product p;
  p.id = id;
  p.seller_id = seller;
  p.category_id = category;
  p.title = std::move(title);
  p.description = std::move(description);
  p.price_minor = price;
  p.currency = "USD";
  p.stock = stock;
  p.status = product_status::active;
  p.created_at_ms = static_cast<std::int64_t>(id) * 1000;
  return p;
}

category cat(std::uint64_t id, std::string name) {
  category c;
  c.id = id;
  c.name = name;
  c.slug = std::move(name);
  return c;
}

/// Categories 10 and 11 in bucket "A", 20 in bucket "B".
category_scope scope_all() {
  return {{10, 11, 20}, {0, 0, 1}, {cat(1, "A"), cat(2, "B")}};
}

std::vector<std::uint64_t> ids_of(const search_result& r) {
  std::vector<std::uint64_t> out;
  for (const auto& h : r.items)
    out.push_back(h.id);
  return out;
}

search_query words(std::string q) {
  search_query s;
  s.q = std::move(q);
  return s;
}

/// Similar words only when nothing matches exactly, unless said otherwise.
catalog_index sample(std::size_t fuzzy_below = 1) {
  catalog_index index{search_tuning{fuzzy_below, 64, 50}};
  index.put(item(1, "Wireless Headphones", 10, 5000, 5, "Noise cancelling over-ear headphones"));
  index.put(item(2, "Studio Headphones", 10, 9000, 0, "Wired, for mixing"));
  index.put(item(3, "Vintage Watch", 20, 25000, 1, "A wireless-free classic"));
  index.put(item(4, "Leather Boxes", 11, 1500, 9, "Three small boxes"));
  index.put(item(5, "Wireless Charger", 11, 2500, 3));
  return index;
}

} // namespace

TEST_CASE("search words are lower-cased, split, stripped of stop words and plurals", "[search]") {
  CHECK(search_words("The Wireless HEADPHONES, for kids!") == std::vector<std::string>{"wireless", "headphone", "kid"});
  CHECK(search_words("boxes batteries glass") == std::vector<std::string>{"box", "battery", "glass"});
  CHECK(search_words("  ").empty());
}

TEST_CASE("every word must match, title matches rank above description matches", "[search]") {
  auto index = sample();
  auto r = index.search(words("wireless"), scope_all());
  CHECK(r.total == 3);
  // Title hits (1, 5) before the description-only hit (3).
  auto got = ids_of(r);
  REQUIRE(got.size() == 3);
  CHECK(got.back() == 3);
  CHECK(index.search(words("wireless headphones"), scope_all()).total == 1);
  CHECK(index.search(words("headphones"), scope_all()).total == 2);
  CHECK_FALSE(index.search(words("wireless headphones"), scope_all()).fuzzy);
}

TEST_CASE("the last word matches as a prefix", "[search]") {
  auto index = sample();
  CHECK(ids_of(index.search(words("headph"), scope_all())).size() == 2);
  CHECK(index.search(words("studio head"), scope_all()).total == 1);
}

TEST_CASE("similar words are searched when the exact words find little", "[search]") {
  auto index = sample();
  auto r = index.search(words("hedphones"), scope_all());
  CHECK(r.fuzzy);
  CHECK(r.total == 2);
  CHECK(index.search(words("qqqqzzzz"), scope_all()).total == 0);
}

TEST_CASE("below the threshold, similar words add matches after the exact ones", "[search]") {
  auto index = sample(5);
  auto r = index.search(words("wireless"), scope_all());
  CHECK(r.fuzzy);
  auto got = ids_of(r);
  REQUIRE(got.size() == 4); // "wired" is similar enough
  CHECK(got.back() == 2);
}

TEST_CASE("filters: price range, in stock, seller and category scope", "[search]") {
  auto index = sample();
  search_query q;
  q.min_price = 2000;
  q.max_price = 9000;
  CHECK(index.search(q, scope_all()).total == 3); // 1, 2, 5
  q = {};
  q.in_stock = true;
  CHECK(index.search(q, scope_all()).total == 4);
  q = {};
  q.seller = 99;
  CHECK(index.search(q, scope_all()).total == 0);
  // Only bucket B's category: the watch.
  category_scope only_b{{20}, {0}, {cat(2, "B")}};
  CHECK(ids_of(index.search(search_query{}, only_b)) == std::vector<std::uint64_t>{3});
}

TEST_CASE("browsing a category without words follows moves and removals", "[search]") {
  auto index = sample();
  search_query browse;
  browse.category = 1; // the asked category; the scope says which categories are below it
  category_scope a{{10, 11}, {0, 0}, {cat(1, "A")}};
  CHECK(ids_of(index.search(browse, a)) == std::vector<std::uint64_t>{5, 4, 2, 1});
  index.put(item(3, "Vintage Watch", 11, 25000, 1)); // moved from 20 into 11
  CHECK(ids_of(index.search(browse, a)) == std::vector<std::uint64_t>{5, 4, 3, 2, 1});
  index.remove(4);
  auto p = item(2, "Studio Headphones", 20, 9000);
  index.put(p); // moved out
  CHECK(ids_of(index.search(browse, a)) == std::vector<std::uint64_t>{5, 3, 1});
  CHECK(index.search(browse, a).facets.front().count == 3);
}

TEST_CASE("facets count the matches per bucket of the scope", "[search]") {
  auto index = sample();
  auto r = index.search(words("wireless"), scope_all());
  REQUIRE(r.facets.size() == 2);
  CHECK(r.facets[0].name == "A");
  CHECK(r.facets[0].count == 2);
  CHECK(r.facets[1].name == "B");
  CHECK(r.facets[1].count == 1);
}

TEST_CASE("sorts by price, newest and relevance", "[search]") {
  auto index = sample();
  search_query q;
  q.sort = search_sort::price_asc;
  CHECK(ids_of(index.search(q, scope_all())) == std::vector<std::uint64_t>{4, 5, 1, 2, 3});
  q.sort = search_sort::price_desc;
  CHECK(ids_of(index.search(q, scope_all())) == std::vector<std::uint64_t>{3, 2, 1, 5, 4});
  q.sort = search_sort::newest;
  CHECK(ids_of(index.search(q, scope_all())) == std::vector<std::uint64_t>{5, 4, 3, 2, 1});
}

TEST_CASE("keyset pages cover every match once, even while the catalog changes", "[search]") {
  catalog_index index;
  for (std::uint64_t id = 1; id <= 50; ++id)
    index.put(item(id, "Card " + std::to_string(id), 10, static_cast<std::int64_t>(1000 + (id * 37) % 500), 5,
                   id % 3 == 0 ? "card card" : ""));
  for (auto sort : {search_sort::price_asc, search_sort::price_desc, search_sort::newest, search_sort::relevance}) {
    search_query q = words("card");
    q.sort = sort;
    q.limit = 7;
    std::vector<std::uint64_t> seen;
    for (int page = 0; page < 20; ++page) {
      auto r = index.search(q, scope_all());
      for (auto id : ids_of(r))
        seen.push_back(id);
      if (page == 2)
        index.put(item(1000, "Card new", 10, 1)); // a new product does not shift later pages
      if (!r.next.present)
        break;
      CHECK(r.next.sort == sort);
      q.cursor = r.next;
    }
    std::set<std::uint64_t> unique(seen.begin(), seen.end());
    CHECK(unique.size() == seen.size());
    for (std::uint64_t id = 1; id <= 50; ++id)
      CHECK(unique.count(id) == 1);
    index.remove(1000);
  }
}

TEST_CASE("edits, stock changes and archiving show in the next search", "[search]") {
  auto index = sample();
  auto p = item(2, "Studio Monitor", 10, 9000, 0);
  index.put(p);
  CHECK(index.search(words("monitor"), scope_all()).total == 1);
  CHECK(index.search(words("headphones"), scope_all()).total == 1);
  stock_update u;
  u.product_id = 2;
  u.stock = 4;
  u.price_minor = 100;
  index.put(u);
  search_query q = words("monitor");
  q.in_stock = true;
  q.max_price = 100;
  CHECK(index.search(q, scope_all()).total == 1);
  p.status = product_status::archived;
  index.put(p);
  CHECK(index.search(words("monitor"), scope_all()).total == 0);
  CHECK(index.size() == 4);
}

TEST_CASE("search queries are read from parameters, bad ones are named", "[search]") {
  conf::settings cfg;
  auto decode = [&cfg](std::map<std::string, std::string> params) {
    return decode_search_query(
      [&params](std::string_view name) -> std::optional<std::string> {
        auto it = params.find(std::string{name});
        if (it == params.end())
          return std::nullopt;
        return it->second;
      },
      cfg);
  };
  auto ok = decode({{"q", "red shoes"}, {"min_price", "100"}, {"max_price", "200"}, {"in_stock", "true"},
                    {"sort", "price_desc"}, {"limit", "50"}, {"category", "12"}, {"seller", "34"}});
  REQUIRE(std::holds_alternative<search_query>(ok));
  const auto& q = std::get<search_query>(ok);
  CHECK(q.q == "red shoes");
  CHECK(q.min_price == 100);
  CHECK(q.max_price == 200);
  CHECK(q.in_stock);
  CHECK(q.sort == search_sort::price_desc);
  CHECK(q.limit == 50);
  CHECK(q.category == 12);
  CHECK(q.seller == 34);
  // Without words the default order is newest.
  CHECK(std::get<search_query>(decode({})).sort == search_sort::newest);
  CHECK(std::get<search_query>(decode({{"q", "x"}})).sort == search_sort::relevance);

  auto field_of = [&](std::map<std::string, std::string> params) {
    auto r = decode(std::move(params));
    REQUIRE(std::holds_alternative<problem>(r));
    const auto& p = std::get<problem>(r);
    CHECK(p.code == errc::bad_request);
    REQUIRE(p.fields.size() == 1);
    return p.fields.front().field;
  };
  CHECK(field_of({{"min_price", "-1"}}) == "min_price");
  CHECK(field_of({{"max_price", "abc"}}) == "max_price");
  CHECK(field_of({{"min_price", "500"}, {"max_price", "100"}}) == "max_price");
  CHECK(field_of({{"sort", "popularity"}}) == "sort");
  CHECK(field_of({{"limit", "101"}}) == "limit");
  CHECK(field_of({{"limit", "0"}}) == "limit");
  CHECK(field_of({{"cursor", "not-a-cursor"}}) == "cursor");
  CHECK(field_of({{"in_stock", "maybe"}}) == "in_stock");
  CHECK(field_of({{"category", "x1"}}) == "category");
  CHECK(field_of({{"q", std::string(201, 'a')}}) == "q");
  // A cursor belongs to its sort.
  search_cursor c{true, search_sort::price_asc, 1999, 42};
  CHECK(field_of({{"cursor", encode_cursor(c)}, {"sort", "newest"}}) == "cursor");
  auto with_cursor = decode({{"cursor", encode_cursor(c)}, {"sort", "price_asc"}});
  REQUIRE(std::holds_alternative<search_query>(with_cursor));
  CHECK(std::get<search_query>(with_cursor).cursor.key == 1999);
  CHECK(std::get<search_query>(with_cursor).cursor.id == 42);
}

TEST_CASE("changes from other nodes apply by version: a late or repeated one changes nothing", "[search]") {
  catalog_index index{search_tuning{1, 64, 50}};
  auto p = item(1, "Rangefinder", 10, 5000, 5);
  p.stock_version = 3;
  p.version = 2; // version 5
  index.put(p);
  auto stock_of = [&] {
    search_query q;
    q.in_stock = true;
    return index.search(q, scope_all()).total;
  };
  auto update = [](std::int64_t stock, std::int64_t version) {
    stock_update u;
    u.product_id = 1;
    u.stock = stock;
    u.price_minor = 5000;
    u.version = version;
    return u;
  };
  index.put(update(0, 7)); // sold out at version 7
  CHECK(stock_of() == 0);
  index.put(update(4, 6)); // late: an older stock
  CHECK(stock_of() == 0);
  index.put(update(0, 7)); // repeated
  CHECK(stock_of() == 0);
  index.put(update(2, 8)); // restocked
  CHECK(stock_of() == 1);

  // A listing edit older than what the index shows is ignored; a newer one applies.
  auto old_title = p;
  old_title.title = "Stale title";
  index.put(old_title); // version 5 < 8
  CHECK(index.search(words("stale"), scope_all()).total == 0);
  auto renamed = p;
  renamed.title = "Twin lens reflex";
  renamed.stock_version = 6;
  renamed.version = 3; // version 9
  renamed.stock = 2;
  index.put(renamed);
  CHECK(index.search(words("reflex"), scope_all()).total == 1);
  CHECK(index.search(words("rangefinder"), scope_all()).total == 0);

  // An archive at version 10; the active listing of version 9 arriving late does not bring it back.
  auto archived = renamed;
  archived.status = product_status::archived;
  archived.version = 4; // version 10
  index.put(archived);
  CHECK(index.search(words("reflex"), scope_all()).total == 0);
  index.put(renamed);
  CHECK(index.search(words("reflex"), scope_all()).total == 0);
  auto restored = archived;
  restored.status = product_status::active;
  restored.version = 5; // version 11
  index.put(restored);
  CHECK(index.search(words("reflex"), scope_all()).total == 1);
}

namespace {

/// A catalog that keeps changing: words from a small vocabulary, three
/// categories, sellers, prices, stock; then edits, moves, stock changes
/// and removals, applied to every index given.
template <class Apply>
void churn(Apply apply, std::uint64_t seed) {
  const char* vocabulary[] = {"black", "blue", "watch", "wireless", "headphone", "leather", "jacket", "vintage",
                              "card", "lens", "backpack", "back", "backed", "silver", "ring"};
  std::uint64_t state = seed;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  auto text = [&](int words) {
    std::string out;
    for (int i = 0; i < words; ++i)
      out += std::string{vocabulary[next() % std::size(vocabulary)]} + " ";
    return out;
  };
  const std::uint64_t categories[] = {10, 11, 20};
  auto make = [&](std::uint64_t id) {
    auto p = item(id, text(1 + static_cast<int>(next() % 4)), categories[next() % 3],
                  static_cast<std::int64_t>(100 + next() % 900), static_cast<std::int64_t>(next() % 3),
                  text(static_cast<int>(next() % 6)), 1 + next() % 4);
    p.created_at_ms = static_cast<std::int64_t>(next() % 50) * 1000; // ties, broken by id
    return p;
  };
  for (std::uint64_t id = 1; id <= 400; ++id)
    apply(make(id));
  for (int i = 0; i < 300; ++i) {
    auto id = 1 + next() % 420;
    auto p = make(id);
    p.version = 1 + i; // newer than the first put
    if (next() % 10 == 0)
      p.status = product_status::archived;
    apply(p);
  }
}

std::vector<search_query> query_set() {
  std::vector<search_query> out;
  for (std::string q : {"", "black", "blue watch", "back", "leathr", "vintage jacket", "ring", "xyzzy"})
    for (auto sort : {search_sort::relevance, search_sort::price_asc, search_sort::price_desc, search_sort::newest,
                      search_sort::rating}) {
      search_query s = words(q);
      s.sort = sort;
      s.limit = 9;
      out.push_back(s);
      s.in_stock = true;
      out.push_back(s);
      s.in_stock = false;
      s.min_price = 300;
      s.max_price = 800;
      out.push_back(s);
      s.min_price = s.max_price = -1;
      s.seller = 2;
      out.push_back(s);
    }
  return out;
}

/// Every page of `q`, following the cursor.
template <class Search>
std::vector<search_result> all_pages(search_query q, Search search) {
  std::vector<search_result> out;
  for (int i = 0; i < 200; ++i) {
    out.push_back(search(q));
    if (!out.back().next.present)
      break;
    q.cursor = out.back().next;
  }
  return out;
}

void same(const std::vector<search_result>& a, const std::vector<search_result>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(ids_of(a[i]) == ids_of(b[i]));
    CHECK(a[i].total == b[i].total);
    CHECK(a[i].fuzzy == b[i].fuzzy);
    REQUIRE(a[i].facets.size() == b[i].facets.size());
    for (std::size_t f = 0; f < a[i].facets.size(); ++f) {
      CHECK(a[i].facets[f].id == b[i].facets[f].id);
      CHECK(a[i].facets[f].count == b[i].facets[f].count);
    }
  }
}

} // namespace

TEST_CASE("an index split in shards answers as the whole index does, page after page", "[search]") {
  search_tuning tuning{5, 64, 50};
  catalog_index whole{tuning};
  std::vector<catalog_index> shards;
  for (int i = 0; i < 3; ++i)
    shards.emplace_back(tuning);
  churn(
    [&](const product& p) {
      whole.put(p);
      shards[p.id % 3].put(p);
    },
    7);
  for (const auto& base : query_set()) {
    CAPTURE(base.q, static_cast<int>(base.sort), base.in_stock, base.min_price, base.seller);
    auto sharded = [&](const search_query& q) {
      std::vector<search_page> pages;
      std::uint64_t total = 0;
      for (const auto& s : shards) {
        pages.push_back(s.page(q, scope_all(), false));
        total += pages.back().result.total;
      }
      if (total < tuning.fuzzy_below && !search_words(q.q).empty())
        for (std::size_t i = 0; i < shards.size(); ++i)
          pages[i] = shards[i].page(q, scope_all(), true);
      return merge_search_pages(q, pages, tuning.facets_max);
    };
    same(all_pages(base, [&](const search_query& q) { return whole.search(q, scope_all()); }),
         all_pages(base, sharded));
  }
}

TEST_CASE("counts kept per category agree with counting every match, through changes", "[search]") {
  catalog_index index;
  churn([&](const product& p) { index.put(p); }, 11);
  // Stock changes flip products in and out of stock.
  for (std::uint64_t id = 1; id <= 420; id += 3) {
    stock_update u;
    u.product_id = id;
    u.stock = static_cast<std::int64_t>(id % 2);
    u.price_minor = static_cast<std::int64_t>(id);
    index.put(u);
  }
  category_scope only_a{{10, 11}, {0, 1}, {cat(10, "A0"), cat(11, "A1")}};
  for (auto scope : {scope_all(), only_a})
    for (bool in_stock : {false, true})
      for (auto sort : {search_sort::newest, search_sort::price_asc, search_sort::rating}) {
        search_query counted;
        counted.in_stock = in_stock;
        counted.sort = sort;
        counted.limit = 11;
        if (scope.members.size() == 2)
          counted.category = 1;
        auto scanned = counted;
        scanned.min_price = 0; // every price: the same matches, counted one by one
        CAPTURE(in_stock, static_cast<int>(sort), scope.members.size());
        same(all_pages(counted, [&](const search_query& q) { return index.search(q, scope); }),
             all_pages(scanned, [&](const search_query& q) { return index.search(q, scope); }));
      }
}
