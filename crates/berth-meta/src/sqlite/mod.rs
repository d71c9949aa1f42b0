//! The embedded SQLite engine. One write connection (SQLite has one writer anyway, and a
//! single connection avoids lock-upgrade failures between deferred transactions) and a
//! small pool of readers, which WAL mode lets run beside the writer. This file opens the
//! database and holds what the aggregates share; each aggregate's trait is implemented in
//! its own file beside it, and the SQL schema steps are the `.sql` files.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use berth_oci::{Digest, RepoName};
use bytes::Bytes;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

mod blobs;
mod collection;
mod counter;
mod engine;
mod manifests;
mod outbox;
mod retention;
mod review;
mod runs;
mod settings;
mod uploads;
mod users;

use crate::{ManifestRecord, MetaError, Result, StoredManifest, UserChange, UserRecord};

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

    /// Closes every connection and waits until they are closed (before the file is moved
    /// or copied).
    pub async fn close(self) {
        self.write.close().await;
        self.read.close().await;
        self.watch.close().await;
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
    review::review_blob(conn, &digest, now).await
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
    review::review_manifest(conn, repo_id, &digest, now).await?;
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
        review::review_manifest(conn, repo_id, &previous, now).await?;
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

fn user_from_row(row: &SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        admin: row.try_get("admin")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}
