-- Schema version 9: webhook policies per project (Harbor's notification policies). Their
-- deliveries go through the outbox like the configured endpoints' do, and stay there
-- once finished, as the policy's execution history (purged by age).
CREATE TABLE webhook_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    -- Harbor's event type names, as a JSON array.
    event_types TEXT NOT NULL,
    -- Harbor's targets (type, address, auth header, TLS check, payload format), as JSON.
    targets TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, name)
);
-- For a policy's rows: which policy and event type, and how the delivery ended (NULL
-- while it is still due; 'Success' or 'Error') and when.
ALTER TABLE outbox ADD COLUMN policy_id INTEGER;
ALTER TABLE outbox ADD COLUMN event_type TEXT;
ALTER TABLE outbox ADD COLUMN outcome TEXT;
ALTER TABLE outbox ADD COLUMN finished_at INTEGER;
CREATE INDEX outbox_by_policy ON outbox (policy_id, id);
-- The policies' deliveries still due (the finished ones stay as history).
CREATE INDEX outbox_policy_due ON outbox (next_attempt_at, id)
    WHERE policy_id IS NOT NULL AND outcome IS NULL;
