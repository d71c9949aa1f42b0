//! Garbage collection: the review queues and the decisions taken on them.

use async_trait::async_trait;
use berth_oci::Digest;

use crate::{CollectRules, CollectedManifest, CollectionPlan, GcWaiting, Result};

#[async_trait]
pub trait Collection: Send + Sync + 'static {
    /// One garbage-collection step over manifests under review since `cutoff` (ms) or
    /// earlier, at most `limit`, in one transaction: those garbage under `rules` are
    /// deleted (their references go under review). Returns them and how many were looked at.
    async fn collect_manifests(
        &self,
        rules: &CollectRules,
        cutoff: i64,
        limit: u32,
    ) -> Result<(Vec<CollectedManifest>, usize)>;

    /// One garbage-collection step over blobs under review since `cutoff` or earlier: those
    /// no manifest references are forgotten. Returns them with their sizes (the caller
    /// removes the bytes) and how many were looked at.
    async fn collect_blobs(&self, cutoff: i64, limit: u32) -> Result<(Vec<(Digest, u64)>, usize)>;

    /// What a collection with `rules` and a grace of `grace_ms` would remove now, without
    /// removing anything.
    async fn plan_collection(&self, rules: &CollectRules, grace_ms: i64) -> Result<CollectionPlan>;

    /// Of `digests`, those the metadata knows nothing of: not listed as stored blobs and
    /// named by no manifest.
    async fn unknown_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Manifests and blobs waiting in the review queues.
    async fn gc_backlog(&self) -> Result<(u64, u64)>;

    /// What in the review queues is younger than `cutoff` (ms) and not in use now (an
    /// untagged manifest, a blob no manifest names): waiting out the grace period.
    async fn gc_waiting(&self, cutoff: i64) -> Result<GcWaiting>;
}
