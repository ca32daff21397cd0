-- Bulk retry and replay. A replayed delivery names its replay (`replay_id`); a replay creates
-- at most one delivery per event and target, so repeating it adds nothing.
ALTER TABLE deliveries ADD COLUMN replay_id TEXT;
CREATE UNIQUE INDEX deliveries_replay ON deliveries
    (target_namespace, target_kind, target_name, replay_id, event_id)
    WHERE replay_id IS NOT NULL;
-- Live work is claimed before replays: each has its own due index.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status = 'Pending' AND replay_id IS NULL;
CREATE INDEX deliveries_replay_due ON deliveries (next_attempt_at)
    WHERE status = 'Pending' AND replay_id IS NOT NULL;
-- Bulk retry: a target's Failed and Dead deliveries by creation time.
CREATE INDEX deliveries_retryable ON deliveries
    (target_namespace, target_kind, target_name, created_at)
    WHERE status IN ('Failed', 'Dead');
-- Replay: a namespace's events by time.
CREATE INDEX events_time ON events (namespace, received_at, id);
