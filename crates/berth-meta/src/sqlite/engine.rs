//! The SQLite database as a whole: readiness, change watching, snapshots.

use async_trait::async_trait;
use berth_oci::Digest;

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
        self.holds_nothing().await
    }

    async fn storage_stats(&self) -> Result<StorageStats> {
        self.totals().await
    }

    async fn snapshot_to(&self, dest: &std::path::Path) -> Result<()> {
        let dest = dest.to_str().ok_or_else(|| MetaError::Corrupt {
            column: "snapshot path",
            value: dest.display().to_string(),
        })?;
        // One read transaction: the copy is the database as of one moment.
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    async fn stored_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<(Digest, u64)>> {
        self.blobs_after(after, limit).await
    }
}
