-- As in 0016, but a member judges the others once it has been beating
-- without a gap for half the TTL, not the whole of it. After PostgreSQL
-- comes back, every node beats again within a heartbeat and a reconnect,
-- well inside half a TTL; and a node that joined recently no longer makes
-- the claim of a crashed member's slots wait a whole TTL.
CREATE OR REPLACE FUNCTION cluster_evict(p_node smallint, p_ttl_ms integer, p_grace_ms integer) RETURNS TABLE (node_id smallint)
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM cluster_members e
                 WHERE e.node_id = p_node AND e.status = 'up'
                   AND greatest(e.beating_since, e.joined_at) <= now() - make_interval(secs => p_ttl_ms / 2000.0)) THEN
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
