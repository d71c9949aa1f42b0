//! The SQLite database as a whole: readiness, change watching, totals.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteMeta;
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
}
