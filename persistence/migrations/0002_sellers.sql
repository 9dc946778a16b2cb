-- Sellers (1:1 with users), their verification history, and follows.

CREATE TABLE sellers (
  id               bigint PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  shop_name        text NOT NULL,
  slug             text NOT NULL,
  description      text NOT NULL DEFAULT '',
  contact_email    text NOT NULL,
  country          char(2) NOT NULL,
  business_type    text NOT NULL CHECK (business_type IN ('individual', 'company')),
  status           text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
  status_reason    text NOT NULL DEFAULT '',
  -- Kept in the same transaction as each follow and unfollow, so reading
  -- it never needs COUNT(*).
  follower_count   bigint NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  version          integer NOT NULL DEFAULT 1,
  CONSTRAINT sellers_user_key UNIQUE (user_id),
  CONSTRAINT sellers_slug_key UNIQUE (slug)
);
CREATE UNIQUE INDEX sellers_shop_name_key ON sellers (lower(shop_name));
CREATE INDEX sellers_pending_idx ON sellers (id) WHERE status = 'pending';

-- Every status change, with who made it and why.
CREATE TABLE seller_transitions (
  id            bigint PRIMARY KEY,
  seller_id     bigint NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
  from_status   text,
  to_status     text NOT NULL,
  actor_user_id bigint NOT NULL REFERENCES users (id),
  reason        text NOT NULL DEFAULT '',
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seller_transitions_seller_idx ON seller_transitions (seller_id, at);

CREATE TABLE follows (
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  seller_id  bigint NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, seller_id)
);
CREATE INDEX follows_seller_idx ON follows (seller_id);

-- Applies to become a seller. A user applies once; after a rejection the
-- same row is updated and goes back to pending. LM409 otherwise.
CREATE FUNCTION seller_apply(p_id bigint, p_user bigint, p_shop_name text, p_slug text, p_description text,
                             p_contact_email text, p_country text, p_business_type text, p_transition bigint)
RETURNS SETOF sellers
LANGUAGE plpgsql AS $$
DECLARE
  current sellers%ROWTYPE;
BEGIN
  SELECT * INTO current FROM sellers WHERE user_id = p_user FOR UPDATE;
  IF FOUND THEN
    IF current.status <> 'rejected' THEN
      RAISE EXCEPTION 'already_%', current.status USING ERRCODE = 'LM409';
    END IF;
    UPDATE sellers SET shop_name = p_shop_name, slug = p_slug, description = p_description,
        contact_email = p_contact_email, country = p_country, business_type = p_business_type,
        status = 'pending', status_reason = '', updated_at = now(), version = version + 1
      WHERE id = current.id;
    INSERT INTO seller_transitions (id, seller_id, from_status, to_status, actor_user_id)
      VALUES (p_transition, current.id, 'rejected', 'pending', p_user);
    RETURN QUERY SELECT * FROM sellers WHERE id = current.id;
    RETURN;
  END IF;
  INSERT INTO sellers (id, user_id, shop_name, slug, description, contact_email, country, business_type, status)
    VALUES (p_id, p_user, p_shop_name, p_slug, p_description, p_contact_email, p_country, p_business_type, 'pending');
  INSERT INTO seller_transitions (id, seller_id, from_status, to_status, actor_user_id)
    VALUES (p_transition, p_id, NULL, 'pending', p_user);
  RETURN QUERY SELECT * FROM sellers WHERE id = p_id;
END
$$;

-- Approves or rejects a pending application (LM409 from any other status).
-- Approval makes the user a seller (an admin stays an admin).
CREATE FUNCTION seller_decide(p_seller bigint, p_to text, p_actor bigint, p_reason text, p_transition bigint)
RETURNS SETOF sellers
LANGUAGE plpgsql AS $$
DECLARE
  current sellers%ROWTYPE;
BEGIN
  SELECT * INTO current FROM sellers WHERE id = p_seller FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF current.status <> 'pending' THEN
    RAISE EXCEPTION 'status_%', current.status USING ERRCODE = 'LM409';
  END IF;
  UPDATE sellers SET status = p_to, status_reason = p_reason, updated_at = now(), version = version + 1
    WHERE id = p_seller;
  INSERT INTO seller_transitions (id, seller_id, from_status, to_status, actor_user_id, reason)
    VALUES (p_transition, p_seller, 'pending', p_to, p_actor, p_reason);
  IF p_to = 'approved' THEN
    UPDATE users SET role = 'seller', updated_at = now(), version = version + 1
      WHERE id = current.user_id AND role = 'buyer';
  END IF;
  RETURN QUERY SELECT * FROM sellers WHERE id = p_seller;
END
$$;

-- Follow and unfollow are idempotent; the counter moves only when the
-- follow row really appears or disappears. Only approved shops can be
-- followed. Returns the seller's follower count, or nothing when there is
-- no such approved seller.
CREATE FUNCTION seller_follow(p_user bigint, p_seller bigint)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM sellers WHERE id = p_seller AND status = 'approved' FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  INSERT INTO follows (user_id, seller_id) VALUES (p_user, p_seller) ON CONFLICT DO NOTHING;
  IF FOUND THEN
    UPDATE sellers SET follower_count = follower_count + 1 WHERE id = p_seller;
  END IF;
  RETURN QUERY SELECT follower_count FROM sellers WHERE id = p_seller;
END
$$;

CREATE FUNCTION seller_unfollow(p_user bigint, p_seller bigint)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM sellers WHERE id = p_seller FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM follows WHERE user_id = p_user AND seller_id = p_seller;
  IF FOUND THEN
    UPDATE sellers SET follower_count = follower_count - 1 WHERE id = p_seller;
  END IF;
  RETURN QUERY SELECT follower_count FROM sellers WHERE id = p_seller;
END
$$;
