//! The SQLite database as a whole: readiness, change watching, totals.

use async_trait::async_trait;
use berth_oci::Digest;
use sqlx::Row;

use super::{SqliteMeta, parse_digest};
use crate::{Engine, MetaError, Result, StorageStats};

#[async_trait]
impl Engine for SqliteMeta {
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

    async fn snapshot_to(&self, dest: &std::path::Path) -> Result<()> {
        let dest = dest.to_str().ok_or_else(|| MetaError::Corrupt {
            column: "snapshot path",
            value: dest.display().to_string(),
        })?;
        // One read transaction: the copy is the database as of one moment.
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    async fn stored_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<(Digest, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?",
        )
        .bind(after.map_or_else(String::new, |d| d.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(d, size)| Ok((parse_digest(d)?, size.max(0) as u64)))
            .collect()
    }
}
