//! The PostgreSQL engine, for several berth processes (replicas) sharing one registry. The
//! aggregates are the ones SQLite runs (`crate::sql`); what is PostgreSQL's own is here:
//! connecting, the schema and its steps, the advisory locks that stand in for SQLite's one
//! writer, and the notifications that tell every replica's read cache about commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

use crate::sql::WriteLock;
use crate::sql::counter::WriteCounter;
use crate::{MetaError, Result};

mod engine;
mod placement;
#[cfg(test)]
mod tests;

// The aggregates shared with SQLite (see `crate::sql`), over PostgreSQL's types.
type Db = sqlx::Postgres;
type Conn = PgConnection;
type DbRow = sqlx::postgres::PgRow;
type Meta = PgMeta;
/// The larger of two values.
macro_rules! greatest {
    () => {
        "GREATEST"
    };
}
/// The project part (first path component) of the repository name in column `$col`.
macro_rules! project_of {
    ($col:literal) => {
        concat!("split_part(", $col, ", '/', 1)")
    };
}
/// The strings of the JSON array bound as `$1`, as rows of a column `value`.
macro_rules! json_strings {
    () => {
        "jsonb_array_elements_text($1::jsonb)"
    };
}
/// Removes from the manifest review queue the `[repository_id, digest]` pairs of the JSON
/// array bound as `$1`.
const FORGET_REVIEWED_MANIFESTS: &str =
    "DELETE FROM gc_manifest_review WHERE (repository_id, digest) IN
    (SELECT (value->>0)::bigint, value->>1 FROM jsonb_array_elements($1::jsonb))";
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
/// (PostgreSQL support starts at SQLite's fifth version, so its first step is all of it.)
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
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

/// How long a placement waits for a connection to hold the placement lock with.
const PLACEMENT_WAIT: Duration = Duration::from_secs(600);

/// The channel every commit notifies, so other replicas' read caches drop what changed.
const CHANGES_CHANNEL: &str = "berth_changes";

/// Advisory lock keys (PostgreSQL's two-integer form): the first is berth's own class,
/// so other applications on the same database are not in the way.
const LOCK_CLASS: i32 = 0x6265_7274; // "bert"
const LOCK_REPOSITORY_CLASS: i32 = LOCK_CLASS + 1;
const LOCK_GRAPH: i32 = 0;
const LOCK_MIGRATION: i32 = 1;
const LOCK_PLACEMENT: i32 = 2;

/// How to reach the database: GitLab's container registry `database` keys.
#[derive(Clone)]
pub struct PostgresOptions {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: PgSslMode,
    pub sslcert: Option<std::path::PathBuf>,
    pub sslkey: Option<std::path::PathBuf>,
    pub sslrootcert: Option<std::path::PathBuf>,
    /// How long to wait for a connection (also from the pool) before a request fails.
    pub connect_timeout: Duration,
    pub pool: PoolLimits,
}

/// `database.pool`: connections this process keeps.
#[derive(Debug, Clone)]
pub struct PoolLimits {
    pub max_open: u32,
    pub max_lifetime: Option<Duration>,
    pub max_idle_time: Option<Duration>,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_open: 10,
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            max_idle_time: Some(Duration::from_secs(10 * 60)),
        }
    }
}

/// Everything but the password.
impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        let mut o = PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .database(&self.dbname)
            .ssl_mode(self.sslmode)
            .application_name("berth");
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(c) = &self.sslrootcert {
            o = o.ssl_root_cert(c);
        }
        if let Some(c) = &self.sslcert {
            o = o.ssl_client_cert(c);
        }
        if let Some(k) = &self.sslkey {
            o = o.ssl_client_key(k);
        }
        o
    }

    /// `host:port/dbname`, for messages.
    pub fn describe(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.dbname)
    }
}

