#include <actors/stock_book.hpp>

#include <algorithm>
#include <cassert>

#include <protocol/messages.hpp>

namespace livemart {

void stock_book::load(std::int64_t stock, std::int64_t reserved, std::int64_t sold) {
  assert(stock >= 0 && reserved >= 0 && sold >= 0); // the database's checks
  stock_ = stock;
  reserved_ = reserved;
  sold_ = sold;
  available_ = stock;
  reserved_free_ = reserved;
  in_flight_ = 0;
}

std::optional<caf::error> stock_book::begin(kind k, std::int64_t quantity, bool on_sale) {
  switch (k) {
    case kind::restock:
      if (quantity == 0)
        return make_error(errc::validation_failed, "the change must not be zero", {field_error{"delta", "must not be 0"}});
      if (quantity < 0) {
        if (available_ < -quantity)
          return make_error(errc::conflict, "only " + std::to_string(available_) + " units can be removed");
        available_ += quantity; // a removal is promised at once
      }
      break;
    case kind::reserve:
    case kind::sale:
      if (quantity <= 0)
        return make_error(errc::validation_failed, "the quantity must be positive",
                          {field_error{"quantity", "must be at least 1"}});
      if (!on_sale)
        return make_error(errc::conflict, "the product is not on sale");
      if (available_ < quantity)
        return make_error(errc::conflict, "out of stock: " + std::to_string(available_) + " left");
      available_ -= quantity;
      break;
    case kind::sale_return:
      return make_error(errc::internal, "sold units return only with their order");
    case kind::release:
    case kind::commit:
      if (quantity <= 0)
        return make_error(errc::validation_failed, "the quantity must be positive",
                          {field_error{"quantity", "must be at least 1"}});
      if (reserved_free_ < quantity)
        return make_error(errc::conflict, "only " + std::to_string(reserved_free_) + " units are reserved");
      reserved_free_ -= quantity;
      break;
  }
  // A promise never takes more than there is.
  assert(available_ >= 0 && reserved_free_ >= 0);
  ++in_flight_;
  return std::nullopt;
}

void stock_book::committed(kind k, std::int64_t quantity) {
  assert(in_flight_ > 0); // only a begun change commits
  --in_flight_;
  switch (k) {
    case kind::restock: stock_ += quantity; break;
    case kind::reserve: stock_ -= quantity; reserved_ += quantity; break;
    case kind::release: stock_ += quantity; reserved_ -= quantity; break;
    case kind::commit: reserved_ -= quantity; sold_ += quantity; break;
    case kind::sale_return: sold_ -= quantity; stock_ += quantity; break;
    case kind::sale: stock_ -= quantity; sold_ += quantity; break;
  }
  // Increases become usable only now that they are durable.
  if (k == kind::release || k == kind::sale_return || (k == kind::restock && quantity > 0))
    available_ += quantity;
  if (k == kind::reserve)
    reserved_free_ += quantity;
}

bool stock_book::absorb(kind k, std::int64_t quantity) {
  switch (k) {
    case kind::restock:
      stock_ += quantity;
      available_ += quantity;
      break;
    case kind::reserve:
      stock_ -= quantity;
      reserved_ += quantity;
      available_ -= quantity;
      reserved_free_ += quantity;
      break;
    case kind::release:
      stock_ += quantity;
      reserved_ -= quantity;
      available_ += quantity;
      reserved_free_ -= quantity;
      break;
    case kind::commit:
      reserved_ -= quantity;
      sold_ += quantity;
      reserved_free_ -= quantity;
      break;
    case kind::sale_return:
      sold_ -= quantity;
      stock_ += quantity;
      available_ += quantity;
      break;
    case kind::sale:
      stock_ -= quantity;
      sold_ += quantity;
      available_ -= quantity;
      break;
  }
  if (available_ >= 0 && reserved_free_ >= 0 && sold_ >= 0)
    return true;
  available_ = std::max<std::int64_t>(available_, 0);
  reserved_free_ = std::max<std::int64_t>(reserved_free_, 0);
  return false;
}

void stock_book::failed(kind k, std::int64_t quantity) {
  assert(in_flight_ > 0); // only a begun change fails
  --in_flight_;
  if (k == kind::reserve || k == kind::sale || (k == kind::restock && quantity < 0))
    available_ += k == kind::restock ? -quantity : quantity;
  if (k == kind::release || k == kind::commit)
    reserved_free_ += quantity;
}

} // namespace livemart
