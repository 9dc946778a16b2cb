#include <actors/catalog_index.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_set>

namespace livemart {
namespace {

constexpr std::array<std::string_view, 16> stop_words{"a",  "an", "and", "at",   "by",   "for", "from", "in",
                                                      "is", "of", "on",  "or",   "the",  "to",  "with", "s"};

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool ends_with(const std::string& w, std::string_view suffix) {
  return w.size() >= suffix.size() && w.compare(w.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Plurals to singular, only where it is safe for product words.
void singular(std::string& w) {
  if (w.size() <= 3)
    return;
  if (ends_with(w, "ies") && w.size() > 4) {
    w.resize(w.size() - 3);
    w += 'y';
  } else if (ends_with(w, "sses") || ends_with(w, "xes") || ends_with(w, "zes") || ends_with(w, "ches")
             || ends_with(w, "shes")) {
    w.resize(w.size() - 2);
  } else if (w.back() == 's' && !ends_with(w, "ss") && !ends_with(w, "us") && !ends_with(w, "is")) {
    w.pop_back();
  }
}

/// pg_trgm's trigrams: the word padded with two spaces in front, one behind.
std::vector<std::uint32_t> trigrams(const std::string& word) {
  std::string padded = "  " + word + " ";
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i + 3 <= padded.size(); ++i)
    out.push_back((std::uint32_t{static_cast<unsigned char>(padded[i])} << 16)
                  | (std::uint32_t{static_cast<unsigned char>(padded[i + 1])} << 8)
                  | std::uint32_t{static_cast<unsigned char>(padded[i + 2])});
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Whether (ka, ia) comes before (kb, ib) in `sort`'s order.
bool before(search_sort sort, std::int64_t ka, std::uint64_t ia, std::int64_t kb, std::uint64_t ib) {
  if (sort == search_sort::price_asc)
    return ka != kb ? ka < kb : ia < ib;
  return ka != kb ? ka > kb : ia > ib;
}

} // namespace

std::vector<std::string> search_words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    std::string w;
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i]))) {
      auto c = static_cast<unsigned char>(text[i++]);
      w += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (w.empty() || std::find(stop_words.begin(), stop_words.end(), w) != stop_words.end())
      continue;
    singular(w);
    out.push_back(std::move(w));
  }
  return out;
}

std::uint32_t catalog_index::term_id(const std::string& word) {
  if (auto it = term_ids_.find(word); it != term_ids_.end())
    return it->second;
  auto id = static_cast<std::uint32_t>(terms_.size());
  term_ids_.emplace(word, id);
  terms_.push_back(word);
  postings_.emplace_back();
  ordered_.emplace(word, id);
  auto grams = trigrams(word);
  trigram_counts_.push_back(static_cast<std::uint32_t>(grams.size()));
  for (auto g : grams)
    trigram_terms_[g].push_back(id);
  return id;
}

void catalog_index::unpost(std::uint32_t slot) {
  if (hot_[slot].live) {
    auto& members = category_docs_[hot_[slot].category_slot];
    auto it = std::lower_bound(members.begin(), members.end(), slot);
    if (it != members.end() && *it == slot)
      members.erase(it);
  }
  auto& d = docs_[slot];
  for (auto t : d.terms) {
    auto& list = postings_[t];
    auto it = std::lower_bound(list.begin(), list.end(), slot, [](const posting& p, std::uint32_t s) { return p.doc < s; });
    if (it != list.end() && it->doc == slot)
      list.erase(it);
  }
  d.terms.clear();
}

namespace {

/// A product's version as its committed changes raise it (see stock_update::version).
std::int64_t version_of(const product& p) {
  return p.stock_version + p.version;
}

} // namespace

bool catalog_index::stale(std::uint64_t id, std::int64_t version) const {
  if (auto it = slots_.find(id); it != slots_.end())
    return version < docs_[it->second].version;
  auto gone = removed_.find(id);
  return gone != removed_.end() && version <= gone->second;
}

