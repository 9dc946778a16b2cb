-- Verified reviews: only a buyer whose order with the product was
-- delivered may review it, once. The product's and the seller's rating
-- aggregates change in the same transaction as the review.

CREATE TABLE product_reviews (
  id         bigint PRIMARY KEY,
  product_id bigint NOT NULL REFERENCES products (id),
  seller_id  bigint NOT NULL REFERENCES sellers (id),
  buyer_id   bigint NOT NULL REFERENCES users (id),
  order_id   bigint NOT NULL REFERENCES orders (id),
  rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title      text NOT NULL DEFAULT '',
  body       text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT product_reviews_buyer_key UNIQUE (product_id, buyer_id)
);
CREATE INDEX product_reviews_product_idx ON product_reviews (product_id, id);

-- LM403 'not_a_verified_buyer' without a delivered order of the product;
-- a unique violation (product_reviews_buyer_key) for a second review.
-- Returns the review with the product's new aggregates.
CREATE FUNCTION review_create(p_id bigint, p_product bigint, p_buyer bigint, p_rating integer, p_title text,
                              p_body text)
RETURNS TABLE (id bigint, seller_id bigint, order_id bigint, created_at_ms bigint, rating_sum bigint,
               rating_count integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_order bigint;
  v_seller bigint;
BEGIN
  SELECT o.id, o.seller_id INTO v_order, v_seller
    FROM orders o JOIN order_items i ON i.order_id = o.id
   WHERE o.buyer_id = p_buyer AND i.product_id = p_product AND o.status IN ('delivered', 'refunded')
     AND EXISTS (SELECT 1 FROM order_transitions t WHERE t.order_id = o.id AND t.to_status = 'delivered')
   ORDER BY o.id LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'not_a_verified_buyer' USING ERRCODE = 'LM403';
  END IF;
  INSERT INTO product_reviews (id, product_id, seller_id, buyer_id, order_id, rating, title, body)
    VALUES (p_id, p_product, v_seller, p_buyer, v_order, p_rating, p_title, p_body);
  UPDATE sellers s SET rating_sum = s.rating_sum + p_rating, rating_count = s.rating_count + 1 WHERE s.id = v_seller;
  RETURN QUERY
    UPDATE products p SET rating_sum = p.rating_sum + p_rating, rating_count = p.rating_count + 1
     WHERE p.id = p_product
    RETURNING p_id, v_seller, v_order, (extract(epoch FROM now()) * 1000)::bigint, p.rating_sum::bigint,
              p.rating_count;
END
$$;
