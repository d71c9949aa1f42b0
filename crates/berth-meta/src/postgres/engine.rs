//! The PostgreSQL database as a whole: readiness, change watching.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use berth_oci::Digest;

use super::PgMeta;
use crate::{Engine, MetaError, Result, StorageStats};

#[async_trait]
impl Engine for PgMeta {
    async fn ping(&self) -> Result<()> {
        // A write: a standby (read-only) database is not ready either.
        sqlx::query("UPDATE settings SET value = value WHERE key = 'health'")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    fn write_count(&self) -> u64 {
        self.writes.get()
    }

    async fn data_version(&self) -> Result<i64> {
        Ok(self.changes.load(Ordering::Relaxed))
    }

    async fn is_empty(&self) -> Result<bool> {
        self.holds_nothing().await
    }

    async fn storage_stats(&self) -> Result<StorageStats> {
        self.totals().await
    }

    async fn snapshot_to(&self, _dest: &std::path::Path) -> Result<()> {
        Err(MetaError::Unsupported(
            "berth backup snapshots SQLite metadata; back up PostgreSQL with its own tools \
             (pg_dump, or continuous archiving)",
        ))
    }

    async fn stored_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<(Digest, u64)>> {
        self.blobs_after(after, limit).await
    }
}
