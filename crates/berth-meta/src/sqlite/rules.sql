-- Schema version 11: immutable-tag rules per project (Harbor's), beside those config.yml
-- declares. A tag in a repository of the project is immutable when an enabled rule's
-- repository and tag patterns (doublestar, matched or excluded) both take it.
CREATE TABLE immutable_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    -- repoMatches or repoExcludes; the pattern is below the project.
    repository_decoration TEXT NOT NULL,
    repository_pattern TEXT NOT NULL,
    -- matches or excludes.
    tag_decoration TEXT NOT NULL,
    tag_pattern TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX immutable_rules_by_project ON immutable_rules (project_id);
