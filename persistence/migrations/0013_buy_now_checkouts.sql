-- A one-tap buy-now of several products is a checkout placed at once under
-- the request's Idempotency-Key. The key is recorded on the checkout, so a
-- retry after a failure or an unknown outcome finds and reuses the first
-- attempt's checkout (and its holds) instead of taking new ones.
ALTER TABLE checkouts ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
CREATE UNIQUE INDEX checkouts_buyer_key_idx ON checkouts (buyer_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
