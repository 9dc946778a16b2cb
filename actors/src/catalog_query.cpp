// The search half of catalog_index: one query over the index (words,
// browsing, the page and its counts), and the merge of several indexes'
// pages. The index's layout and its changes are in catalog_index.cpp.
#include <actors/catalog_index.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <unordered_map>

#include "catalog_index_internal.hpp"

namespace livemart {

using index_detail::before;
using index_detail::key_before;
using index_detail::trigrams;

/// One query word's matches, by slot: a term's own postings, or the union
/// of several terms' (a prefix, similar words) with the best score per slot.
struct catalog_index::word_list {
  const std::uint32_t* slots = nullptr;
  const std::uint8_t* weights = nullptr; ///< with `quality`; else `own_scores`
  float quality = 1.0f;
  std::size_t size = 0;
  std::vector<std::uint32_t> own_slots;
  std::vector<float> own_scores;

  float score(std::size_t i) const { return weights != nullptr ? weights[i] * quality : own_scores[i]; }
  /// The first position at or after `from` whose slot is at least `slot`.
  std::size_t seek(std::size_t from, std::uint32_t slot) const {
    std::size_t step = 1, hi = from;
    while (hi < size && slots[hi] < slot) {
      from = hi + 1;
      hi += step;
      step *= 2;
    }
    return static_cast<std::size_t>(std::lower_bound(slots + from, slots + std::min(hi, size), slot) - slots);
  }
};

/// One search's state: the scope as a table, the counts and the page.
struct catalog_index::query_run {
  struct ranked {
    std::int64_t key;
    std::uint64_t id;
    std::uint32_t slot;
  };

  const catalog_index& index;
  const search_query& q;
  bool has_words;
  std::vector<std::int32_t> bucket; ///< per category slot: its facet bucket, -1 when out of scope
  std::vector<std::uint64_t> facets;
  std::uint32_t seller = UINT32_MAX;
  std::uint64_t total = 0;
  std::vector<ranked> page; ///< the best `keep` after the cursor, a heap whose top is the worst
  std::size_t keep;

  query_run(const catalog_index& idx, const search_query& query, bool words, const category_scope& scope)
    : index(idx), q(query), has_words(words), bucket(idx.category_ids_.size(), -1), facets(scope.buckets.size(), 0),
      keep(static_cast<std::size_t>(query.limit) + 1) {
    for (std::size_t i = 0; i < scope.members.size(); ++i)
      if (auto it = idx.category_slots_.find(scope.members[i]); it != idx.category_slots_.end())
        bucket[it->second] = static_cast<std::int32_t>(scope.bucket_of[i]);
    if (q.seller != 0)
      if (auto it = idx.seller_slots_.find(q.seller); it != idx.seller_slots_.end())
        seller = it->second;
    page.reserve(keep + 1);
  }

  void reset() {
    total = 0;
    std::fill(facets.begin(), facets.end(), 0);
    page.clear();
  }

  std::int64_t key_of(const hot_fields& h, float score) const {
    switch (q.sort) {
      case search_sort::relevance:
        return has_words ? static_cast<std::int64_t>(std::lround(score * 1000.0f)) : h.created_at_ms;
      case search_sort::price_asc:
      case search_sort::price_desc:
        return h.price_minor;
      case search_sort::newest:
        return h.created_at_ms;
      case search_sort::rating:
        return h.rating_x100;
    }
    return 0;
  }

  /// Whether a product with `key` could still join the page, judged by
  /// the page's worst so far (not by the cursor: a block's best key says
  /// nothing of its worst).
  bool may_join(std::int64_t key) const {
    return page.size() < keep || !key_before(q.sort, page.front().key, key);
  }

  bool cmp(const ranked& a, const ranked& b) const { return before(q.sort, a.key, a.id, b.key, b.id); }

  void offer(std::uint32_t slot, std::int64_t key) {
    if (!may_join(key))
      return;
    if (q.cursor.present && key_before(q.sort, key, q.cursor.key))
      return;
    auto id = index.hot_[slot].id;
    if (q.cursor.present && !before(q.sort, q.cursor.key, q.cursor.id, key, id))
      return;
    ranked r{key, id, slot};
    auto less = [this](const ranked& a, const ranked& b) { return cmp(a, b); };
    if (page.size() == keep && !cmp(r, page.front()))
      return;
    page.push_back(r);
    std::push_heap(page.begin(), page.end(), less);
    if (page.size() > keep) {
      std::pop_heap(page.begin(), page.end(), less);
      page.pop_back();
    }
  }

