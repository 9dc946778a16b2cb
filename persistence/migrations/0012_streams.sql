-- Live streams (issue 5). Each stream's actor is the only writer of its
-- rows (the stream, its drops, its auctions and their bids); the stream
-- key is stored only as a hash.

CREATE TABLE streams (
  id                bigint PRIMARY KEY,
  seller_id         bigint NOT NULL REFERENCES sellers (id),
  title             text NOT NULL,
  description       text NOT NULL DEFAULT '',
  status            text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'ended', 'cancelled')),
  scheduled_at      timestamptz NOT NULL,
  started_at        timestamptz,
  ended_at          timestamptz,
  end_reason        text NOT NULL DEFAULT '',
  key_hash          text NOT NULL,
  key_version       integer NOT NULL DEFAULT 1,
  featured          bigint[] NOT NULL DEFAULT '{}',
  pinned_product_id bigint REFERENCES products (id),
  allow_anonymous   boolean NOT NULL DEFAULT true,
  peak_viewers      integer NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0),
  unique_viewers    integer NOT NULL DEFAULT 0 CHECK (unique_viewers >= 0),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streams_seller_idx ON streams (seller_id, scheduled_at DESC, id DESC);
-- Streams whose actors must run at start (a live stream is listed from its actor's state).
CREATE INDEX streams_open_idx ON streams (id) WHERE status IN ('scheduled', 'live');

-- A drop: a flash sale of `quantity` units of a product during a stream,
-- at an optional drop price, with a per-buyer limit. Its sales are orders
-- carrying its id, so the units sold per buyer survive a restart.
CREATE TABLE stream_drops (
  id              bigint PRIMARY KEY,
  stream_id       bigint NOT NULL REFERENCES streams (id),
  product_id      bigint NOT NULL REFERENCES products (id),
  quantity        integer NOT NULL CHECK (quantity > 0),
  price_minor     bigint CHECK (price_minor >= 0),
  per_buyer_limit integer NOT NULL CHECK (per_buyer_limit > 0),
  started_at      timestamptz NOT NULL DEFAULT now(),
  ends_at         timestamptz NOT NULL,
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
  end_reason      text NOT NULL DEFAULT ''
);
CREATE INDEX stream_drops_stream_idx ON stream_drops (stream_id, id);
ALTER TABLE orders ADD COLUMN drop_id bigint REFERENCES stream_drops (id);
CREATE INDEX orders_drop_idx ON orders (drop_id, buyer_id) WHERE drop_id IS NOT NULL;

CREATE TABLE auctions (
  id                   bigint PRIMARY KEY,
  stream_id            bigint NOT NULL REFERENCES streams (id),
  product_id           bigint NOT NULL REFERENCES products (id),
  currency             char(3) NOT NULL,
  starting_price_minor bigint NOT NULL CHECK (starting_price_minor >= 0),
  sudden_death         boolean NOT NULL DEFAULT false,
  started_at           timestamptz NOT NULL DEFAULT now(),
  ends_at              timestamptz NOT NULL,
  status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  leader_id            bigint REFERENCES users (id),
  price_minor          bigint NOT NULL DEFAULT 0,
  bid_count            integer NOT NULL DEFAULT 0,
  result               text NOT NULL DEFAULT '',
  order_id             bigint REFERENCES orders (id),
  offered_to           bigint REFERENCES users (id),
  closed_at            timestamptz
);
CREATE INDEX auctions_stream_idx ON auctions (stream_id, id);

CREATE TABLE auction_bids (
  id         bigint PRIMARY KEY,
  auction_id bigint NOT NULL REFERENCES auctions (id),
  bidder_id  bigint NOT NULL REFERENCES users (id),
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auction_bids_auction_idx ON auction_bids (auction_id, amount_minor DESC);

-- product_sell gains the drop of each sale (0: none).
DROP FUNCTION product_sell(bigint, bigint, text, integer, bigint[], bigint[], bigint[], integer[], bigint[], text[],
                           bigint[], bigint[], bigint[], text[], text[], text[]);

CREATE FUNCTION product_sell(p_product bigint, p_seller bigint, p_currency text, p_due_s integer,
                             p_order_ids bigint[], p_buyers bigint[], p_addresses bigint[], p_quantities integer[],
                             p_unit_prices bigint[], p_titles text[], p_shipping bigint[], p_transition_ids bigint[],
                             p_ledger_ids bigint[], p_keys text[], p_hashes text[], p_bodies text[],
                             p_drops bigint[])
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
                           p_transition_ids, p_ledger_ids, p_keys, p_hashes, p_bodies, p_drops)
      WITH ORDINALITY AS u(order_id, buyer, address, quantity, unit_price, title, shipping, transition_id, ledger_id,
                           key, hash, body, drop_id, i)
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
                        shipping_address, payment_due_at, drop_id)
      SELECT order_id, buyer, p_seller, p_currency, unit_price * quantity, shipping, unit_price * quantity + shipping,
             copy, now() + make_interval(secs => p_due_s), NULLIF(drop_id, 0)
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
