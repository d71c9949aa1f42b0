//! The embedded SQLite engine. One write connection (SQLite has one writer anyway, and a
//! single connection avoids lock-upgrade failures between deferred transactions) and a
//! small pool of readers, which WAL mode lets run beside the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use berth_oci::{Algorithm, Digest, RepoName, Tag};
use bytes::Bytes;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

mod counter;
mod gc;

use crate::{
    CollectRules, CollectedManifest, CollectionPlan, GcWaiting, ImportedRepository, LifecycleRun,
    ManifestRecord, MetaError, MetaStore, OutboxEvent, Referrer, RepositoryBlob, Result,
    StorageStats, StoredManifest, TagRecord, UploadSession, UserChange, UserRecord, now_ms,
};

/// Schema steps in order: `MIGRATIONS[i]` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("users.sql"),
    include_str!("outbox.sql"),
    include_str!("gc.sql"),
    include_str!("runs.sql"),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Lifecycle runs kept in the history (ids are shared between kinds, so a kind keeps at
/// most this many).
const RUN_HISTORY: i64 = 1000;

pub struct SqliteMeta {
    write: SqlitePool,
    read: SqlitePool,
    /// One connection of its own for `PRAGMA data_version`, which compares with the same
    /// connection's previous answer.
    watch: SqlitePool,
    /// Raised after every write any process commits here (see [`counter`]): by
    /// [`SqliteMeta::commit`] and after each single-statement write.
    writes: counter::WriteCounter,
    /// The database file: open connections keep working on a deleted file, so readiness
    /// also checks that the path still leads to it.
    path: std::path::PathBuf,
}

pub(crate) fn parse_digest(value: String) -> Result<Digest> {
    Digest::from_str(&value).map_err(|_| MetaError::Corrupt {
        column: "digest",
        value,
    })
}

fn opt_digest(value: Option<String>) -> Result<Option<Digest>> {
    value.map(parse_digest).transpose()
}

impl SqliteMeta {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        make_private(path).map_err(|e| MetaError::Database(sqlx::Error::Io(e)))?;
        let mut counter_path = path.as_os_str().to_owned();
        counter_path.push("-writes");
        let writes = counter::WriteCounter::open(Path::new(&counter_path));
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged push survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(false);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| Box::pin(async move { Ok(is_idle(conn).await) }))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true))
            .await?;
        let watch = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.read_only(true));
        let meta = SqliteMeta {
            write,
            read,
            watch,
            writes,
            path: path.to_path_buf(),
        };
        meta.migrate().await?;
        Ok(meta)
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        if version > SCHEMA_VERSION {
            return Err(MetaError::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (from, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            // Each step and its version bump commit together: a crash leaves the old
            // version, and the step runs again on the next start.
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(*step))
                .execute(&mut *tx)
                .await?;
            // The version is our own integer, not input.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "PRAGMA user_version = {}",
                from + 1
            )))
            .execute(&mut *tx)
            .await?;
            self.commit(tx).await?;
        }
        Ok(())
    }

    /// Commits a write transaction, then tells readers that keep answers (the write
    /// count) — before the caller can acknowledge anything.
    async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<()> {
        tx.commit().await?;
        self.writes.raise();
        Ok(())
    }

    /// Lifecycle runs a query over [`run_columns!`] selects, from a reader.
    async fn fetch_runs(
        &self,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Vec<LifecycleRun>> {
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(lifecycle_run).collect()
    }

    async fn repo_id(&self, repo: &RepoName) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
                .bind(repo.as_str())
                .fetch_optional(&self.read)
                .await?,
        )
    }
}

/// The database holds password hashes: its directory is the owner's alone (0700) and the
/// file and SQLite's `-wal`/`-shm` companions, which SQLite creates with the database
/// file's mode, are 0600 — also for a database created by an older berth.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let tighten = |p: &Path, mode: u32| -> std::io::Result<()> {
        match std::fs::metadata(p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    };
    // The directory may be shared (a `--metadata` path next to other files): only a
    // directory berth owns, named `berth` as by default, is narrowed.
    if dir.file_name().is_some_and(|n| n == "berth") {
        tighten(dir, 0o700)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        tighten(Path::new(&name), 0o600)?;
    }
    Ok(())
}

/// Whether a connection coming back to the pool is idle: no transaction open, by sqlx's
/// count and by SQLite's own. After a failed write (a full disk) SQLite may roll the
/// transaction back by itself, so sqlx's `ROLLBACK` fails and its count stays up; the next
/// transaction would then be a savepoint nested in one that never commits, and every
/// acknowledged write on the connection would vanish. Such a connection is closed instead
/// (the pool opens a fresh one), so no write is ever acknowledged without a commit.
async fn is_idle(conn: &mut SqliteConnection) -> bool {
    // A transaction dropped without commit has its rollback queued, not yet run: a round
    // trip to the connection's worker runs it first.
    if conn.is_in_transaction() && conn.ping().await.is_err() {
        return false;
    }
    if conn.is_in_transaction() {
        tracing::warn!("closing a metadata connection left inside a failed transaction");
        return false;
    }
    let Ok(mut handle) = conn.lock_handle().await else {
        return false;
    };
    // SAFETY: the handle is locked for the duration of the call, and
    // sqlite3_get_autocommit only reads the connection's state.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) };
    if autocommit == 0 {
        tracing::warn!("closing a metadata connection with a transaction still open");
    }
    autocommit != 0
}

