-- Schema version 10: web sessions, shared by every replica. Only a hash of the session id
-- is kept, so a copy of the database signs nobody in.
CREATE TABLE sessions (
    id_hash TEXT COLLATE "C" PRIMARY KEY,
    user_name TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    -- Moves forward as the session is used (idle timeout).
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
