// `livemart seed`: a realistic demo catalog, deterministic for a seed number.
#include "seed.hpp"

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include <sodium.h>

#include <persistence/bulk.hpp>
#include <protocol/ids.hpp>
#include <protocol/sellers.hpp>

namespace livemart::demo {
namespace {

/// splitmix64: every value is a pure function of (seed, stream, index), so
/// the catalog is the same for a seed however it is batched.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct dice {
  std::uint64_t state;
  std::uint64_t next() { return state = mix(state); }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  std::int64_t between(std::int64_t lo, std::int64_t hi) { return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1)); }
  template <class T, std::size_t N>
  const T& pick(const T (&list)[N]) { return list[below(N)]; }
  template <class T>
  const T& pick(const std::vector<T>& list) { return list[below(list.size())]; }
};

dice dice_for(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return dice{mix(mix(seed) ^ mix(stream * 1'000'003 + index))};
}

struct leaf_spec {
  const char* name;
  std::vector<const char*> nouns;
  std::int64_t price_lo; ///< minor units
  std::int64_t price_hi;
};
struct branch_spec {
  const char* name;
  std::vector<leaf_spec> leaves;
};
struct root_spec {
  const char* name;
  std::vector<branch_spec> branches;
};

// Three levels: department > aisle > shelf. Products go on shelves.
const std::vector<root_spec>& taxonomy() {
  static const std::vector<root_spec> tree = {
    {"Electronics",
     {{"Audio",
       {{"Headphones", {"Headphones", "Over-Ear Headphones", "Studio Headphones"}, 1999, 49999},
        {"Earbuds", {"Earbuds", "True Wireless Earbuds", "Sport Earbuds"}, 999, 29999},
        {"Speakers", {"Bluetooth Speaker", "Bookshelf Speakers", "Soundbar"}, 1999, 99999},
        {"Turntables", {"Turntable", "Record Player"}, 4999, 89999}}},
      {"Cameras",
       {{"Mirrorless Cameras", {"Mirrorless Camera", "Camera Body"}, 39999, 399999},
        {"Lenses", {"Prime Lens", "Zoom Lens", "Macro Lens"}, 9999, 249999},
        {"Action Cameras", {"Action Camera", "Helmet Camera"}, 9999, 59999}}},
      {"Phones & Tablets",
       {{"Phone Cases", {"Phone Case", "Leather Phone Case", "Clear Case"}, 499, 5999},
        {"Chargers", {"Fast Charger", "Wireless Charger", "Power Bank"}, 999, 9999},
        {"Tablets", {"Tablet", "Drawing Tablet", "E-Reader"}, 7999, 129999}}},
      {"Gaming",
       {{"Controllers", {"Controller", "Arcade Stick", "Racing Wheel"}, 2999, 39999},
        {"Keyboards", {"Mechanical Keyboard", "Gaming Keyboard", "Keycap Set"}, 2999, 29999},
        {"Retro Consoles", {"Retro Console", "Handheld Console", "Game Cartridge"}, 1999, 49999}}}}},
    {"Fashion",
     {{"Sneakers",
       {{"Running Shoes", {"Running Shoes", "Trail Runners", "Racing Flats"}, 4999, 24999},
        {"Basketball Shoes", {"Basketball Shoes", "High Tops"}, 5999, 49999},
        {"Limited Editions", {"Limited Sneakers", "Collab Sneakers", "Retro Sneakers"}, 14999, 199999}}},
      {"Womenswear",
       {{"Dresses", {"Dress", "Maxi Dress", "Wrap Dress", "Slip Dress"}, 2499, 29999},
        {"Outerwear", {"Trench Coat", "Puffer Jacket", "Wool Coat"}, 5999, 59999},
        {"Knitwear", {"Cardigan", "Cashmere Sweater", "Knit Vest"}, 2999, 39999}}},
      {"Menswear",
       {{"Shirts", {"Oxford Shirt", "Flannel Shirt", "Linen Shirt"}, 1999, 14999},
        {"Denim", {"Selvedge Jeans", "Denim Jacket", "Raw Denim"}, 3999, 29999},
        {"Jackets", {"Bomber Jacket", "Field Jacket", "Leather Jacket"}, 5999, 69999}}},
      {"Bags",
       {{"Handbags", {"Handbag", "Tote Bag", "Crossbody Bag"}, 2999, 299999},
        {"Backpacks", {"Backpack", "Rolltop Backpack", "Laptop Backpack"}, 2999, 24999},
        {"Wallets", {"Wallet", "Card Holder", "Coin Purse"}, 999, 19999}}}}},
    {"Home & Kitchen",
     {{"Cookware",
       {{"Pans", {"Skillet", "Cast Iron Pan", "Saute Pan", "Wok"}, 1999, 29999},
        {"Knives", {"Chef Knife", "Santoku Knife", "Knife Set"}, 1999, 49999},
        {"Bakeware", {"Baking Sheet", "Bundt Pan", "Dutch Oven"}, 999, 39999}}},
      {"Coffee & Tea",
       {{"Espresso", {"Espresso Machine", "Tamper", "Milk Pitcher"}, 999, 199999},
        {"Grinders", {"Burr Grinder", "Hand Grinder"}, 2999, 59999},
        {"Teaware", {"Teapot", "Matcha Set", "Tea Cups"}, 999, 19999}}},
      {"Decor",
       {{"Candles", {"Scented Candle", "Pillar Candle", "Candle Set"}, 799, 7999},
        {"Vases", {"Ceramic Vase", "Glass Vase", "Bud Vase"}, 999, 14999},
        {"Wall Art", {"Art Print", "Framed Poster", "Wall Tapestry"}, 1499, 49999}}}}},
    {"Beauty",
     {{"Skincare",
       {{"Serums", {"Vitamin C Serum", "Hyaluronic Serum", "Retinol Serum"}, 999, 12999},
        {"Moisturizers", {"Moisturizer", "Night Cream", "Gel Cream"}, 999, 9999},
        {"Sunscreen", {"Sunscreen", "Mineral Sunscreen", "Tinted Sunscreen"}, 799, 4999}}},
      {"Makeup",
       {{"Lipstick", {"Lipstick", "Lip Gloss", "Lip Liner"}, 599, 4999},
        {"Palettes", {"Eyeshadow Palette", "Blush Palette", "Contour Palette"}, 1499, 7999}}},
      {"Fragrance",
       {{"Perfume", {"Eau de Parfum", "Eau de Toilette", "Perfume Oil"}, 2999, 29999},
        {"Home Fragrance", {"Reed Diffuser", "Room Spray"}, 999, 9999}}}}},
    {"Collectibles",
     {{"Trading Cards",
       {{"Pokemon Cards", {"Booster Pack", "Booster Box", "Graded Card", "Elite Trainer Box"}, 499, 499999},
        {"Sports Cards", {"Rookie Card", "Hobby Box", "Autograph Card"}, 999, 999999},
        {"Magic Cards", {"Collector Booster", "Commander Deck", "Foil Card"}, 499, 299999}}},
      {"Figures",
       {{"Anime Figures", {"Scale Figure", "Nendoroid", "Figma Figure"}, 1999, 59999},
        {"Vinyl Toys", {"Vinyl Figure", "Designer Toy", "Blind Box"}, 999, 29999}}},
      {"Coins & Stamps",
       {{"Coins", {"Silver Coin", "Proof Set", "Commemorative Coin"}, 999, 199999},
        {"Stamps", {"Stamp Sheet", "First Day Cover"}, 499, 49999}}}}},
    {"Jewelry & Watches",
     {{"Watches",
       {{"Automatic Watches", {"Automatic Watch", "Dive Watch", "Field Watch"}, 9999, 999999},
        {"Smartwatches", {"Smartwatch", "Fitness Tracker"}, 4999, 79999},
        {"Vintage Watches", {"Vintage Chronograph", "Vintage Dress Watch"}, 19999, 1999999}}},
      {"Fine Jewelry",
       {{"Rings", {"Gold Ring", "Signet Ring", "Engagement Ring"}, 4999, 999999},
        {"Necklaces", {"Pendant Necklace", "Chain Necklace", "Pearl Necklace"}, 2999, 499999},
        {"Earrings", {"Stud Earrings", "Hoop Earrings", "Drop Earrings"}, 1999, 299999}}}}},
    {"Sports & Outdoors",
     {{"Camping",
       {{"Tents", {"Backpacking Tent", "Family Tent", "Bivy Sack"}, 4999, 79999},
        {"Sleeping Bags", {"Down Sleeping Bag", "Synthetic Sleeping Bag", "Sleeping Pad"}, 2999, 59999}}},
      {"Cycling",
       {{"Bike Parts", {"Saddle", "Pedals", "Groupset", "Wheelset"}, 1999, 199999},
        {"Helmets", {"Road Helmet", "MTB Helmet", "Commuter Helmet"}, 3999, 29999}}},
      {"Fitness",
       {{"Weights", {"Kettlebell", "Dumbbell Set", "Weight Plate"}, 1999, 49999},
        {"Yoga", {"Yoga Mat", "Yoga Block", "Meditation Cushion"}, 999, 14999}}}}},
    {"Toys & Games",
     {{"Building Sets",
       {{"Brick Sets", {"Brick Set", "Technic Set", "Minifigure Pack"}, 999, 79999},
        {"Model Kits", {"Model Kit", "Gunpla Kit", "Scale Model"}, 1499, 29999}}},
      {"Board Games",
       {{"Strategy Games", {"Strategy Game", "Deck-Building Game", "Expansion"}, 1999, 19999},
        {"Puzzles", {"Jigsaw Puzzle", "3D Puzzle", "Puzzle Box"}, 999, 9999}}}}},
  };
  return tree;
}

