-- Schema version 5: which process runs a lifecycle run, and when it last said it is alive,
-- so a run whose process was killed is marked as such instead of "running" forever.
ALTER TABLE lifecycle_runs ADD COLUMN owner TEXT;
ALTER TABLE lifecycle_runs ADD COLUMN heartbeat_at INTEGER;
