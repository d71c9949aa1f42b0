-- Schema version 8: robot accounts, users from directories and identity providers, and
-- the audit log.
--
-- Robots' permissions name projects by id, so project ids
-- must never be reused: SQLite hands out a deleted highest rowid again unless the table
-- says AUTOINCREMENT, so `projects` is rebuilt with it (PostgreSQL's identities never
-- repeat). Robots' own ids do not repeat either (scripts keep them).
CREATE TABLE projects_v8 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    public INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO projects_v8 (id, name, public, owner, metadata, created_at, updated_at)
SELECT id, name, public, owner, metadata, created_at, updated_at FROM projects;
DROP TABLE projects;
ALTER TABLE projects_v8 RENAME TO projects;
CREATE TABLE robots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The login name with its prefix: robot$name (system) or robot$project+name.
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- NULL for a system-level robot.
    project_id INTEGER,
    secret_hash TEXT NOT NULL,
    -- Days from creation; -1 never expires.
    duration INTEGER NOT NULL,
    -- Unix seconds; -1 never.
    expires_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    -- Harbor's permission list, as JSON.
    permissions TEXT NOT NULL,
    creator_type TEXT NOT NULL,
    creator_ref INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX robots_by_project ON robots (project_id);
-- Users from a directory (LDAP) or an identity provider (OIDC): where each user signs in, and what the directory said
-- at the last sign-in (group ids as a JSON array; whether an administrators' group holds
-- them), so a token's later requests know it without asking the directory again.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN directory_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN directory_admin INTEGER NOT NULL DEFAULT 0;
-- An identity provider's name for the user (OIDC: issuer and subject).
ALTER TABLE users ADD COLUMN external_id TEXT;
-- The audit log: who did what to which resource, when, from where, and whether it
-- worked. Newest first by id; purged by age.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    op_time INTEGER NOT NULL,
    username TEXT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    success INTEGER NOT NULL,
    -- The project it happened in (by name), for project-level listings.
    project TEXT,
    client_ip TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (op_time);
CREATE INDEX audit_log_by_project ON audit_log (project, id);
