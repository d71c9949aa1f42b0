//! Metadata: the source of truth for repositories, manifests, tags, repository↔blob links,
//! manifest references, referrer subjects, upload sessions, users and the notification
//! outbox. One trait per aggregate (`store/`), records without an engine in them
//! (`records.rs`), an engine per database (`sqlite/`, one file per aggregate), and one
//! test suite every engine must pass (`suite.rs`). Registry rules hold a [`MetaStore`],
//! all the aggregates together.

mod copy;
// Each SQL engine compiles the shared aggregates (`sql/aggregates`) over its own types.
#[allow(clippy::duplicate_mod)]
mod postgres;
mod records;
mod sql;
mod sqlite;
mod store;
#[cfg(test)]
mod suite;

use berth_oci::Digest;

pub use copy::{CopyProgress, copy_into_postgres, ensure_empty};
pub use postgres::{PgMeta, PoolLimits, PostgresOptions};
pub use records::*;
pub use sqlite::{SqliteMeta, beside};
/// TLS modes for [`PostgresOptions::sslmode`] (libpq's `sslmode` values).
pub use sqlx::postgres::PgSslMode;
pub use store::*;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database error: {0}")]
    Database(sqlx::Error),
    /// The disk holding the database has no space left (the write was not saved).
    #[error("the metadata database's disk is full: {0}")]
    StorageFull(sqlx::Error),
    #[error("metadata database holds an invalid value in {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
    /// A manifest names a blob or child manifest the repository does not hold (anymore).
    #[error("the manifest references {digest}, which is not in the repository")]
    MissingReference { digest: Digest, manifest: bool },
    /// The database cannot be reached (down, restarting, out of connections): the
    /// request may be retried, nothing was changed by it.
    #[error("the metadata database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// A copy's destination already holds rows (in this table).
    #[error(
        "the destination database is not empty: its {0} table holds rows; copy into a new, empty database"
    )]
    NotEmpty(&'static str),
    /// A copied table holds another number of rows than its source.
    #[error("copied {table}: {expected} rows in SQLite but {found} in PostgreSQL")]
    CopyMismatch {
        table: &'static str,
        expected: u64,
        found: u64,
    },
    /// This engine cannot do it; the message says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(
        "metadata database schema version {found} is newer than this berth understands ({supported}); upgrade berth"
    )]
    TooNew { found: i64, supported: i64 },
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        if sqlite::is_disk_full(&e) || database_code(&e) == Some(postgres::DISK_FULL) {
            MetaError::StorageFull(e)
        } else if is_unavailable(&e) {
            MetaError::Unavailable(e)
        } else {
            MetaError::Database(e)
        }
    }
}

/// The SQLSTATE (PostgreSQL) or result code (SQLite) of a database error.
fn database_code(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .map(|pg| pg.code()),
        _ => None,
    }
}

/// The database could not be reached, rather than refusing what was asked.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        // Not the disk (that is `StorageFull`): the connection.
        sqlx::Error::Io(io) => io.kind() != std::io::ErrorKind::StorageFull,
        sqlx::Error::Database(_) => database_code(e).is_some_and(postgres::is_unavailable_code),
        _ => false,
    }
}

impl MetaError {
    /// The write failed for want of disk space: an operator's problem, not a bug.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, MetaError::StorageFull(_))
    }

    /// The database is down or out of reach for now: worth retrying, not a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, MetaError::Unavailable(_))
    }
}

pub type Result<T> = std::result::Result<T, MetaError>;

/// Every aggregate of the metadata: what an engine implements and the registry holds.
pub trait MetaStore:
    Engine
    + Manifests
    + Blobs
    + Uploads
    + Users
    + Settings
    + Outbox
    + Collection
    + RetentionData
    + Runs
    + Leases
    + Placement
    + Projects
    + Robots
    + AuditLog
    + WebhookPolicies
    + Browse
    + TagRules
    + RetentionPolicies
    + Labels
    + Sessions
    + UsageHistory
{
}

impl<
    T: Engine
        + Manifests
        + Blobs
        + Uploads
        + Users
        + Settings
        + Outbox
        + Collection
        + RetentionData
        + Runs
        + Leases
        + Placement
        + Projects
        + Robots
        + AuditLog
        + WebhookPolicies
        + Browse
        + TagRules
        + RetentionPolicies
        + Labels
        + Sessions
        + UsageHistory,
> MetaStore for T
{
}

/// `(year, month, day)` of a day count since 1970-01-01, in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm): for timestamps and schedules without a
/// date-time dependency.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date: the inverse of
/// [`civil_from_days`] (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in the metadata's unit (ms), saturating.
pub fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
