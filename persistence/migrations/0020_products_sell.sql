-- Direct sales of many products in one call (docs/architecture.md, "Direct
-- sales"). The writer merges the product_sell commands of one group commit
-- into one products_sell, so a batch costs a handful of set-based
-- statements however many products it touches: one insert of all keys, all
-- orders, all items, all transitions, all ledger entries, one stock update.
-- A product fails alone, as its own product_sell would: a fence that no
-- longer holds ('not_owner') or stock or status that refuses its sales
-- ('insufficient') writes none of its sales, and its rows say so.
--
-- Per product n (1-based): p_products[n], its seller, currency, payment
-- delay and fence (slot < 0: none). Per sale: p_product_of (its product's
-- n) and the columns of product_sell.
CREATE FUNCTION products_sell(p_products bigint[], p_sellers bigint[], p_currencies text[], p_due_s integer[],
                              p_fence_slots integer[], p_fence_nodes smallint[], p_fence_epochs bigint[],
                              p_product_of integer[], p_order_ids bigint[], p_buyers bigint[], p_addresses bigint[],
                              p_quantities integer[], p_unit_prices bigint[], p_titles text[], p_shipping bigint[],
                              p_transition_ids bigint[], p_ledger_ids bigint[], p_keys text[], p_hashes text[],
                              p_bodies text[], p_drops bigint[])
RETURNS TABLE (product_no integer, idx integer, outcome text, stock_version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  refused integer[]; -- products whose fence failed
  short integer[];   -- products whose stock or status refuses their sales
  placed_i integer[];
  known_i integer[];
BEGIN
  -- The fences, as cluster_fence takes them (FOR SHARE: a claim of the slot
  -- waits for this transaction, and the old owner's later writes fail).
  PERFORM 1 FROM slot_owners o
    JOIN unnest(p_fence_slots, p_fence_nodes, p_fence_epochs) AS f(slot, node, epoch)
      ON o.slot = f.slot AND o.node_id = f.node AND o.epoch = f.epoch
    FOR SHARE OF o;
  SELECT coalesce(array_agg(f.n::integer), '{}') INTO refused
    FROM unnest(p_fence_slots, p_fence_nodes, p_fence_epochs) WITH ORDINALITY AS f(slot, node, epoch, n)
   WHERE f.slot >= 0
     AND NOT EXISTS (SELECT 1 FROM slot_owners o WHERE o.slot = f.slot AND o.node_id = f.node AND o.epoch = f.epoch);

  -- The products' rows, locked in id order; then whose new sales exceed
  -- their stock (keys seen before sell nothing).
  PERFORM 1 FROM products WHERE id = ANY (p_products) ORDER BY id FOR UPDATE;
  WITH input AS (
    SELECT u.* FROM unnest(p_product_of, p_buyers, p_addresses, p_quantities, p_keys)
      WITH ORDINALITY AS u(product_no, buyer, address, quantity, key, i)
  ), fresh AS (
    SELECT DISTINCT ON (input.buyer, input.key) input.*
      FROM input JOIN addresses a ON a.id = input.address AND a.user_id = input.buyer
     WHERE NOT (input.product_no = ANY (refused))
       AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.user_id = input.buyer AND k.key = input.key)
     ORDER BY input.buyer, input.key, input.i
  ), totals AS (
    SELECT fresh.product_no, sum(fresh.quantity) AS total FROM fresh GROUP BY fresh.product_no
  )
  SELECT coalesce(array_agg(t.product_no), '{}') INTO short
    FROM totals t JOIN products p ON p.id = p_products[t.product_no]
   WHERE t.total > 0 AND (p.stock < t.total OR p.status <> 'active');

  -- Every sale of the products that may sell, at once.
  WITH input AS (
    SELECT u.* FROM unnest(p_product_of, p_order_ids, p_buyers, p_addresses, p_quantities, p_unit_prices, p_titles,
                           p_shipping, p_transition_ids, p_ledger_ids, p_keys, p_hashes, p_bodies, p_drops)
      WITH ORDINALITY AS u(product_no, order_id, buyer, address, quantity, unit_price, title, shipping, transition_id,
                           ledger_id, key, hash, body, drop_id, i)
  ), known AS (
    SELECT input.*, jsonb_build_object('name', a.name, 'line1', a.line1, 'line2', a.line2, 'city', a.city,
                                       'region', a.region, 'postal_code', a.postal_code, 'country', a.country,
                                       'phone', a.phone) AS copy
      FROM input JOIN addresses a ON a.id = input.address AND a.user_id = input.buyer
  ), first_of_key AS (
    -- One sale per key: a key repeated within the batch sells once.
    SELECT DISTINCT ON (buyer, key) * FROM known
     WHERE NOT (known.product_no = ANY (refused)) AND NOT (known.product_no = ANY (short))
     ORDER BY buyer, key, i
  ), keys AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
      SELECT buyer, key, hash, 201, body FROM first_of_key ON CONFLICT DO NOTHING RETURNING user_id, key
  ), placed AS (
    SELECT f.* FROM first_of_key f JOIN keys ON keys.user_id = f.buyer AND keys.key = f.key
  ), new_orders AS (
    INSERT INTO orders (id, buyer_id, seller_id, currency, subtotal_minor, shipping_minor, total_minor,
                        shipping_address, payment_due_at, drop_id)
      SELECT order_id, buyer, p_sellers[product_no], p_currencies[product_no], unit_price * quantity, shipping,
             unit_price * quantity + shipping, copy, now() + make_interval(secs => p_due_s[product_no]),
             NULLIF(drop_id, 0)
        FROM placed RETURNING id
  ), new_items AS (
    INSERT INTO order_items (order_id, line, product_id, title, unit_price_minor, quantity)
      SELECT order_id, 1, p_products[product_no], title, unit_price, quantity FROM placed RETURNING order_id
  ), new_transitions AS (
    INSERT INTO order_transitions (id, order_id, from_status, to_status, actor_user_id, reason)
      SELECT transition_id, order_id, NULL, 'pending', buyer, 'placed' FROM placed RETURNING id
  ), new_ledger AS (
    INSERT INTO stock_ledger (id, product_id, kind, quantity, reason, actor_user_id, order_id)
      SELECT ledger_id, p_products[product_no], 'sale', quantity, 'order placed', buyer, order_id FROM placed
      RETURNING id
  )
  SELECT coalesce((SELECT array_agg(p.i::integer) FROM placed p), '{}'),
         coalesce((SELECT array_agg(k.i::integer) FROM known k), '{}')
    INTO placed_i, known_i;

  UPDATE products p SET stock = p.stock - t.total, sold = p.sold + t.total, stock_version = p.stock_version + t.n
    FROM (SELECT p_product_of[s.i] AS product_no, sum(p_quantities[s.i]) AS total, count(*) AS n
            FROM unnest(placed_i) AS s(i) GROUP BY 1) t
   WHERE p.id = p_products[t.product_no];

  RETURN QUERY
    SELECT s.product_no::integer,
           (row_number() OVER (PARTITION BY s.product_no ORDER BY s.i))::integer,
           CASE WHEN s.product_no = ANY (refused) THEN 'not_owner'
                WHEN s.product_no = ANY (short) THEN 'insufficient'
                WHEN pl.i IS NOT NULL THEN 'placed'
                WHEN kn.i IS NOT NULL THEN 'replay'
                ELSE 'address' END,
           p.stock_version
      FROM unnest(p_product_of) WITH ORDINALITY AS s(product_no, i)
      JOIN products p ON p.id = p_products[s.product_no]
      LEFT JOIN unnest(placed_i) AS pl(i) ON pl.i = s.i
      LEFT JOIN unnest(known_i) AS kn(i) ON kn.i = s.i
     ORDER BY s.i;
END
$$;
