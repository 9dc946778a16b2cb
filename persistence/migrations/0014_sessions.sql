-- Sessions that end before their access tokens expire: logout, logout
-- everywhere, a password change and an administrator's suspension end
-- every access token of that session (or account) at once.
--
-- A session is a refresh-token family; access tokens name theirs ("sid").
-- A row ends one session, or (session_id 0) every session of the user that
-- began before `cutoff` (session ids grow with time). Rows are kept until
-- every access token they could apply to has expired, then forgotten.
CREATE TABLE revoked_sessions (
  id         bigint PRIMARY KEY,          -- made by the application; nodes read them in this order
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  session_id bigint NOT NULL DEFAULT 0,
  cutoff     bigint NOT NULL DEFAULT 0,
  reason     text NOT NULL CHECK (reason IN ('logout', 'logout_all', 'password', 'suspended', 'reused')),
  revoked_at timestamptz NOT NULL DEFAULT now(),
  forget_at  timestamptz NOT NULL,
  CHECK ((session_id = 0) <> (cutoff = 0))
);
CREATE INDEX revoked_sessions_forget_idx ON revoked_sessions (forget_at);

-- An administrator may suspend an account: it cannot log in or refresh,
-- and its sessions end.
ALTER TABLE users ADD COLUMN suspended_at timestamptz, ADD COLUMN suspended_reason text NOT NULL DEFAULT '';

-- Rotation now also names the family (the session of the new access token),
-- refuses a suspended account's token, and ends the session of a token
-- used twice (a stolen one: RFC 9700 4.14.2), its access tokens included,
-- as revocation p_revocation_id kept p_keep_s seconds.
DROP FUNCTION rotate_refresh_token(bytea, bigint, bytea, integer);
CREATE FUNCTION rotate_refresh_token(p_old_hash bytea, p_new_id bigint, p_new_hash bytea, p_ttl_s integer,
                                     p_revocation_id bigint, p_keep_s integer)
RETURNS TABLE (outcome text, user_id bigint, family_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  t refresh_tokens%ROWTYPE;
BEGIN
  SELECT * INTO t FROM refresh_tokens r WHERE r.token_hash = p_old_hash FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::text, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;
  IF t.revoked_at IS NOT NULL THEN
    UPDATE refresh_tokens r SET revoked_at = now() WHERE r.family_id = t.family_id AND r.revoked_at IS NULL;
    INSERT INTO revoked_sessions (id, user_id, session_id, reason, forget_at)
      VALUES (p_revocation_id, t.user_id, t.family_id, 'reused', now() + make_interval(secs => p_keep_s));
    RETURN QUERY SELECT 'reused'::text, t.user_id, t.family_id;
    RETURN;
  END IF;
  IF t.expires_at <= now() THEN
    RETURN QUERY SELECT 'expired'::text, t.user_id, t.family_id;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id AND u.suspended_at IS NOT NULL) THEN
    RETURN QUERY SELECT 'suspended'::text, t.user_id, t.family_id;
    RETURN;
  END IF;
  INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
    VALUES (p_new_id, t.user_id, t.family_id, p_new_hash, now() + make_interval(secs => p_ttl_s));
  UPDATE refresh_tokens r SET revoked_at = now(), replaced_by = p_new_id WHERE r.id = t.id;
  RETURN QUERY SELECT 'rotated'::text, t.user_id, t.family_id;
END
$$;
