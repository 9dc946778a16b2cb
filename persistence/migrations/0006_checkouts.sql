-- Checkouts: line items with price snapshots and stock holds that expire.
-- A hold is a 'reserve' move in the stock ledger tagged with its checkout;
-- whoever closes the checkout (placing it, or its expiry) claims it first
-- (status 'open' -> something else), so exactly one of them settles the
-- holds, in the same transaction as the claim.

ALTER TABLE stock_ledger ADD COLUMN checkout_id bigint;
-- Counts every stock move of a product, so that a product actor can tell
-- whether a move committed by someone else is already in what it loaded.
ALTER TABLE products ADD COLUMN stock_version bigint NOT NULL DEFAULT 0;
CREATE INDEX stock_ledger_checkout_idx ON stock_ledger (checkout_id) WHERE checkout_id IS NOT NULL;

CREATE TABLE checkouts (
  id               bigint PRIMARY KEY,
  buyer_id         bigint NOT NULL REFERENCES users (id),
  address_id       bigint NOT NULL,
  shipping_address jsonb NOT NULL, -- a copy: later edits of the address do not change it
  currency         char(3) NOT NULL,
  subtotal_minor   bigint NOT NULL CHECK (subtotal_minor >= 0),
  shipping_minor   bigint NOT NULL CHECK (shipping_minor >= 0),
  total_minor      bigint NOT NULL CHECK (total_minor = subtotal_minor + shipping_minor),
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'placed', 'expired', 'failed')),
  expires_at       timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  closed_at        timestamptz
);
CREATE INDEX checkouts_due_idx ON checkouts (expires_at) WHERE status = 'open';
CREATE INDEX checkouts_buyer_idx ON checkouts (buyer_id, id);

CREATE TABLE checkout_lines (
  checkout_id      bigint NOT NULL REFERENCES checkouts (id),
  line             integer NOT NULL,
  product_id       bigint NOT NULL REFERENCES products (id),
  seller_id        bigint NOT NULL REFERENCES sellers (id),
  title            text NOT NULL,
  unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
  quantity         integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (checkout_id, line)
);

-- Each seller's part of a checkout, priced at checkout time: it becomes
-- that seller's order.
CREATE TABLE checkout_sellers (
  checkout_id    bigint NOT NULL REFERENCES checkouts (id),
  seller_id      bigint NOT NULL REFERENCES sellers (id),
  subtotal_minor bigint NOT NULL CHECK (subtotal_minor >= 0),
  shipping_minor bigint NOT NULL CHECK (shipping_minor >= 0),
  PRIMARY KEY (checkout_id, seller_id)
);

-- stock_move, now recording the checkout a move belongs to.
DROP FUNCTION stock_move(bigint, bigint, text, bigint, text, bigint);
CREATE FUNCTION stock_move(p_ledger bigint, p_product bigint, p_kind text, p_quantity bigint, p_reason text,
                           p_actor bigint, p_checkout bigint DEFAULT NULL)
RETURNS TABLE (stock bigint, reserved bigint, sold bigint, stock_version bigint)
LANGUAGE plpgsql AS $$
BEGIN
  -- A hold only for a checkout that is still open (locked before the
  -- product, in the order every closing transaction takes them), so no
  -- hold can outlive its checkout.
  IF p_kind = 'reserve' AND p_checkout IS NOT NULL THEN
    PERFORM 1 FROM checkouts k WHERE k.id = p_checkout AND k.status = 'open' FOR SHARE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'checkout_closed' USING ERRCODE = 'LM409';
    END IF;
  END IF;
  IF p_kind = 'restock' THEN
    UPDATE products p SET stock = p.stock + p_quantity, stock_version = p.stock_version + 1, updated_at = now()
      WHERE p.id = p_product AND p.stock + p_quantity >= 0;
  ELSIF p_kind = 'reserve' THEN
    UPDATE products p SET stock = p.stock - p_quantity, reserved = p.reserved + p_quantity,
                          stock_version = p.stock_version + 1
      WHERE p.id = p_product AND p.stock >= p_quantity;
  ELSIF p_kind = 'release' THEN
    UPDATE products p SET stock = p.stock + p_quantity, reserved = p.reserved - p_quantity,
                          stock_version = p.stock_version + 1
      WHERE p.id = p_product AND p.reserved >= p_quantity;
  ELSE
    UPDATE products p SET reserved = p.reserved - p_quantity, sold = p.sold + p_quantity,
                          stock_version = p.stock_version + 1
      WHERE p.id = p_product AND p.reserved >= p_quantity;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%', CASE WHEN p_kind IN ('restock', 'reserve') THEN 'insufficient_stock'
                              ELSE 'insufficient_reserved' END USING ERRCODE = 'LM409';
  END IF;
  INSERT INTO stock_ledger (id, product_id, kind, quantity, reason, actor_user_id, checkout_id)
    VALUES (p_ledger, p_product, p_kind, p_quantity, p_reason, p_actor, p_checkout);
  RETURN QUERY SELECT p.stock, p.reserved, p.sold, p.stock_version FROM products p WHERE p.id = p_product;
