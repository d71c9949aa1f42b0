//! The database as a whole: readiness, change watching, totals.

use async_trait::async_trait;

use berth_oci::Digest;

use crate::{Result, StorageStats};

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Proves the database answers and takes writes now (readiness).
    async fn ping(&self) -> Result<()>;

    /// A count that rises after every write committed by this process or another berth
    /// process on the same metadata; a load from memory, no query. Caches of reads
    /// compare it before trusting what they kept.
    fn write_count(&self) -> u64;

    /// A number that changes whenever a commit (of any connection or process, berth's or
    /// not) happened since the previous call: a slower catch-all beside `write_count`.
    async fn data_version(&self) -> Result<i64>;

    /// True when the database has no repositories at all (first start, import decision).
    async fn is_empty(&self) -> Result<bool>;

    async fn storage_stats(&self) -> Result<StorageStats>;

    /// Writes a consistent copy of the whole database to the new file `dest`, while
    /// others go on reading and writing (for backups).
    async fn snapshot_to(&self, dest: &std::path::Path) -> Result<()>;

    /// The stored blobs (layers, configs, manifests' own bytes) with their sizes, in
    /// digest order after `after`, at most `limit`.
    async fn stored_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<(Digest, u64)>>;
}
