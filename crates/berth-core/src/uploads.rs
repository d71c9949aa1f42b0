//! Blob uploads: sessions that survive restarts, chunks checked against the acknowledged
//! offset, the digest computed while bytes stream in, and a rename to finish.

use berth_meta::{UploadSession, now_ms};
use berth_oci::range::ByteRange;
use berth_oci::{Algorithm, Digest, Hasher, RepoName};
use berth_storage::{ByteStream, StorageError, UploadRef, UploadWriter, Written};
use futures_util::StreamExt;

use crate::{Registry, RegistryError, Result};

/// Where an upload stands, for the `Range` and `Location` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: String,
    pub size: u64,
}

/// What a chunk request claims about its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkClaim {
    /// `Content-Range`, when sent.
    pub range: Option<ByteRange>,
}

impl Registry {
    pub async fn start_upload(
        &self,
        repo: &RepoName,
        algorithm: Algorithm,
    ) -> Result<UploadStatus> {
        let session = UploadSession {
            id: uuid::Uuid::new_v4().to_string(),
            repository: repo.clone(),
            algorithm,
            size: 0,
            hash_state: Hasher::new(algorithm).save(),
            started_at_ms: now_ms(),
            parts: Vec::new(),
        };
        self.meta.create_upload(&session).await?;
        Ok(UploadStatus {
            id: session.id,
            size: 0,
        })
    }

    async fn session(&self, repo: &RepoName, id: &str) -> Result<UploadSession> {
        if !berth_storage::valid_upload_id(id) {
            return Err(RegistryError::BlobUploadUnknown);
        }
        match self.meta.upload(id).await? {
            Some(s) if &s.repository == repo => Ok(s),
            _ => Err(RegistryError::BlobUploadUnknown),
        }
    }

    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadStatus> {
        let s = self.session(repo, id).await?;
        Ok(UploadStatus {
            id: s.id,
            size: s.size,
        })
    }

    /// Appends a chunk (`PATCH`). A chunk with a `Content-Range` must start exactly at the
    /// acknowledged offset; one without is streamed onto the end (what Docker sends).
    pub async fn append_chunk(
        &self,
        repo: &RepoName,
        id: &str,
        claim: ChunkClaim,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        let _lock = self.upload_locks.acquire(id).await;
        let session = self.session(repo, id).await?;
        if let Some(range) = claim.range
            && range.start != session.size
        {
            return Err(RegistryError::ChunkOutOfOrder { size: session.size });
        }
        let hasher = Hasher::restore(session.algorithm, &session.hash_state)
            .map_err(|e| RegistryError::BlobUploadInvalid(e.to_string()))?;
        let (hasher, written) = self.receive(&session, hasher, body).await?;
        let size = written.len;
        let received = size - session.size;
        if let Some(range) = claim.range
            && received != range.len()
        {
            return Err(RegistryError::BlobUploadInvalid(format!(
                "Content-Range {}-{} announces {} bytes but the body had {received}",
                range.start,
                range.end,
                range.len()
            )));
        }
        // Conditional on the offset this request started from: another request on the same
        // upload (a client's retry reaching another replica) must not be overwritten.
        let parts = with_part(&session.parts, written.part);
        if !self
            .meta
            .update_upload(id, session.size, size, &hasher.save(), &parts)
            .await?
        {
            let now = self.session(repo, id).await?;
            return Err(RegistryError::ChunkOutOfOrder { size: now.size });
        }
        Ok(UploadStatus {
            id: session.id,
            size,
        })
    }

