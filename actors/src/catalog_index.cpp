#include <actors/catalog_index.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

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

/// Calls `fn(word)` for each search word of `text`, built in `w` (reused,
/// so indexing a product allocates nothing per word).
template <class F>
void for_each_word(std::string_view text, std::string& w, F&& fn) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    w.clear();
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i]))) {
      auto c = static_cast<unsigned char>(text[i++]);
      w += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (w.empty() || std::find(stop_words.begin(), stop_words.end(), w) != stop_words.end())
      continue;
    singular(w);
    fn(std::string_view{w});
  }
}

/// pg_trgm's trigrams: the word padded with two spaces in front, one behind.
std::vector<std::uint32_t> trigrams(std::string_view word) {
  std::string padded = "  " + std::string{word} + " ";
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

/// Whether key `a` comes strictly before key `b` in `sort`'s order.
bool key_before(search_sort sort, std::int64_t a, std::int64_t b) {
  return sort == search_sort::price_asc ? a < b : a > b;
}

void put_varint(std::string& out, std::uint32_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

std::uint32_t get_varint(const unsigned char*& p) {
  std::uint32_t v = 0;
  for (int shift = 0;; shift += 7) {
    auto b = *p++;
    v |= std::uint32_t{b & 0x7fu} << shift;
    if (b < 0x80)
      return v;
  }
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// A product's version as its committed changes raise it (see stock_update::version).
std::int64_t version_of(const product& p) {
  return p.stock_version + p.version;
}

constexpr std::size_t text_max = 0xffff;

std::string_view clipped(std::string_view s) {
  return s.substr(0, text_max);
}

} // namespace

std::vector<std::string> search_words(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for_each_word(text, w, [&](std::string_view word) { out.emplace_back(word); });
  return out;
}

// -- storage ------------------------------------------------------------------------

/// Records in chunks of 1 MiB: no copy of everything when it grows, and a
/// record's address never changes until the arena is rebuilt (shrink, or
/// when more than half of it is records of changed products).
class catalog_index::arena {
public:
  static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;

  std::uint64_t add(std::string_view a, std::string_view b, std::string_view c) {
    auto n = a.size() + b.size() + c.size();
    if (chunks_.empty() || used_ + n > sizes_.back()) {
      auto size = std::max(chunk_bytes, n);
      chunks_.push_back(std::make_unique<char[]>(size));
      sizes_.push_back(size);
      total_ += size;
      used_ = 0;
    }
    char* at = chunks_.back().get() + used_;
    std::memcpy(at, a.data(), a.size());
    std::memcpy(at + a.size(), b.data(), b.size());
    std::memcpy(at + a.size() + b.size(), c.data(), c.size());
    auto where = (std::uint64_t{chunks_.size() - 1} << 32) | used_;
    used_ += n;
    live_ += n;
    return where;
  }
  const char* at(std::uint64_t where) const { return chunks_[where >> 32].get() + (where & 0xffffffffu); }
  void release(std::size_t n) { live_ -= n; }
  std::size_t bytes() const { return total_; }
  /// More than half of it holds records no product uses.
  bool wasteful() const { return total_ > 2 * live_ + 8 * chunk_bytes; }

private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<std::size_t> sizes_;
  std::size_t used_ = 0;
  std::size_t live_ = 0;
  std::size_t total_ = 0;
};

/// Product id -> slot, open addressing over 4-byte cells: the id is the
/// slot's own (hot_[slot].id), so a product costs about 8 bytes here.
class catalog_index::slot_table {
public:
  static constexpr std::uint32_t empty = UINT32_MAX;
  static constexpr std::uint32_t gone = UINT32_MAX - 1;

  template <class IdOf>
  std::uint32_t find(std::uint64_t id, IdOf id_of) const {
    if (cells_.empty())
      return empty;
    auto mask = cells_.size() - 1;
    for (auto i = mix(id) & mask;; i = (i + 1) & mask) {
      auto c = cells_[i];
      if (c == empty)
        return empty;
      if (c != gone && id_of(c) == id)
        return c;
    }
  }
  /// `id` is not in the table; `id_of(slot)` already answers it.
  template <class IdOf>
  void insert(std::uint64_t id, std::uint32_t slot, IdOf id_of) {
    if ((used_ + 1) * 4 > cells_.size() * 3)
      rehash(id_of);
    place(id, slot);
    ++used_;
    ++live_;
  }
  template <class IdOf>
  void erase(std::uint64_t id, IdOf id_of) {
    auto mask = cells_.size() - 1;
    for (auto i = mix(id) & mask;; i = (i + 1) & mask) {
      auto c = cells_[i];
      if (c == empty)
        return;
      if (c != gone && id_of(c) == id) {
        cells_[i] = gone;
        --live_;
        return;
      }
    }
  }
  std::size_t bytes() const { return cells_.capacity() * sizeof(std::uint32_t); }

private:
  void place(std::uint64_t id, std::uint32_t slot) {
    auto mask = cells_.size() - 1;
    auto i = mix(id) & mask;
    while (cells_[i] != empty)
      i = (i + 1) & mask;
    cells_[i] = slot;
  }
  template <class IdOf>
  void rehash(IdOf id_of) {
    std::size_t size = 16;
    while (size * 3 < (live_ + 1) * 8) // at most 3/8 full after a rehash
      size *= 2;
    auto old = std::move(cells_);
    cells_.assign(size, empty);
    used_ = live_;
    for (auto c : old)
      if (c != empty && c != gone)
        place(id_of(c), c);
  }

  std::vector<std::uint32_t> cells_;
  std::size_t used_ = 0; ///< cells not empty (live and gone)
  std::size_t live_ = 0;
};

catalog_index::catalog_index(search_tuning tuning)
  : tuning_(tuning), arena_(std::make_unique<arena>()), slots_(std::make_unique<slot_table>()) {
  image_prefixes_.emplace_back();
}

catalog_index::~catalog_index() = default;
catalog_index::catalog_index(catalog_index&&) noexcept = default;
catalog_index& catalog_index::operator=(catalog_index&&) noexcept = default;

std::uint32_t catalog_index::term_id(std::string_view word) {
  if (auto it = term_ids_.find(word); it != term_ids_.end())
    return it->second;
  auto id = static_cast<std::uint32_t>(terms_.size());
  std::string_view stored = terms_.emplace_back(word);
  term_ids_.emplace(stored, id);
  ordered_.emplace(stored, id);
  postings_.emplace_back();
  auto grams = trigrams(stored);
  trigram_counts_.push_back(static_cast<std::uint32_t>(grams.size()));
  for (auto g : grams)
    trigram_terms_[g].push_back(id);
  return id;
}

std::uint32_t catalog_index::seller_slot(std::uint64_t seller_id) {
  auto [it, added] = seller_slots_.emplace(seller_id, static_cast<std::uint32_t>(seller_ids_.size()));
  if (added)
    seller_ids_.push_back(seller_id);
  return it->second;
}

std::uint32_t catalog_index::category_slot(std::uint64_t category_id) {
  auto [it, added] = category_slots_.emplace(category_id, static_cast<std::uint32_t>(category_ids_.size()));
  if (added) {
    category_ids_.push_back(category_id);
    category_docs_.emplace_back();
    category_live_.push_back(0);
    category_in_stock_.push_back(0);
  }
  return it->second;
}

std::uint16_t catalog_index::intern(std::vector<std::string>& table,
                                    std::unordered_map<std::string, std::uint16_t>& ids, std::string_view value) {
  if (auto it = ids.find(std::string{value}); it != ids.end())
    return it->second;
  if (table.size() > 0xffff)
    return 0xffff; // full: callers keep such values whole elsewhere
  auto id = static_cast<std::uint16_t>(table.size());
  table.emplace_back(value);
  ids.emplace(std::string{value}, id);
  return id;
}

std::string_view catalog_index::title_of(const doc& d) const {
  return {arena_->at(d.record), d.title_bytes};
}

std::string catalog_index::image_of(const doc& d) const {
  if (d.image_prefix == 0 && d.image_bytes == 0)
    return {};
  std::string out = image_prefixes_[d.image_prefix];
  out.append(arena_->at(d.record) + d.title_bytes, d.image_bytes);
  return out;
}

void catalog_index::count(std::uint32_t slot, int delta) {
  const auto& h = hot_[slot];
  category_live_[h.category_slot] += static_cast<std::uint32_t>(delta);
  if ((h.flags & in_stock_flag) != 0)
    category_in_stock_[h.category_slot] += static_cast<std::uint32_t>(delta);
}

void catalog_index::bound(std::uint32_t slot) {
  const auto& h = hot_[slot];
  auto& b = blocks_[slot >> block_bits];
  b.newest = std::max(b.newest, h.created_at_ms);
  b.price_max = std::max(b.price_max, h.price_minor);
  b.price_min = std::min(b.price_min, h.price_minor);
  b.rating_max = std::max<std::int32_t>(b.rating_max, h.rating_x100);
}

void catalog_index::unpost(std::uint32_t slot) {
  auto& h = hot_[slot];
  if ((h.flags & live_flag) == 0)
    return;
  auto& members = category_docs_[h.category_slot];
  if (auto it = std::lower_bound(members.begin(), members.end(), slot); it != members.end() && *it == slot)
    members.erase(it);
  count(slot, -1);
  h.flags = 0;
  auto& d = docs_[slot];
  const auto* p = reinterpret_cast<const unsigned char*>(arena_->at(d.record) + d.title_bytes + d.image_bytes);
  const auto* end = p + d.terms_bytes;
  std::uint32_t t = 0;
  while (p < end) {
    t += get_varint(p);
    auto& list = postings_[t];
    auto it = std::lower_bound(list.slots.begin(), list.slots.end(), slot);
    if (it != list.slots.end() && *it == slot) {
      list.weights.erase(list.weights.begin() + (it - list.slots.begin()));
      list.slots.erase(it);
    }
  }
  arena_->release(std::size_t{d.title_bytes} + d.image_bytes + d.terms_bytes);
  d.title_bytes = d.image_bytes = 0;
  d.terms_bytes = 0;
}

void catalog_index::post(std::uint32_t slot, const product& p) {
  auto& h = hot_[slot];
  h.seller = seller_slot(p.seller_id);
  h.category_slot = category_slot(p.category_id);
  h.price_minor = p.price_minor;
  h.created_at_ms = p.created_at_ms;
  h.rating_x100 = static_cast<std::int16_t>(std::clamp<std::int64_t>(p.rating.average_x100(), 0, 500));
  h.flags = static_cast<std::uint8_t>(live_flag | (p.stock > 0 ? in_stock_flag : 0));
  auto& members = category_docs_[h.category_slot];
  if (members.empty() || members.back() < slot)
    members.push_back(slot);
  else
    members.insert(std::lower_bound(members.begin(), members.end(), slot), slot);
  count(slot, +1);
  bound(slot);

  auto& d = docs_[slot];
  d.stock = p.stock;
  d.rating_sum = p.rating.sum;
  d.rating_count = p.rating.count;
  d.currency = intern(currencies_, currency_ids_, p.currency);

  // Words: (term, weight) pairs, summed per term.
  auto& terms = scratch_terms_;
  terms.clear();
  std::string w;
  for_each_word(p.title, w, [&](std::string_view word) { terms.emplace_back(term_id(word), 3); });
  for_each_word(p.description, w, [&](std::string_view word) { terms.emplace_back(term_id(word), 1); });
  std::sort(terms.begin(), terms.end());
  std::size_t n = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (n > 0 && terms[n - 1].first == terms[i].first)
      terms[n - 1].second += terms[i].second;
    else
      terms[n++] = terms[i];
  }
  terms.resize(n);
  std::string encoded;
  std::uint32_t previous = 0;
  for (const auto& [t, weight] : terms) {
    auto& list = postings_[t];
    auto wt = static_cast<std::uint8_t>(std::min<std::uint32_t>(weight, 255));
    if (list.slots.empty() || list.slots.back() < slot) {
      list.slots.push_back(slot);
      list.weights.push_back(wt);
    } else {
      auto it = std::lower_bound(list.slots.begin(), list.slots.end(), slot);
      list.weights.insert(list.weights.begin() + (it - list.slots.begin()), wt);
      list.slots.insert(it, slot);
    }
    put_varint(encoded, t - previous);
    previous = t;
  }

  // The record: title, the image's name after its (shared) folder, terms.
  auto title = clipped(p.title);
  std::string_view image = p.image_urls.empty() ? std::string_view{} : std::string_view{p.image_urls.front()};
  auto cut = image.rfind('/');
  std::uint16_t prefix = 0;
  if (cut != std::string_view::npos) {
    prefix = intern(image_prefixes_, image_prefix_ids_, image.substr(0, cut + 1));
    if (prefix != 0xffff)
      image.remove_prefix(cut + 1);
    else
      prefix = 0;
  }
  image = clipped(image);
  d.record = arena_->add(title, image, encoded);
  d.title_bytes = static_cast<std::uint16_t>(title.size());
  d.image_bytes = static_cast<std::uint16_t>(image.size());
  d.image_prefix = prefix;
  d.terms_bytes = static_cast<std::uint32_t>(encoded.size());
}

bool catalog_index::stale(std::uint64_t id, std::int64_t version) const {
  auto id_of = [this](std::uint32_t s) { return hot_[s].id; };
  if (auto slot = slots_->find(id, id_of); slot != slot_table::empty)
    return version < docs_[slot].version;
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
  auto id_of = [this](std::uint32_t s) { return hot_[s].id; };
  auto slot = slots_->find(p.id, id_of);
  if (slot != slot_table::empty) {
    unpost(slot);
  } else {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(docs_.size());
      docs_.emplace_back();
      hot_.emplace_back();
      if ((slot >> block_bits) >= blocks_.size())
        blocks_.emplace_back();
    }
    hot_[slot].id = p.id;
    slots_->insert(p.id, slot, id_of);
    ++live_;
  }
  docs_[slot].version = version;
  post(slot, p);
  if (arena_->wasteful())
    shrink();
}

