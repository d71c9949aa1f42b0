//! Copying metadata between engines, table by table, ids kept, then the counts compared:
//! a single-machine registry moving to PostgreSQL (every row of a SQLite database into an
//! empty PostgreSQL one), and a backup of PostgreSQL metadata (every row as of one moment
//! into a new SQLite file, which `berth restore` brings back into either engine).

use std::path::Path;

use async_trait::async_trait;
use sqlx::Row;

use crate::{MetaError, PgMeta, Result, SqliteMeta};

/// What a column holds, for reading it from one engine and binding it for the other.
#[derive(Clone, Copy)]
enum Column {
    Int(&'static str),
    Text(&'static str),
    Bytes(&'static str),
    /// SQLite's 0/1, PostgreSQL's boolean.
    Bool(&'static str),
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Int(n) | Column::Text(n) | Column::Bytes(n) | Column::Bool(n) => n,
        }
    }
}

use Column::*;

/// Every table: its name, the key it is read in order of, its columns, and whether
/// PostgreSQL generates its ids.
const TABLES: &[(&str, &str, &[Column], bool)] = &[
    (
        "repositories",
        "id",
        &[
            Int("id"),
            Text("name"),
            Int("created_at"),
            Text("description"),
            Int("pull_count"),
        ],
        true,
    ),
    (
        "blobs",
        "digest",
        &[Text("digest"), Int("size"), Int("created_at")],
        false,
    ),
    (
        "repository_blobs",
        "repository_id, digest",
        &[Int("repository_id"), Text("digest"), Int("created_at")],
        false,
    ),
    (
        "manifests",
        "repository_id, digest",
        &[
            Int("repository_id"),
            Text("digest"),
            Text("media_type"),
            Text("artifact_type"),
            Text("subject"),
            Text("annotations"),
            Int("size"),
            Bytes("content"),
            Int("created_at"),
            Int("pulled_at"),
        ],
        false,
    ),
    (
        "manifest_references",
        "repository_id, manifest_digest, child_digest",
        &[
            Int("repository_id"),
            Text("manifest_digest"),
            Text("child_digest"),
            Text("kind"),
        ],
        false,
    ),
    (
        "tags",
        "repository_id, name",
        &[
            Int("repository_id"),
            Text("name"),
            Text("digest"),
            Int("updated_at"),
        ],
        false,
    ),
    (
        "uploads",
        "id",
        &[
            Text("id"),
            Text("repository"),
            Text("algorithm"),
            Int("size"),
            Bytes("hash_state"),
            Int("started_at"),
            Int("updated_at"),
            Text("parts"),
        ],
        false,
    ),
    ("settings", "key", &[Text("key"), Text("value")], false),
    (
        "users",
        "name",
        &[
            Int("id"),
            Text("name"),
            Text("password_hash"),
            Bool("admin"),
            Text("email"),
            Text("realname"),
            Text("comment"),
            Int("created_at"),
            Int("updated_at"),
            Text("origin"),
            Text("directory_groups"),
            Bool("directory_admin"),
            Text("external_id"),
        ],
        false,
    ),
    (
        "projects",
        "id",
        &[
            Int("id"),
            Text("name"),
            Bool("public"),
            Text("owner"),
            Text("metadata"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "user_groups",
        "id",
        &[
            Int("id"),
            Text("name"),
            Int("kind"),
            Text("ldap_dn"),
            Int("created_at"),
        ],
        true,
    ),
    (
        "project_members",
        "id",
        &[
            Int("id"),
            Int("project_id"),
            Text("user_name"),
            Int("group_id"),
            Int("role"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "audit_log",
        "id",
        &[
            Int("id"),
            Int("op_time"),
            Text("username"),
            Text("operation"),
            Text("resource_type"),
            Text("resource"),
            Text("description"),
            Bool("success"),
            Text("project"),
            Text("client_ip"),
        ],
        true,
    ),
    (
        "robots",
        "id",
        &[
            Int("id"),
            Text("name"),
            Text("description"),
            Int("project_id"),
            Text("secret_hash"),
            Int("duration"),
            Int("expires_at"),
            Bool("disabled"),
            Text("permissions"),
            Text("creator_type"),
            Int("creator_ref"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "outbox",
        "id",
        &[
            Int("id"),
            Text("endpoint"),
            Text("payload"),
            Int("attempts"),
            Int("next_attempt_at"),
            Int("created_at"),
            Text("last_error"),
            Int("policy_id"),
            Text("event_type"),
            Text("outcome"),
            Int("finished_at"),
        ],
        true,
    ),
    (
        "immutable_rules",
        "id",
        &[
            Int("id"),
            Int("project_id"),
            Int("priority"),
            Bool("disabled"),
            Text("repository_decoration"),
            Text("repository_pattern"),
            Text("tag_decoration"),
            Text("tag_pattern"),
            Int("created_at"),
        ],
        true,
    ),
    (
        "webhook_policies",
        "id",
        &[
            Int("id"),
            Int("project_id"),
            Text("name"),
            Text("description"),
            Bool("enabled"),
            Text("event_types"),
            Text("targets"),
            Text("creator"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "gc_blob_review",
        "digest",
        &[Text("digest"), Int("since")],
        false,
    ),
    (
        "gc_manifest_review",
        "repository_id, digest",
        &[Int("repository_id"), Text("digest"), Int("since")],
        false,
    ),
    (
        "lifecycle_runs",
        "id",
        &[
            Int("id"),
            Text("kind"),
            Text("trigger"),
            Bool("dry_run"),
            Int("started_at"),
            Int("finished_at"),
            Text("summary"),
            Text("error"),
            Text("owner"),
            Int("heartbeat_at"),
            Int("policy_id"),
            Bool("stop_requested"),
        ],
        true,
    ),
    (
        "retention_policies",
        "id",
        &[
            Int("id"),
            Int("project_id"),
            Text("rules"),
            Text("schedule"),
            Int("scheduled_until"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "labels",
        "id",
        &[
            Int("id"),
            Text("name"),
            Text("description"),
            Text("color"),
            Text("scope"),
            Int("project_id"),
            Int("created_at"),
            Int("updated_at"),
        ],
        true,
    ),
    (
        "artifact_labels",
        "repository_id, digest, label_id",
        &[
            Int("label_id"),
            Int("repository_id"),
            Text("digest"),
            Int("created_at"),
        ],
        false,
    ),
    (
        "usage_samples",
        "day",
        &[
            Int("day"),
            Int("storage_bytes"),
            Int("repositories"),
            Int("recorded_at"),
        ],
        false,
    ),
];

/// Tables deliberately not copied: `jobs` holds the running registries' leases and due
/// times, which the registry that opens the copy sets up afresh; `sessions` are browser
/// sign-ins, which a moved registry asks for again.
#[cfg(test)]
const NOT_COPIED: &[&str] = &["jobs", "sessions"];

/// Rows read and written per transaction.
const BATCH: i64 = 500;

/// Told about each table as it is copied.
pub trait CopyProgress: Sync {
    fn table(&self, name: &str, rows: u64);
    fn copied(&self, rows: u64);
}

/// Copies every row of `from` into `to`, which must hold nothing yet, and checks that each
/// table holds as many rows on both sides. Returns the tables and their row counts.
pub async fn copy_into_postgres(
    from: &SqliteMeta,
    to: &PgMeta,
    progress: &dyn CopyProgress,
) -> Result<Vec<(&'static str, u64)>> {
    ensure_empty(to).await?;
    copy_tables(&mut SqliteSide(from), &mut PgSink(to), progress).await
}

/// [`MetaError::NotEmpty`] naming the first table of `db` that holds rows.
pub async fn ensure_empty(db: &PgMeta) -> Result<()> {
    for (table, _, _, _) in TABLES {
        let any: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(&db.write)
        .await?;
        if any {
            return Err(MetaError::NotEmpty(table));
        }
    }
    Ok(())
}

/// Writes a new SQLite database at `dest` holding every row of `from` as of one moment
/// (one read-only, repeatable-read transaction), while others go on writing.
pub(crate) async fn snapshot_into_sqlite(from: &PgMeta, dest: &Path) -> Result<()> {
    let to = SqliteMeta::open(dest).await?;
    let mut tx = from.write.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let copied = copy_tables(&mut PgSnapshot(&mut tx), &mut SqliteSide(&to), &Silent).await;
    tx.rollback().await?;
    copied?;
    to.close_as_single_file().await
}

struct Silent;

impl CopyProgress for Silent {
    fn table(&self, _: &str, _: u64) {}
    fn copied(&self, _: u64) {}
}

/// A column's value on its way between engines.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

/// Reads `columns` of a row of either engine.
macro_rules! read_row {
    ($row:expr, $columns:expr) => {{
        let mut values = Vec::with_capacity($columns.len());
        for column in $columns.iter() {
            values.push(match *column {
                Int(n) => Value::Int($row.try_get(n)?),
                Text(n) => Value::Text($row.try_get(n)?),
                Bytes(n) => Value::Bytes($row.try_get(n)?),
                Bool(n) => Value::Bool($row.try_get(n)?),
            });
        }
        values
    }};
}

/// Binds a row's values to an insert of either engine.
macro_rules! bind_row {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for value in $values {
            q = match value {
                Value::Int(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Where rows come from.
#[async_trait]
trait Source: Send {
    async fn page(
        &mut self,
        select: &str,
        columns: &[Column],
        offset: i64,
    ) -> Result<Vec<Vec<Value>>>;
    async fn count(&mut self, table: &str) -> Result<u64>;
}

/// Where rows go.
#[async_trait]
trait Sink: Send {
    async fn write(&mut self, insert: &str, rows: Vec<Vec<Value>>) -> Result<()>;
    async fn count(&mut self, table: &str) -> Result<u64>;
    /// After a table whose ids the database generates: new rows continue after them.
    async fn ids_copied(&mut self, table: &str) -> Result<()>;
}

async fn copy_tables(
    from: &mut dyn Source,
    to: &mut dyn Sink,
    progress: &dyn CopyProgress,
) -> Result<Vec<(&'static str, u64)>> {
    let mut counts = Vec::new();
    for (table, order, columns, generated_ids) in TABLES {
        let total = from.count(table).await?;
        progress.table(table, total);
        let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
        let select = format!(
            "SELECT {} FROM {table} ORDER BY {order} LIMIT $1 OFFSET $2",
            names.join(", ")
        );
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            placeholders.join(", ")
        );
        let mut offset = 0;
        loop {
            let rows = from.page(&select, columns, offset).await?;
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            to.write(&insert, rows).await?;
            offset += n as i64;
            progress.copied(n as u64);
        }
        if *generated_ids {
            to.ids_copied(table).await?;
        }
        let copied = to.count(table).await?;
        if copied != total {
            return Err(MetaError::CopyMismatch {
                table,
                expected: total,
                found: copied,
            });
        }
        counts.push((*table, total));
    }
    Ok(counts)
}

fn count_query(table: &str) -> String {
    format!("SELECT COUNT(*) FROM {table}")
}

/// A SQLite database, read from or written to.
struct SqliteSide<'a>(&'a SqliteMeta);

#[async_trait]
impl Source for SqliteSide<'_> {
    async fn page(
        &mut self,
        select: &str,
        columns: &[Column],
        offset: i64,
    ) -> Result<Vec<Vec<Value>>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.to_string()))
            .bind(BATCH)
            .bind(offset)
            .fetch_all(&self.0.read)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(read_row!(row, columns));
        }
        Ok(out)
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_query(table)))
            .fetch_one(&self.0.read)
            .await?;
        Ok(n.max(0) as u64)
    }
}

#[async_trait]
impl Sink for SqliteSide<'_> {
    async fn write(&mut self, insert: &str, rows: Vec<Vec<Value>>) -> Result<()> {
        let mut tx = self.0.write.begin().await?;
        for row in rows {
            bind_row!(sqlx::query(sqlx::AssertSqlSafe(insert.to_string())), row)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_query(table)))
            .fetch_one(&self.0.write)
            .await?;
        Ok(n.max(0) as u64)
    }

    // SQLite's rowids continue after the largest anyway.
    async fn ids_copied(&mut self, _table: &str) -> Result<()> {
        Ok(())
    }
}

/// PostgreSQL as written to.
struct PgSink<'a>(&'a PgMeta);

#[async_trait]
impl Sink for PgSink<'_> {
    async fn write(&mut self, insert: &str, rows: Vec<Vec<Value>>) -> Result<()> {
        let mut tx = self.0.write.begin().await?;
        for row in rows {
            bind_row!(sqlx::query(sqlx::AssertSqlSafe(insert.to_string())), row)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_query(table)))
            .fetch_one(&self.0.write)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn ids_copied(&mut self, table: &str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
        )))
        .execute(&self.0.write)
        .await?;
        Ok(())
    }
}