constexpr const char* brands[] = {
  "Nordlys", "Kumo", "Atlas & Oak", "Vireo", "Lumen", "Halcyon", "Sora", "Brightwater", "Fjell", "Marigold",
  "Ironbark", "Quill", "Tessera", "Oro", "Pinecrest", "Aurora", "Cobalt", "Saltmarsh", "Juniper", "Kestrel",
  "Monarch", "Verdant", "Ember", "Solstice", "Driftwood", "Zephyr", "Obsidian", "Wren", "Calypso", "Tundra"};
constexpr const char* adjectives[] = {
  "Wireless", "Vintage", "Premium", "Limited Edition", "Handmade", "Classic", "Compact", "Pro", "Ultra-Light",
  "Organic", "Rare", "Signature", "Deluxe", "Everyday", "Heritage", "Modern", "Rugged", "Travel", "Essential",
  "Collector's", "Minimalist", "Retro", "Artisan", "Waterproof", "Eco"};
constexpr const char* colors[] = {"Black", "White", "Navy", "Olive", "Sand", "Crimson", "Forest Green", "Slate",
                                  "Ivory", "Rose Gold", "Silver", "Charcoal", "Teal", "Mustard", "Lavender"};
constexpr const char* materials[] = {"aluminium", "walnut", "full-grain leather", "recycled polyester", "stainless steel",
                                     "organic cotton", "ceramic", "merino wool", "carbon fibre", "glass", "bamboo",
                                     "silicone", "brass", "linen"};