void catalog_index::put(const stock_update& u) {
  auto slot = slots_->find(u.product_id, [this](std::uint32_t s) { return hot_[s].id; });
  if (slot == slot_table::empty)
    return;
  auto& d = docs_[slot];
  if (u.version != 0) {
    if (u.version <= d.version)
      return; // late or repeated
    d.version = u.version;
  }
  auto& h = hot_[slot];
  count(slot, -1);
  h.flags = static_cast<std::uint8_t>((h.flags & ~in_stock_flag) | (u.stock > 0 ? in_stock_flag : 0));
  count(slot, +1);
  h.price_minor = u.price_minor;
  d.stock = u.stock;
  bound(slot);
}

void catalog_index::remove(std::uint64_t product_id) {
  auto id_of = [this](std::uint32_t s) { return hot_[s].id; };
  auto slot = slots_->find(product_id, id_of);
  if (slot == slot_table::empty)
    return;
  unpost(slot);
  slots_->erase(product_id, id_of);
  docs_[slot] = doc{};
  hot_[slot] = hot_fields{};
  free_.push_back(slot);
  --live_;
}

void catalog_index::shrink() {
  auto fresh = std::make_unique<arena>();
  for (std::size_t slot = 0; slot < docs_.size(); ++slot) {
    if (hot_[slot].id == 0)
      continue;
    auto& d = docs_[slot];
    const char* at = arena_->at(d.record);
    d.record = fresh->add({at, d.title_bytes}, {at + d.title_bytes, d.image_bytes},
                          {at + d.title_bytes + d.image_bytes, d.terms_bytes});
  }
  arena_ = std::move(fresh);
  for (auto& list : postings_) {
    list.slots.shrink_to_fit();
    list.weights.shrink_to_fit();
  }
  for (auto& members : category_docs_)
    members.shrink_to_fit();
  hot_.shrink_to_fit();
  docs_.shrink_to_fit();
}

