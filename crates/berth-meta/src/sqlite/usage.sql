-- Schema version 15: the registry's size once a day, for the dashboard's trend. One row a
-- day (UTC), rewritten through the day so it ends as the day's last sample.
CREATE TABLE usage_samples (
    day INTEGER PRIMARY KEY,
    storage_bytes INTEGER NOT NULL,
    repositories INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
