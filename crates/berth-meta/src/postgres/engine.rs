//! The PostgreSQL database as a whole: readiness, change watching.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use berth_oci::Digest;

use super::PgMeta;
use crate::{Engine, Result, StorageStats};

#[async_trait]
impl Engine for PgMeta {
    async fn ping(&self) -> Result<()> {
        // A write: a standby (read-only) database is not ready either.
        sqlx::query("UPDATE settings SET value = value WHERE key = 'health'")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// This process's commits and every commit announced by the others: other replicas'
    /// writes reach the read cache as soon as their notification arrives (a loopback
    /// round trip), not at the next `data_version` poll.
    fn write_count(&self) -> u64 {
        self.writes.get() + self.changes.load(Ordering::Relaxed).max(0) as u64
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

    /// A SQLite file of every row as of one moment: backups of either engine have one
    /// shape, and restore into either.
    async fn snapshot_to(&self, dest: &std::path::Path) -> Result<()> {
        crate::copy::snapshot_into_sqlite(self, dest).await
    }

    async fn stored_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<(Digest, u64)>> {
        self.blobs_after(after, limit).await
    }
}
