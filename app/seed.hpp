#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <conf/settings.hpp>

/// The demo catalog behind `livemart seed` and the run command.
namespace livemart::demo {

struct seed_plan {
  std::uint64_t seed = 42;
  std::size_t products = 100'000;
  std::size_t sellers = 200;
};

struct demo_account {
  std::string role;
  std::string email;
  std::string password;
};

struct seed_report {
  bool skipped = false; ///< the catalog was not empty: nothing was written
  std::size_t categories = 0;
  std::size_t sellers = 0;
  std::size_t products = 0;
  double seconds = 0;
  std::vector<demo_account> accounts;
};

/// Fills an empty catalog in one transaction: a three-level category tree,
/// approved shops and their owners, `plan.products` products with stock
/// and ledger, and demo admin, seller and buyer accounts. The same seed
/// gives the same catalog (ids and password hashes aside).
std::variant<seed_report, std::string> seed_catalog(const conf::settings& cfg, const seed_plan& plan);

} // namespace livemart::demo
