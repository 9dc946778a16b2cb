-- Orders: one per seller of a placed checkout, with price snapshots, a
-- status history, and the idempotency records of their placement.

CREATE TABLE orders (
  id               bigint PRIMARY KEY,
  checkout_id      bigint NOT NULL REFERENCES checkouts (id),
  buyer_id         bigint NOT NULL REFERENCES users (id),
  seller_id        bigint NOT NULL REFERENCES sellers (id),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled', 'refunded')),
  currency         char(3) NOT NULL,
  subtotal_minor   bigint NOT NULL CHECK (subtotal_minor >= 0),
  shipping_minor   bigint NOT NULL CHECK (shipping_minor >= 0),
  total_minor      bigint NOT NULL CHECK (total_minor = subtotal_minor + shipping_minor),
  shipping_address jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  version          integer NOT NULL DEFAULT 1,
  CONSTRAINT orders_checkout_seller_key UNIQUE (checkout_id, seller_id)
);
CREATE INDEX orders_buyer_idx ON orders (buyer_id, id);
CREATE INDEX orders_seller_idx ON orders (seller_id, id);

CREATE TABLE order_items (
  order_id         bigint NOT NULL REFERENCES orders (id),
  line             integer NOT NULL,
  product_id       bigint NOT NULL REFERENCES products (id),
  title            text NOT NULL,
  unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
  quantity         integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, line)
);

-- Every status change, with who made it, when and why.
CREATE TABLE order_transitions (
  id            bigint PRIMARY KEY,
  order_id      bigint NOT NULL REFERENCES orders (id),
  from_status   text,
  to_status     text NOT NULL,
  actor_user_id bigint,
  reason        text NOT NULL DEFAULT '',
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_transitions_order_idx ON order_transitions (order_id, at);

-- The reply to a request with an Idempotency-Key, kept at least as long as
-- orders.idempotency_retention_h.
CREATE TABLE idempotency_keys (
  user_id      bigint NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  status       integer NOT NULL,
  body         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Places the buyer's open, unexpired checkout: claims it, creates one
-- pending order per seller (ids in seller order) with its items and the
-- shipping priced at checkout, and sells every unit the checkout holds, in
-- one transaction. Returns the sold quantity per product with its stock
-- version. LM404 when the checkout is not the buyer's; LM409
-- 'checkout_<status>' or 'checkout_expired' when it cannot be placed.
CREATE FUNCTION checkout_place(p_checkout bigint, p_buyer bigint, p_order_ids bigint[], p_transition_ids bigint[],
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
                        shipping_address)
      VALUES (p_order_ids[n], p_checkout, p_buyer, part.seller_id, c.currency, part.subtotal_minor,
              part.shipping_minor, part.subtotal_minor + part.shipping_minor, c.shipping_address);
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
