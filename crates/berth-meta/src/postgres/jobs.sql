-- Schema version 2: background jobs shared by every replica: when each scheduled job is
-- next due, and which replica holds it (until when), so a run happens once and a holder
-- that dies is replaced once its lease runs out.
CREATE TABLE jobs (
    name TEXT COLLATE "C" PRIMARY KEY,
    due_at BIGINT NOT NULL,
    holder TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_finished_at BIGINT
);
