-- After PostgreSQL was away (stopped, restarted, unreachable) every
-- member's mark is old and, after a restart, every member's lock is free:
-- the first node to beat again would declare all the others dead, and they
-- would stop. So a node judges the others only once it has itself been
-- beating without a gap for the TTL: PostgreSQL was reachable all that
-- time, and the others had the time to mark themselves alive and take
-- their locks again.

-- The start of a member's run of beats without a gap (its join, or its
-- first beat after a gap).
ALTER TABLE cluster_members ADD COLUMN beating_since timestamptz NOT NULL DEFAULT now();

DROP FUNCTION cluster_heartbeat(smallint, bigint);
DROP FUNCTION cluster_evict(integer, integer);

-- As in 0015, and a beat later than p_gap_ms after the previous one starts
-- a new run.
CREATE FUNCTION cluster_heartbeat(p_node smallint, p_incarnation bigint, p_gap_ms integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = cluster_lock_key(p_node))
     AND NOT pg_try_advisory_lock(cluster_lock_key(p_node)) THEN
    RETURN 'evicted';
  END IF;
  UPDATE cluster_members SET
    beating_since = CASE WHEN heartbeat_at < now() - make_interval(secs => p_gap_ms / 1000.0) THEN now()
                         ELSE beating_since END,
    heartbeat_at = now()
  WHERE node_id = p_node AND incarnation = p_incarnation AND status <> 'dead';
  IF NOT FOUND THEN
    RETURN 'evicted';
  END IF;
  RETURN 'alive';
END $$;

-- As in 0015, asked by member p_node: nothing is evicted unless p_node has
-- been up and beating without a gap for the TTL.
CREATE FUNCTION cluster_evict(p_node smallint, p_ttl_ms integer, p_grace_ms integer) RETURNS TABLE (node_id smallint)
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM cluster_members e
                 WHERE e.node_id = p_node AND e.status = 'up'
                   AND greatest(e.beating_since, e.joined_at) <= now() - make_interval(secs => p_ttl_ms / 1000.0)) THEN
    RETURN;
  END IF;
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
