//! Blob bytes. The [`BlobStore`] trait is deliberately small and knows nothing about
//! repositories, tags or manifests: it stores content-addressed blobs and in-progress
//! uploads. Registry rules live in berth-core, metadata in berth-meta.

pub mod distribution;
mod file_stream;
mod fs;
mod locks;
mod s3;
#[cfg(test)]
mod suite;

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use berth_oci::Digest;
use berth_oci::range::ByteRange;
use bytes::Bytes;
use futures_util::Stream;

pub use fs::FsBlobStore;
pub use locks::KeyedLocks;
pub use s3::{S3BlobStore, S3Options};

/// A stream of blob bytes, as read from storage or received from a client.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid upload id")]
    InvalidUploadId,
    #[error("storage I/O error at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// An upload holds fewer bytes than were acknowledged (its file was removed or cut
    /// short, e.g. to free a full disk): it cannot be resumed.
    #[error("upload {id} holds {have} bytes, fewer than the {want} acknowledged")]
    UploadLost { id: String, have: u64, want: u64 },
    /// The object store refused or could not be reached.
    #[error("object storage error at {path}: {source}")]
    Remote {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The object store cannot be reached now (down, restarting, cut off): nothing was
    /// stored, and the request may be retried.
    #[error("object storage is unavailable at {path}: {source}")]
    Unavailable {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The storage settings cannot work (a bad endpoint URL, a missing bucket name).
    #[error("storage settings for {what}: {message}")]
    Config { what: String, message: String },
    /// No space (or quota) left where bytes go: nothing was stored.
    #[error("storage is full at {path}: {source}")]
    Full {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: io::Error) -> Self {
        let path = path.as_ref().display().to_string();
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                StorageError::Full { path, source }
            }
            _ => StorageError::Io { path, source },
        }
    }

    pub fn is_storage_full(&self) -> bool {
        matches!(self, StorageError::Full { .. })
    }

    /// The store is out of reach for now: worth retrying, not a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. })
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::io("<blocking task>", io::Error::other(e)))?
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a stored blob, or `None` when absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Streams a blob, or the inclusive byte range of it.
    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream>;

    /// Reads a whole blob into memory at once (small blobs: one trip to the disk, not a
    /// stream of pieces).
    async fn get(&self, digest: &Digest) -> Result<Bytes>;

    /// Stores small content (manifests) under its digest, durably and atomically.
    async fn put(&self, digest: &Digest, bytes: Bytes) -> Result<()>;

    /// Removes blobs (garbage collection); how many were there. Stops at the first
    /// failure.
    async fn delete_many(&self, digests: &[Digest]) -> Result<u64>;

    /// Opens an upload for appending at `offset`. Bytes past `offset` (left by a request
    /// that failed before it was acknowledged) never become part of it; an upload holding
    /// fewer than `offset` bytes is [`StorageError::UploadLost`].
    async fn upload_writer(
        &self,
        upload: UploadRef<'_>,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>>;

    /// How many bytes an upload holds; `None` when it has none stored at all.
    async fn upload_len(&self, upload: UploadRef<'_>) -> Result<Option<u64>>;

    /// Streams what an upload holds so far (used only when the digest algorithm the client
    /// finally names is not the one hashed while streaming).
    async fn read_upload(&self, upload: UploadRef<'_>) -> Result<ByteStream>;

    /// Makes a finished, already-synced upload of `size` bytes the blob `digest`, copying
    /// no bytes where the store can avoid it. If the blob already exists with that size
    /// the upload is simply discarded; a stored blob of another size is damaged and is
    /// replaced.
    async fn commit_upload(&self, upload: UploadRef<'_>, digest: &Digest, size: u64) -> Result<()>;

    /// Discards an upload; absent uploads are not an error.
    async fn delete_upload(&self, upload_id: &str) -> Result<()>;

    /// A URL the client may fetch the blob from directly for a while (a presigned URL of
    /// an object store), or `None` when the bytes only come through the registry.
    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>>;

    /// Proves the store takes writes now (readiness): writes, syncs and removes a probe.
    async fn check_writable(&self) -> Result<()>;

    /// How large the volume holding the blobs is and how much of it is free, where the
    /// store has one (a local filesystem); `None` for object stores, which have no such
    /// limit to report.
    async fn capacity(&self) -> Result<Option<Capacity>>;

    /// Walks the stored blobs (for garbage collection to find bytes the metadata does not
    /// know: left by a crash between a step's commit and its deletes), as a stream, so
    /// memory stays bounded however many there are. Temporary files of writes that
    /// crashed, older than `temp_age`, are removed on the way.
    async fn inventory(&self, temp_age: std::time::Duration) -> Result<InventoryStream>;
}

/// A volume's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total: u64,
    /// What an unprivileged writer may still use.
    pub free: u64,
}

/// One thing [`BlobStore::inventory`] found on its walk.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A stored blob.
    Blob(Digest),
    /// An abandoned temporary file, removed.
    TempFileRemoved,
}

/// What a walk of the store finds, as it finds it.
pub type InventoryStream = Pin<Box<dyn Stream<Item = Result<Found>> + Send>>;

/// An upload as a store knows it: its id, and the parts the metadata accepted so far
/// (stores that keep each chunk as an object of its own name them; the others keep none).
#[derive(Debug, Clone, Copy)]
pub struct UploadRef<'a> {
    pub id: &'a str,
    pub parts: &'a [String],
}

/// What a finished write left: the upload's total length with it, and the part it wrote
/// (for stores that keep parts; `None` also when nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    pub part: Option<String>,
}

/// Appends bytes to an upload. `finish` must be called for the bytes to count: it flushes
/// and syncs them to stable storage. They belong to the upload only once the metadata
/// records the new length (and the part, if any).
#[async_trait]
pub trait UploadWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    async fn finish(self: Box<Self>) -> Result<Written>;
}

/// Upload ids become path components; only berth's own (UUID-shaped) ids are accepted.
pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
