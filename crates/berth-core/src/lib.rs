//! Registry semantics: what push, pull, mount, delete, discovery and import mean, written
//! against [`berth_storage::BlobStore`] and [`berth_meta::MetaStore`]. Nothing here knows
//! HTTP or SQL.

mod blobs;
mod discovery;
mod error;
pub mod gc;
mod health;
pub mod import;
pub mod lifecycle;
mod manifests;
pub mod policy;
pub mod process;
pub mod retention;
pub mod schedule;
mod uploads;

use std::sync::Arc;

use berth_meta::MetaStore;
use berth_storage::{BlobStore, KeyedLocks, SweepLock};

pub use discovery::ReferrersIndex;
pub use error::{RegistryError, Result};
pub use health::Check;
pub use manifests::PushedManifest;
pub use uploads::{ChunkClaim, UploadStatus};

#[derive(Debug, Clone)]
pub struct Options {
    /// `storage.delete.enabled`: deletes of manifests, tags and blobs are refused without it.
    pub delete_enabled: bool,
    /// Tags that may be created but never moved or deleted.
    pub immutable: Vec<policy::ImmutableRule>,
    /// Garbage collection's grace period (`berth.gc.grace`): how long a blob nothing
    /// references is kept, so reads know when to restart it.
    pub grace: std::time::Duration,
}

pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    options: Options,
    /// Serialises requests on one upload session (offset check, write, state update).
    upload_locks: KeyedLocks,
    /// Orders blobs becoming visible against garbage collection removing them.
    sweep: SweepLock,
    /// Manifest pulls not yet written to the metadata (for retention rules).
    pulls: gc::PullLog,
}

impl Registry {
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        sweep: SweepLock,
        options: Options,
    ) -> Self {
        Registry {
            blobs,
            meta,
            options,
            upload_locks: KeyedLocks::default(),
            sweep,
            pulls: gc::PullLog::default(),
        }
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    fn require_delete(&self) -> Result<()> {
        if self.options.delete_enabled {
            Ok(())
        } else {
            Err(RegistryError::Unsupported(
                "deletes are disabled on this registry (storage.delete.enabled is false)".into(),
            ))
        }
    }
}
