-- Direct sales: a one-tap buy-now of one product skips the checkout. The
-- product's actor collects the sales that arrive while its previous batch
-- commits and writes the next batch with one statement (product_sell):
-- per sale the order, its item, its first transition, its ledger entry
-- and its idempotency record; for the batch one stock update.

-- 'sale': stock sold at once, without a hold.
ALTER TABLE stock_ledger DROP CONSTRAINT stock_ledger_kind_check;
ALTER TABLE stock_ledger ADD CONSTRAINT stock_ledger_kind_check
  CHECK (kind IN ('restock', 'reserve', 'release', 'commit', 'return', 'sale'));

-- An order of a direct sale has no checkout; every pending order carries
-- its own payment deadline (for a checkout's orders, the checkout's hold).
ALTER TABLE orders ALTER COLUMN checkout_id DROP NOT NULL;
ALTER TABLE orders ADD COLUMN payment_due_at timestamptz;
UPDATE orders o SET payment_due_at = c.expires_at FROM checkouts c WHERE c.id = o.checkout_id;
ALTER TABLE orders ALTER COLUMN payment_due_at SET NOT NULL;
DROP INDEX orders_pending_idx;
CREATE INDEX orders_payment_due_idx ON orders (payment_due_at) WHERE status = 'pending';

CREATE OR REPLACE FUNCTION checkout_place(p_checkout bigint, p_buyer bigint, p_order_ids bigint[], p_transition_ids bigint[],
                               p_ledger_ids bigint[])
