#include <actors/catalog_index.hpp>

#include "catalog_index_internal.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

namespace livemart {
using index_detail::trigrams;

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

namespace index_detail {

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

} // namespace index_detail

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
    compact_arena();
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

void catalog_index::compact_arena() {
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
}

void catalog_index::shrink() {
  compact_arena();
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

} // namespace livemart
