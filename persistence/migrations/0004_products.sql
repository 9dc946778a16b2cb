-- Products and their stock ledger. Each product's stock is changed only by
-- its product actor, one change at a time, through stock_move().

CREATE TABLE products (
  id          bigint PRIMARY KEY,
  seller_id   bigint NOT NULL REFERENCES sellers (id),
  category_id bigint NOT NULL REFERENCES categories (id),
  title       text NOT NULL,
  description text NOT NULL DEFAULT '',
  price_minor bigint NOT NULL CHECK (price_minor >= 0),
  currency    char(3) NOT NULL,
  -- stock: available now; reserved: held by checkouts; sold: committed.
  -- Ever stocked = stock + reserved + sold = the sum of restock entries.
  stock       bigint NOT NULL DEFAULT 0 CHECK (stock >= 0),
  reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  sold        bigint NOT NULL DEFAULT 0 CHECK (sold >= 0),
  status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
  image_urls  jsonb NOT NULL DEFAULT '[]',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1
);
CREATE INDEX products_seller_idx ON products (seller_id, id);
CREATE INDEX products_category_idx ON products (category_id);

CREATE TABLE stock_ledger (
  id            bigint PRIMARY KEY,
  product_id    bigint NOT NULL REFERENCES products (id),
  kind          text NOT NULL CHECK (kind IN ('restock', 'reserve', 'release', 'commit')),
  quantity      bigint NOT NULL CHECK (kind = 'restock' OR quantity > 0),
  reason        text NOT NULL DEFAULT '',
  actor_user_id bigint,
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_ledger_product_idx ON stock_ledger (product_id, id);

-- One stock change and its ledger entry, atomically. Never below zero:
-- LM409 'insufficient_stock' (or 'insufficient_reserved') instead.
CREATE FUNCTION stock_move(p_ledger bigint, p_product bigint, p_kind text, p_quantity bigint, p_reason text,
                           p_actor bigint)
RETURNS TABLE (stock bigint, reserved bigint, sold bigint)
LANGUAGE plpgsql AS $$
BEGIN
  IF p_kind = 'restock' THEN
    UPDATE products p SET stock = p.stock + p_quantity, updated_at = now()
      WHERE p.id = p_product AND p.stock + p_quantity >= 0;
  ELSIF p_kind = 'reserve' THEN
    UPDATE products p SET stock = p.stock - p_quantity, reserved = p.reserved + p_quantity
      WHERE p.id = p_product AND p.stock >= p_quantity;
  ELSIF p_kind = 'release' THEN
    UPDATE products p SET stock = p.stock + p_quantity, reserved = p.reserved - p_quantity
      WHERE p.id = p_product AND p.reserved >= p_quantity;
  ELSE
    UPDATE products p SET reserved = p.reserved - p_quantity, sold = p.sold + p_quantity
      WHERE p.id = p_product AND p.reserved >= p_quantity;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%', CASE WHEN p_kind IN ('restock', 'reserve') THEN 'insufficient_stock'
                              ELSE 'insufficient_reserved' END USING ERRCODE = 'LM409';
  END IF;
  INSERT INTO stock_ledger (id, product_id, kind, quantity, reason, actor_user_id)
    VALUES (p_ledger, p_product, p_kind, p_quantity, p_reason, p_actor);
  RETURN QUERY SELECT p.stock, p.reserved, p.sold FROM products p WHERE p.id = p_product;
END
$$;
