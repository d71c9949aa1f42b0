//! The embedded SQLite engine. One write connection (SQLite has one writer anyway, and a
//! single connection avoids lock-upgrade failures between deferred transactions) and a
//! small pool of readers, which WAL mode lets run beside the writer. This file opens the
//! database and holds what the aggregates share; each aggregate's trait is implemented in
//! its own file beside it, and the SQL schema steps are the `.sql` files.

use std::path::Path;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};

use crate::sql::WriteLock;
use crate::sql::counter::WriteCounter;
use crate::{MetaError, Result};

mod engine;
mod placement;

// The aggregates shared with PostgreSQL (see `crate::sql`), over SQLite's types.
type Db = sqlx::Sqlite;
type Conn = SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type Meta = SqliteMeta;
/// The larger of two values (SQLite's scalar `MAX`).
macro_rules! greatest {
    () => {
        "MAX"
    };
}
/// The project part (first path component) of the repository name in column `$col`.
macro_rules! project_of {
    ($col:literal) => {
        concat!(
            "(CASE WHEN instr(",
            $col,
            ", '/') > 0 THEN substr(",
            $col,
            ", 1, instr(",
            $col,
            ", '/') - 1) ELSE ",
            $col,
            " END)"
        )
    };
}
/// The strings of the JSON array bound as `$1`, as rows of a column `value`.
macro_rules! json_strings {
    () => {
        "json_each($1)"
    };
}
/// Removes from the manifest review queue the `[repository_id, digest]` pairs of the JSON
/// array bound as `$1`.
const FORGET_REVIEWED_MANIFESTS: &str =
    "DELETE FROM gc_manifest_review WHERE (repository_id, digest) IN
    (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1))";
#[path = "../sql/aggregates/audit.rs"]
mod audit;
#[path = "../sql/aggregates/blobs.rs"]
mod blobs;
#[path = "../sql/aggregates/browse.rs"]
mod browse;
#[path = "../sql/aggregates/collection.rs"]
mod collection;
#[path = "../sql/aggregates/graph.rs"]
mod graph;
#[path = "../sql/aggregates/jobs.rs"]
mod jobs;
#[path = "../sql/aggregates/labels.rs"]
mod labels;
#[path = "../sql/aggregates/manifests.rs"]
mod manifests;
#[path = "../sql/aggregates/outbox.rs"]
mod outbox;
#[path = "../sql/aggregates/projects.rs"]
mod projects;
#[path = "../sql/aggregates/retention.rs"]
mod retention;
#[path = "../sql/aggregates/retention_policies.rs"]
mod retention_policies;
#[path = "../sql/aggregates/review.rs"]
mod review;
#[path = "../sql/aggregates/robots.rs"]
mod robots;
#[path = "../sql/aggregates/rules.rs"]
mod rules;
#[path = "../sql/aggregates/runs.rs"]
mod runs;
#[path = "../sql/aggregates/sessions.rs"]
mod sessions;
#[path = "../sql/aggregates/settings.rs"]
mod settings;
#[path = "../sql/aggregates/totals.rs"]
mod totals;
#[path = "../sql/aggregates/uploads.rs"]
mod uploads;
#[path = "../sql/aggregates/usage.rs"]
mod usage;
#[path = "../sql/aggregates/users.rs"]
mod users;
#[path = "../sql/aggregates/webhooks.rs"]
mod webhooks;

/// Schema steps in order: `MIGRATIONS[i]` takes the database from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("users.sql"),
    include_str!("outbox.sql"),
    include_str!("gc.sql"),
    include_str!("runs.sql"),
    include_str!("replicas.sql"),
    include_str!("teams.sql"),
    include_str!("accounts.sql"),
    include_str!("webhooks.sql"),
    include_str!("browse.sql"),
    include_str!("rules.sql"),
    include_str!("retention.sql"),
    include_str!("labels.sql"),
    include_str!("sessions.sql"),
    include_str!("usage.sql"),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub struct SqliteMeta {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
    /// One connection of its own for `PRAGMA data_version`, which compares with the same
    /// connection's previous answer.
    watch: SqlitePool,
    /// Raised after every write any process commits here (see [`WriteCounter`]): by
    /// [`SqliteMeta::commit`] and after each single-statement write.
    writes: WriteCounter,
    /// The database file: open connections keep working on a deleted file, so readiness
    /// also checks that the path still leads to it.
    path: std::path::PathBuf,
}