    /// Streams `body` onto the upload, hashing as it goes; returns the hasher and what was
    /// written (the new durable length, the part). Nothing is acknowledged until the
    /// caller records the new state.
    async fn receive(
        &self,
        session: &UploadSession,
        mut hasher: Hasher,
        mut body: ByteStream,
    ) -> Result<(Hasher, Written)> {
        let mut writer = self.writer(session).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(RegistryError::Body)?;
            if chunk.is_empty() {
                continue;
            }
            hasher.update(&chunk);
            writer.write(chunk).await?;
        }
        let written = writer.finish().await?;
        Ok((hasher, written))
    }

    /// Completes an upload (`PUT ?digest=`), with an optional last chunk in `body`. The
    /// blob becomes visible only if its bytes hash to `digest`.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        body: Option<ByteStream>,
    ) -> Result<u64> {
        let _lock = self.upload_locks.acquire(id).await;
        let session = self.session(repo, id).await?;
        let hasher = Hasher::restore(session.algorithm, &session.hash_state)
            .map_err(|e| RegistryError::BlobUploadInvalid(e.to_string()))?;
        if body.is_none() && self.finish_placed(&session, &hasher, digest).await? {
            return Ok(session.size);
        }
        let (hasher, written) = match body {
            Some(body) => self.receive(&session, hasher, body).await?,
            None => {
                // Bytes past the acknowledged offset (a chunk or final PUT that failed
                // half-way) must never become part of the blob: opening the upload at
                // its offset cuts them off (and creates the file if nothing came yet).
                let writer = self.writer(&session).await?;
                (hasher, writer.finish().await?)
            }
        };
        let (size, parts) = (written.len, with_part(&session.parts, written.part));
        let upload = UploadRef { id, parts: &parts };
        let actual = if hasher.algorithm() == digest.algorithm() {
            hasher.finish()
        } else {
            // The client named another algorithm than the one hashed while streaming
            // (it did not announce it when starting): the only case that re-reads bytes.
            self.rehash(upload, digest.algorithm()).await?
        };
        if &actual != digest {
            return Err(RegistryError::DigestMismatch);
        }
        self.within_quota(repo, digest, size).await?;
        {
            let _placing = self.meta.placing().await?;
            self.blobs.commit_upload(upload, digest, size).await?;
            self.meta.complete_upload(id, repo, digest, size).await?;
        }
        Ok(size)
    }

    /// A retry of a final `PUT` whose first try put the bytes in place but could not record
    /// them (the metadata's disk was full at that last step): the upload's file is gone
    /// and the blob is there with the upload's size and digest. Records it; `true` if so.
    async fn finish_placed(
        &self,
        session: &UploadSession,
        hasher: &Hasher,
        digest: &Digest,
    ) -> Result<bool> {
        if session.size == 0
            || hasher.algorithm() != digest.algorithm()
            || self.blobs.upload_len(stored(session)).await?.is_some()
            || &hasher.clone().finish() != digest
        {
            return Ok(false);
        }
        // Under the placement lock, so a collection cannot take the unrecorded bytes meanwhile.
        let _placing = self.meta.placing().await?;
        if self.blobs.stat(digest).await? != Some(session.size) {
            return Ok(false);
        }
        self.meta
            .complete_upload(&session.id, &session.repository, digest, session.size)
            .await?;
        Ok(true)
    }

    /// The upload's writer at its acknowledged offset. An upload whose bytes are gone (its
    /// file removed or cut short) can never be finished: it is forgotten, and the client
    /// told to start again.
    async fn writer(&self, session: &UploadSession) -> Result<Box<dyn UploadWriter>> {
        match self
            .blobs
            .upload_writer(stored(session), session.size)
            .await
        {
            Err(StorageError::UploadLost { have, want, .. }) => {
                tracing::warn!(
                    upload = session.id,
                    have,
                    want,
                    "upload lost its bytes; forgetting it"
                );
                self.discard_upload(&session.id).await;
                Err(RegistryError::UploadLost)
            }
            other => Ok(other?),
        }
    }

    /// Forgets upload sessions whose stored bytes are fewer than acknowledged (removed
    /// or cut short, e.g. to free a full disk): they can never finish, so they do not
    /// wait out the purge age. Returns their ids.
    pub async fn forget_lost_uploads(&self) -> Result<Vec<String>> {
        let mut lost = Vec::new();
        for id in self.meta.stale_uploads(i64::MAX).await? {
            let _lock = self.upload_locks.acquire(&id).await;
            let Some(session) = self.meta.upload(&id).await? else {
                continue;
            };
            let have = self.blobs.upload_len(stored(&session)).await?.unwrap_or(0);
            if have < session.size {
                self.discard_upload(&id).await;
                lost.push(id);
            }
        }
        Ok(lost)
    }

    async fn rehash(&self, upload: UploadRef<'_>, algorithm: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        let mut stream = self.blobs.read_upload(upload).await?;
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(RegistryError::Body)?);
        }
        Ok(hasher.finish())
    }

    /// Monolithic upload (`POST ?digest=` with the whole blob as body).
    pub async fn put_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<u64> {
        let status = self.start_upload(repo, digest.algorithm()).await?;
        let result = self
            .finish_upload(repo, &status.id, digest, Some(body))
            .await;
        if result.is_err() {
            self.discard_upload(&status.id).await;
        }
        result
    }

    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let _lock = self.upload_locks.acquire(id).await;
        self.session(repo, id).await?;
        self.meta.delete_upload(id).await?;
        self.blobs.delete_upload(id).await?;
        Ok(())
    }

    /// Removes upload sessions untouched for `age` (Distribution's upload purging): their
    /// metadata and their bytes. With `dry_run`, only reports them. A session that a
    /// client touches meanwhile is kept: the purge holds the session's lock and deletes the
    /// row only if it is still stale.
    pub async fn purge_uploads(
        &self,
        age: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        let before = berth_meta::now_ms() - age.as_millis() as i64;
        let stale = self.meta.stale_uploads(before).await?;
        if dry_run {
            return Ok(stale);
        }
        let mut purged = Vec::new();
        for id in stale {
            let _lock = self.upload_locks.acquire(&id).await;
            // A chunk may have arrived while we waited for the lock.
            if self.meta.delete_upload_if_stale(&id, before).await? {
                self.blobs.delete_upload(&id).await?;
                purged.push(id);
            }
        }
        Ok(purged)
    }

    /// Best-effort removal of an upload nobody will resume.
    async fn discard_upload(&self, id: &str) {
        if let Err(e) = self.meta.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not forget failed upload");
        }
        if let Err(e) = self.blobs.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not remove failed upload");
        }
    }
}

/// The upload as the store knows it, from its session.
fn stored(session: &UploadSession) -> UploadRef<'_> {
    UploadRef {
        id: &session.id,
        parts: &session.parts,
    }
}

/// `parts` with the part a write added, if it added one.
fn with_part(parts: &[String], part: Option<String>) -> Vec<String> {
    parts.iter().cloned().chain(part).collect()
}