  /// A product that matched the words (or any, without words): filters,
  /// then (when `counting`) the total and facets, then the page.
  void consider(std::uint32_t slot, float score, bool counting) {
    const auto& h = index.hot_[slot];
    if ((h.flags & live_flag) == 0 || (q.seller != 0 && h.seller != seller)
        || (q.in_stock && (h.flags & in_stock_flag) == 0) || (q.min_price >= 0 && h.price_minor < q.min_price)
        || (q.max_price >= 0 && h.price_minor > q.max_price))
      return;
    auto b = bucket[h.category_slot];
    if (b < 0)
      return; // an inactive category, or outside the asked one
    if (counting) {
      ++total;
      ++facets[static_cast<std::size_t>(b)];
    }
    offer(slot, key_of(h, score));
  }
};

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
      if (postings_[it->second].slots.empty())
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
      if (sim >= 0.3f && terms_[t] != word && !postings_[t].slots.empty())
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

void catalog_index::match_words(query_run& run, const std::vector<std::string>& words, bool fuzzy) const {
  std::vector<word_list> lists;
  lists.reserve(words.size());
  for (std::size_t i = 0; i < words.size(); ++i) {
    auto terms = expand(words[i], i + 1 == words.size(), fuzzy);
    std::erase_if(terms, [this](const auto& t) { return postings_[t.first].slots.empty(); });
    if (terms.empty())
      return; // every word must match (AND)
    word_list list;
    if (terms.size() == 1) {
      const auto& p = postings_[terms.front().first];
      list.slots = p.slots.data();
      list.weights = p.weights.data();
      list.quality = terms.front().second;
      list.size = p.slots.size();
    } else {
      // The union, smallest lists first: one score per product, its best.
      std::sort(terms.begin(), terms.end(), [this](const auto& a, const auto& b) {
        return postings_[a.first].slots.size() < postings_[b.first].slots.size();
      });
      std::vector<std::uint32_t> slots, merged_slots;
      std::vector<float> scores, merged_scores;
      for (const auto& [t, quality] : terms) {
        const auto& p = postings_[t];
        merged_slots.clear();
        merged_scores.clear();
        merged_slots.reserve(slots.size() + p.slots.size());
        merged_scores.reserve(slots.size() + p.slots.size());
        std::size_t a = 0, b = 0;
        while (a < slots.size() || b < p.slots.size()) {
          if (b == p.slots.size() || (a < slots.size() && slots[a] < p.slots[b])) {
            merged_slots.push_back(slots[a]);
            merged_scores.push_back(scores[a++]);
          } else if (a == slots.size() || p.slots[b] < slots[a]) {
            merged_slots.push_back(p.slots[b]);
            merged_scores.push_back(p.weights[b++] * quality);
          } else {
            merged_slots.push_back(slots[a]);
            merged_scores.push_back(std::max(scores[a++], p.weights[b++] * quality));
          }
        }
        slots.swap(merged_slots);
        scores.swap(merged_scores);
      }
      list.own_slots = std::move(slots);
      list.own_scores = std::move(scores);
      list.slots = list.own_slots.data();
      list.size = list.own_slots.size();
    }
    lists.push_back(std::move(list));
  }
  // The shortest list leads; the others are searched forward (galloping).
  std::sort(lists.begin(), lists.end(), [](const word_list& a, const word_list& b) { return a.size < b.size; });
  std::vector<std::size_t> at(lists.size(), 0);
  const auto& lead = lists.front();
  // Matches are far apart in hot_: ask for each one's line well before it
  // is read, or every match waits out a cache miss.
  constexpr std::size_t ahead = 12;
  for (std::size_t i = 0; i < lead.size; ++i) {
    if (i + ahead < lead.size)
      __builtin_prefetch(&hot_[lead.slots[i + ahead]]);
    auto slot = lead.slots[i];
    auto score = lead.score(i);
    bool all = true;
    for (std::size_t j = 1; j < lists.size(); ++j) {
      auto& pos = at[j];
      pos = lists[j].seek(pos, slot);
      if (pos == lists[j].size)
        return; // no later product has this word
      if (lists[j].slots[pos] != slot) {
        all = false;
        break;
      }
      score += lists[j].score(pos);
    }
    if (all)
      run.consider(slot, score, true);
  }
}

void catalog_index::browse(query_run& run, const category_scope& scope, bool counted) const {
  if (run.q.category != 0) {
    // A category's own products, not the whole catalog.
    for (auto member : scope.members)
      if (auto it = category_slots_.find(member); it != category_slots_.end())
        for (auto slot : category_docs_[it->second])
          run.consider(slot, 0.0f, !counted);
    return;
  }
  auto n = static_cast<std::uint32_t>(docs_.size());
  if (!counted) {
    for (std::uint32_t slot = 0; slot < n; ++slot)
      run.consider(slot, 0.0f, true);
    return;
  }
  // Counted already: only the page is wanted, and most blocks cannot reach it.
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    const auto& bb = blocks_[b];
    std::int64_t best = 0;
    switch (run.q.sort) {
      case search_sort::relevance:
      case search_sort::newest: best = bb.newest; break;
      case search_sort::price_asc: best = bb.price_min; break;
      case search_sort::price_desc: best = bb.price_max; break;
      case search_sort::rating: best = bb.rating_max; break;
    }
    if (!run.may_join(best))
      continue;
    auto first = static_cast<std::uint32_t>(b << block_bits);
    auto last = std::min<std::uint32_t>(n, first + (1u << block_bits));
    for (auto slot = first; slot < last; ++slot)
      run.consider(slot, 0.0f, false);
  }
}