void catalog_index::put(const product& p) {
  // The same version again applies (a rating changes no version); an
  // older one is late news from another node or actor.
  auto version = version_of(p);
  if (stale(p.id, version))
    return;
  if (p.status != product_status::active) {
    remove(p.id);
    removed_[p.id] = version;
    return;
  }
  removed_.erase(p.id);
  std::uint32_t slot;
  if (auto it = slots_.find(p.id); it != slots_.end()) {
    slot = it->second;
    unpost(slot);
  } else if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    slots_.emplace(p.id, slot);
  } else {
    slot = static_cast<std::uint32_t>(docs_.size());
    docs_.emplace_back();
    hot_.emplace_back();
    slots_.emplace(p.id, slot);
  }
  auto& h = hot_[slot];
  h.id = p.id;
  h.seller_id = p.seller_id;
  auto [cs, added] = category_slots_.emplace(p.category_id, static_cast<std::uint32_t>(category_ids_.size()));
  if (added) {
    category_ids_.push_back(p.category_id);
    category_docs_.emplace_back();
  }
  h.category_slot = cs->second;
  auto& members = category_docs_[cs->second];
  members.insert(std::lower_bound(members.begin(), members.end(), slot), slot);
  h.price_minor = p.price_minor;
  h.stock = p.stock;
  h.created_at_ms = p.created_at_ms;
  h.rating_x100 = static_cast<std::int32_t>(p.rating.average_x100());
  h.live = true;
  auto& d = docs_[slot];
  d.version = version;
  d.category_id = p.category_id;
  d.currency = p.currency;
  d.rating = p.rating;
  d.title = p.title;
  d.image_url = p.image_urls.empty() ? std::string{} : p.image_urls.front();
  std::unordered_map<std::uint32_t, std::uint32_t> weights;
  for (const auto& w : search_words(p.title))
    weights[term_id(w)] += 3;
  for (const auto& w : search_words(p.description))
    weights[term_id(w)] += 1;
  for (const auto& [t, weight] : weights) {
    auto& list = postings_[t];
    auto it = std::lower_bound(list.begin(), list.end(), slot, [](const posting& x, std::uint32_t s) { return x.doc < s; });
    list.insert(it, posting{slot, static_cast<std::uint16_t>(std::min<std::uint32_t>(weight, 1000))});
    d.terms.push_back(t);
  }
}

void catalog_index::put(const stock_update& u) {
  auto it = slots_.find(u.product_id);
  if (it == slots_.end())
    return;
  auto& d = docs_[it->second];
  if (u.version != 0) {
    if (u.version <= d.version)
      return; // late or repeated
    d.version = u.version;
  }
  auto& h = hot_[it->second];
  h.stock = u.stock;
  h.price_minor = u.price_minor;
}

void catalog_index::remove(std::uint64_t product_id) {
  auto it = slots_.find(product_id);
  if (it == slots_.end())
    return;
  auto slot = it->second;
  unpost(slot);
  docs_[slot] = doc{};
  hot_[slot] = hot_fields{};
  free_.push_back(slot);
  slots_.erase(it);
}

std::vector<std::pair<std::uint32_t, float>> catalog_index::expand(const std::string& word, bool prefix,
                                                                   bool fuzzy) const {
  std::vector<std::pair<std::uint32_t, float>> out;
  if (auto it = term_ids_.find(word); it != term_ids_.end())
    out.emplace_back(it->second, 1.0f);
  if (prefix && word.size() >= 2) {
    // Words no product uses any more (edited away) stay in the dictionary
    // but do not count against the limit.
    std::size_t taken = 0;
    for (auto it = ordered_.upper_bound(word);
         it != ordered_.end() && it->first.compare(0, word.size(), word) == 0 && taken < tuning_.prefix_terms_max; ++it) {
      if (postings_[it->second].empty())
        continue;
      out.emplace_back(it->second, 0.6f);
      ++taken;
    }
  }
  if (fuzzy && word.size() >= 3) {
    // Similar words: pg_trgm's similarity over the vocabulary.
    auto grams = trigrams(word);
    std::unordered_map<std::uint32_t, std::uint32_t> shared;
    for (auto g : grams)
      if (auto it = trigram_terms_.find(g); it != trigram_terms_.end())
        for (auto t : it->second)
          ++shared[t];
    std::vector<std::pair<float, std::uint32_t>> similar;
    for (const auto& [t, n] : shared) {
      auto sim = static_cast<float>(n) / static_cast<float>(grams.size() + trigram_counts_[t] - n);
      if (sim >= 0.3f && terms_[t] != word && !postings_[t].empty())
        similar.emplace_back(sim, t);
    }
    std::sort(similar.begin(), similar.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    if (similar.size() > 8)
      similar.resize(8);
    for (const auto& [sim, t] : similar)
      out.emplace_back(t, 0.5f * sim);
  }
  return out;
}

std::vector<catalog_index::match> catalog_index::run(const std::vector<std::string>& words, bool fuzzy) const {
  std::vector<match> acc;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::vector<match> cur;
    for (const auto& [t, quality] : expand(words[i], i + 1 == words.size(), fuzzy))
      for (const auto& p : postings_[t])
        cur.push_back({p.doc, static_cast<float>(p.weight) * quality});
    std::sort(cur.begin(), cur.end(), [](const match& a, const match& b) { return a.doc < b.doc || (a.doc == b.doc && a.score > b.score); });
    // One score per document: its best match for this word.
    cur.erase(std::unique(cur.begin(), cur.end(), [](const match& a, const match& b) { return a.doc == b.doc; }), cur.end());
    if (i == 0) {
      acc = std::move(cur);
    } else {
      // Every word must match (AND); scores add up.
      std::vector<match> both;
      auto a = acc.begin();
      auto b = cur.begin();
      while (a != acc.end() && b != cur.end()) {
        if (a->doc < b->doc) {
          ++a;
        } else if (b->doc < a->doc) {
          ++b;
        } else {
          both.push_back({a->doc, a->score + b->score});
          ++a;
          ++b;
        }
      }
      acc = std::move(both);
    }
    if (acc.empty())
      break;
  }
  return acc;
}

