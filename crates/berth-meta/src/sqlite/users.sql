-- Schema version 2: the built-in token service's users.
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    -- An argon2id PHC string; never the password.
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
