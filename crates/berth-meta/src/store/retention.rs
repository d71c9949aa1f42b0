//! What retention rules look at: tags with push and pull times, untagged manifests.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};

use crate::{Result, TagRecord};

#[async_trait]
pub trait RetentionData: Send + Sync + 'static {
    /// Every tag of `repo` with its push and pull times.
    async fn tag_records(&self, repo: &RepoName) -> Result<Vec<TagRecord>>;

    /// Manifests of `repo` stored before `before` (ms) that no tag points to and nothing
    /// needs (see `manifest_referenced`).
    async fn untagged_manifests(&self, repo: &RepoName, before: i64) -> Result<Vec<Digest>>;

    /// Records manifest pulls: the latest time per manifest (for retention rules) and how
    /// many per repository.
    async fn record_pulls(&self, pulls: &[crate::Pulls]) -> Result<()>;
}
