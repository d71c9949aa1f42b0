-- Schema version 11: the registry's size once a day, for the dashboard's trend. One row a
-- day (UTC), rewritten through the day so it ends as the day's last sample.
CREATE TABLE usage_samples (
    day BIGINT PRIMARY KEY,
    storage_bytes BIGINT NOT NULL,
    repositories BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
