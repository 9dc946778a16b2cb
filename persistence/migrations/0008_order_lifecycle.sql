-- The order lifecycle after placement: payments and their gateway events,
-- shipping details, refunds, and the stock a cancelled order gives back.
-- Each order's actor is the only writer of its rows; `version` guards
-- against a second writer all the same.

-- 'return': sold units going back to stock (a cancelled order).
ALTER TABLE stock_ledger DROP CONSTRAINT stock_ledger_kind_check;
ALTER TABLE stock_ledger ADD CONSTRAINT stock_ledger_kind_check
  CHECK (kind IN ('restock', 'reserve', 'release', 'commit', 'return'));
ALTER TABLE stock_ledger ADD COLUMN order_id bigint;

CREATE OR REPLACE FUNCTION stock_move(p_ledger bigint, p_product bigint, p_kind text, p_quantity bigint, p_reason text,
                                      p_actor bigint, p_checkout bigint DEFAULT NULL)
RETURNS TABLE (stock bigint, reserved bigint, sold bigint, stock_version bigint)
LANGUAGE plpgsql AS $$
BEGIN
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
  ELSIF p_kind = 'return' THEN
    UPDATE products p SET stock = p.stock + p_quantity, sold = p.sold - p_quantity,
                          stock_version = p.stock_version + 1
      WHERE p.id = p_product AND p.sold >= p_quantity;
  ELSE
    UPDATE products p SET reserved = p.reserved - p_quantity, sold = p.sold + p_quantity,
                          stock_version = p.stock_version + 1
      WHERE p.id = p_product AND p.reserved >= p_quantity;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%', CASE WHEN p_kind IN ('restock', 'reserve') THEN 'insufficient_stock'
                              WHEN p_kind = 'return' THEN 'insufficient_sold'
                              ELSE 'insufficient_reserved' END USING ERRCODE = 'LM409';
  END IF;
  INSERT INTO stock_ledger (id, product_id, kind, quantity, reason, actor_user_id, checkout_id)
    VALUES (p_ledger, p_product, p_kind, p_quantity, p_reason, p_actor, p_checkout);
  RETURN QUERY SELECT p.stock, p.reserved, p.sold, p.stock_version FROM products p WHERE p.id = p_product;
END
$$;

ALTER TABLE orders ADD COLUMN carrier text;
ALTER TABLE orders ADD COLUMN tracking_number text;
ALTER TABLE orders ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD CONSTRAINT orders_refunded_check CHECK (refunded_minor BETWEEN 0 AND total_minor);
-- Pending orders are paid for while their checkout's hold lasts.
CREATE INDEX orders_pending_idx ON orders (checkout_id) WHERE status = 'pending';

-- One attempt to pay for an order. The row exists before the gateway is
-- called (its id is the gateway's idempotency key), so no charge can be
-- made that we have no record of. Payment-method tokens are not stored.
CREATE TABLE payments (
  id              bigint PRIMARY KEY,
  order_id        bigint NOT NULL REFERENCES orders (id),
  gateway         text NOT NULL,
  gateway_ref     text,
  method          text NOT NULL CHECK (method IN ('card', 'google_pay')),
  amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
  currency        char(3) NOT NULL,
  status          text NOT NULL
                  CHECK (status IN ('created', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled')),
  failure_reason  text NOT NULL DEFAULT '',
  next_action_url text,
  refunded_minor  bigint NOT NULL DEFAULT 0 CHECK (refunded_minor BETWEEN 0 AND amount_minor),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_gateway_ref_key ON payments (gateway, gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE INDEX payments_order_idx ON payments (order_id, id);
CREATE INDEX payments_created_idx ON payments (created_at);

-- Money given back, by the order's actor (a cancellation after payment, or
-- a refund after delivery). 'pending' rows exist before the gateway is
-- called, like payments.
CREATE TABLE refunds (
  id           bigint PRIMARY KEY,
  payment_id   bigint NOT NULL REFERENCES payments (id),
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  reason       text NOT NULL DEFAULT '',
  gateway_ref  text,
  status       text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id);

-- Gateway events (webhooks) already applied: inserted in the transaction
-- that applies the event, so each event id takes effect once.
CREATE TABLE payment_events (
  event_id    text PRIMARY KEY,
  type        text NOT NULL,
  payment_id  bigint,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- Moves an order to p_to if it is still at p_version, with its transition
-- record. LM409 'order_changed' when another writer got there first.
CREATE FUNCTION order_move(p_order bigint, p_version integer, p_to text, p_transition bigint, p_actor bigint,
                           p_reason text)
RETURNS TABLE (version integer, updated_at_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
  old_status text;
BEGIN
  SELECT o.status INTO old_status FROM orders o WHERE o.id = p_order AND o.version = p_version FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'order_changed' USING ERRCODE = 'LM409';
  END IF;
  UPDATE orders o SET status = p_to, version = o.version + 1, updated_at = now() WHERE o.id = p_order;
  INSERT INTO order_transitions (id, order_id, from_status, to_status, actor_user_id, reason)
    VALUES (p_transition, p_order, old_status, p_to, NULLIF(p_actor, 0), p_reason);
  RETURN QUERY SELECT o.version, (extract(epoch FROM o.updated_at) * 1000)::bigint FROM orders o WHERE o.id = p_order;
END
$$;

-- Gives a cancelled order's units back to stock, a ledger entry per item.
-- Returns the quantity per product with the product's stock version after it.
CREATE FUNCTION order_return_stock(p_order bigint, p_ledger_ids bigint[], p_actor bigint)
RETURNS TABLE (product_id bigint, quantity bigint, stock_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
  item record;
  n integer := 0;
BEGIN
  FOR item IN SELECT i.product_id AS pid, sum(i.quantity)::bigint AS q FROM order_items i
               WHERE i.order_id = p_order GROUP BY i.product_id ORDER BY i.product_id
  LOOP
    n := n + 1;
    SELECT m.stock_version INTO stock_version
      FROM stock_move(p_ledger_ids[n], item.pid, 'return', item.q, 'order cancelled', NULLIF(p_actor, 0)) m;
    UPDATE stock_ledger l SET order_id = p_order WHERE l.id = p_ledger_ids[n];
    product_id := item.pid;
    quantity := item.q;
    RETURN NEXT;
  END LOOP;
END
$$;
