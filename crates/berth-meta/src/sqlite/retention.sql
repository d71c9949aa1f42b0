-- Schema version 12: retention policies per project (Harbor's), beside those config.yml
-- declares, and runs that belong to one of them and can be asked to stop.
CREATE TABLE retention_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL UNIQUE,
    -- The rules as JSON, checked by the core before they are stored.
    rules TEXT NOT NULL,
    -- A cron schedule, or '' for runs started by hand only.
    schedule TEXT NOT NULL DEFAULT '',
    -- Scheduled runs due up to this time (ms) have been started.
    scheduled_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- 0: not a policy's run (garbage collection, the configuration's retention).
ALTER TABLE lifecycle_runs ADD COLUMN policy_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lifecycle_runs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX lifecycle_runs_by_policy ON lifecycle_runs (kind, policy_id, id);