constexpr const char* features[] = {
  "Ships within 24 hours of the stream.", "Comes in the original box with all accessories.",
  "Tested and inspected by our team before listing.", "Backed by a one-year warranty.",
  "Perfect as a gift; gift wrap on request.", "Only a few made in this run.", "Lightweight and built to last.",
  "Pairs in seconds and keeps a charge for days.", "Machine washable and quick to dry.",
  "Signed and numbered by the maker.", "Sealed and never opened.", "Sourced directly from the brand."};
constexpr const char* shop_words[] = {"Vault", "Corner", "Supply", "Studio", "Collective", "Trading", "House",
                                      "Market", "Goods", "Club", "Depot", "Atelier", "Workshop", "Exchange"};
constexpr const char* countries[] = {"US", "US", "US", "GB", "DE", "FR", "NL", "CA", "AU"};

struct shelf {
  std::uint64_t id;
  const leaf_spec* spec;
};

std::string hex(std::uint64_t v, int digits) {
  static const char* d = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4)
    out[static_cast<std::size_t>(i)] = d[v & 15];
  return out;
}

product make_product(std::uint64_t seed, std::size_t index, const std::vector<shelf>& shelves,
                     const std::vector<seller>& sellers, std::int64_t base_ms) {
  auto r = dice_for(seed, 3, index);
  const auto& where = shelves[r.below(shelves.size())];
  const auto& who = sellers[r.below(sellers.size())];
  product p;
  p.id = ids::next();
  p.seller_id = who.id;
  p.category_id = where.id;
  std::string noun = r.pick(where.spec->nouns);
  std::string brand = r.pick(brands);
  std::string adjective = r.pick(adjectives);
  std::string color = r.pick(colors);
  auto model = std::string(1, static_cast<char>('A' + r.below(26))) + std::to_string(r.between(10, 990));
  switch (r.below(4)) {
    case 0: p.title = brand + " " + adjective + " " + noun + " " + model; break;
    case 1: p.title = brand + " " + noun + " in " + color; break;
    case 2: p.title = adjective + " " + color + " " + noun + " by " + brand; break;
    default: p.title = brand + " " + model + " " + adjective + " " + noun; break;
  }
  std::string material = r.pick(materials);
  p.description = adjective + " " + noun + " from " + brand + ", made of " + material + " in " + color + ". "
                  + r.pick(features) + " " + r.pick(features);
  // Log-uniform prices inside the shelf's range, ending in 99.
  auto lo = static_cast<double>(where.spec->price_lo), hi = static_cast<double>(where.spec->price_hi);
  auto unit = static_cast<double>(r.next() % 1'000'000) / 1'000'000.0;
  auto price = static_cast<std::int64_t>(lo * std::pow(hi / lo, unit));
  p.price_minor = std::max<std::int64_t>(99, price / 100 * 100 + 99);
  p.currency = "USD"; // one market, so that price filters and sorts compare like with like
  auto stock_roll = r.below(100);
  p.stock = stock_roll < 8 ? 0 : stock_roll < 30 ? r.between(1, 5) : stock_roll < 90 ? r.between(6, 120) : r.between(121, 2000);
  auto status_roll = r.below(100);
  p.status = status_roll < 3 ? product_status::draft : status_roll < 5 ? product_status::archived : product_status::active;
  auto images = 1 + r.below(4);
  for (std::size_t i = 0; i < images; ++i)
    p.image_urls.push_back("https://img.livemart.example/p/" + hex(mix(seed ^ (index * 8 + i)), 16) + ".jpg");
  p.created_at_ms = base_ms - static_cast<std::int64_t>(r.next() % (180ull * 24 * 3600 * 1000));
  return p;
}