RETURNS TABLE (product_id bigint, quantity bigint, stock_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  part record;
  held record;
  n integer := 0;
BEGIN
  SELECT * INTO c FROM checkouts k WHERE k.id = p_checkout AND k.buyer_id = p_buyer FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'checkout_missing' USING ERRCODE = 'LM404';
  END IF;
  IF c.status <> 'open' THEN
    RAISE EXCEPTION 'checkout_%', c.status USING ERRCODE = 'LM409';
  END IF;
  IF c.expires_at <= now() THEN
    RAISE EXCEPTION 'checkout_expired' USING ERRCODE = 'LM409';
  END IF;
  -- Every line must be fully held (a checkout still taking its holds, or
  -- one whose holds failed, cannot be placed).
  IF EXISTS (
    SELECT 1 FROM (SELECT l.product_id, sum(l.quantity) AS wanted FROM checkout_lines l
                    WHERE l.checkout_id = p_checkout GROUP BY l.product_id) w
      LEFT JOIN checkout_holds(p_checkout) h ON h.product_id = w.product_id
     WHERE COALESCE(h.held, 0) <> w.wanted) THEN
    RAISE EXCEPTION 'checkout_incomplete' USING ERRCODE = 'LM409';
  END IF;
  UPDATE checkouts k SET status = 'placed', closed_at = now() WHERE k.id = p_checkout;
  FOR part IN SELECT s.seller_id, s.subtotal_minor, s.shipping_minor FROM checkout_sellers s
               WHERE s.checkout_id = p_checkout ORDER BY s.seller_id
  LOOP
    n := n + 1;
    INSERT INTO orders (id, checkout_id, buyer_id, seller_id, currency, subtotal_minor, shipping_minor, total_minor,
                        shipping_address, payment_due_at)
      VALUES (p_order_ids[n], p_checkout, p_buyer, part.seller_id, c.currency, part.subtotal_minor,
              part.shipping_minor, part.subtotal_minor + part.shipping_minor, c.shipping_address, c.expires_at);
    INSERT INTO order_items (order_id, line, product_id, title, unit_price_minor, quantity)
      SELECT p_order_ids[n], l.line, l.product_id, l.title, l.unit_price_minor, l.quantity
        FROM checkout_lines l WHERE l.checkout_id = p_checkout AND l.seller_id = part.seller_id;
    INSERT INTO order_transitions (id, order_id, from_status, to_status, actor_user_id, reason)
      VALUES (p_transition_ids[n], p_order_ids[n], NULL, 'pending', p_buyer, 'placed');
  END LOOP;
  n := 0;
  FOR held IN SELECT h.product_id AS pid, h.held AS q FROM checkout_holds(p_checkout) h
  LOOP
    IF held.q > 0 THEN
      n := n + 1;
      SELECT m.stock_version INTO stock_version
        FROM stock_move(p_ledger_ids[n], held.pid, 'commit', held.q, 'order placed', p_buyer, p_checkout) m;
      product_id := held.pid;
      quantity := held.q;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

-- Sells to each buyer i quantity i of product p_product at the price and
-- title snapshot i (taken when the sale was accepted), skipping sales whose
-- Idempotency-Key is taken or repeated in the batch ('replay') or whose
-- address is not the buyer's ('address'). Set-based: one INSERT per table
-- for the whole batch. Fails as a whole (LM409 insufficient_stock) rather
-- than sell what is not there. Returns one row per sale: its position
-- (from 1), its outcome ('placed', 'replay', 'address') and the product's
-- stock version after the batch.
CREATE FUNCTION product_sell(p_product bigint, p_seller bigint, p_currency text, p_due_s integer,
                             p_order_ids bigint[], p_buyers bigint[], p_addresses bigint[], p_quantities integer[],
                             p_unit_prices bigint[], p_titles text[], p_shipping bigint[], p_transition_ids bigint[],
                             p_ledger_ids bigint[], p_keys text[], p_hashes text[], p_bodies text[])
RETURNS TABLE (idx integer, outcome text, stock_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
  total_sold bigint;
  placed_count integer;
  placed_idx integer[];
  known_idx integer[];
  new_version bigint;
BEGIN
  WITH input AS (
    SELECT u.* FROM unnest(p_order_ids, p_buyers, p_addresses, p_quantities, p_unit_prices, p_titles, p_shipping,
                           p_transition_ids, p_ledger_ids, p_keys, p_hashes, p_bodies)
      WITH ORDINALITY AS u(order_id, buyer, address, quantity, unit_price, title, shipping, transition_id, ledger_id,
                           key, hash, body, i)
  ), known AS (
    SELECT input.*, jsonb_build_object('name', a.name, 'line1', a.line1, 'line2', a.line2, 'city', a.city,
                                       'region', a.region, 'postal_code', a.postal_code, 'country', a.country,
                                       'phone', a.phone) AS copy
      FROM input JOIN addresses a ON a.id = input.address AND a.user_id = input.buyer
  ), first_of_key AS (
    -- One sale per key: a key repeated within the batch sells once.
    SELECT DISTINCT ON (buyer, key) * FROM known ORDER BY buyer, key, i
  ), keys AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
      SELECT buyer, key, hash, 201, body FROM first_of_key ON CONFLICT DO NOTHING RETURNING user_id, key
  ), placed AS (
    SELECT f.* FROM first_of_key f JOIN keys ON keys.user_id = f.buyer AND keys.key = f.key
  ), new_orders AS (
    INSERT INTO orders (id, buyer_id, seller_id, currency, subtotal_minor, shipping_minor, total_minor,
                        shipping_address, payment_due_at)
      SELECT order_id, buyer, p_seller, p_currency, unit_price * quantity, shipping, unit_price * quantity + shipping,
             copy, now() + make_interval(secs => p_due_s)
        FROM placed RETURNING id
  ), new_items AS (
    INSERT INTO order_items (order_id, line, product_id, title, unit_price_minor, quantity)
      SELECT order_id, 1, p_product, title, unit_price, quantity FROM placed RETURNING order_id
  ), new_transitions AS (
    INSERT INTO order_transitions (id, order_id, from_status, to_status, actor_user_id, reason)
      SELECT transition_id, order_id, NULL, 'pending', buyer, 'placed' FROM placed RETURNING id
  ), new_ledger AS (
    INSERT INTO stock_ledger (id, product_id, kind, quantity, reason, actor_user_id, order_id)
      SELECT ledger_id, p_product, 'sale', quantity, 'order placed', buyer, order_id FROM placed RETURNING id
  )
  SELECT coalesce(sum(p.quantity), 0), count(*), coalesce(array_agg(p.i::integer), '{}'),
         (SELECT coalesce(array_agg(k.i::integer), '{}') FROM known k)
    INTO total_sold, placed_count, placed_idx, known_idx FROM placed p;
  UPDATE products p SET stock = p.stock - total_sold, sold = p.sold + total_sold,
                        stock_version = p.stock_version + placed_count
    WHERE p.id = p_product AND p.stock >= total_sold AND (total_sold = 0 OR p.status = 'active')
    RETURNING p.stock_version INTO new_version;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'insufficient_stock' USING ERRCODE = 'LM409';
  END IF;
  RETURN QUERY
    SELECT g.i, CASE WHEN g.i = ANY (placed_idx) THEN 'placed' WHEN g.i = ANY (known_idx) THEN 'replay'
                     ELSE 'address' END, new_version
      FROM generate_series(1, coalesce(array_length(p_order_ids, 1), 0)) AS g(i);
END
$$;
