//! Resumable upload sessions.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};

use crate::{Result, UploadSession};

#[async_trait]
pub trait Uploads: Send + Sync + 'static {
    /// Records that `repo` holds the blob an upload produced (creating the repository if
    /// needed) and forgets the upload session, in one transaction.
    async fn complete_upload(
        &self,
        upload_id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()>;

    async fn create_upload(&self, session: &UploadSession) -> Result<()>;

    async fn upload(&self, id: &str) -> Result<Option<UploadSession>>;

    /// Records that the upload, which held `from` bytes, now holds `size` with this hash
    /// state and these accepted `parts`. `false` (nothing changed) when it no longer holds
    /// `from`: another request, perhaps on another replica, moved it on or finished it
    /// meanwhile.
    async fn update_upload(
        &self,
        id: &str,
        from: u64,
        size: u64,
        hash_state: &[u8],
        parts: &[String],
    ) -> Result<bool>;

    async fn delete_upload(&self, id: &str) -> Result<()>;

    /// Upload sessions not touched since `before` (ms): abandoned, for purging.
    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>>;

    /// Forgets the session only if it is still untouched since `before`; `true` if it did.
    async fn delete_upload_if_stale(&self, id: &str, before: i64) -> Result<bool>;
}