std::size_t catalog_index::memory_bytes() const {
  std::size_t n = hot_.capacity() * sizeof(hot_fields) + docs_.capacity() * sizeof(doc)
                  + blocks_.capacity() * sizeof(block_bounds) + free_.capacity() * sizeof(std::uint32_t)
                  + arena_->bytes() + slots_->bytes() + postings_.capacity() * sizeof(posting_list);
  for (const auto& list : postings_)
    n += list.slots.capacity() * sizeof(std::uint32_t) + list.weights.capacity();
  for (const auto& members : category_docs_)
    n += members.capacity() * sizeof(std::uint32_t) + sizeof(members);
  // Hash and tree nodes, roughly: a node with its key and links.
  constexpr std::size_t node = 48;
  n += removed_.size() * node + removed_.bucket_count() * sizeof(void*);
  for (const auto& t : terms_)
    n += sizeof(std::string) + (t.size() > 15 ? t.capacity() + 1 : 0) + 2 * node;
  for (const auto& [g, ids] : trigram_terms_)
    n += node + ids.capacity() * sizeof(std::uint32_t);
  n += trigram_counts_.capacity() * sizeof(std::uint32_t);
  n += (seller_slots_.size() + category_slots_.size()) * node
       + (seller_ids_.capacity() + category_ids_.capacity()) * sizeof(std::uint64_t)
       + (category_live_.capacity() + category_in_stock_.capacity()) * sizeof(std::uint32_t);
  return n;
}

// -- search -------------------------------------------------------------------------

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
