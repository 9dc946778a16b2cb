#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <protocol/db_types.hpp>
#include <protocol/catalog.hpp>
#include <protocol/orders.hpp>
#include <protocol/sellers.hpp>
#include <protocol/users.hpp>

/// Every SQL statement of livemart has a name and lives in persistence/src
/// beside the aggregate it serves (account_statements.cpp,
/// catalog_statements.cpp, order_statements.cpp, stream_statements.cpp);
/// each connection prepares all of them once.
/// Callers build commands with the functions below and decode the rows with
/// their counterparts, so SQL text never leaves persistence/.
namespace livemart::persistence {

struct named_statement {
  std::string_view name;
  std::string_view sql;
};

std::span<const named_statement> statement_catalog();

db_statement ping();

// -- users ------------------------------------------------------------------

db_statement user_insert(std::uint64_t id, const std::string& email, const std::string& password_hash,
                         const std::string& display_name, role r);
db_statement user_by_id(std::uint64_t id);
/// The user's columns (decode_user) plus password_hash and suspended
/// (decode_credentials).
db_statement user_credentials(const std::string& email);
db_statement user_update_profile(std::uint64_t id, const profile_patch& patch);
db_statement user_set_password_hash(std::uint64_t id, const std::string& password_hash);
/// Creates the account as admin, or promotes an existing one (and resets its password).
db_statement user_upsert_admin(std::uint64_t id, const std::string& email, const std::string& password_hash,
                               const std::string& display_name);

std::optional<user_profile> decode_user(const db_rows& rows);

/// A user_credentials row: the user, the stored hash and whether the
/// account is suspended.
struct stored_credentials {
  user_profile user;
  std::string password_hash;
  bool suspended = false;
};
/// None when there is no such user.
std::optional<stored_credentials> decode_credentials(const db_rows& rows);

/// The constraint a duplicate e-mail violates (see errors from the writer).
inline constexpr std::string_view users_email_constraint = "users_email_key";

// -- refresh tokens ---------------------------------------------------------------

db_statement refresh_insert(std::uint64_t id, std::uint64_t user_id, std::uint64_t family_id,
                            const std::string& token_hash_hex, std::uint32_t ttl_s);
/// Columns: outcome (rotated, unknown, expired, suspended, reused), user_id,
/// family_id. A reused token ends its session as revocation `revocation_id`,
/// kept `keep_s` seconds.
db_statement refresh_rotate(const std::string& old_hash_hex, std::uint64_t new_id, const std::string& new_hash_hex,
                            std::uint32_t ttl_s, std::uint64_t revocation_id, std::uint32_t keep_s);
/// A refresh_rotate row.
struct refresh_rotation {
  std::string outcome;         ///< empty when there was no row
  std::uint64_t user_id = 0;   ///< 0 when NULL (an unknown token)
  std::uint64_t family_id = 0; ///< 0 when NULL
};
refresh_rotation decode_refresh_rotation(const db_rows& rows);
db_statement refresh_revoke_family(const std::string& token_hash_hex);

// Sessions (0014_sessions.sql). Revocations are kept `keep_s` seconds: as
// long as an access token of the session could still be valid.
db_statement user_password_hash(std::uint64_t id);
/// The stored hash; none when there is no such user.
std::optional<std::string> decode_password_hash(const db_rows& rows);
/// Column id; none when there is no such user.
db_statement user_change_password(std::uint64_t id, const std::string& password_hash);
/// The user (LM_USER columns), suspended or not any more.
db_statement user_set_suspended(std::uint64_t id, bool suspended, const std::string& reason);
/// Ends the session (refresh-token family) of a refresh token: its tokens
/// are revoked and a revocation recorded (none when the token is unknown).
db_statement session_end(std::uint64_t revocation_id, const std::string& refresh_hash_hex, std::string_view reason,
                         std::uint32_t keep_s);
/// Ends every session of `user_id` that began before `cutoff`.
db_statement sessions_end_all(std::uint64_t revocation_id, std::uint64_t user_id, std::uint64_t cutoff,
                              std::string_view reason, std::uint32_t keep_s);
/// Revocations after `after_id` still in force, oldest first.
db_statement revocations_since(std::uint64_t after_id, std::size_t limit);
db_statement revocations_forget();
std::vector<revocation> decode_revocations(const db_rows& rows);

// -- addresses --------------------------------------------------------------------

db_statement address_list(std::uint64_t user_id);
db_statement address_get(std::uint64_t id, std::uint64_t user_id);
db_statement address_create(const address& a, std::size_t per_user_max);
db_statement address_update(const address& a);
/// One row (the id) when deleted, none when not found.
db_statement address_delete(std::uint64_t id, std::uint64_t user_id);

std::vector<address> decode_addresses(const db_rows& rows);

// -- sellers --------------------------------------------------------------------

/// Creates the application, or re-opens a rejected one (LM409 otherwise:
/// conflict "already_pending" / "already_approved"); a taken shop name or
/// slug is a unique violation.
db_statement seller_apply(std::uint64_t id, std::uint64_t user_id, const seller_application& a,
                          std::uint64_t transition_id);
/// pending -> approved | rejected (conflict "status_<current>" otherwise);
/// approval makes a buyer a seller. No row: no such seller.
db_statement seller_decide(std::uint64_t seller_id, seller_status to, std::uint64_t actor_id, const std::string& reason,
                           std::uint64_t transition_id);
db_statement seller_by_id(std::uint64_t id);
db_statement seller_by_user(std::uint64_t user_id);
db_statement sellers_by_status(seller_status status, std::uint64_t after_id, std::size_t limit);
/// Idempotent; one row with the follower count, none when no such
/// (approved, for follow) seller exists.
db_statement seller_follow(std::uint64_t user_id, std::uint64_t seller_id, bool follow);
/// seller_follow's follower count; none when there is no such seller.
std::optional<std::int64_t> decode_follower_count(const db_rows& rows);
db_statement sellers_followed(std::uint64_t user_id, std::uint64_t after_id, std::size_t limit);

std::vector<seller> decode_sellers(const db_rows& rows);

// -- categories -------------------------------------------------------------------

db_statement category_all();
db_statement category_insert(const category& c);
/// Applies if the row is still at c.version; no row otherwise.
db_statement category_update(const category& c);
/// Deletes a category without subcategories and products; no row otherwise.
db_statement category_delete(std::uint64_t id);

std::vector<category> decode_categories(const db_rows& rows);

// -- products ------------------------------------------------------------------------

db_statement product_insert(const product& p);
db_statement product_by_id(std::uint64_t id);
/// Active products after (`after_category`, `after_id`), by category then
/// id: the search index's load.
db_statement products_active_page(std::uint64_t after_category, std::uint64_t after_id, std::size_t limit);
/// Products (any status) whose listing, stock or rating changed at or after
/// `since_ms` (system clock, ms), with ids above `after_id`, by id.
db_statement products_changed_page(std::int64_t since_ms, std::uint64_t after_id, std::size_t limit);
/// The listing fields (title, description, status, category, images) if the
/// row is still at p.version; no row otherwise.
db_statement product_update(const product& p);
db_statement product_set_price(std::uint64_t id, std::int64_t price_minor);

/// One stock change with its ledger entry (tagged with its checkout, if
/// any); columns stock, reserved, sold, stock_version. Never below zero:
/// conflict (LM409) "insufficient_stock" / "insufficient_reserved".
db_statement stock_move(std::uint64_t ledger_id, std::uint64_t product_id, stock_kind kind, std::int64_t quantity,
                        const std::string& reason, std::uint64_t actor_id, std::uint64_t checkout_id = 0);
/// The stock_version of stock_move's row.
std::int64_t decode_stock_version(const db_rows& rows);

// -- checkouts -------------------------------------------------------------------------

/// Opens checkout `c` (id, buyer, address, currency, totals) with a copy of
/// the buyer's address; validation_failed "address_id" when it is not theirs.
/// Columns id, expires_at_ms. Its lines follow in the same command.
db_statement checkout_open(const checkout& c, std::uint32_t ttl_s);
/// The expires_at_ms of checkout_open's row.
std::int64_t decode_expires_at_ms(const db_rows& rows);
db_statement checkout_line_insert(std::uint64_t checkout_id, std::size_t line, const checkout_line& l);
db_statement checkout_seller_insert(std::uint64_t checkout_id, const seller_share& share);
/// Closes an open checkout as `to` (expired or failed; with `due_only` only
/// past its expiry) and releases its holds; one ledger id per line. Rows:
/// product_id, quantity, stock_version per released product; none when the
/// checkout was no longer open.
db_statement checkout_release(std::uint64_t checkout_id, checkout_status to, bool due_only,
                              const std::vector<std::uint64_t>& ledger_ids);
/// A product's stock moved by a transaction outside its actor: a row of
/// checkout_release, checkout_place or order_return_stock.
struct stock_move_row {
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
  std::int64_t stock_version = 0;
};
std::vector<stock_move_row> decode_stock_moves(const db_rows& rows);
/// Records that checkout `checkout_id` is a buy-now's, made for this
/// Idempotency-Key and request (in the command that opens it); a second
/// checkout for the key fails with "unique:checkouts_buyer_key_idx".
db_statement checkout_tag(std::uint64_t checkout_id, const std::string& key, const std::string& request_hash);
/// The buyer's checkout made for Idempotency-Key `key`, if any.
db_statement checkout_by_key(std::uint64_t buyer_id, const std::string& key);
/// A buy-now's checkout as checkout_by_key finds it.
struct keyed_checkout {
  std::uint64_t id = 0;
  std::string status; ///< open, placed, expired or failed
  std::string request_hash;
  std::size_t lines = 0;
};
std::optional<keyed_checkout> decode_keyed_checkout(const db_rows& rows);
/// Open checkouts past their expiry, oldest first: id, lines.
db_statement checkouts_due(std::size_t limit);
struct due_checkout {
  std::uint64_t id = 0;
  std::size_t lines = 0;
};
std::vector<due_checkout> decode_due_checkouts(const db_rows& rows);
/// Places the buyer's checkout (see checkout_place in 0007_orders.sql): one
/// order id and transition id per seller (in seller order), one ledger id
/// per line. Rows: product_id, quantity, stock_version of every sale
/// (decode_stock_moves); not found (LM404) or limit_reached
/// "checkout_<status>" / "checkout_expired".
db_statement checkout_place(std::uint64_t checkout_id, std::uint64_t buyer_id, const std::vector<std::uint64_t>& order_ids,
                            const std::vector<std::uint64_t>& transition_ids,
                            const std::vector<std::uint64_t>& ledger_ids);
/// The buyer's checkout with its sellers' shares and lines, by seller then
/// line: status, currency, seller_id, subtotal_minor, shipping_minor,
/// product_id, title, unit_price_minor, quantity.
db_statement checkout_parts(std::uint64_t checkout_id, std::uint64_t buyer_id);
/// A checkout_parts row: one line of the checkout with its seller's share.
struct checkout_part {
  std::string status; ///< the checkout's: open, placed, expired or failed
  std::string currency;
  seller_share share; ///< the line's seller: seller_id, subtotal_minor, shipping_minor
  order_item item;    ///< product_id, title, unit_price_minor, quantity
};
std::vector<checkout_part> decode_checkout_parts(const db_rows& rows);

// -- orders ---------------------------------------------------------------------------

/// One order with its items and history (decode_orders); no row: no such order.
db_statement order_get(std::uint64_t id);
/// A buyer's orders (or, `as_seller`, the orders of the shop the user owns),
/// newest first, below `before_id` (0: from the newest).
db_statement orders_of(std::uint64_t user_id, bool as_seller, std::uint64_t before_id, std::size_t limit);
std::vector<order> decode_orders(const db_rows& rows);

/// Moves order `id` from `version` to `to` with its transition record
/// (actor 0: the system); conflict "order_changed" when the version moved.
/// Columns version, updated_at_ms.
db_statement order_move(std::uint64_t id, std::int32_t version, order_status to, std::uint64_t transition_id,
                        std::uint64_t actor_id, const std::string& reason);
/// order_move's row: the order's version and update time after the move.
struct order_moved {
  std::int32_t version = 0;
  std::int64_t updated_at_ms = 0;
};
order_moved decode_order_move(const db_rows& rows);
db_statement order_set_shipping(std::uint64_t id, const std::string& carrier, const std::string& tracking_number);
db_statement order_add_refunded(std::uint64_t id, std::int64_t amount_minor);
/// Gives the order's units back to stock (one ledger id per product, in
/// product order). Columns product_id, quantity, stock_version
/// (decode_stock_moves).
db_statement order_return_stock(std::uint64_t id, const std::vector<std::uint64_t>& ledger_ids, std::uint64_t actor_id);
/// A batch of direct sales of one product (see product_sell in
/// 0010_direct_sales.sql): one entry per sale, each with its order as it
/// was accepted (one item: the price and title of that moment), and the
/// placement stored for its key.
struct sale_batch {
  struct sale {
    order placed;
    std::uint64_t address_id = 0;
    std::string key; ///< Idempotency-Key
    std::string request_hash;
    std::uint64_t drop_id = 0; ///< 0: none
    std::uint64_t transition_id = 0;
    std::uint64_t ledger_id = 0;
    std::string reply; ///< the placement stored for the key (a 201's body)
  };
  std::uint64_t product_id = 0;
  std::uint64_t seller_id = 0;
  std::string currency;
  std::uint32_t payment_due_s = 0;
  std::vector<sale> sales;
};
/// Columns idx (from 1), outcome (placed, replay, address), stock_version;
/// limit_reached "insufficient_stock" when the batch would oversell.
db_statement product_sell(const sale_batch& batch);
/// A product_sell row: what became of one sale of the batch.
struct sale_row {
  std::size_t index = 0; ///< the sale's place in the batch, from 0 (idx - 1)
  sale_outcome outcome = sale_outcome::placed; ///< placed, replay, or (any other outcome) address
  std::int64_t stock_version = 0;
};
std::vector<sale_row> decode_sales(const db_rows& rows);
/// Pending orders whose payment deadline has passed: id.
db_statement orders_due(std::size_t limit);
std::vector<std::uint64_t> decode_due_orders(const db_rows& rows);

// -- payments -----------------------------------------------------------------------

/// A payment in status created, before the gateway is called.
db_statement payment_insert(const payment& p);
/// The gateway's answer or news: status, its reference (kept when empty),
/// failure reason and next-action URL.
db_statement payment_update(std::uint64_t id, payment_status status, const std::string& gateway_ref,
                            const std::string& failure_reason, const std::string& next_action_url);
db_statement payment_add_refunded(std::uint64_t id, std::int64_t amount_minor);
/// id, order_id of the payment the gateway knows as `ref`.
db_statement payment_by_ref(const std::string& gateway, const std::string& ref);
struct payment_ref {
  std::uint64_t id = 0;
  std::uint64_t order_id = 0;
};
/// None when the gateway's reference is not one of ours.
std::optional<payment_ref> decode_payment_ref(const db_rows& rows);
/// Marks a gateway event applied; a unique violation
/// ("unique:payment_events_pkey") when it was applied before.
db_statement payment_event_insert(const std::string& event_id, const std::string& type, std::uint64_t payment_id);
db_statement refund_insert(std::uint64_t id, std::uint64_t payment_id, std::int64_t amount_minor,
                           const std::string& reason);
db_statement refund_settle(std::uint64_t id, bool succeeded, const std::string& gateway_ref);
/// Payments through `gateway` created in [from_s, to_s): id, order_id,
/// gateway_ref, status, amount_minor, currency, refunded_minor, order_status,
/// earlier_paid (succeeded payments of the same order before it), age_s.
db_statement payments_between(const std::string& gateway, std::int64_t from_s, std::int64_t to_s);
/// A payments_between row.
struct payment_check {
  std::uint64_t id = 0;
  std::uint64_t order_id = 0;
  std::string gateway_ref; ///< empty while the gateway has not named it
  payment_status status = payment_status::created;
  std::int64_t amount_minor = 0;
  std::string currency;
  std::int64_t refunded_minor = 0;
  livemart::order_status order_status = livemart::order_status::pending;
  std::int64_t earlier_paid = 0; ///< succeeded payments of the same order before this one
  std::int64_t age_s = 0;        ///< since the payment was created
};
std::vector<payment_check> decode_payment_checks(const db_rows& rows);

// -- reviews ------------------------------------------------------------------------

/// A verified buyer's review with the rating aggregates of the product and
/// its seller: forbidden "not_a_verified_buyer" without a delivered order
/// of the product; "unique:product_reviews_buyer_key" for a second one.
/// Columns id, seller_id, order_id, created_at_ms, rating_sum, rating_count
/// (the product's, after it).
db_statement review_create(std::uint64_t id, std::uint64_t product_id, std::uint64_t buyer_id, const review_draft& d);
/// review_create's row: what the database adds to the review, and the
/// product's rating after it.
struct created_review {
  std::uint64_t id = 0;
  std::uint64_t seller_id = 0;
  std::int64_t created_at_ms = 0;
  std::string buyer_name; ///< the buyer's display name, as reviews_of shows it
  rating_summary product_rating;
};
created_review decode_created_review(const db_rows& rows);
/// A product's reviews, newest first, below `before_id` (0: from the newest).
db_statement reviews_of(std::uint64_t product_id, std::uint64_t before_id, std::size_t limit);
std::vector<review> decode_reviews(const db_rows& rows);

// -- idempotency --------------------------------------------------------------------

/// request_hash, status, body; no row when the key is new.
db_statement idempotency_get(std::uint64_t user_id, const std::string& key);
/// An idempotency_get row: the request the key was used for and its
/// outcome (replayed: the reply as stored).
struct idempotency_record {
  std::string request_hash;
  purchase_outcome outcome;
};
/// None when the key is new.
std::optional<idempotency_record> decode_idempotency_record(const db_rows& rows);
/// Stores a sealed outcome's reply (purchase_outcome::recorded) for the
/// key; a unique violation when the key was stored meanwhile.
db_statement idempotency_insert(const purchase_key& key, const recorded_reply& reply);
/// Replaces the stored reply (a placement's, once its payments are known).
db_statement idempotency_update(const purchase_key& key, const recorded_reply& reply);
/// Forgets at most `limit` records older than `retention_h` hours.
db_statement idempotency_expire(std::uint32_t retention_h, std::size_t limit);

std::vector<product> decode_products(const db_rows& rows);

} // namespace livemart::persistence
