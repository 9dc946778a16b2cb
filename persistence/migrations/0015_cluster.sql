-- A cluster of livemart nodes (docs/architecture.md, "The cluster").
-- PostgreSQL is the authority for who is a member and for who owns which
-- hash slot of entities; every write of an owned entity checks its slot's
-- owner and epoch in its own transaction (cluster_fence), so a node that
-- lost a slot (paused, partitioned, evicted) can never commit for it.

-- The one setting every node must agree on, fixed by the first node, and
-- a version raised by every change of members or owners, which nodes poll
-- (one row) before they read the tables again.
CREATE TABLE cluster_config (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  slots   integer NOT NULL CHECK (slots > 0 AND (slots & (slots - 1)) = 0),
  version bigint NOT NULL DEFAULT 0
);

-- Members. A node marks itself alive (heartbeat_at, PostgreSQL's clock: no
-- skew between nodes); one whose mark is older than the TTL is dead, and
-- any node may say so. An incarnation is one run of a node's process: a
-- restart is a new one, and an evicted incarnation's heartbeat updates no
-- row, which is how it learns it was evicted.
CREATE TABLE cluster_members (
  node_id         smallint PRIMARY KEY CHECK (node_id BETWEEN 0 AND 1023),
  incarnation     bigint NOT NULL,
  cluster_address text NOT NULL,  -- host:port of its cluster port
  http_address    text NOT NULL,  -- host:port of its HTTP port
  version         text NOT NULL,  -- the cluster protocol it speaks
  status          text NOT NULL CHECK (status IN ('up', 'leaving', 'dead')),
  joined_at       timestamptz NOT NULL DEFAULT now(),
  heartbeat_at    timestamptz NOT NULL DEFAULT now(),
  left_at         timestamptz
);

-- Who owns each slot now (node_id NULL: nobody, after a release), and the
-- epoch of that ownership: every claim and release raises it, so a write
-- fenced with an older epoch fails.
CREATE TABLE slot_owners (
  slot    integer PRIMARY KEY CHECK (slot >= 0),
  node_id smallint,
  epoch   bigint NOT NULL DEFAULT 0
);
CREATE INDEX slot_owners_node_idx ON slot_owners (node_id);

-- The advisory lock a node holds on its membership connection while it
-- lives: a lock that is free means the process (or its connection) is gone.
CREATE FUNCTION cluster_lock_key(p_node integer) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (x'6c6d6e6f' :: bigint << 16) | p_node $$;

-- Joins as a new incarnation of p_node. Outcomes: 'joined'; 'taken' (a live
-- process has this node id: it holds the lock); 'slots' (the cluster was
-- made with another slot count). Run on the node's membership connection,
-- which then holds the lock until it closes. Slots the node id owned in an
-- earlier incarnation are released with a new epoch, so nothing the old
-- process may still attempt can commit.
CREATE FUNCTION cluster_join(p_node smallint, p_incarnation bigint, p_cluster_address text, p_http_address text,
                             p_version text, p_slots integer)
RETURNS TABLE (outcome text, slots integer)
LANGUAGE plpgsql AS $$
DECLARE
  have integer;
BEGIN
  IF NOT pg_try_advisory_lock(cluster_lock_key(p_node)) THEN
    RETURN QUERY SELECT 'taken'::text, NULL::integer;
    RETURN;
  END IF;
  INSERT INTO cluster_config (slots) VALUES (p_slots) ON CONFLICT (id) DO NOTHING;
  SELECT c.slots INTO have FROM cluster_config c;
  IF have <> p_slots THEN
    PERFORM pg_advisory_unlock(cluster_lock_key(p_node));
    RETURN QUERY SELECT 'slots'::text, have;
    RETURN;
  END IF;
  INSERT INTO slot_owners (slot) SELECT generate_series(0, have - 1) ON CONFLICT (slot) DO NOTHING;
  INSERT INTO cluster_members AS m (node_id, incarnation, cluster_address, http_address, version, status)
  VALUES (p_node, p_incarnation, p_cluster_address, p_http_address, p_version, 'up')
  ON CONFLICT (node_id) DO UPDATE
    SET incarnation = EXCLUDED.incarnation, cluster_address = EXCLUDED.cluster_address,
        http_address = EXCLUDED.http_address, version = EXCLUDED.version, status = 'up',
        joined_at = now(), heartbeat_at = now(), left_at = NULL;
  UPDATE slot_owners SET node_id = NULL, epoch = epoch + 1 WHERE node_id = p_node;
  UPDATE cluster_config SET version = version + 1;
  RETURN QUERY SELECT 'joined'::text, have;
