//! Reading, mounting and deleting blobs of a repository.

use berth_meta::{duration_ms, now_ms};

use crate::read_cache;
use berth_oci::range::ByteRange;
use berth_oci::{Digest, RepoName};
use berth_storage::ByteStream;

use crate::{Registry, RegistryError, Result};

impl Registry {
    /// Size of a blob readable from `repo`. A manifest is also readable as a blob, as its
    /// bytes are content-addressed like any other.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        let key = (repo.clone(), digest.clone());
        let read = self.meta.repository_blob(repo, digest);
        if let Some(blob) = self
            .cache
            .through(&self.cache.blobs, key.clone(), read)
            .await?
        {
            // A client checking a blob nothing references yet is about to use it (push a
            // manifest naming it): its grace period restarts, unless it was just collected.
            // Only once a quarter of the period has run, so repeated checks (every layer of
            // every push re-checks) are reads, and at least 3/4 of it always remains.
            let touch_before = now_ms() - duration_ms(self.options.grace) / 4;
            if blob
                .unreferenced_since
                .is_some_and(|since| since < touch_before)
            {
                // Its review time changes: the kept answer would keep asking to touch.
                self.cache.blobs.forget(&key);
                if !self.meta.touch_blob(digest).await? {
                    return Err(RegistryError::BlobUnknown);
                }
            }
            return Ok(blob.size);
        }
        match self.meta.manifest(repo, digest).await? {
            Some(m) => Ok(m.content.len() as u64),
            None => Err(RegistryError::BlobUnknown),
        }
    }

    /// Streams a blob of `size` bytes (as [`Registry::blob_size`] said), or a range of it.
    /// Small blobs are read whole, once, and then served from memory.
    pub async fn read_blob(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
        size: u64,
    ) -> Result<ByteStream> {
        if size <= read_cache::SMALL_BLOB {
            let bytes = match self.cache.content(digest) {
                Some(b) => b,
                None => {
                    let b = self
                        .blobs
                        .get(digest)
                        .await
                        .map_err(|e| self.missing(digest, e))?;
                    if b.len() as u64 != size {
                        tracing::error!(%digest, stored = b.len(), size, "a stored blob has another size than recorded");
                        return Err(RegistryError::BlobUnknown);
                    }
                    self.cache.keep_content(digest, &b);
                    b
                }
            };
            let piece = match range {
                None => bytes,
                Some(r) => {
                    let part = r.within(size);
                    bytes.slice(part.start as usize..part.end as usize)
                }
            };
            return Ok(Box::pin(futures_util::stream::once(
                async move { Ok(piece) },
            )));
        }
        self.blobs
            .read(digest, range)
            .await
            .map_err(|e| self.missing(digest, e))
    }

    /// Where the client may fetch a blob of `size` bytes itself (a presigned URL), when
    /// redirects are on and the store gives one. Small blobs are not sent away: they are
    /// served from memory faster than a second round trip.
    pub async fn blob_redirect(&self, digest: &Digest, size: u64) -> Result<Option<String>> {
        if !self.options.redirect || size <= read_cache::SMALL_BLOB {
            return Ok(None);
        }
        Ok(self.blobs.redirect_url(digest).await?)
    }

    /// A blob the metadata lists but the store has not is unknown to clients (and an
    /// error for the log); any other storage error stays one.
    fn missing(&self, digest: &Digest, e: berth_storage::StorageError) -> RegistryError {
        match e {
            berth_storage::StorageError::NotFound => {
                tracing::error!(%digest, "metadata lists a blob the blob store does not have");
                RegistryError::BlobUnknown
            }
            other => other.into(),
        }
    }

    /// Repositories a blob could be mounted from when the client names none, at most
    /// `limit`: the caller picks one the client may read.
    pub async fn mount_sources(&self, digest: &Digest, limit: u32) -> Result<Vec<RepoName>> {
        let names = self.meta.repositories_holding(digest, limit).await?;
        Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// Links a blob of `from` into `repo` without moving bytes. `None` when `from` does not
    /// hold it, and the client should upload it instead.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<Option<u64>> {
        if self.meta.repository_blob(from, digest).await?.is_none() {
            return Ok(None);
        }
        let Some(size) = self.blobs.stat(digest).await? else {
            tracing::error!(%digest, "metadata lists a blob the blob store does not have");
            return Ok(None);
        };
        self.within_quota(repo, digest, size).await?;
        // Links only if still stored: garbage collection may have taken it meanwhile.
        Ok(self.meta.link_existing_blob(repo, digest).await?)
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
