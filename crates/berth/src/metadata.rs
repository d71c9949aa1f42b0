//! Where the metadata lives — the embedded SQLite file, or PostgreSQL when the `database`
//! section is enabled — and opening it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_config::{Config, DatabaseConfig};
use berth_meta::{MetaStore, PgMeta, PgSslMode, PoolLimits, PostgresOptions, SqliteMeta};

/// PostgreSQL's port when `database.port` is not set.
const DEFAULT_PORT: u16 = 5432;
/// How long to wait for a database connection when `database.connecttimeout` is not
/// set: also how long a request waits before it fails with 503 while PostgreSQL is down.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub enum MetadataLocation {
    /// `berth.metadata.path`, or `<root>/berth/metadata.db`.
    Sqlite(PathBuf),
    /// `database.enabled: true`.
    Postgres(Box<PostgresOptions>),
}

impl MetadataLocation {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        if config.database.enabled {
            return Ok(MetadataLocation::Postgres(Box::new(postgres_options(
                &config.database,
            )?)));
        }
        let path = config
            .metadata_path()
            .context("berth.metadata.path: set where the metadata database lives")?;
        Ok(MetadataLocation::Sqlite(path))
    }

    /// The SQLite file, if the metadata is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            MetadataLocation::Sqlite(path) => Some(path),
            MetadataLocation::Postgres(_) => None,
        }
    }

    /// For messages: the file, or the server and database (never the password).
    pub fn describe(&self) -> String {
        match self {
            MetadataLocation::Sqlite(path) => path.display().to_string(),
            MetadataLocation::Postgres(o) => format!("PostgreSQL {}", o.describe()),
        }
    }

    pub async fn open(&self) -> anyhow::Result<Arc<dyn MetaStore>> {
        Ok(match self {
            MetadataLocation::Sqlite(path) => Arc::new(
                SqliteMeta::open(path)
                    .await
                    .with_context(|| format!("opening metadata database {}", path.display()))?,
            ),
            MetadataLocation::Postgres(o) => {
                Arc::new(PgMeta::open(o).await.with_context(|| {
                    format!(
                        "connecting to the metadata database (PostgreSQL {} as {}); check that it \
                     runs and that the database section of the config names it",
                        o.describe(),
                        o.user
                    )
                })?)
            }
        })
    }
}

fn postgres_options(db: &DatabaseConfig) -> anyhow::Result<PostgresOptions> {
    let required = |value: &Option<String>, key: &str| -> anyhow::Result<String> {
        match value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => Ok(v.to_string()),
            None => bail!("database.{key}: set it (database.enabled is true)"),
        }
    };
    let sslmode = match db.sslmode.as_deref().unwrap_or("prefer") {
        "disable" => PgSslMode::Disable,
        "allow" => PgSslMode::Allow,
        "prefer" => PgSslMode::Prefer,
        "require" => PgSslMode::Require,
        "verify-ca" => PgSslMode::VerifyCa,
        // The schema admits only libpq's modes.
        _ => PgSslMode::VerifyFull,
    };
    let defaults = PoolLimits::default();
    let max_open = match db.pool.maxopen {
        Some(0) => bail!("database.pool.maxopen: at least 1 connection"),
        Some(n) => u32::try_from(n).context("database.pool.maxopen: too large")?,
        None => defaults.max_open,
    };
    Ok(PostgresOptions {
        host: required(&db.host, "host")?,
        port: db.port.unwrap_or(DEFAULT_PORT),
        user: required(&db.user, "user")?,
        password: db.password.clone().filter(|p| !p.is_empty()),
        dbname: required(&db.dbname, "dbname")?,
        sslmode,
        sslcert: db.sslcert.clone(),
        sslkey: db.sslkey.clone(),
        sslrootcert: db.sslrootcert.clone(),
        connect_timeout: db
            .connecttimeout
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        pool: PoolLimits {
            max_open,
            max_lifetime: db.pool.maxlifetime.or(defaults.max_lifetime),
            max_idle_time: db.pool.maxidletime.or(defaults.max_idle_time),
        },
    })
}