search_result catalog_index::search(const search_query& q, const category_scope& scope) const {
  search_result out;
  auto words = search_words(q.q);
  // The scope as a table from category slot to facet bucket (-1: out).
  std::vector<std::int32_t> bucket(category_ids_.size(), -1);
  for (std::size_t i = 0; i < scope.members.size(); ++i)
    if (auto it = category_slots_.find(scope.members[i]); it != category_slots_.end())
      bucket[it->second] = static_cast<std::int32_t>(scope.bucket_of[i]);
  std::vector<std::uint64_t> facet_counts(scope.buckets.size(), 0);

  auto sort = q.sort;
  auto key_of = [&](const hot_fields& d, float score) -> std::int64_t {
    switch (sort) {
      case search_sort::relevance:
        return words.empty() ? d.created_at_ms : static_cast<std::int64_t>(std::lround(score * 1000.0f));
      case search_sort::price_asc:
      case search_sort::price_desc:
        return d.price_minor;
      case search_sort::newest:
        return d.created_at_ms;
      case search_sort::rating:
        return d.rating_x100;
    }
    return 0;
  };
  struct ranked {
    std::int64_t key;
    std::uint64_t id;
    std::uint32_t slot;
  };
  // The best limit + 1 after the cursor, as a heap whose top is the worst.
  std::vector<ranked> page;
  auto keep = static_cast<std::size_t>(q.limit) + 1;
  page.reserve(keep + 1);
  auto cmp = [sort](const ranked& a, const ranked& b) { return before(sort, a.key, a.id, b.key, b.id); };
  auto consider = [&](std::uint32_t slot, float score) {
    const auto& d = hot_[slot];
    if (!d.live || (q.seller != 0 && d.seller_id != q.seller) || (q.in_stock && d.stock <= 0)
        || (q.min_price >= 0 && d.price_minor < q.min_price) || (q.max_price >= 0 && d.price_minor > q.max_price))
      return;
    auto b = bucket[d.category_slot];
    if (b < 0)
      return; // an inactive category, or outside the asked one
    ++out.total;
    ++facet_counts[static_cast<std::size_t>(b)];
    auto key = key_of(d, score);
    if (q.cursor.present && !before(sort, q.cursor.key, q.cursor.id, key, d.id))
      return;
    ranked r{key, d.id, slot};
    if (page.size() == keep && !cmp(r, page.front()))
      return;
    page.push_back(r);
    std::push_heap(page.begin(), page.end(), cmp);
    if (page.size() > keep) {
      std::pop_heap(page.begin(), page.end(), cmp);
      page.pop_back();
    }
  };
  auto scan = [&](bool fuzzy) {
    out = search_result{};
    std::fill(facet_counts.begin(), facet_counts.end(), 0);
    page.clear();
    if (words.empty() && q.category != 0) {
      // Browsing a category: only its own products, not the whole catalog.
      for (auto member : scope.members)
        if (auto it = category_slots_.find(member); it != category_slots_.end())
          for (auto slot : category_docs_[it->second])
            consider(slot, 0.0f);
    } else if (words.empty()) {
      for (std::uint32_t slot = 0; slot < docs_.size(); ++slot)
        consider(slot, 0.0f);
    } else {
      for (const auto& m : run(words, fuzzy))
        consider(m.doc, m.score);
    }
    out.fuzzy = fuzzy;
  };
  scan(false);
  if (!words.empty() && out.total < tuning_.fuzzy_below)
    scan(true);

  std::sort_heap(page.begin(), page.end(), cmp);
  auto n = std::min<std::size_t>(page.size(), q.limit);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& h = hot_[page[i].slot];
    const auto& d = docs_[page[i].slot];
    out.items.push_back(search_hit{h.id, h.seller_id, d.category_id, d.title, h.price_minor, d.currency, h.stock,
                                   d.image_url, d.rating, h.created_at_ms});
  }
  if (page.size() > n && n > 0)
    out.next = search_cursor{true, sort, page[n - 1].key, page[n - 1].id};

  for (std::size_t b = 0; b < facet_counts.size(); ++b)
    if (facet_counts[b] > 0)
      out.facets.push_back({scope.buckets[b].id, scope.buckets[b].name, scope.buckets[b].slug, facet_counts[b]});
  std::sort(out.facets.begin(), out.facets.end(), [](const category_facet& a, const category_facet& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  });
  if (out.facets.size() > tuning_.facets_max)
    out.facets.resize(tuning_.facets_max);
  return out;
}

} // namespace livemart
