#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <protocol/messages.hpp>
#include <protocol/orders.hpp>

/// One typed interface per actor kind. Handles are named *_actor.
namespace livemart {

/// The interface of `Entity` with the entity's id before every message:
/// what a registry that forwards to one actor per id understands.
template <class Entity>
struct keyed;

template <class... Sigs>
struct keyed<caf::typed_actor<Sigs...>> {
  template <class Sig>
  struct prefixed;
  template <class... Is, class Out>
  struct prefixed<caf::typed_mpi<caf::detail::type_list<Is...>, Out>> {
    using type = caf::typed_mpi<caf::detail::type_list<std::uint64_t, Is...>, Out>;
  };
  using type = caf::typed_actor<typename prefixed<Sigs>::type...>;
};

/// One shard of the registry of `Entity` actors, and the only way to reach
/// them: `(id, message...)` goes to the actor of `id`, spawned from
/// committed state on first use. A request is forwarded (the actor answers
/// the caller directly); a notification (no reply) reaches only a running
/// actor, since a fresh one loads what it would say. `idle` is the
/// passivation handshake, asked by the actor itself: once the registry
/// agrees it forwards nothing more to that actor and holds what comes for
/// its id until the actor is down, then hands it to a fresh one. An
/// actor's mailbox is in order, so when the agreement reaches it, every
/// request forwarded before has reached it too. `release` (from the
/// cluster actor, after slots changed hands) stops the actors of ids this
/// node no longer owns, or owns under a newer epoch.
template <class Entity>
using registry_of = typename keyed<Entity>::type::template extend<caf::replies_to<idle_atom, std::uint64_t>::with<bool>,
                                                                   caf::reacts_to<release_atom>>;

/// Argon2id on a bounded pool of detached threads (auth.hash_workers,
/// auth.hash_queue_max). `verify` with an empty hash checks against a dummy
/// hash of the same cost, so unknown accounts take as long as wrong passwords.
using hasher_actor = caf::typed_actor<
  caf::replies_to<hash_atom, std::string>::with<std::string>,
  caf::replies_to<verify_atom, std::string, std::string>::with<verify_result>>;

/// Fixed-window attempt counter per key: replies 0 when the attempt is
/// allowed, otherwise the seconds until the window resets.
using limiter_actor = caf::typed_actor<
  caf::replies_to<check_atom, std::string, std::uint32_t>::with<std::uint32_t>>;

/// One shard of the user directory: owns the cached profiles of the users
/// whose id hashes to it and serialises their profile changes.
using user_shard_actor = caf::typed_actor<
  caf::replies_to<get_atom, std::uint64_t>::with<user_profile>,
  caf::replies_to<update_atom, std::uint64_t, profile_patch>::with<user_profile>,
  caf::reacts_to<put_atom, user_profile>,
  caf::reacts_to<forget_atom, std::uint64_t>>; ///< the row changed elsewhere: read it again next time

/// Registration, login, refresh-token rotation and the end of sessions.
/// Registration and login name the client's network for their rate limits.
/// Every session that ends is in force on this node (`sessions_actor`)
/// before the reply.
using auth_actor = caf::typed_actor<
  caf::replies_to<register_atom, register_request, std::string>::with<user_profile>,
  caf::replies_to<login_atom, login_request, std::string>::with<token_pair>,
  caf::replies_to<refresh_atom, refresh_request>::with<token_pair>,
  caf::replies_to<logout_atom, refresh_request>::with<caf::ok_atom>,  ///< ends the token's session
  caf::replies_to<logout_all_atom, std::uint64_t>::with<caf::ok_atom>, ///< user: ends every session
  /// user, change: a new password ends every session; a new one begins.
  caf::replies_to<password_atom, std::uint64_t, password_change>::with<token_pair>,
  /// admin, user, suspend (or lift), why: a suspension ends every session.
  caf::replies_to<suspend_atom, std::uint64_t, std::uint64_t, bool, suspension>::with<user_profile>>;

/// The node's list of ended sessions (actors/sessions.hpp): loaded once
/// before the node serves (get_atom replies how many are in force), then
/// kept current from this node's revocations and, every
/// auth.revocation_poll_ms, from everyone's in PostgreSQL.
using sessions_actor = caf::typed_actor<
  caf::replies_to<caf::get_atom>::with<std::uint64_t>,
  caf::replies_to<revoke_atom, std::vector<revocation>>::with<caf::ok_atom>>;

/// A user's shipping addresses; every message names the acting user, and
/// another user's address is indistinguishable from a missing one.
using address_actor = caf::typed_actor<
  caf::replies_to<list_atom, std::uint64_t>::with<std::vector<address>>,
  caf::replies_to<create_atom, address>::with<address>,
  caf::replies_to<update_atom, std::uint64_t, std::uint64_t, address_patch>::with<address>,
  caf::replies_to<delete_atom, std::uint64_t, std::uint64_t>::with<caf::ok_atom>>;

/// Seller applications, verification and follows. Acting users come from
/// the access token; an unapproved shop is not visible to the public.
using seller_actor = caf::typed_actor<
  caf::replies_to<apply_atom, std::uint64_t, seller_application>::with<seller>,
  caf::replies_to<get_atom, std::uint64_t>::with<seller>,             ///< by seller id
  caf::replies_to<profile_atom, std::uint64_t>::with<seller>,         ///< by owner's user id
  caf::replies_to<list_atom, seller_status, std::uint64_t, std::uint32_t>::with<std::vector<seller>>,
  caf::replies_to<decide_atom, std::uint64_t, std::uint64_t, seller_status, std::string>::with<seller>,
  caf::replies_to<follow_atom, std::uint64_t, std::uint64_t, bool>::with<std::int64_t>,
  caf::replies_to<following_atom, std::uint64_t, std::uint64_t, std::uint32_t>::with<std::vector<seller>>>;

/// The category tree: held whole in memory by one actor, its only writer,
/// which answers reads without the database and checks moves for cycles.
/// `get` replies with the public tree, rendered once per change.
using category_actor = caf::typed_actor<
  caf::replies_to<get_atom>::with<std::string>,
  caf::replies_to<create_atom, category_patch>::with<category>,
  caf::replies_to<update_atom, std::uint64_t, category_patch>::with<category>,
  caf::replies_to<delete_atom, std::uint64_t>::with<caf::ok_atom>,
  caf::replies_to<check_atom, std::uint64_t>::with<bool>,   ///< exists and active, ancestors included
  caf::replies_to<scope_atom, std::uint64_t>::with<category_scope>,       ///< what a search below it may return
  caf::replies_to<path_atom, std::uint64_t>::with<std::vector<category>>>; ///< the breadcrumb, root first

/// Product search over an in-memory index of the active products (see
/// catalog_index.hpp), loaded from PostgreSQL at start and kept current by
/// the product actors, which send every committed change. `ready` answers
/// with the number of indexed products once the index is loaded.
using search_actor = caf::typed_actor<
  caf::replies_to<search_atom, search_query>::with<search_result>,
  caf::replies_to<ready_atom>::with<std::uint64_t>,
  caf::reacts_to<put_atom, product>,
  caf::reacts_to<put_atom, stock_update>,
  /// Catch up with what was committed since then (ms, system clock; 0: since the load began).
  caf::reacts_to<refresh_atom, std::int64_t>>;

/// Readiness: the database answers a query through the read pool.
using health_actor = caf::typed_actor<caf::replies_to<ready_atom>::with<caf::ok_atom>>;

/// One product: owns its stock and price and serialises every change to
/// them. A change is answered only after it is committed, and published
/// with a per-product sequence number to the product's group
/// (`product_group_name`). Quantities must be positive.
using product_actor = caf::typed_actor<
  caf::replies_to<get_atom>::with<product>,
  caf::replies_to<detail_atom>::with<product_detail>, ///< seller summary and breadcrumb at most catalog.detail_refresh_ms old
  caf::replies_to<reserve_atom, std::int64_t, std::uint64_t>::with<stock_update>, ///< quantity, checkout (0: none)
  /// A direct sale (one-tap buy-now): batched with the sales that arrive while the previous batch commits.
  caf::replies_to<sell_atom, sale_request>::with<sale_result>,
  caf::replies_to<release_atom, std::int64_t>::with<stock_update>,
  caf::replies_to<commit_atom, std::int64_t>::with<stock_update>,
  caf::replies_to<restock_atom, std::int64_t, std::string, std::uint64_t>::with<stock_update>, ///< delta, reason, who
  caf::replies_to<price_atom, std::int64_t>::with<stock_update>,
  caf::replies_to<update_atom, product_patch>::with<product>,  ///< listing fields
  /// A move another transaction committed: kind (stock_kind), quantity, stock version after it.
  caf::reacts_to<applied_atom, std::int32_t, std::int64_t, std::int64_t>,
  /// The rating after a review committed: sum and count (counts only grow, so older news is ignored).
  caf::reacts_to<rated_atom, std::int64_t, std::int32_t>>;

/// The product registry's shards.
using product_registry_actor = registry_of<product_actor>;

/// Product operations that need more than one actor: creation (an approved
/// seller, a usable category) and changes by the owning seller or an admin.
using product_service_actor = caf::typed_actor<
  caf::replies_to<create_atom, std::uint64_t, product_draft>::with<product>,                     ///< user, draft
  caf::replies_to<restock_atom, std::uint64_t, std::uint64_t, std::int64_t, std::string>::with<stock_update>, ///< user, product, delta, reason
  caf::replies_to<price_atom, std::uint64_t, std::uint64_t, std::int64_t>::with<stock_update>,   ///< user, product, price
  caf::replies_to<update_atom, std::uint64_t, std::uint64_t, product_patch>::with<product>>;     ///< user, product, patch

/// Verified reviews: a buyer whose order with the product was delivered
/// reviews it once (user, product, draft); the product's and the seller's
/// ratings change with it. Pages of a product's reviews, newest first
/// (product, before id, limit), with its rating.
using review_actor = caf::typed_actor<
  caf::replies_to<review_atom, std::uint64_t, std::uint64_t, review_draft>::with<review>,
  caf::replies_to<list_atom, std::uint64_t, std::uint64_t, std::uint32_t>::with<review_page>>;

/// Checkouts: prices lines from the products (never from the client), holds
/// their stock in the product actors (all or nothing) and keeps the holds
/// until the checkout is placed or expires (orders.hold_ttl_s); a sweeper
/// releases expired holds, also those of a node that stopped.
using checkout_actor = caf::typed_actor<
  caf::replies_to<checkout_atom, std::uint64_t, checkout_request>::with<checkout>, ///< buyer, request
  caf::replies_to<sweep_atom>::with<std::uint64_t>>; ///< release expired holds now; replies how many checkouts

/// A payment gateway: the built-in sandbox or Stripe's REST API. Its calls
/// may take seconds, so implementations keep them off the scheduler's
/// threads. A decline is a record with status failed and a reason; an
/// error (gateway_unavailable) means the outcome is unknown. Charges are
/// idempotent by payment id, refunds by refund id. Outcomes that arrive
/// later (webhooks) go to the actor given with `put`; Stripe sends those
/// over HTTP instead.
using gateway_actor = caf::typed_actor<
  caf::replies_to<charge_atom, gateway_charge>::with<gateway_record>,
  caf::replies_to<refund_atom, gateway_refund>::with<gateway_record>, ///< ref: the refund's; status succeeded or failed
  caf::replies_to<cancel_atom, std::string>::with<gateway_record>,    ///< by the charge's ref (voids an authorization too)
  caf::replies_to<capture_atom, std::string, std::uint64_t>::with<gateway_record>, ///< an authorized charge's ref, payment id (idempotency)
  caf::replies_to<get_atom, std::string>::with<gateway_record>,       ///< by the charge's ref
  caf::replies_to<list_atom, std::int64_t, std::int64_t>::with<std::vector<gateway_record>>, ///< created in [from_s, to_s)
  caf::reacts_to<put_atom, caf::actor>>;

/// One placed order: owns its status, payments and refunds, and serialises
/// every change to them (one command at a time, gateway calls included),
/// each answered after it is committed. Users other than the buyer, the
/// order's seller or an admin get 404; user 0 is the system (expiry).
using order_actor = caf::typed_actor<
  caf::replies_to<get_atom, std::uint64_t>::with<order>,                    ///< user
  caf::replies_to<command_atom, std::uint64_t, order_command>::with<order>, ///< user, command
  /// A gateway event about one of its payments: "applied", "duplicate" or "ignored".
  caf::replies_to<event_atom, gateway_event>::with<std::string>>;

/// The order registry's shards.
using order_registry_actor = registry_of<order_actor>;

/// Order placement with idempotency keys. A key's first request places the
/// order and stores its outcome in the same transaction; the same key with
/// the same request (by hash) gets that outcome again, refusals included,
/// and with another request a conflict naming Idempotency-Key. Requests
/// with one key that arrive together share the first one's outcome. A
/// failure that decided nothing (the database away) is an error, not an
/// outcome: a retry may still succeed.
/// Reads: an order for its buyer, its seller or an admin (404 for anyone
/// else: user, order), and a user's orders as buyer or as seller (user,
/// as_seller, before id, limit), newest first.
/// Changes go to the order's actor (user, order, command); gateway events
/// are routed by their payment's reference. Reconciliation compares our
/// payments created in [from_s, to_s) with the gateway's, repairing what it
/// can when asked to.
using order_service_actor = caf::typed_actor<
  caf::replies_to<place_atom, purchase_key, place_request>::with<purchase_outcome>,
  /// A purchase refused elsewhere (a drop): stored under the key and
  /// answered like a placement's refusal (the key's earlier outcome wins).
  caf::replies_to<refuse_atom, purchase_key, caf::error>::with<purchase_outcome>,
  caf::replies_to<get_atom, std::uint64_t, std::uint64_t>::with<order>,
  caf::replies_to<list_atom, std::uint64_t, bool, std::uint64_t, std::uint32_t>::with<std::vector<order>>,
  caf::replies_to<command_atom, std::uint64_t, std::uint64_t, order_command>::with<order>,
  caf::replies_to<event_atom, gateway_event>::with<std::string>,
  caf::replies_to<reconcile_atom, std::int64_t, std::int64_t, bool>::with<reconcile_report>,
  caf::replies_to<sweep_atom>::with<std::uint64_t>>; ///< cancel unpaid orders past their hold now; replies how many

/// One live stream: owns its state (status, featured and pinned products,
/// the current drop and auction, viewer statistics) and serialises every
/// change, each answered after it is committed. Users are the acting ones
/// (checked against the stream's owner here); 0 is the public.
/// Pushes for viewers go to the stream's group (`stream_group_name`): a
/// snapshot first (`snapshot`), then events with sequence numbers.
using stream_actor = caf::typed_actor<
  caf::replies_to<get_atom>::with<stream_info>,
  caf::replies_to<snapshot_atom>::with<stream_snapshot>,
  caf::replies_to<stats_atom, std::uint64_t>::with<stream_stats>,                 ///< owner
  caf::replies_to<update_atom, std::uint64_t, stream_patch>::with<stream_info>,   ///< owner, patch
  caf::replies_to<start_atom, std::uint64_t>::with<stream_info>,                  ///< owner
  caf::replies_to<end_atom, std::uint64_t>::with<stream_info>,                    ///< owner (a scheduled stream is cancelled)
  caf::replies_to<key_atom, std::uint64_t>::with<stream_keyed>,                   ///< owner: a new key
  /// A media server asks whether `key` may publish (true) or says the ingest went away (false).
  caf::replies_to<ingest_atom, std::string, bool>::with<bool>,
  caf::replies_to<pin_atom, std::uint64_t, std::uint64_t>::with<stream_info>,     ///< owner, product (0: unpin)
  caf::replies_to<drop_atom, std::uint64_t, drop_spec>::with<stream_drop>,        ///< owner, spec
  caf::replies_to<drop_atom, std::uint64_t, std::uint64_t>::with<stream_drop>,    ///< owner, drop: end it now
  /// A purchase from a drop (0: the current one).
  caf::replies_to<buy_atom, std::uint64_t, purchase_key, place_request>::with<purchase_outcome>,
  caf::replies_to<auction_atom, std::uint64_t, auction_spec>::with<stream_auction>, ///< owner, spec
  caf::replies_to<bid_atom, std::uint64_t, std::uint64_t, std::int64_t>::with<stream_auction>, ///< bidder, auction (0: current), amount
  caf::replies_to<offer_atom, std::uint64_t, std::uint64_t>::with<stream_auction>, ///< owner, auction: to the runner-up
  /// A node's viewers of this stream: hub, count now, users who joined, anonymous joins. The
  /// reply comes from the stream's actor, which the hub monitors to report again to the next one.
  caf::replies_to<viewers_atom, caf::actor, std::int64_t, std::vector<std::uint64_t>, std::int64_t>::with<caf::ok_atom>,
  caf::reacts_to<stock_update>>; ///< from the featured products' groups

/// The stream registry's shards.
using stream_registry_actor = registry_of<stream_actor>;

/// The live streams, from their actors: a page ordered by viewers (cursor:
/// viewers and id of the last one seen; limit), and the live stream of a
/// seller (0: none).
using stream_index_actor = caf::typed_actor<
  caf::reacts_to<put_atom, stream_info>,
  caf::reacts_to<delete_atom, std::uint64_t>,
  caf::replies_to<list_atom, std::int64_t, std::uint64_t, std::uint32_t>::with<live_page>,
  caf::replies_to<get_atom, std::uint64_t>::with<std::uint64_t>>;

/// Scheduling streams (approved sellers, their own products) and a seller's
/// streams from the database (seller, upcoming only, before id, limit).
using stream_service_actor = caf::typed_actor<
  caf::replies_to<create_atom, std::uint64_t, stream_draft>::with<stream_keyed>,
  caf::replies_to<list_atom, std::uint64_t, bool, std::uint64_t, std::uint32_t>::with<std::vector<stream_info>>>;

/// What every node of a cluster follows of the changes its peers commit:
/// a peer sends each to this node's bus after telling its own actors, and
/// the bus hands it to the same actors here. Products and their stock and
/// price for the search index (versioned: an older change is ignored) and
/// for the product's group (viewers of its streams); the live list;
/// personal pushes and follows for a user's sockets; a seller going live.
using node_bus_actor = caf::typed_actor<
  caf::reacts_to<put_atom, product>,
  caf::reacts_to<put_atom, stock_update>,
  caf::reacts_to<put_atom, stream_info>,
  caf::reacts_to<delete_atom, std::uint64_t>,                      ///< a stream left the live list
  caf::reacts_to<push_atom, std::uint64_t, std::string>,           ///< user, json
  caf::reacts_to<follow_atom, std::uint64_t, std::uint64_t, bool>, ///< user, seller, on
  caf::reacts_to<start_atom, std::uint64_t, stream_info>>;         ///< seller, its stream went live

/// What a node tells a peer that connected to its cluster port: who it is
/// (node id, incarnation, the cluster protocol it speaks) and the shards of
/// its registries, which requests for entities it owns are forwarded to.
struct node_hello {
  std::uint16_t node_id = 0;
  std::uint64_t incarnation = 0;
  std::string protocol;
  std::vector<product_registry_actor> products;
  std::vector<order_registry_actor> orders;
  std::vector<stream_registry_actor> streams;
  std::vector<user_shard_actor> users;
  limiter_actor limiter; ///< the attempt limits whose keys fall in its slots
  node_bus_actor bus;    ///< hears the changes this node's peers commit
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(caf::meta::type_name("node_hello"), x.node_id, x.incarnation, x.protocol, x.products, x.orders, x.streams,
           x.users, x.limiter, x.bus);
}

/// The one actor a node publishes on its cluster port: a peer says who it
/// is (node id, incarnation) and gets this node's hello. Nothing else of a
/// node is reachable from its cluster port until a hello handed it out.
using node_gateway_actor =
  caf::typed_actor<caf::replies_to<hello_atom, std::uint16_t, std::uint64_t>::with<node_hello>>;

/// This node's membership of its cluster (actors/src/cluster.cpp). `join`
/// (its cluster address and HTTP address) makes it a member, once; from then on
/// it marks the node alive in PostgreSQL, evicts silent members, claims
/// the slots rendezvous hashing gives it and releases, after a drain,
/// those it no longer should own. `get` is its view (GET /admin/cluster);
/// `leave` gives its slots back and ends the membership.
using cluster_actor = caf::typed_actor<
  caf::replies_to<join_atom, std::string, std::string>::with<cluster_view>,
  caf::replies_to<hello_atom, std::uint16_t, std::uint64_t>::with<node_hello>,
  caf::replies_to<get_atom>::with<cluster_view>,
  caf::replies_to<leave_atom>::with<bool>,
  caf::reacts_to<beat_atom, std::uint64_t>>;

} // namespace livemart
