-- Schema version 13: labels (Harbor's), registry-wide ('g') or a project's ('p'), and the
-- artifacts (manifests) that carry them; and repositories by creation, so that a listing
-- of the newest (Harbor's default order) reads one page of the index, not every row.
CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    -- 0 for a registry-wide label.
    project_id INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (scope, project_id, name)
);
CREATE TABLE artifact_labels (
    label_id INTEGER NOT NULL,
    repository_id INTEGER NOT NULL,
    digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest, label_id)
) WITHOUT ROWID;
CREATE INDEX artifact_labels_by_label ON artifact_labels (label_id);
CREATE INDEX repositories_by_creation ON repositories (created_at, id);