END $$;

-- A member marks itself alive: 'alive', or 'evicted' when its row names
-- another incarnation or says it is dead (it must stop serving). The lock
-- is taken again if the membership connection was replaced; when another
-- process holds it, this incarnation was replaced.
CREATE FUNCTION cluster_heartbeat(p_node smallint, p_incarnation bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = cluster_lock_key(p_node))
     AND NOT pg_try_advisory_lock(cluster_lock_key(p_node)) THEN
    RETURN 'evicted';
  END IF;
  UPDATE cluster_members SET heartbeat_at = now()
  WHERE node_id = p_node AND incarnation = p_incarnation AND status <> 'dead';
  IF NOT FOUND THEN
    RETURN 'evicted';
  END IF;
  RETURN 'alive';
END $$;

-- Whether a member's process is gone: no session holds its lock.
CREATE FUNCTION cluster_lock_free(p_node integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND ((l.classid::bigint << 32) | l.objid::bigint) = cluster_lock_key(p_node))
$$;

-- Marks dead the members that did not mark themselves alive within the TTL,
-- and (the fast path after a crash) those whose lock is free and whose last
-- mark is older than p_grace_ms (a restarted PostgreSQL: every node takes
-- its lock again within a heartbeat). Returns the members marked now.
CREATE FUNCTION cluster_evict(p_ttl_ms integer, p_grace_ms integer) RETURNS TABLE (node_id smallint)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  UPDATE cluster_members m SET status = 'dead', left_at = now()
  WHERE m.status <> 'dead'
    AND (m.heartbeat_at < now() - make_interval(secs => p_ttl_ms / 1000.0)
         OR (m.heartbeat_at < now() - make_interval(secs => p_grace_ms / 1000.0) AND cluster_lock_free(m.node_id)))
  RETURNING m.node_id;
  IF FOUND THEN
    UPDATE cluster_config SET version = version + 1;
  END IF;
END $$;

-- Claims slots for p_node: only those nobody owns or whose owner is dead
-- (a live owner releases first). Each claimed slot gets a new epoch.
CREATE FUNCTION cluster_claim(p_node smallint, p_slots integer[]) RETURNS TABLE (slot integer, epoch bigint)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  UPDATE slot_owners s SET node_id = p_node, epoch = s.epoch + 1
  WHERE s.slot = ANY (p_slots)
    AND (s.node_id IS NULL OR NOT EXISTS (SELECT 1 FROM cluster_members m
                                          WHERE m.node_id = s.node_id AND m.status <> 'dead'))
  RETURNING s.slot, s.epoch;
  IF FOUND THEN
    UPDATE cluster_config SET version = version + 1;
  END IF;
END $$;

-- Releases slots p_node owns (after draining them), with a new epoch.
CREATE FUNCTION cluster_release(p_node smallint, p_slots integer[]) RETURNS TABLE (slot integer)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  UPDATE slot_owners s SET node_id = NULL, epoch = s.epoch + 1
  WHERE s.slot = ANY (p_slots) AND s.node_id = p_node
  RETURNING s.slot;
  IF FOUND THEN
    UPDATE cluster_config SET version = version + 1;
  END IF;
END $$;

-- A member leaves (graceful, after releasing its slots) or says it is
-- leaving: others stop placing slots on it.
CREATE FUNCTION cluster_set_status(p_node smallint, p_incarnation bigint, p_status text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cluster_members SET status = p_status, left_at = CASE WHEN p_status = 'dead' THEN now() END
  WHERE node_id = p_node AND incarnation = p_incarnation AND status <> 'dead';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE cluster_config SET version = version + 1;
  IF p_status = 'dead' THEN
    PERFORM pg_advisory_unlock_all();
  END IF;
  RETURN true;
END $$;

-- The fence: raises LM421 unless p_node owns p_slot at p_epoch. FOR SHARE
-- conflicts with a claim's or release's update of the row, so a claim waits
-- for a writer's transaction in flight, and every later write of the old
-- owner fails.
CREATE FUNCTION cluster_fence(p_slot integer, p_node smallint, p_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM slot_owners WHERE slot = p_slot AND node_id = p_node AND epoch = p_epoch FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'LM421', MESSAGE = 'not_owner';
  END IF;
END $$;