pub struct PgMeta {
    /// One pool: PostgreSQL runs readers and writers side by side. `read` is the same
    /// pool under the name the shared aggregates use for reads.
    pub(crate) write: PgPool,
    read: PgPool,
    /// Connections that hold the placement lock (see `placement.rs`).
    placement: PgPool,
    /// This process's commits, for its own read cache.
    writes: WriteCounter,
    /// Commits any process announced on [`CHANGES_CHANNEL`] (and every lost listening
    /// connection, which may have missed some): `data_version`.
    changes: Arc<AtomicI64>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PgMeta {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgMeta {
    /// Connects, brings the schema up to date (one replica at a time), and starts
    /// following other replicas' commits.
    pub async fn open(options: &PostgresOptions) -> Result<Self> {
        let limits = &options.pool;
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_open.max(2))
            .max_lifetime(limits.max_lifetime)
            .idle_timeout(limits.max_idle_time)
            .acquire_timeout(options.connect_timeout)
            .connect_with(options.connect_options())
            .await?;
        migrate(&pool).await?;
        // Waiting for the placement lock is waiting for a collection step, not for the
        // database: give it longer than a connection.
        let placement = PgPoolOptions::new()
            .max_connections(limits.max_open.max(2))
            .max_lifetime(limits.max_lifetime)
            .idle_timeout(limits.max_idle_time)
            .acquire_timeout(PLACEMENT_WAIT)
            .connect_lazy_with(options.connect_options());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        let changes = Arc::new(AtomicI64::new(0));
        let listener = tokio::spawn(follow_changes(listener, changes.clone()));
        Ok(PgMeta {
            write: pool.clone(),
            read: pool,
            placement,
            writes: WriteCounter::local(),
            changes,
            listener,
        })
    }

    /// Closes every connection.
    pub async fn close(mut self) {
        // The listener holds a connection of the pool until it stops.
        self.listener.abort();
        let _ = (&mut self.listener).await;
        self.write.close().await;
        self.placement.close().await;
    }

    /// Starts a write transaction holding the advisory locks `lock` asks for: the graph
    /// lock (shared, or alone for [`WriteLock::Everything`]) and the repository's. Taken
    /// in that order by every writer, so they cannot deadlock on each other.
    async fn begin(&self, lock: WriteLock<'_>) -> Result<sqlx::Transaction<'static, Db>> {
        let mut tx = self.write.begin().await?;
        match lock {
            WriteLock::Rows => {}
            WriteLock::Shared => {
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1, $2)")
                    .bind(LOCK_CLASS)
                    .bind(LOCK_GRAPH)
                    .execute(&mut *tx)
                    .await?;
            }
            WriteLock::Repository(repo) => {
                sqlx::query(
                    "SELECT pg_advisory_xact_lock_shared($1, $2), pg_advisory_xact_lock($3, hashtext($4))",
                )
                .bind(LOCK_CLASS)
                .bind(LOCK_GRAPH)
                .bind(LOCK_REPOSITORY_CLASS)
                .bind(repo.as_str())
                .execute(&mut *tx)
                .await?;
            }
            WriteLock::Everything => {
                sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                    .bind(LOCK_CLASS)
                    .bind(LOCK_GRAPH)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(tx)
    }

    /// Commits a write transaction with a notification to every replica (delivered only
    /// if the commit succeeds), then raises this process's write count — before the
    /// caller can acknowledge anything.
    async fn commit(&self, mut tx: sqlx::Transaction<'_, Db>) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANGES_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.writes.raise();
        Ok(())
    }
}

/// Counts notifications on the changes channel for as long as the engine lives. A lost
/// connection counts as a change too: what it missed is unknown.
async fn follow_changes(mut listener: PgListener, changes: Arc<AtomicI64>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!("lost the connection that follows other replicas' commits"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow other replicas' commits; retrying");
                // Not a synchronisation: how long to wait before asking a database that
                // is down again.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        changes.fetch_add(1, Ordering::Relaxed);
    }
}

/// Brings the schema up to date in one transaction under an advisory lock, so replicas
/// starting together take turns and a crash leaves the previous version.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = Connection::begin(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(LOCK_MIGRATION)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS berth_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM berth_schema")
        .fetch_one(&mut *tx)
        .await?;
    let version = version.unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(MetaError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().skip(version as usize) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*step))
            .execute(&mut *tx)
            .await?;
    }
    if version < SCHEMA_VERSION {
        sqlx::query("DELETE FROM berth_schema")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO berth_schema (version) VALUES ($1)")
            .bind(SCHEMA_VERSION)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// PostgreSQL's codes for "the database is not there right now": connection exceptions
/// (class 08), shutting down or starting up (57P01-57P03), too many connections (53300).
pub(crate) fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// PostgreSQL's `disk_full`.
pub(crate) const DISK_FULL: &str = "53100";
