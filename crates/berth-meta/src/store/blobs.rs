//! Which repository holds which blob.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};

use crate::{RepositoryBlob, Result};

#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// The blob if `repo` holds it.
    async fn repository_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<RepositoryBlob>>;

    /// Links a blob that is stored (for another repository) into `repo`; its size, or
    /// `None` when it is not stored (anymore).
    async fn link_existing_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Restarts the grace period of a blob under review (a client is about to reference
    /// it); `false` when it is no longer stored.
    async fn touch_blob(&self, digest: &Digest) -> Result<bool>;

    /// Repositories holding the blob, by name, at most `limit` (sources for a mount that
    /// names none).
    async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<String>>;

    /// Forgets the link; `false` when there was none.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Of `digests`, those `repo` does not hold as blobs.
    async fn missing_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>>;
}