END
$$;

-- What a checkout still holds, per product: its reserves minus what was
-- released or sold of them.
CREATE FUNCTION checkout_holds(p_checkout bigint)
RETURNS TABLE (product_id bigint, held bigint)
LANGUAGE sql STABLE AS $$
  SELECT l.product_id, sum(CASE WHEN l.kind = 'reserve' THEN l.quantity ELSE -l.quantity END)::bigint
    FROM stock_ledger l WHERE l.checkout_id = p_checkout GROUP BY l.product_id ORDER BY l.product_id
$$;

-- Opens a checkout for the buyer's own address (LM422 'address_id' otherwise),
-- with a copy of it; its lines are inserted by the same command.
CREATE FUNCTION checkout_open(p_id bigint, p_buyer bigint, p_address bigint, p_currency text, p_subtotal bigint,
                              p_shipping bigint, p_ttl_s integer)
RETURNS TABLE (id bigint, expires_at_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
  copy jsonb;
BEGIN
  SELECT jsonb_build_object('name', a.name, 'line1', a.line1, 'line2', a.line2, 'city', a.city, 'region', a.region,
                            'postal_code', a.postal_code, 'country', a.country, 'phone', a.phone)
    INTO copy FROM addresses a WHERE a.id = p_address AND a.user_id = p_buyer;
  IF copy IS NULL THEN
    RAISE EXCEPTION 'address_id' USING ERRCODE = 'LM422';
  END IF;
  INSERT INTO checkouts (id, buyer_id, address_id, shipping_address, currency, subtotal_minor, shipping_minor,
                         total_minor, expires_at)
    VALUES (p_id, p_buyer, p_address, copy, p_currency, p_subtotal, p_shipping, p_subtotal + p_shipping,
            now() + make_interval(secs => p_ttl_s));
  RETURN QUERY SELECT c.id, (extract(epoch FROM c.expires_at) * 1000)::bigint FROM checkouts c WHERE c.id = p_id;
END
$$;

-- Closes an open checkout as p_status ('expired' or 'failed'; with p_due_only
-- only once it is past its expiry) and releases every hold it still has, in
-- one transaction. Returns the released quantity per product with the
-- product's stock version after it; nothing when the checkout was not open
-- (already placed or closed).
CREATE FUNCTION checkout_release(p_id bigint, p_status text, p_due_only boolean, p_ledger_ids bigint[])
RETURNS TABLE (product_id bigint, quantity bigint, stock_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
  held record;
  n integer := 0;
BEGIN
  UPDATE checkouts c SET status = p_status, closed_at = now()
    WHERE c.id = p_id AND c.status = 'open' AND (NOT p_due_only OR c.expires_at <= now());
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR held IN SELECT h.product_id AS pid, h.held AS q FROM checkout_holds(p_id) h
  LOOP
    IF held.q > 0 THEN
      n := n + 1;
      SELECT m.stock_version INTO stock_version
        FROM stock_move(p_ledger_ids[n], held.pid, 'release', held.q, 'checkout ' || p_status, NULL, p_id) m;
      product_id := held.pid;
      quantity := held.q;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;
