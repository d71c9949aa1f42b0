//! Reading, mounting and deleting blobs of a repository.

use berth_oci::range::ByteRange;
use berth_oci::{Digest, RepoName};
use berth_storage::ByteStream;

use crate::{Registry, RegistryError, Result};

impl Registry {
    /// Size of a blob readable from `repo`. A manifest is also readable as a blob, as its
    /// bytes are content-addressed like any other.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        if let Some(size) = self.meta.repository_blob(repo, digest).await? {
            return Ok(size);
        }
        match self.meta.manifest(repo, digest).await? {
            Some(m) => Ok(m.content.len() as u64),
            None => Err(RegistryError::BlobUnknown),
        }
    }

    pub async fn read_blob(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream> {
        match self.blobs.read(digest, range).await {
            Err(berth_storage::StorageError::NotFound) => {
                tracing::error!(%digest, "metadata lists a blob the blob store does not have");
                Err(RegistryError::BlobUnknown)
            }
            other => Ok(other?),
        }
    }

    /// Links an existing blob into `repo` without moving bytes. With `from`, the blob must
    /// be in that repository; without, in any (automatic mount). `None` when it cannot be
    /// mounted, and the client should upload it instead.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>> {
        let size = match from {
            Some(from) => self.meta.repository_blob(from, digest).await?,
            None => self.meta.any_blob(digest).await?,
        };
        let Some(size) = size else {
            return Ok(None);
        };
        if self.blobs.stat(digest).await?.is_none() {
            tracing::error!(%digest, "metadata lists a blob the blob store does not have");
            return Ok(None);
        }
        self.meta.link_blob(repo, digest, size).await?;
        Ok(Some(size))
    }

    /// Removes the blob from `repo`; its bytes go when garbage collection finds them unused.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        self.require_delete()?;
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown)
        }
    }
}
