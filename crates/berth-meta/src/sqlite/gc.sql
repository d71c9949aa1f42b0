-- Schema version 4: garbage-collection review queues, pull times, lifecycle run history.
--
-- A row in a review queue says "this may have become garbage at `since` (ms)". Whatever
-- can make a blob or manifest unreferenced (an upload or mount that nothing references
-- yet, a manifest deletion, a tag moving away) puts it here; the collector looks only
-- at rows older than the grace period and checks the references again inside the
-- transaction that deletes.
CREATE TABLE gc_blob_review (
    digest TEXT PRIMARY KEY,
    since  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX gc_blob_review_since ON gc_blob_review (since);

CREATE TABLE gc_manifest_review (
    repository_id INTEGER NOT NULL,
    digest        TEXT NOT NULL,
    since         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX gc_manifest_review_since ON gc_manifest_review (since);

-- "Is any manifest stored with these bytes?" (a manifest's own bytes are a blob).
CREATE INDEX manifests_digest ON manifests (digest);

-- Last GET of the manifest (ms), written in batches; for pull-based retention rules.
ALTER TABLE manifests ADD COLUMN pulled_at INTEGER;

-- What was stored before this version gets one review, starting its grace period now.
INSERT INTO gc_blob_review (digest, since)
    SELECT digest, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM blobs;
INSERT INTO gc_manifest_review (repository_id, digest, since)
    SELECT repository_id, digest, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM manifests;

-- Garbage collection and retention runs, from the server or the CLI, for `GET /api/v1/gc`.
CREATE TABLE lifecycle_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    dry_run     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    -- The run's report as JSON once finished; the error if it failed.
    summary     TEXT,
    error       TEXT
);
