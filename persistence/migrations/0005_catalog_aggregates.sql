-- Aggregates shown on product and shop pages, kept current in the same
-- transaction as the change that moves them, so that no page needs a
-- COUNT(*) or AVG() per request.

-- Ratings: sums and counts, maintained by reviews (issue 4); the average is
-- rating_sum / rating_count.
ALTER TABLE products
  ADD COLUMN rating_sum   bigint  NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
  ADD COLUMN rating_count integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0);
ALTER TABLE sellers
  ADD COLUMN active_product_count integer NOT NULL DEFAULT 0 CHECK (active_product_count >= 0),
  ADD COLUMN rating_sum   bigint  NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
  ADD COLUMN rating_count integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0);

-- Products listed before this migration are counted once here.
UPDATE sellers s SET active_product_count = c.n
  FROM (SELECT seller_id, count(*) AS n FROM products WHERE status = 'active' GROUP BY seller_id) c
  WHERE s.id = c.seller_id;

-- A seller's active products, counted per statement (a bulk insert of
-- thousands of products touches each seller row once).
CREATE FUNCTION sellers_count_inserted_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sellers s SET active_product_count = s.active_product_count + c.n
    FROM (SELECT seller_id, count(*) AS n FROM inserted WHERE status = 'active' GROUP BY seller_id) c
    WHERE s.id = c.seller_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER products_count_inserted AFTER INSERT ON products
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION sellers_count_inserted_products();

-- Status changes are rare and one row at a time; the WHEN clause keeps the
-- trigger off the stock path (stock moves never change the status).
CREATE FUNCTION sellers_count_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sellers SET active_product_count = active_product_count
                     + CASE WHEN NEW.status = 'active' THEN 1 ELSE -1 END
    WHERE id = NEW.seller_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER products_count_status_change AFTER UPDATE OF status ON products FOR EACH ROW
  WHEN ((OLD.status = 'active') IS DISTINCT FROM (NEW.status = 'active'))
  EXECUTE FUNCTION sellers_count_status_change();