/// PostgreSQL as of one moment: every read in one transaction.
struct PgSnapshot<'a, 't>(&'a mut sqlx::Transaction<'t, sqlx::Postgres>);

#[async_trait]
impl Source for PgSnapshot<'_, '_> {
    async fn page(
        &mut self,
        select: &str,
        columns: &[Column],
        offset: i64,
    ) -> Result<Vec<Vec<Value>>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.to_string()))
            .bind(BATCH)
            .bind(offset)
            .fetch_all(&mut **self.0)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(read_row!(row, columns));
        }
        Ok(out)
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_query(table)))
            .fetch_one(&mut **self.0)
            .await?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::{NOT_COPIED, TABLES};

    /// The tables SQLite's schema steps create (and keep: steps that rebuild a table
    /// rename the new one into place).
    fn schema_tables() -> std::collections::BTreeSet<String> {
        let steps = crate::sqlite::MIGRATIONS;
        let mut tables = std::collections::BTreeSet::new();
        for step in steps {
            for line in step.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["CREATE", "TABLE", name, ..] => {
                        tables.insert(name.trim_end_matches('(').to_string());
                    }
                    ["ALTER", "TABLE", old, "RENAME", "TO", new] => {
                        tables.remove(*old);
                        tables.insert(new.trim_end_matches(';').to_string());
                    }
                    ["DROP", "TABLE", name] => {
                        tables.remove(name.trim_end_matches(';'));
                    }
                    _ => {}
                }
            }
        }
        tables
    }

    #[test]
    fn every_table_is_copied_or_left_out_on_purpose() {
        let copied: std::collections::BTreeSet<String> =
            TABLES.iter().map(|(t, ..)| t.to_string()).collect();
        let missing: Vec<String> = schema_tables()
            .into_iter()
            .filter(|t| !copied.contains(t) && !NOT_COPIED.contains(&t.as_str()))
            .collect();
        assert!(missing.is_empty(), "tables a copy would lose: {missing:?}");
    }
}