/// A deterministic password for a demo account: readable, not common.
std::string demo_password(std::uint64_t seed, std::string_view who) {
  auto h = mix(seed * 131 + std::hash<std::string_view>{}(who));
  return "demo-" + std::string{who} + "-" + hex(h, 8);
}

std::string hash_password(const std::string& password, const conf::settings& cfg) {
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(), cfg.auth.argon2_iterations,
                            cfg.auth.argon2_memory_kib * 1024, crypto_pwhash_ALG_ARGON2ID13)
      != 0)
    throw std::runtime_error("out of memory while hashing");
  return hash;
}

class progress_bar {
public:
  explicit progress_bar(std::size_t total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}
  void show(std::size_t done) {
    auto percent = total_ == 0 ? 100 : done * 100 / total_;
    if (!tty_ && percent < last_ + 10 && done != total_)
      return;
    last_ = percent;
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    constexpr std::size_t width = 30;
    auto filled = total_ == 0 ? width : done * width / total_;
    std::fprintf(stderr, "%sproducts [%s%s] %3zu%% %zu/%zu %.1fs%s", tty_ ? "\r" : "", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), percent, done, total_, elapsed, tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void finish() {
    if (tty_)
      std::fputc('\n', stderr);
  }

private:
  std::size_t total_;
  bool tty_;
  std::size_t last_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

} // namespace

std::variant<seed_report, std::string> seed_catalog(const conf::settings& cfg, const seed_plan& plan) {
  if (sodium_init() < 0)
    return std::string{"libsodium failed to initialise"};
  auto opened = persistence::bulk_load::open(cfg.database.url, cfg.database.connect_timeout_s);
  if (auto* err = std::get_if<std::string>(&opened))
    return *err;
  auto& bulk = *std::get<std::unique_ptr<persistence::bulk_load>>(opened);
  auto empty = bulk.catalog_is_empty();
  if (auto* err = std::get_if<std::string>(&empty))
    return *err;
  seed_report report;
  if (!std::get<bool>(empty)) {
    report.skipped = true;
    return report;
  }
  auto started = std::chrono::steady_clock::now();

  // Categories: three levels, ordered as listed.
  std::vector<category> categories;
  std::vector<shelf> shelves;
  auto add_category = [&](std::uint64_t parent, const char* name, int position) {
    category c;
    c.id = ids::next();
    c.parent_id = parent;
    c.name = name;
    c.slug = slugify(name);
    c.position = position;
    categories.push_back(c);
    return c.id;
  };
  int root_pos = 0;
  for (const auto& root : taxonomy()) {
    auto root_id = add_category(0, root.name, root_pos++);
    int branch_pos = 0;
    for (const auto& branch : root.branches) {
      auto branch_id = add_category(root_id, branch.name, branch_pos++);
      int leaf_pos = 0;
      for (const auto& leaf : branch.leaves)
        shelves.push_back({add_category(branch_id, leaf.name, leaf_pos++), &leaf});
    }
  }

  // Accounts: the three demo accounts, then one owner per shop. Shop
  // owners other than the demo seller share one hash of a password nobody
  // is told: their shops exist to be browsed.
  std::vector<persistence::bulk_load::account> accounts;
  auto add_account = [&](const std::string& email, const std::string& name, role r, const std::string& hash) {
    user_profile u;
    u.id = ids::next();
    u.email = email;
    u.display_name = name;
    u.role = r;
    accounts.push_back({u, hash});
    return u.id;
  };
  report.accounts = {{"admin", "admin@demo.livemart.example", demo_password(plan.seed, "admin")},
                     {"seller", "seller@demo.livemart.example", demo_password(plan.seed, "seller")},
                     {"buyer", "buyer@demo.livemart.example", demo_password(plan.seed, "buyer")}};
  auto admin_id = add_account(report.accounts[0].email, "Demo Admin", role::admin,
                              hash_password(report.accounts[0].password, cfg));
  auto demo_seller_user = add_account(report.accounts[1].email, "Demo Seller", role::seller,
                                      hash_password(report.accounts[1].password, cfg));
  add_account(report.accounts[2].email, "Demo Buyer", role::buyer, hash_password(report.accounts[2].password, cfg));
  std::uint64_t secret[2];
  randombytes_buf(secret, sizeof secret);
  auto hidden_hash = hash_password(hex(secret[0], 16) + hex(secret[1], 16), cfg);

  std::vector<seller> sellers;
  for (std::size_t i = 0; i < plan.sellers; ++i) {
    auto r = dice_for(plan.seed, 2, i);
    seller s;
    s.id = ids::next();
    s.user_id = i == 0 ? demo_seller_user
                       : add_account("shop" + std::to_string(i) + "@demo.livemart.example",
                                     std::string{r.pick(brands)} + " Owner", role::seller, hidden_hash);
    s.shop_name = i == 0 ? "Demo Seller Shop"
                         : std::string{r.pick(brands)} + " " + r.pick(shop_words) + " " + std::to_string(i);
    s.slug = slugify(s.shop_name);
    s.country = r.pick(countries);
    s.description = "Curated " + std::string{r.pick(adjectives)} + " finds, live every week.";
    s.contact_email = "shop" + std::to_string(i) + "@demo.livemart.example";
    s.business_type = r.below(3) == 0 ? "individual" : "company";
    s.status = seller_status::approved;
    sellers.push_back(std::move(s));
  }
  if (auto err = bulk.add_accounts(accounts))
    return "users: " + *err;
  if (auto err = bulk.add_sellers(sellers, admin_id))
    return "sellers: " + *err;
  if (auto err = bulk.add_categories(categories))
    return "categories: " + *err;

  // Products, in batches, with a progress bar.
  constexpr std::int64_t base_ms = 1'780'272'000'000; // 2026-06-01, so "newest" is the same for a seed
  progress_bar bar{plan.products};
  constexpr std::size_t batch = 5'000;
  std::vector<product> page;
  for (std::size_t first = 0; first < plan.products; first += batch) {
    page.clear();
    auto n = std::min(batch, plan.products - first);
    for (std::size_t i = 0; i < n; ++i)
      page.push_back(make_product(plan.seed, first + i, shelves, sellers, base_ms));
    if (auto err = bulk.add_products(page))
      return "products: " + *err;
    bar.show(first + n);
  }
  bar.finish();
  if (auto err = bulk.commit())
    return "commit: " + *err;
  report.categories = categories.size();
  report.sellers = sellers.size();
  report.products = plan.products;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

} // namespace livemart::demo
