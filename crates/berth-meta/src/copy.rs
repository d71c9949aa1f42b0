//! Moving a single-machine registry to PostgreSQL: every row of a SQLite metadata database
//! copied into an empty PostgreSQL one, table by table, ids kept, then the counts compared.

use sqlx::Row;

use crate::{MetaError, PgMeta, Result, SqliteMeta};

/// What a column holds, for reading it from SQLite and binding it for PostgreSQL.
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
        &[Int("id"), Text("name"), Int("created_at")],
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
            Text("name"),
            Text("password_hash"),
            Bool("admin"),
            Int("created_at"),
            Int("updated_at"),
        ],
        false,
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
        ],
        true,
    ),
];

/// Rows read and written per transaction.
const BATCH: i64 = 500;

/// Told about each table as it is copied.
pub trait CopyProgress {
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
    for (table, _, _, _) in TABLES {
        let any: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(&to.write)
        .await?;
        if any {
            return Err(MetaError::NotEmpty(table));
        }
    }
    let mut counts = Vec::new();
    for (table, order, columns, generated_ids) in TABLES {
        let total = count_sqlite(from, table).await?;
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
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(BATCH)
                .bind(offset)
                .fetch_all(&from.read)
                .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = to.write.begin().await?;
            for row in &rows {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                for column in columns.iter() {
                    q = match *column {
                        Int(n) => q.bind(row.try_get::<Option<i64>, _>(n)?),
                        Text(n) => q.bind(row.try_get::<Option<String>, _>(n)?),
                        Bytes(n) => q.bind(row.try_get::<Option<Vec<u8>>, _>(n)?),
                        Bool(n) => q.bind(row.try_get::<Option<bool>, _>(n)?),
                    };
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            offset += rows.len() as i64;
            progress.copied(rows.len() as u64);
        }
        if *generated_ids {
            // New rows continue after the copied ids.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
            )))
            .execute(&to.write)
            .await?;
        }
        let copied: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&to.write)
                .await?;
        if copied.max(0) as u64 != total {
            return Err(MetaError::CopyMismatch {
                table,
                expected: total,
                found: copied.max(0) as u64,
            });
        }
        counts.push((*table, total));
    }
    Ok(counts)
}

async fn count_sqlite(from: &SqliteMeta, table: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&from.read)
        .await?;
    Ok(n.max(0) as u64)
}
