-- Schema version 6: background jobs shared by every berth process on this metadata: when
-- each scheduled job is next due, and which process holds it (until when), so a run
-- happens once and a holder that dies is replaced once its lease runs out.
CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL,
    holder TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_finished_at INTEGER
);
