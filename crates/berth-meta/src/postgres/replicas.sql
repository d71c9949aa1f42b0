-- Schema version 2: what the replicas share beyond the first schema.
-- Background jobs: when each scheduled job is next due, and which replica holds it (until
-- when), so a run happens once and a holder that dies is replaced once its lease runs out.
CREATE TABLE jobs (
    name TEXT COLLATE "C" PRIMARY KEY,
    due_at BIGINT NOT NULL,
    holder TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_finished_at BIGINT
);
-- An upload's accepted parts in order (a JSON array of the store's names for them), for
-- stores that keep each acknowledged chunk as an object of its own: a chunk written by a
-- request that lost the race for its offset is never one of them.
ALTER TABLE uploads ADD COLUMN parts TEXT;
