-- Schema version 3: notifications waiting for delivery, one row per event and endpoint.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint        TEXT NOT NULL,
    -- One event, as the JSON object that goes into the envelope's `events` array.
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (endpoint, next_attempt_at, id);