search_page catalog_index::page(const search_query& q, const category_scope& scope, bool fuzzy) const {
  search_page out;
  auto words = search_words(q.q);
  query_run run{*this, q, !words.empty(), scope};
  if (words.empty()) {
    // Without words or filters on fields, the counts are kept per category.
    bool counted = q.seller == 0 && q.min_price < 0 && q.max_price < 0;
    if (counted)
      for (std::size_t i = 0; i < scope.members.size(); ++i)
        if (auto it = category_slots_.find(scope.members[i]); it != category_slots_.end()) {
          auto n = q.in_stock ? category_in_stock_[it->second] : category_live_[it->second];
          run.total += n;
          run.facets[scope.bucket_of[i]] += n;
        }
    browse(run, scope, counted);
  } else {
    match_words(run, words, fuzzy);
    out.result.fuzzy = fuzzy;
  }
  out.result.total = run.total;

  auto& page = run.page;
  std::sort_heap(page.begin(), page.end(), [&run](const auto& a, const auto& b) { return run.cmp(a, b); });
  out.result.items.reserve(page.size());
  out.keys.reserve(page.size());
  for (const auto& r : page) {
    const auto& h = hot_[r.slot];
    const auto& d = docs_[r.slot];
    out.result.items.push_back(search_hit{h.id, seller_ids_[h.seller], category_ids_[h.category_slot],
                                          std::string{title_of(d)}, h.price_minor, currencies_[d.currency], d.stock,
                                          image_of(d), rating_summary{d.rating_sum, d.rating_count},
                                          h.created_at_ms});
    out.keys.push_back(r.key);
  }
  for (std::size_t b = 0; b < run.facets.size(); ++b)
    if (run.facets[b] > 0)
      out.result.facets.push_back(
        {scope.buckets[b].id, scope.buckets[b].name, scope.buckets[b].slug, run.facets[b]});
  return out;
}

search_result catalog_index::search(const search_query& q, const category_scope& scope) const {
  std::vector<search_page> pages;
  pages.push_back(page(q, scope, false));
  if (pages.front().result.total < tuning_.fuzzy_below && !search_words(q.q).empty())
    pages.front() = page(q, scope, true);
  return merge_search_pages(q, pages, tuning_.facets_max);
}

search_result merge_search_pages(const search_query& q, std::vector<search_page>& pages, std::size_t facets_max) {
  search_result out;
  struct entry {
    std::int64_t key;
    search_hit* hit;
  };
  std::vector<entry> all;
  std::unordered_map<std::uint64_t, std::size_t> facet_at;
  for (auto& p : pages) {
    out.total += p.result.total;
    out.fuzzy = out.fuzzy || p.result.fuzzy;
    for (std::size_t i = 0; i < p.result.items.size(); ++i)
      all.push_back({p.keys[i], &p.result.items[i]});
    for (auto& f : p.result.facets) {
      auto [it, added] = facet_at.emplace(f.id, out.facets.size());
      if (added)
        out.facets.push_back(std::move(f));
      else
        out.facets[it->second].count += f.count;
    }
  }
  std::sort(all.begin(), all.end(), [&q](const entry& a, const entry& b) {
    return before(q.sort, a.key, a.hit->id, b.key, b.hit->id);
  });
  auto n = std::min<std::size_t>(all.size(), q.limit);
  out.items.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.items.push_back(std::move(*all[i].hit));
  if (all.size() > n && n > 0)
    out.next = search_cursor{true, q.sort, all[n - 1].key, out.items[n - 1].id};
  std::sort(out.facets.begin(), out.facets.end(), [](const category_facet& a, const category_facet& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  });
  if (out.facets.size() > facets_max)
    out.facets.resize(facets_max);
  return out;
}

} // namespace livemart
