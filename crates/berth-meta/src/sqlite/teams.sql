-- Schema version 7: projects, the groups users belong to, and who holds which role where.
-- Users get a number, as Harbor's API names them (`user_id`): in name order for those who
-- exist already.
ALTER TABLE users ADD COLUMN id INTEGER;
UPDATE users SET id = (SELECT COUNT(*) FROM users AS u WHERE u.name <= users.name);
CREATE UNIQUE INDEX users_by_id ON users (id);
-- Harbor's profile fields.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN realname TEXT;
ALTER TABLE users ADD COLUMN comment TEXT;
-- A project is the first path component of its repositories' names.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Anyone, signed in or not, may pull from a public project.
    public INTEGER NOT NULL DEFAULT 0,
    -- The user who created it; NULL when the registry did (first push by an administrator,
    -- the adoption of repositories that predate projects).
    owner TEXT,
    -- Harbor's project metadata (string keys to string values) as a JSON object.
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Repositories that predate projects: each first path component becomes a private
-- project, which only system administrators reach until they add members.
INSERT INTO projects (name, created_at, updated_at)
SELECT DISTINCT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM repositories;
-- Groups of users, as a directory (LDAP) or an identity provider (OIDC) names them.
CREATE TABLE user_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- Harbor's group types: 1 LDAP, 2 HTTP, 3 OIDC.
    kind INTEGER NOT NULL,
    -- The group's DN, for LDAP groups.
    ldap_dn TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, name)
);
-- A role in a project, held by a user or by a group (exactly one of the two).
CREATE TABLE project_members (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    user_name TEXT,
    group_id INTEGER,
    -- Harbor's role ids: 1 project admin, 2 developer, 3 guest, 4 maintainer, 5 limited guest.
    role INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((user_name IS NULL) <> (group_id IS NULL)),
    UNIQUE (project_id, user_name),
    UNIQUE (project_id, group_id)
);
CREATE INDEX project_members_by_user ON project_members (user_name);
CREATE INDEX project_members_by_group ON project_members (group_id);
