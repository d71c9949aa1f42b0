//! The registry's errors, each carrying one of the distribution spec's error codes. HTTP
//! status codes are the API layer's business.

use berth_jobs::JobError;
use berth_meta::MetaError;
use berth_oci::{Digest, DigestError, ManifestError, NameError};
use berth_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// No such session: it finished, was cancelled, expired, or was forgotten because
    /// its stored bytes were lost.
    #[error(
        "blob upload unknown to registry: it finished, was cancelled, expired or lost its stored bytes; start the upload again"
    )]
    BlobUploadUnknown,
    /// The upload's stored bytes are gone: it was forgotten.
    #[error(
        "the upload's stored bytes were lost (removed, or cut short to free a full disk); start the upload again"
    )]
    UploadLost,
    /// A chunk that does not start where the upload stands (out of order or repeated).
    #[error("chunk out of order: the upload holds {size} bytes, send the chunk starting at {size}")]
    ChunkOutOfOrder { size: u64 },
    #[error("provided digest did not match uploaded content")]
    DigestMismatch,
    #[error("invalid digest: {0}")]
    DigestInvalid(String),
    #[error("manifest references a blob unknown to this repository: {0}")]
    ManifestBlobUnknown(Digest),
    #[error("index references a manifest unknown to this repository: {0}")]
    ManifestChildUnknown(Digest),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest too large: {0}")]
    ManifestTooLarge(String),
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("{0}")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("{0}")]
    SizeInvalid(String),
    #[error("{0}")]
    TagInvalid(String),
    #[error("{0}")]
    Unsupported(String),
    /// A policy forbids it (a quota).
    #[error("{0}")]
    Denied(String),
    /// An immutable tag forbids it: the tag would move or go.
    #[error("{0}")]
    Immutable(String),
    #[error("error reading request body: {0}")]
    Body(std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// A lifecycle run was asked to stop and did.
    #[error("stopped on request")]
    Stopped,
    /// A background run stopped before its end (shutdown, its lease taken over).
    #[error(transparent)]
    Job(JobError),
}

impl From<JobError> for RegistryError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Meta(m) => RegistryError::Meta(m),
            other => RegistryError::Job(other),
        }
    }
}

impl RegistryError {
    /// The distribution spec's error code.
    pub fn code(&self) -> &'static str {
        use RegistryError::*;
        match self {
            BlobUnknown => "BLOB_UNKNOWN",
            BlobUploadInvalid(_) | ChunkOutOfOrder { .. } | Body(_) => "BLOB_UPLOAD_INVALID",
            BlobUploadUnknown | UploadLost => "BLOB_UPLOAD_UNKNOWN",
            DigestMismatch | DigestInvalid(_) => "DIGEST_INVALID",
            ManifestBlobUnknown(_) | ManifestChildUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            ManifestInvalid(_) => "MANIFEST_INVALID",
            ManifestTooLarge(_) | SizeInvalid(_) => "SIZE_INVALID",
            ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            NameInvalid(_) => "NAME_INVALID",
            NameUnknown => "NAME_UNKNOWN",
            TagInvalid(_) => "TAG_INVALID",
            Unsupported(_) => "UNSUPPORTED",
            Denied(_) | Immutable(_) => "DENIED",
            Storage(_) | Meta(_) | Job(_) | Stopped => "UNKNOWN",
        }
    }

    /// Is this the server's fault rather than the request's?
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            RegistryError::Storage(_) | RegistryError::Meta(_) | RegistryError::Job(_)
        )
    }

    /// The metadata database or the object store is out of reach for now (a restart):
    /// retry later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RegistryError::Meta(e) => e.is_unavailable(),
            RegistryError::Storage(e) => e.is_unavailable(),
            _ => false,
        }
    }

    /// The blob store or the metadata database ran out of space: nothing was saved, and
    /// the request can be retried once the operator frees some.
    pub fn is_storage_full(&self) -> bool {
        match self {
            RegistryError::Storage(e) => e.is_storage_full(),
            RegistryError::Meta(e) => e.is_storage_full(),
            _ => false,
        }
    }
}

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::InvalidTag(_) => RegistryError::TagInvalid(e.to_string()),
            NameError::Digest(d) => RegistryError::DigestInvalid(d.to_string()),
            other => RegistryError::NameInvalid(other.to_string()),
        }
    }
}

impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        RegistryError::DigestInvalid(e.to_string())
    }
}

impl From<ManifestError> for RegistryError {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::TooLarge => RegistryError::ManifestTooLarge(e.to_string()),
            other => RegistryError::ManifestInvalid(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, RegistryError>;
