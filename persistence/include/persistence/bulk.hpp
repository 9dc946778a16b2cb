#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <protocol/catalog.hpp>
#include <protocol/sellers.hpp>
#include <protocol/users.hpp>

/// Bulk loading for the demo seed: one connection, one transaction, rows
/// sent with COPY. Blocking; for command-line tools only, never in an actor.
namespace livemart::persistence {

class bulk_load {
public:
  struct account {
    user_profile user;
    std::string password_hash;
  };

  /// Connects and begins the transaction.
  static std::variant<std::unique_ptr<bulk_load>, std::string> open(const std::string& url,
                                                                    std::uint32_t connect_timeout_s);
  ~bulk_load();
  bulk_load(const bulk_load&) = delete;
  bulk_load& operator=(const bulk_load&) = delete;

  /// No categories and no products yet.
  std::variant<bool, std::string> catalog_is_empty();

  // Each returns an error message, or nullopt.
  std::optional<std::string> add_accounts(const std::vector<account>& accounts);
  /// Approved sellers; their approval is recorded as made by `admin_id`.
  std::optional<std::string> add_sellers(const std::vector<seller>& sellers, std::uint64_t admin_id);
  std::optional<std::string> add_categories(const std::vector<category>& categories);
  /// Products with their stock, and a restock ledger entry for it.
  std::optional<std::string> add_products(const std::vector<product>& products);
  std::optional<std::string> commit();

private:
  struct impl;
  explicit bulk_load(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

} // namespace livemart::persistence