/// Suffix of the shared write counter beside the database file.
const WRITE_COUNTER: &str = "-writes";

/// `<path><suffix>`: a file kept beside the database file and named after it.
pub fn beside(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

impl SqliteMeta {
    /// The files that belong to the database at `path` besides itself: SQLite's
    /// write-ahead log and its shared-memory index, and berth's write counter.
    pub fn companions(path: &Path) -> impl Iterator<Item = std::path::PathBuf> + '_ {
        ["-wal", "-shm", WRITE_COUNTER, placement::PLACEMENT_LOCK]
            .into_iter()
            .map(move |suffix| beside(path, suffix))
    }

    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        make_private(path).map_err(|e| MetaError::Database(sqlx::Error::Io(e)))?;
        let writes = WriteCounter::open(&beside(path, WRITE_COUNTER));
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

    /// Closes the database leaving one self-contained file (no write-ahead log beside
    /// it), as a snapshot must be: it is copied and moved without its companions.
    pub(crate) async fn close_as_single_file(self) -> Result<()> {
        self.read.close().await;
        self.watch.close().await;
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&self.write)
            .await?;
        self.write.close().await;
        Ok(())
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

    /// Starts a write transaction. SQLite has one writer at a time, and this process
    /// one write connection; only [`WriteLock::Everything`] must also be sure of the
    /// state before it reads, so it takes the database's write lock first (a deferred
    /// transaction that reads first could be overtaken by another process's writer).
    async fn begin(&self, lock: WriteLock<'_>) -> Result<sqlx::Transaction<'static, Db>> {
        let mut tx = self.write.begin().await?;
        if let WriteLock::Everything = lock {
            sqlx::query("UPDATE settings SET value = value WHERE key = 'gc'")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Commits a write transaction, then tells readers that keep answers (the write
    /// count) — before the caller can acknowledge anything.
    async fn commit(&self, tx: sqlx::Transaction<'_, Db>) -> Result<()> {
        tx.commit().await?;
        self.writes.raise();
        Ok(())
    }
}

/// The database holds password hashes: its directory is the owner's alone (0700) and the
/// file and its companions (SQLite creates `-wal`/`-shm` with the database file's mode)
/// are 0600 — also for a database created by an older berth.
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
    tighten(path, 0o600)?;
    for companion in SqliteMeta::companions(path) {
        tighten(&companion, 0o600)?;
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

#[cfg(test)]
mod migration_tests {
    use super::*;
    use crate::{Projects, Robots, UserOrigin, Users};

    /// A database left by a berth from before projects (schema step 6) with a user and
    /// repositories: the later steps adopt the repositories into projects, number the
    /// user, give the project table ids that never repeat, and keep every row.
    #[tokio::test]
    async fn a_database_from_before_projects_comes_up_to_date() {
        let dir = std::env::temp_dir().join(format!("berth-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metadata.db");
        {
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
            for step in &MIGRATIONS[..6] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*step))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            sqlx::raw_sql(
                "PRAGMA user_version = 6;
                 INSERT INTO users (name, password_hash, admin, created_at, updated_at)
                     VALUES ('root', '$argon2id$x', 1, 1, 1), ('dev', '$argon2id$y', 0, 1, 1);
                 INSERT INTO repositories (name, created_at)
                     VALUES ('team/app', 1), ('team/api', 1), ('solo', 1);",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
        let meta = SqliteMeta::open(&path).await.unwrap();
        let dev = meta.user("dev").await.unwrap().unwrap();
        assert_eq!((dev.id, dev.origin), (1, UserOrigin::Local));
        assert!(dev.directory_groups.is_empty() && !dev.directory_admin);
        assert_eq!(meta.user("root").await.unwrap().unwrap().id, 2);
        let team = meta.project("team").await.unwrap().expect("adopted");
        let solo = meta.project("solo").await.unwrap().expect("adopted");
        assert!(!team.public && team.owner.is_none());
        // Deleting the highest project and creating another never hands its id out again.
        let highest = team.id.max(solo.id);
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(highest)
            .execute(&meta.write)
            .await
            .unwrap();
        let next = meta
            .create_project(&crate::NewProject {
                name: "next",
                public: false,
                owner: None,
                metadata: Default::default(),
                first_member: None,
            })
            .await
            .unwrap()
            .unwrap();
        assert!(next.id > highest);
        assert_eq!(
            meta.robots(&crate::RobotQuery::default()).await.unwrap().1,
            0
        );
        meta.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