/// SQLite's `SQLITE_FULL` (the primary code of the extended code sqlx reports), or the
/// operating system's "no space left" under it.
pub(crate) fn is_disk_full(e: &sqlx::Error) -> bool {
    const SQLITE_FULL: i64 = 13;
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<SqliteError>()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_FULL),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

async fn ensure_repo(conn: &mut SqliteConnection, repo: &RepoName, now: i64) -> Result<i64> {
    sqlx::query(
        "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
    )
    .bind(repo.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_one(&mut *conn)
            .await?,
    )
}

async fn link_blob_in(
    conn: &mut SqliteConnection,
    repo_id: i64,
    digest: &Digest,
    size: u64,
    now: i64,
) -> Result<()> {
    let digest = digest.to_string();
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING")
        .bind(&digest)
        .bind(size as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(repo_id)
        .bind(&digest)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // Nothing references a freshly uploaded or mounted blob yet: its grace period starts.
    gc::review_blob(conn, &digest, now).await
}

async fn put_manifest_in(
    conn: &mut SqliteConnection,
    repo_id: i64,
    m: &ManifestRecord,
    now: i64,
) -> Result<()> {
    let digest = m.digest.to_string();
    // The manifest's own bytes are a blob in the store too (Distribution's layout).
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING")
        .bind(&digest)
        .bind(m.content.len() as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, annotations, size, content, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(repo_id)
    .bind(&digest)
    .bind(&m.media_type)
    .bind(&m.artifact_type)
    .bind(m.subject.as_ref().map(|s| s.to_string()))
    .bind(&m.annotations)
    .bind(m.content.len() as i64)
    .bind(m.content.as_ref())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(()); // same digest, same bytes: already recorded
    }
    // Untagged until a tag points at it, which the review then sees.
    gc::review_manifest(conn, repo_id, &digest, now).await?;
    let refs = m
        .blobs
        .iter()
        .map(|d| (d, "blob"))
        .chain(m.children.iter().map(|d| (d, "manifest")));
    for (child, kind) in refs {
        sqlx::query(
            "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(&digest)
        .bind(child.to_string())
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn set_tag_in(
    conn: &mut SqliteConnection,
    repo_id: i64,
    tag: &str,
    digest: &Digest,
    now: i64,
) -> Result<()> {
    let previous: Option<String> =
        sqlx::query_scalar("SELECT digest FROM tags WHERE repository_id = ? AND name = ?")
            .bind(repo_id)
            .bind(tag)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(previous) = previous.filter(|p| *p != digest.to_string()) {
        gc::review_manifest(conn, repo_id, &previous, now).await?;
    }
    sqlx::query(
        "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
    )
    .bind(repo_id)
    .bind(tag)
    .bind(digest.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a user change guarded by "someone else stays administrator" that touched `done`
/// rows means.
async fn user_change(conn: &mut SqliteConnection, name: &str, done: u64) -> Result<UserChange> {
    if done > 0 {
        return Ok(UserChange::Done);
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match exists {
        Some(_) => UserChange::LastAdmin,
        None => UserChange::NoSuchUser,
    })
}

/// The columns [`lifecycle_run`] reads, as a literal for `concat!`.
macro_rules! run_columns {
    () => {
        "id, kind, trigger, dry_run, started_at, finished_at, summary, error, owner, heartbeat_at"
    };
}

fn lifecycle_run(r: &SqliteRow) -> Result<LifecycleRun> {
    Ok(LifecycleRun {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        trigger: r.try_get("trigger")?,
        dry_run: r.try_get("dry_run")?,
        started_at_ms: r.try_get("started_at")?,
        finished_at_ms: r.try_get("finished_at")?,
        summary: r.try_get("summary")?,
        error: r.try_get("error")?,
        owner: r.try_get("owner")?,
        heartbeat_at_ms: r.try_get("heartbeat_at")?,
    })
}

fn stored_manifest(row: SqliteRow) -> Result<StoredManifest> {
    Ok(StoredManifest {
        digest: parse_digest(row.try_get("digest")?)?,
        media_type: row.try_get("media_type")?,
        content: Bytes::from(row.try_get::<Vec<u8>, _>("content")?),
        subject: opt_digest(row.try_get("subject")?)?,
    })
}

/// Returns those of `digests` for which `exists` finds no row.
/// `(repository_id, digest)` is a blob the repository holds.
const HOLDS_BLOB: &str = "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?";
/// `(repository_id, digest)` is a manifest the repository holds.
const HOLDS_MANIFEST: &str = "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?";

/// Returns those of `digests` for which `exists` (`HOLDS_*`) finds no row.
async fn missing_in(
    conn: &mut SqliteConnection,
    exists: &'static str,
    repo_id: i64,
    digests: &[Digest],
) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for d in digests {
        let found: Option<i64> = sqlx::query_scalar(exists)
            .bind(repo_id)
            .bind(d.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            out.push(d.clone());
        }
    }
    Ok(out)
}

/// [`missing_in`] on a reader; everything is missing from an unknown repository.
async fn missing(
    pool: &SqlitePool,
    exists: &'static str,
    repo_id: Option<i64>,
    digests: &[Digest],
) -> Result<Vec<Digest>> {
    let Some(repo_id) = repo_id else {
        return Ok(digests.to_vec());
    };
    missing_in(&mut *pool.acquire().await?, exists, repo_id, digests).await
}

#[async_trait]
impl MetaStore for SqliteMeta {
    async fn ping(&self) -> Result<()> {
        if let Err(e) = std::fs::metadata(&self.path) {
            return Err(MetaError::Database(sqlx::Error::Io(e)));
        }
        // Through the writer: a database that cannot take writes is not ready.
        sqlx::query("UPDATE settings SET value = value WHERE key = 'health'")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    fn write_count(&self) -> u64 {
        self.writes.get()
    }

    async fn data_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&self.watch)
            .await?)
    }

    async fn is_empty(&self) -> Result<bool> {
        let any: Option<i64> = sqlx::query_scalar("SELECT 1 FROM repositories LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(any.is_none())
    }

    async fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        Ok(self.repo_id(repo).await?.is_some())
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        link_blob_in(&mut tx, repo_id, digest, size, now).await?;
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn repository_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<RepositoryBlob>> {
        let row = sqlx::query(
            "SELECT b.size,
                CASE WHEN NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest)
                THEN (SELECT q.since FROM gc_blob_review q WHERE q.digest = b.digest) END
                AS unreferenced_since
             FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = ? AND rb.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(RepositoryBlob {
                size: row.try_get::<i64, _>("size")?.max(0) as u64,
                unreferenced_since: row.try_get("unreferenced_since")?,
            })
        })
        .transpose()
    }

    async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = ? ORDER BY r.name LIMIT ?",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let digest = digest.to_string();
        let mut tx = self.write.begin().await?;
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?")
                .bind(repo_id)
                .bind(&digest)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if done > 0 {
            gc::review_blob(&mut tx, &digest, now_ms()).await?;
        }
        self.commit(tx).await?;
        Ok(done > 0)
    }

    async fn link_existing_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        // Under the write lock: a blob collected a moment ago is not linked back.
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = ?")
            .bind(digest.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(size) = size else {
            return Ok(None);
        };
        let size = size.max(0) as u64;
        link_blob_in(&mut tx, repo_id, digest, size, now).await?;
        self.commit(tx).await?;
        Ok(Some(size))
    }

    async fn touch_blob(&self, digest: &Digest) -> Result<bool> {
        let digest = digest.to_string();
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE gc_blob_review SET since = MAX(since, ?) WHERE digest = ?")
            .bind(now_ms())
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        let present: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE digest = ?")
            .bind(&digest)
            .fetch_optional(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(present.is_some())
    }

    async fn missing_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        let id = self.repo_id(repo).await?;
        missing(&self.read, HOLDS_BLOB, id, digests).await
    }

    async fn missing_manifests(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        let id = self.repo_id(repo).await?;
        missing(&self.read, HOLDS_MANIFEST, id, digests).await
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tags: &[Tag],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        // Checked again here, under the write lock: garbage collection may have removed a
        // blob since the caller looked.
        for (digests, exists, is_child) in [
            (&manifest.blobs, HOLDS_BLOB, false),
            (&manifest.children, HOLDS_MANIFEST, true),
        ] {
            if let Some(digest) = missing_in(&mut tx, exists, repo_id, digests)
                .await?
                .into_iter()
                .next()
            {
                return Err(MetaError::MissingReference {
                    digest,
                    manifest: is_child,
                });
            }
        }
        put_manifest_in(&mut tx, repo_id, manifest, now).await?;
        for tag in tags {
            set_tag_in(&mut tx, repo_id, tag.as_str(), &manifest.digest, now).await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>> {
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content, m.subject FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?
        .map(stored_manifest)
        .transpose()
    }

    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<StoredManifest>> {
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content, m.subject FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
             WHERE r.name = ? AND t.name = ?",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(&self.read)
        .await?
        .map(stored_manifest)
        .transpose()
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let mut tx = self.write.begin().await?;
        let deleted =
            gc::delete_manifest_in(&mut tx, repo_id, &digest.to_string(), now_ms()).await?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let mut tx = self.write.begin().await?;
        let digest: Option<String> = sqlx::query_scalar(
            "DELETE FROM tags WHERE repository_id = ? AND name = ? RETURNING digest",
        )
        .bind(repo_id)
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(digest) = &digest {
            gc::review_manifest(&mut tx, repo_id, digest, now_ms()).await?;
        }
        self.commit(tx).await?;
        Ok(digest.is_some())
    }

    async fn tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(None);
        };
        let tags = sqlx::query_scalar(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
        )
        .bind(repo_id)
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(Some(tags))
    }

    async fn repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories r WHERE name > ?
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
             ORDER BY name LIMIT ?",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.subject = ? ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Referrer {
                    digest: parse_digest(row.try_get("digest")?)?,
                    media_type: row.try_get("media_type")?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    artifact_type: row.try_get("artifact_type")?,
                    annotations: row.try_get("annotations")?,
                })
            })
            .collect()
    }

    async fn create_upload(&self, s: &UploadSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, algorithm, size, hash_state, started_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(s.repository.as_str())
        .bind(s.algorithm.as_str())
        .bind(s.size as i64)
        .bind(&s.hash_state)
        .bind(s.started_at_ms)
        .bind(s.started_at_ms)
        .execute(&self.write)
        .await
            .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadSession>> {
        let Some(row) = sqlx::query(
            "SELECT id, repository, algorithm, size, hash_state, started_at FROM uploads WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let repository: String = row.try_get("repository")?;
        let algorithm: String = row.try_get("algorithm")?;
        Ok(Some(UploadSession {
            id: row.try_get("id")?,
            repository: repository.parse().map_err(|_| MetaError::Corrupt {
                column: "uploads.repository",
                value: repository.clone(),
            })?,
            algorithm: Algorithm::parse(&algorithm).map_err(|_| MetaError::Corrupt {
                column: "uploads.algorithm",
                value: algorithm.clone(),
            })?,
            size: row.try_get::<i64, _>("size")? as u64,
            hash_state: row.try_get("hash_state")?,
            started_at_ms: row.try_get("started_at")?,
        }))
    }

    async fn update_upload(&self, id: &str, size: u64, hash_state: &[u8]) -> Result<()> {
        sqlx::query("UPDATE uploads SET size = ?, hash_state = ?, updated_at = ? WHERE id = ?")
            .bind(size as i64)
            .bind(hash_state)
            .bind(now_ms())
            .bind(id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM uploads WHERE updated_at < ? ORDER BY id")
                .bind(before)
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn delete_upload_if_stale(&self, id: &str, before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ? AND updated_at < ?")
            .bind(id)
            .bind(before)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT name, password_hash, admin, created_at, updated_at FROM users WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.read)
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        sqlx::query(
            "SELECT name, password_hash, admin, created_at, updated_at FROM users ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn create_user(&self, user: &UserRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (name, password_hash, admin, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE lower(name) = lower(?1))",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.admin)
        .bind(user.created_at_ms)
        .bind(user.updated_at_ms)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?")
            .bind(password_hash)
            .bind(now_ms())
            .bind(name)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_admin(&self, name: &str, admin: bool) -> Result<UserChange> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET admin = ?2, updated_at = ?3 WHERE name = ?1 AND (?2
             OR admin = 0 OR (SELECT COUNT(*) FROM users WHERE admin = 1 AND name <> ?1) > 0)",
        )
        .bind(name)
        .bind(admin)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let change = user_change(&mut tx, name, done).await?;
        self.commit(tx).await?;
        Ok(change)
    }

    async fn delete_user(&self, name: &str) -> Result<UserChange> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "DELETE FROM users WHERE name = ?1
             AND (admin = 0 OR (SELECT COUNT(*) FROM users WHERE admin = 1 AND name <> ?1) > 0)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let change = user_change(&mut tx, name, done).await?;
        self.commit(tx).await?;
        Ok(change)
    }

    async fn enqueue_events(&self, events: &[(String, String)]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        for (endpoint, payload) in events {
            sqlx::query(
                "INSERT INTO outbox (endpoint, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(endpoint)
            .bind(payload)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn due_events(&self, endpoint: &str, now: i64, limit: u32) -> Result<Vec<OutboxEvent>> {
        let rows = sqlx::query(
            "SELECT id, payload, attempts FROM outbox WHERE endpoint = ? AND next_attempt_at <= ?
             ORDER BY id LIMIT ?",
        )
        .bind(endpoint)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEvent {
                    id: row.try_get("id")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                })
            })
            .collect()
    }

    async fn delivered_events(&self, ids: &[i64]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn postpone_events(&self, ids: &[i64], next_attempt_at: i64, error: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for id in ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            )
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.read)
            .await?;
        Ok(n as u64)
    }

    async fn storage_stats(&self) -> Result<StorageStats> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM repositories) AS repositories,
                    (SELECT COUNT(*) FROM manifests) AS manifests,
                    (SELECT COUNT(*) FROM blobs) AS blobs,
                    (SELECT COALESCE(SUM(size), 0) FROM blobs) AS blob_bytes,
                    (SELECT COUNT(*) FROM uploads) AS uploads",
        )
        .fetch_one(&self.read)
        .await?;
        let n = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
        Ok(StorageStats {
            repositories: n("repositories")?,
            manifests: n("manifests")?,
            blobs: n("blobs")?,
            blob_bytes: n("blob_bytes")?,
            uploads: n("uploads")?,
        })
    }

    async fn collect_manifests(
        &self,
        rules: &CollectRules,
        cutoff: i64,
        limit: u32,
    ) -> Result<(Vec<CollectedManifest>, usize)> {
        let mut tx = self.write.begin().await?;
        gc::lock_for_write(&mut tx).await?;
        let step = gc::collect_manifest_batch(&mut tx, rules, cutoff, limit, now_ms()).await?;
        self.commit(tx).await?;
        Ok(step)
    }

    async fn collect_blobs(&self, cutoff: i64, limit: u32) -> Result<(Vec<(Digest, u64)>, usize)> {
        let mut tx = self.write.begin().await?;
        gc::lock_for_write(&mut tx).await?;
        let (collected, examined) = gc::collect_blob_batch(&mut tx, cutoff, limit).await?;
        self.commit(tx).await?;
        let collected = collected
            .into_iter()
            .map(|(d, size)| Ok((parse_digest(d)?, size)))
            .collect::<Result<_>>()?;
        Ok((collected, examined))
    }

    async fn plan_collection(&self, rules: &CollectRules, grace_ms: i64) -> Result<CollectionPlan> {
        // The real steps, in one transaction that is rolled back: the plan counts blobs
        // freed by the manifests it would delete, exactly as a real run would.
        let mut tx = self.write.begin().await?;
        gc::lock_for_write(&mut tx).await?;
        let mut plan = CollectionPlan::default();
        loop {
            let cutoff = now_ms() - grace_ms;
            let (collected, examined) =
                gc::collect_manifest_batch(&mut tx, rules, cutoff, 1000, now_ms()).await?;
            plan.manifests.extend(collected);
            if examined == 0 {
                break;
            }
        }
        let cutoff = now_ms() - grace_ms;
        loop {
            let (collected, examined) = gc::collect_blob_batch(&mut tx, cutoff, 1000).await?;
            for (d, size) in collected {
                plan.blobs.push((parse_digest(d)?, size));
            }
            if examined == 0 {
                break;
            }
        }
        tx.rollback().await?;
        Ok(plan)
    }

    async fn unknown_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>> {
        let digests: Vec<String> = digests.iter().map(Digest::to_string).collect();
        let mut conn = self.read.acquire().await?;
        gc::unknown_blobs(&mut conn, &digests)
            .await?
            .into_iter()
            .map(parse_digest)
            .collect()
    }

    async fn gc_backlog(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM gc_blob_review) AS blobs,
                    (SELECT COUNT(*) FROM gc_manifest_review) AS manifests",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((
            row.try_get::<i64, _>("manifests")?.max(0) as u64,
            row.try_get::<i64, _>("blobs")?.max(0) as u64,
        ))
    }

    async fn gc_waiting(&self, cutoff: i64) -> Result<GcWaiting> {
        let row = sqlx::query(
            "WITH m AS (SELECT since FROM gc_manifest_review q WHERE since > ?1
                        AND NOT EXISTS (SELECT 1 FROM tags t
                            WHERE t.repository_id = q.repository_id AND t.digest = q.digest)),
                  b AS (SELECT since FROM gc_blob_review q WHERE since > ?1
                        AND NOT EXISTS (SELECT 1 FROM manifest_references r
                            WHERE r.child_digest = q.digest))
             SELECT (SELECT COUNT(*) FROM m) AS manifests, (SELECT COUNT(*) FROM b) AS blobs,
                    (SELECT MIN(since) FROM m) AS om, (SELECT MIN(since) FROM b) AS ob",
        )
        .bind(cutoff)
        .fetch_one(&self.read)
        .await?;
        let oldest = [row.try_get::<Option<i64>, _>("om")?, row.try_get("ob")?]
            .into_iter()
            .flatten()
            .min();
        Ok(GcWaiting {
            manifests: row.try_get::<i64, _>("manifests")?.max(0) as u64,
            blobs: row.try_get::<i64, _>("blobs")?.max(0) as u64,
            oldest_since: oldest,
        })
    }

    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = ? AND t.digest = ? ORDER BY t.name",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_all(&self.read)
        .await?)
    }

    async fn tag_records(&self, repo: &RepoName) -> Result<Vec<TagRecord>> {
        let rows = sqlx::query(
            "SELECT t.name, t.digest, t.updated_at, m.pulled_at FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             LEFT JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
             WHERE r.name = ? ORDER BY t.name",
        )
        .bind(repo.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TagRecord {
                    tag: r.try_get("name")?,
                    digest: parse_digest(r.try_get("digest")?)?,
                    pushed_at: r.try_get("updated_at")?,
                    pulled_at: r.try_get("pulled_at")?,
                })
            })
            .collect()
    }

    async fn untagged_manifests(&self, repo: &RepoName, before: i64) -> Result<Vec<Digest>> {
        let digests: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.created_at < ?
             AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
             AND NOT {}
             ORDER BY m.created_at",
            gc::NEEDED_BY_INDEX_OR_SUBJECT
        )))
        .bind(repo.as_str())
        .bind(before)
        .fetch_all(&self.read)
        .await?;
        digests.into_iter().map(parse_digest).collect()
    }

    async fn manifest_referenced(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let found: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.digest = ?",
            gc::NEEDED_BY_INDEX_OR_SUBJECT
        )))
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?;
        Ok(found.unwrap_or(false))
    }

    async fn record_pulls(&self, pulls: &[(RepoName, Digest, i64)]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for (repo, digest, at) in pulls {
            sqlx::query(
                "UPDATE manifests SET pulled_at = MAX(COALESCE(pulled_at, 0), ?)
                 WHERE digest = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
            )
            .bind(at)
            .bind(digest.to_string())
            .bind(repo.as_str())
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn start_run(
        &self,
        kind: &str,
        trigger: &str,
        dry_run: bool,
        owner: &str,
    ) -> Result<i64> {
        let now = now_ms();
        Ok(sqlx::query_scalar(
            "INSERT INTO lifecycle_runs (kind, trigger, dry_run, started_at, owner, heartbeat_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(kind)
        .bind(trigger)
        .bind(dry_run)
        .bind(now)
        .bind(owner)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .inspect(|_| self.writes.raise())?)
    }

    async fn heartbeat_run(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE lifecycle_runs SET heartbeat_at = ? WHERE id = ? AND finished_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn unfinished_runs(&self) -> Result<Vec<LifecycleRun>> {
        self.fetch_runs(sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE finished_at IS NULL ORDER BY id"
        )))
        .await
    }

    async fn abandon_run(&self, id: i64, error: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE lifecycle_runs SET finished_at = COALESCE(heartbeat_at, started_at), error = ?
             WHERE id = ? AND finished_at IS NULL",
        )
        .bind(error)
        .bind(id)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?
        .rows_affected()
            > 0)
    }

    async fn finish_run(
        &self,
        id: i64,
        summary: Option<&str>,
        error: Option<&str>,
        keep: bool,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if keep {
            sqlx::query(
                "UPDATE lifecycle_runs SET finished_at = ?, summary = ?, error = ? WHERE id = ?",
            )
            .bind(now_ms())
            .bind(summary)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM lifecycle_runs WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // The history is for people looking at recent runs; it must not grow forever.
        sqlx::query(
            "DELETE FROM lifecycle_runs WHERE kind = (SELECT kind FROM lifecycle_runs WHERE id = ?)
             AND id <= ? - ?",
        )
        .bind(id)
        .bind(id)
        .bind(RUN_HISTORY)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn runs(&self, kind: &str, limit: u32) -> Result<Vec<LifecycleRun>> {
        let query = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE kind = ? ORDER BY id DESC LIMIT ?"
        ));
        self.fetch_runs(query.bind(kind).bind(i64::from(limit)))
            .await
    }

    async fn runs_after(&self, id: i64, limit: u32) -> Result<Vec<LifecycleRun>> {
        let query = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE id > ? ORDER BY id LIMIT ?"
        ));
        self.fetch_runs(query.bind(id).bind(i64::from(limit))).await
    }

    async fn last_run_id(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM lifecycle_runs")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn import_repositories(&self, repos: &[ImportedRepository]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        for repo in repos {
            let repo_id = ensure_repo(&mut tx, &repo.name, now).await?;
            for (digest, size) in &repo.layers {
                link_blob_in(&mut tx, repo_id, digest, *size, now).await?;
            }
            for m in &repo.manifests {
                put_manifest_in(&mut tx, repo_id, m, now).await?;
            }
            for (tag, digest) in &repo.tags {
                set_tag_in(&mut tx, repo_id, tag.as_str(), digest, now).await?;
            }
        }
        self.commit(tx).await?;
        Ok(())
    }
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        admin: row.try_get("admin")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    fn record(content: &str, blobs: Vec<Digest>, subject: Option<Digest>) -> ManifestRecord {
        ManifestRecord {
            digest: Digest::sha256(content.as_bytes()),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/x-test".into()),
            subject,
            annotations: None,
            content: Bytes::from(content.to_string()),
            blobs,
            children: vec![],
        }
    }

    #[tokio::test]
    async fn manifests_tags_and_links() {
        let dir = std::env::temp_dir().join(format!("berth-meta-test-{}", std::process::id()));
        let meta = SqliteMeta::open(&dir.join("m.db")).await.unwrap();
        assert!(meta.is_empty().await.unwrap());
        let r = repo("team/app");
        let layer = Digest::sha256(b"layer");
        meta.complete_upload("test-upload", &r, &layer, 5)
            .await
            .unwrap();
        assert_eq!(
            meta.repository_blob(&r, &layer)
                .await
                .unwrap()
                .map(|b| b.size),
            Some(5)
        );
        assert_eq!(
            meta.repository_blob(&repo("other"), &layer).await.unwrap(),
            None
        );
        assert_eq!(
            meta.repositories_holding(&layer, 10).await.unwrap(),
            vec![r.to_string()]
        );
        assert!(
            meta.missing_blobs(&r, std::slice::from_ref(&layer))
                .await
                .unwrap()
                .is_empty()
        );

        let m = record("{\"a\":1}", vec![layer.clone()], None);
        let tags: Vec<Tag> = vec!["v1".parse().unwrap(), "latest".parse().unwrap()];
        meta.put_manifest(&r, &m, &tags).await.unwrap();
        let got = meta.manifest_by_tag(&r, &tags[0]).await.unwrap().unwrap();
        assert_eq!(got.digest, m.digest);
        assert_eq!(got.content, m.content);
        assert_eq!(
            meta.tags(&r, None, 10).await.unwrap().unwrap(),
            vec!["latest", "v1"]
        );
        assert_eq!(
            meta.tags(&r, Some("latest"), 10).await.unwrap().unwrap(),
            vec!["v1"]
        );
        assert_eq!(meta.repositories(None, 10).await.unwrap(), vec!["team/app"]);

        let sig = record("{\"sig\":1}", vec![], Some(m.digest.clone()));
        meta.put_manifest(&r, &sig, &[]).await.unwrap();
        let refs = meta.referrers(&r, &m.digest).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, sig.digest);

        assert!(meta.delete_tag(&r, &tags[1]).await.unwrap());
        assert!(meta.manifest(&r, &m.digest).await.unwrap().is_some());
        assert!(meta.delete_manifest(&r, &m.digest).await.unwrap());
        assert!(meta.manifest_by_tag(&r, &tags[0]).await.unwrap().is_none());
        assert!(!meta.delete_manifest(&r, &m.digest).await.unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn users_are_created_updated_and_removed() {
        let dir = std::env::temp_dir().join(format!("berth-meta-users-{}", std::process::id()));
        let path = dir.join("m.db");
        let meta = SqliteMeta::open(&path).await.unwrap();
        let alice = UserRecord {
            name: "alice".into(),
            password_hash: "$argon2id$first".into(),
            admin: true,
            created_at_ms: 1,
            updated_at_ms: 1,
        };
        assert!(meta.create_user(&alice).await.unwrap());
        assert!(!meta.create_user(&alice).await.unwrap(), "names are unique");
        let look_alike = UserRecord {
            name: "ALice".into(),
            ..alice.clone()
        };
        assert!(
            !meta.create_user(&look_alike).await.unwrap(),
            "regardless of case"
        );
        assert!(
            meta.set_user_password("alice", "$argon2id$second")
                .await
                .unwrap()
        );
        assert!(!meta.set_user_password("bob", "x").await.unwrap());
        let stored = meta.user("alice").await.unwrap().unwrap();
        assert_eq!(stored.password_hash, "$argon2id$second");
        assert!(stored.admin);
        assert_eq!(meta.users().await.unwrap().len(), 1);
        drop(meta);
        // Reopening an up-to-date database runs no migration twice.
        let meta = SqliteMeta::open(&path).await.unwrap();
        assert_eq!(
            meta.delete_user("alice").await.unwrap(),
            UserChange::LastAdmin
        );
        assert_eq!(
            meta.set_user_admin("alice", false).await.unwrap(),
            UserChange::LastAdmin
        );
        let bob = UserRecord {
            name: "bob".into(),
            admin: false,
            ..alice.clone()
        };
        assert!(meta.create_user(&bob).await.unwrap());
        assert_eq!(
            meta.set_user_admin("bob", true).await.unwrap(),
            UserChange::Done
        );
        // Two administrators removing each other at once: one of them stays.
        let (a, b) = tokio::join!(meta.delete_user("alice"), meta.delete_user("bob"));
        let outcomes = [a.unwrap(), b.unwrap()];
        assert!(outcomes.contains(&UserChange::Done), "{outcomes:?}");
        assert!(outcomes.contains(&UserChange::LastAdmin), "{outcomes:?}");
        assert_eq!(meta.users().await.unwrap().len(), 1);
        assert_eq!(
            meta.delete_user("carol").await.unwrap(),
            UserChange::NoSuchUser
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn index(content: &str, children: Vec<Digest>) -> ManifestRecord {
        ManifestRecord {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            children,
            ..record(content, vec![], None)
        }
    }

    async fn collect_all(meta: &SqliteMeta, rules: CollectRules) -> (Vec<String>, Vec<Digest>) {
        let cutoff = now_ms();
        let mut manifests = Vec::new();
        loop {
            let (done, _) = meta.collect_manifests(&rules, now_ms(), 2).await.unwrap();
            if done.is_empty() {
                break;
            }
            manifests.extend(
                done.into_iter()
                    .map(|m| format!("{}:{}", m.digest, m.reason.as_str())),
            );
        }
        let mut blobs = Vec::new();
        loop {
            let (done, examined) = meta.collect_blobs(cutoff.max(now_ms()), 2).await.unwrap();
            blobs.extend(done.into_iter().map(|(d, _)| d));
            if examined < 2 {
                break;
            }
        }
        (manifests, blobs)
    }

    /// Each case builds a small repository, applies a change, and states which manifests
    /// and blobs a collection with the rules takes.
    #[tokio::test]
    async fn garbage_collection_decisions() {
        let l1 = Digest::sha256(b"layer-1");
        let l2 = Digest::sha256(b"layer-2");
        let shared = Digest::sha256(b"shared");
        let keep_all = CollectRules {
            delete_untagged: false,
            orphan_referrers: false,
        };
        let untagged = CollectRules {
            delete_untagged: true,
            orphan_referrers: true,
        };
        let img1 = record("{\"img\":1}", vec![l1.clone(), shared.clone()], None);
        let img2 = record("{\"img\":2}", vec![l2.clone(), shared.clone()], None);
        let sig = record("{\"sig\":1}", vec![], Some(img1.digest.clone()));
        let idx = index(
            "{\"idx\":1}",
            vec![img1.digest.clone(), img2.digest.clone()],
        );
        let v1: Tag = "v1".parse().unwrap();
        let v2: Tag = "v2".parse().unwrap();

        enum Change {
            Nothing,
            DeleteImg1,
            MoveV1ToImg2,
            DeleteTagV1,
            UnlinkL1,
            DeleteIndex,
            UntagAllDeleteIndex,
        }
        use Change::*;
        struct Case {
            name: &'static str,
            with_index: bool,
            with_sig: bool,
            change: Change,
            rules: CollectRules,
            manifests: Vec<String>,
            blobs: Vec<Digest>,
        }
        let d = |m: &ManifestRecord, why: &str| format!("{}:{why}", m.digest);
        let cases = vec![
            Case {
                name: "nothing changed",
                with_index: false,
                with_sig: false,
                change: Nothing,
                rules: untagged,
                manifests: vec![],
                blobs: vec![],
            },
            Case {
                name: "manifest deleted: its own layer and bytes go, the shared layer stays",
                with_index: false,
                with_sig: false,
                change: DeleteImg1,
                rules: keep_all,
                manifests: vec![],
                blobs: vec![l1.clone(), img1.digest.clone()],
            },
            Case {
                name: "tag moved, untagged kept without delete-untagged",
                with_index: false,
                with_sig: false,
                change: MoveV1ToImg2,
                rules: keep_all,
                manifests: vec![],
                blobs: vec![],
            },
            Case {
                name: "tag moved, untagged collected with delete-untagged",
                with_index: false,
                with_sig: false,
                change: MoveV1ToImg2,
                rules: untagged,
                manifests: vec![d(&img1, "untagged")],
                blobs: vec![l1.clone(), img1.digest.clone()],
            },
            Case {
                name: "tag deleted, signature keeps nothing alive but goes as orphan",
                with_index: false,
                with_sig: true,
                change: DeleteTagV1,
                rules: untagged,
                manifests: vec![d(&img1, "untagged"), d(&sig, "orphan referrer")],
                blobs: vec![l1.clone(), img1.digest.clone(), sig.digest.clone()],
            },
            Case {
                name: "signature of a present subject is kept though untagged",
                with_index: false,
                with_sig: true,
                change: Nothing,
                rules: untagged,
                manifests: vec![],
                blobs: vec![],
            },
            Case {
                name: "orphan referrers kept when disabled",
                with_index: false,
                with_sig: true,
                change: DeleteImg1,
                rules: keep_all,
                manifests: vec![],
                blobs: vec![l1.clone(), img1.digest.clone()],
            },
            Case {
                name: "index children are kept though untagged",
                with_index: true,
                with_sig: false,
                change: DeleteTagV1,
                rules: untagged,
                manifests: vec![],
                blobs: vec![],
            },
            Case {
                name: "index deleted: tagged children stay",
                with_index: true,
                with_sig: false,
                change: DeleteIndex,
                rules: untagged,
                manifests: vec![],
                blobs: vec![idx.digest.clone()],
            },
            Case {
                name: "index deleted: untagged children go with delete-untagged",
                with_index: true,
                with_sig: false,
                change: UntagAllDeleteIndex,
                rules: untagged,
                manifests: vec![d(&img1, "untagged"), d(&img2, "untagged")],
                blobs: vec![
                    l1.clone(),
                    l2.clone(),
                    shared.clone(),
                    img1.digest.clone(),
                    img2.digest.clone(),
                    idx.digest.clone(),
                ],
            },
            Case {
                name: "unlinked layer still referenced stays",
                with_index: false,
                with_sig: false,
                change: UnlinkL1,
                rules: untagged,
                manifests: vec![],
                blobs: vec![],
            },
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let dir =
                std::env::temp_dir().join(format!("berth-gc-test-{}-{i}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let meta = SqliteMeta::open(&dir.join("m.db")).await.unwrap();
            let r = repo("team/app");
            for l in [&l1, &l2, &shared] {
                meta.complete_upload("test-upload", &r, l, 1).await.unwrap();
            }
            meta.put_manifest(&r, &img1, std::slice::from_ref(&v1))
                .await
                .unwrap();
            meta.put_manifest(&r, &img2, std::slice::from_ref(&v2))
                .await
                .unwrap();
            if case.with_sig {
                meta.put_manifest(&r, &sig, &[]).await.unwrap();
            }
            if case.with_index {
                meta.put_manifest(&r, &idx, &["multi".parse().unwrap()])
                    .await
                    .unwrap();
            }
            // Everything so far is settled: review it once.
            collect_all(&meta, CollectRules::default()).await;
            match case.change {
                Nothing => {}
                DeleteImg1 => assert!(meta.delete_manifest(&r, &img1.digest).await.unwrap()),
                MoveV1ToImg2 => meta
                    .put_manifest(&r, &img2, std::slice::from_ref(&v1))
                    .await
                    .unwrap(),
                DeleteTagV1 => assert!(meta.delete_tag(&r, &v1).await.unwrap()),
                UnlinkL1 => assert!(meta.unlink_blob(&r, &l1).await.unwrap()),
                DeleteIndex => assert!(meta.delete_manifest(&r, &idx.digest).await.unwrap()),
                UntagAllDeleteIndex => {
                    assert!(meta.delete_tag(&r, &v1).await.unwrap());
                    assert!(meta.delete_tag(&r, &v2).await.unwrap());
                    assert!(meta.delete_manifest(&r, &idx.digest).await.unwrap());
                }
            }
            let (mut manifests, mut blobs) = collect_all(&meta, case.rules).await;
            let (mut want_m, mut want_b) = (case.manifests, case.blobs);
            manifests.sort();
            want_m.sort();
            blobs.sort();
            want_b.sort();
            assert_eq!(manifests, want_m, "{}: manifests", case.name);
            assert_eq!(blobs, want_b, "{}: blobs", case.name);
            for b in &want_b {
                assert!(
                    meta.repositories_holding(b, 10).await.unwrap().is_empty(),
                    "{}: {b} still listed",
                    case.name
                );
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[tokio::test]
    async fn grace_period_and_touch_protect_fresh_blobs() {
        let dir = std::env::temp_dir().join(format!("berth-gc-grace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let meta = SqliteMeta::open(&dir.join("m.db")).await.unwrap();
        let r = repo("a");
        let layer = Digest::sha256(b"fresh");
        meta.complete_upload("test-upload", &r, &layer, 3)
            .await
            .unwrap();
        let b = meta.repository_blob(&r, &layer).await.unwrap().unwrap();
        assert!(
            b.unreferenced_since.is_some(),
            "an unreferenced upload is under review"
        );
        // Uploaded after the cutoff: not collected.
        let (none, _) = meta.collect_blobs(now_ms() - 60_000, 10).await.unwrap();
        assert!(none.is_empty());
        // A client checking it restarts the clock.
        let before = now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(meta.touch_blob(&layer).await.unwrap());
        let (none, _) = meta.collect_blobs(before, 10).await.unwrap();
        assert!(none.is_empty(), "touched after the cutoff");
        let plan = meta
            .plan_collection(&CollectRules::default(), 0)
            .await
            .unwrap();
        assert_eq!(plan.blobs, vec![(layer.clone(), 3)]);
        assert!(
            meta.repository_blob(&r, &layer).await.unwrap().is_some(),
            "a plan removes nothing"
        );
        let (gone, _) = meta.collect_blobs(now_ms(), 10).await.unwrap();
        assert_eq!(gone, vec![(layer.clone(), 3)]);
        assert!(!meta.touch_blob(&layer).await.unwrap(), "collected");
        assert_eq!(
            meta.link_existing_blob(&repo("b"), &layer).await.unwrap(),
            None,
            "no mount of a collected blob"
        );
        // A manifest naming it now fails instead of pointing at nothing.
        let err = meta
            .put_manifest(&r, &record("{}", vec![layer.clone()], None), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::MissingReference {
                    manifest: false,
                    ..
                }
            ),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
