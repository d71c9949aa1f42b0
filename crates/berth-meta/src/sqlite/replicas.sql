-- Schema version 6: what several berth processes on one metadata share.
-- Background jobs: when each scheduled job is next due, and which process holds it (until
-- when), so a run happens once and a holder that dies is replaced once its lease runs out.
CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL,
    holder TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_finished_at INTEGER
);
-- An upload's accepted parts in order (a JSON array of the store's names for them), for
-- stores that keep each acknowledged chunk as an object of its own: a chunk written by a
-- request that lost the race for its offset is never one of them.
ALTER TABLE uploads ADD COLUMN parts TEXT;
