#pragma once

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <protocol/catalog.hpp>
#include <protocol/cluster.hpp>
#include <protocol/db_types.hpp>
#include <protocol/orders.hpp>
#include <protocol/problem.hpp>
#include <protocol/search.hpp>
#include <protocol/sellers.hpp>
#include <protocol/streams.hpp>
#include <protocol/users.hpp>

/// Every atom and message type of livemart, registered in one place so that
/// a later cluster can serialise them (caf-0.17-notes §2). CAF's predefined
/// atoms (get_atom, put_atom, update_atom, delete_atom, ok_atom, flush_atom,
/// ping_atom, ...) are reused where they fit.
namespace livemart {

using caf::delete_atom;
using caf::get_atom;
using caf::put_atom;
using caf::update_atom;

using query_atom = caf::atom_constant<caf::atom("query")>;
using write_atom = caf::atom_constant<caf::atom("write")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using reconn_atom = caf::atom_constant<caf::atom("reconnect")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using login_atom = caf::atom_constant<caf::atom("login")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
using logout_atom = caf::atom_constant<caf::atom("logout")>;
using logout_all_atom = caf::atom_constant<caf::atom("logout_all")>;
using password_atom = caf::atom_constant<caf::atom("password")>;
using suspend_atom = caf::atom_constant<caf::atom("suspend")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using profile_atom = caf::atom_constant<caf::atom("profile")>;
using cache_atom = caf::atom_constant<caf::atom("cache")>;
using address_atom = caf::atom_constant<caf::atom("address")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using decide_atom = caf::atom_constant<caf::atom("decide")>;
using follow_atom = caf::atom_constant<caf::atom("follow")>;
using following_atom = caf::atom_constant<caf::atom("following")>;
using forget_atom = caf::atom_constant<caf::atom("forget")>;
using reserve_atom = caf::atom_constant<caf::atom("reserve")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using restock_atom = caf::atom_constant<caf::atom("restock")>;
using price_atom = caf::atom_constant<caf::atom("price")>;
using scope_atom = caf::atom_constant<caf::atom("scope")>;
using path_atom = caf::atom_constant<caf::atom("path")>;
using search_atom = caf::atom_constant<caf::atom("search")>;
using detail_atom = caf::atom_constant<caf::atom("detail")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using applied_atom = caf::atom_constant<caf::atom("applied")>;
using checkout_atom = caf::atom_constant<caf::atom("checkout")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using place_atom = caf::atom_constant<caf::atom("place")>;
using refuse_atom = caf::atom_constant<caf::atom("refuse")>;
using command_atom = caf::atom_constant<caf::atom("command")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using charge_atom = caf::atom_constant<caf::atom("charge")>;
using refund_atom = caf::atom_constant<caf::atom("refund")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using reconcile_atom = caf::atom_constant<caf::atom("reconcile")>;
using capture_atom = caf::atom_constant<caf::atom("capture")>;
using review_atom = caf::atom_constant<caf::atom("review")>;
using rated_atom = caf::atom_constant<caf::atom("rated")>;
using sell_atom = caf::atom_constant<caf::atom("sell")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using end_atom = caf::atom_constant<caf::atom("end")>;
using key_atom = caf::atom_constant<caf::atom("key")>;
using ingest_atom = caf::atom_constant<caf::atom("ingest")>;
using pin_atom = caf::atom_constant<caf::atom("pin")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using buy_atom = caf::atom_constant<caf::atom("buy")>;
using auction_atom = caf::atom_constant<caf::atom("auction")>;
using bid_atom = caf::atom_constant<caf::atom("bid")>;
using offer_atom = caf::atom_constant<caf::atom("offer")>;
using viewers_atom = caf::atom_constant<caf::atom("viewers")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;

/// A stream with its key, shown once (creation and rotation).
struct stream_keyed {
  stream_info stream;
  std::string key;
};

/// The owner's statistics of a stream: viewers from its actor, orders and
/// revenue of its featured products while it was live.
struct stream_stats {
  stream_info stream;
  std::int64_t orders = 0;
  std::int64_t revenue_minor = 0;
};

/// A page of live streams, most viewers first.
struct live_page {
  std::vector<stream_info> items;
  std::string next_cursor;
};

/// Result of a password verification: whether it matched and, when the
/// stored hash used old parameters, a fresh hash to store instead.
struct verify_result {
  bool match = false;
  std::string rehash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_value& x) {
  return f(caf::meta::type_name("db_value"), x.text, x.is_null);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_statement& x) {
  return f(caf::meta::type_name("db_statement"), x.name, x.params);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_command& x) {
  return f(caf::meta::type_name("db_command"), x.statements, x.guard);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_rows& x) {
  return f(caf::meta::type_name("db_rows"), x.columns, x.rows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_result& x) {
  return f(caf::meta::type_name("db_result"), x.results);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_error& x) {
  return f(caf::meta::type_name("field_error"), x.field, x.message);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_profile& x) {
  return f(caf::meta::type_name("user_profile"), x.id, x.email, x.display_name, x.bio, x.avatar_url, x.role,
           x.created_at_ms, x.updated_at_ms, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, register_request& x) {
  return f(caf::meta::type_name("register_request"), x.email, x.password, x.display_name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, login_request& x) {
  return f(caf::meta::type_name("login_request"), x.email, x.password);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refresh_request& x) {
  return f(caf::meta::type_name("refresh_request"), x.refresh_token);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, password_change& x) {
  return f(caf::meta::type_name("password_change"), x.current_password, x.new_password);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, suspension& x) {
  return f(caf::meta::type_name("suspension"), x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, revocation& x) {
  return f(caf::meta::type_name("revocation"), x.id, x.user_id, x.session_id, x.cutoff, x.forget_at_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_pair& x) {
  return f(caf::meta::type_name("token_pair"), x.access_token, x.access_expires_in_s, x.refresh_token,
           x.refresh_expires_in_s, x.user_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_patch& x) {
  return f(caf::meta::type_name("profile_patch"), x.has_display_name, x.display_name, x.has_bio, x.bio,
           x.has_avatar_url, x.avatar_url);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, address& x) {
  return f(caf::meta::type_name("address"), x.id, x.user_id, x.name, x.line1, x.line2, x.city, x.region,
           x.postal_code, x.country, x.phone, x.is_default, x.created_at_ms, x.updated_at_ms, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, address_patch& x) {
  return f(caf::meta::type_name("address_patch"), x.present, x.values);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seller& x) {
  return f(caf::meta::type_name("seller"), x.id, x.user_id, x.shop_name, x.slug, x.description, x.contact_email,
           x.country, x.business_type, x.status, x.status_reason, x.follower_count, x.active_product_count, x.rating, x.created_at_ms,
           x.updated_at_ms, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seller_application& x) {
  return f(caf::meta::type_name("seller_application"), x.shop_name, x.slug, x.description, x.contact_email, x.country,
           x.business_type);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category& x) {
  return f(caf::meta::type_name("category"), x.id, x.parent_id, x.name, x.slug, x.position, x.active, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category_patch& x) {
  return f(caf::meta::type_name("category_patch"), x.present, x.values);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rating_summary& x) {
  return f(caf::meta::type_name("rating_summary"), x.sum, x.count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, product& x) {
  return f(caf::meta::type_name("product"), x.id, x.seller_id, x.category_id, x.title, x.description, x.price_minor,
           x.currency, x.stock, x.reserved, x.sold, x.status, x.image_urls, x.rating, x.stock_version, x.created_at_ms,
           x.updated_at_ms, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, product_patch& x) {
  return f(caf::meta::type_name("product_patch"), x.present, x.values);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, product_draft& x) {
  return f(caf::meta::type_name("product_draft"), x.values, x.initial_stock);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stock_update& x) {
  return f(caf::meta::type_name("stock_update"), x.product_id, x.sequence, x.stock, x.reserved, x.sold, x.price_minor,
           x.currency, x.at_us, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_cursor& x) {
  return f(caf::meta::type_name("search_cursor"), x.present, x.sort, x.key, x.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_query& x) {
  return f(caf::meta::type_name("search_query"), x.q, x.category, x.seller, x.min_price, x.max_price, x.in_stock,
           x.sort, x.limit, x.cursor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category_scope& x) {
  return f(caf::meta::type_name("category_scope"), x.members, x.bucket_of, x.buckets);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.id, x.seller_id, x.category_id, x.title, x.price_minor, x.currency,
           x.stock, x.image_url, x.rating, x.created_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, category_facet& x) {
  return f(caf::meta::type_name("category_facet"), x.id, x.name, x.slug, x.count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_result& x) {
  return f(caf::meta::type_name("search_result"), x.items, x.total, x.fuzzy, x.facets, x.next);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seller_summary& x) {
  return f(caf::meta::type_name("seller_summary"), x.id, x.shop_name, x.slug, x.follower_count, x.rating);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, product_detail& x) {
  return f(caf::meta::type_name("product_detail"), x.item, x.seller, x.breadcrumb);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkout_item& x) {
  return f(caf::meta::type_name("checkout_item"), x.product_id, x.quantity);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkout_request& x) {
  return f(caf::meta::type_name("checkout_request"), x.items, x.address_id, x.idempotency_key, x.request_hash);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkout_line& x) {
  return f(caf::meta::type_name("checkout_line"), x.product_id, x.seller_id, x.title, x.unit_price_minor, x.quantity);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkout& x) {
  return f(caf::meta::type_name("checkout"), x.id, x.buyer_id, x.address_id, x.lines, x.currency, x.subtotal_minor,
           x.shipping_minor, x.total_minor, x.status, x.expires_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_item& x) {
  return f(caf::meta::type_name("order_item"), x.product_id, x.title, x.unit_price_minor, x.quantity);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_transition& x) {
  return f(caf::meta::type_name("order_transition"), x.from, x.to, x.reason, x.at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order& x) {
  return f(caf::meta::type_name("order"), x.id, x.checkout_id, x.buyer_id, x.seller_id, x.status, x.currency,
           x.subtotal_minor, x.shipping_minor, x.total_minor, x.items, x.seller_user_id, x.shipping_address_json,
           x.history, x.carrier, x.tracking_number, x.refunded_minor, x.payment_due_ms, x.payments, x.created_at_ms,
           x.updated_at_ms, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payment_method& x) {
  return f(caf::meta::type_name("payment_method"), x.kind, x.token);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payment& x) {
  return f(caf::meta::type_name("payment"), x.id, x.order_id, x.gateway, x.gateway_ref, x.method, x.amount_minor,
           x.currency, x.status, x.failure_reason, x.next_action_url, x.refunded_minor, x.created_at_ms,
           x.pending_refund_id, x.pending_refund_minor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_command& x) {
  return f(caf::meta::type_name("order_command"), x.action, x.reason, x.carrier, x.tracking_number, x.amount_minor,
           x.method);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_charge& x) {
  return f(caf::meta::type_name("gateway_charge"), x.payment_id, x.order_id, x.amount_minor, x.currency, x.method,
           x.capture_later);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_refund& x) {
  return f(caf::meta::type_name("gateway_refund"), x.refund_id, x.payment_ref, x.amount_minor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_record& x) {
  return f(caf::meta::type_name("gateway_record"), x.ref, x.status, x.amount_minor, x.amount_received_minor,
           x.amount_refunded_minor, x.currency, x.failure_reason, x.next_action_url, x.payment_id, x.order_id,
           x.created_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_event& x) {
  return f(caf::meta::type_name("gateway_event"), x.id, x.type, x.created_s, x.object);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, review& x) {
  return f(caf::meta::type_name("review"), x.id, x.product_id, x.seller_id, x.buyer_id, x.buyer_name, x.rating,
           x.title, x.body, x.created_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, review_draft& x) {
  return f(caf::meta::type_name("review_draft"), x.rating, x.title, x.body);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, review_page& x) {
  return f(caf::meta::type_name("review_page"), x.items, x.rating);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sale_request& x) {
  return f(caf::meta::type_name("sale_request"), x.buyer_id, x.address_id, x.quantity, x.key, x.request_hash,
           x.drop_id, x.unit_price_minor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sale_result& x) {
  return f(caf::meta::type_name("sale_result"), x.outcome, x.placed, x.reply);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reconcile_mismatch& x) {
  return f(caf::meta::type_name("reconcile_mismatch"), x.payment_id, x.order_id, x.gateway_ref, x.kind, x.detail,
           x.repaired);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reconcile_report& x) {
  return f(caf::meta::type_name("reconcile_report"), x.from_s, x.to_s, x.payments_checked, x.gateway_records,
           x.mismatches);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, place_request& x) {
  return f(caf::meta::type_name("place_request"), x.checkout_id, x.items, x.method, x.drop_id,
           x.drop_price_minor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, problem& x) {
  return f(caf::meta::type_name("problem"), x.code, x.detail, x.fields, x.retry_after_s, x.allow);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_origin& x) {
  return f(caf::meta::type_name("request_origin"), x.path, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_key& x) {
  return f(caf::meta::type_name("purchase_key"), x.buyer, x.key, x.request_hash, x.origin);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recorded_reply& x) {
  return f(caf::meta::type_name("recorded_reply"), x.status, x.body);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_outcome& x) {
  return f(caf::meta::type_name("purchase_outcome"), x.placed, x.fresh, x.replayed, x.checkout_id, x.orders,
           x.order_ids, x.refusal, x.origin, x.recorded);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_info& x) {
  return f(caf::meta::type_name("stream_info"), x.id, x.seller_id, x.owner_id, x.shop_name, x.title, x.description,
           x.status, x.scheduled_at_ms, x.started_at_ms, x.ended_at_ms, x.end_reason, x.featured, x.pinned,
           x.allow_anonymous, x.ingest_connected, x.key_version, x.viewers, x.peak_viewers, x.unique_viewers,
           x.created_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_draft& x) {
  return f(caf::meta::type_name("stream_draft"), x.title, x.description, x.scheduled_at_ms, x.featured,
           x.allow_anonymous, x.start_now);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_patch& x) {
  return f(caf::meta::type_name("stream_patch"), x.has_title, x.title, x.has_description, x.description,
           x.has_scheduled_at, x.scheduled_at_ms, x.has_featured, x.featured, x.has_allow_anonymous,
           x.allow_anonymous);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_drop& x) {
  return f(caf::meta::type_name("stream_drop"), x.id, x.product_id, x.quantity, x.remaining, x.price_minor,
           x.per_buyer_limit, x.started_at_ms, x.ends_at_ms, x.active, x.end_reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_auction& x) {
  return f(caf::meta::type_name("stream_auction"), x.id, x.product_id, x.currency, x.starting_price_minor,
           x.price_minor, x.next_minimum_minor, x.leader_id, x.leader_name, x.bid_count, x.sudden_death,
           x.started_at_ms, x.ends_at_ms, x.open, x.result, x.winner_id, x.order_id, x.offered_to);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drop_spec& x) {
  return f(caf::meta::type_name("drop_spec"), x.product_id, x.quantity, x.price_minor, x.duration_s,
           x.per_buyer_limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auction_spec& x) {
  return f(caf::meta::type_name("auction_spec"), x.product_id, x.starting_price_minor, x.duration_s, x.sudden_death);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_push& x) {
  return f(caf::meta::type_name("stream_push"), x.key, x.json, x.seq, x.at_us);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_snapshot& x) {
  return f(caf::meta::type_name("stream_snapshot"), x.seq, x.json);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_keyed& x) {
  return f(caf::meta::type_name("stream_keyed"), x.stream, x.key);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_stats& x) {
  return f(caf::meta::type_name("stream_stats"), x.stream, x.orders, x.revenue_minor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, live_page& x) {
  return f(caf::meta::type_name("live_page"), x.items, x.next_cursor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verify_result& x) {
  return f(caf::meta::type_name("verify_result"), x.match, x.rehash);
}

/// An error whose context also lists offending fields (422 from an actor).
caf::error make_error(errc code, std::string detail, std::vector<field_error> fields);

/// An error about one line of a checkout or buy-now, naming `items[line].field`.
caf::error line_error(errc code, std::size_t line, const std::string& field, std::string message);

/// 429 with the seconds after which a retry may succeed.
caf::error make_rate_limited(std::uint32_t retry_after_s);

/// Like to_problem(const caf::error&), but also recovers the field list.
problem to_problem_with_fields(const caf::error& err);

/// Registers every message type above and the error category.
void add_message_types(caf::actor_system_config& cfg);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_member& x) {
  return f(caf::meta::type_name("cluster_member"), x.node_id, x.incarnation, x.cluster_address, x.http_address,
           x.version, x.status, x.heartbeat_age_ms, x.slots_owned, x.connected);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("cluster_view"), x.enabled, x.node_id, x.incarnation, x.slots, x.owned, x.moving,
           x.version, x.members);
}

} // namespace livemart
