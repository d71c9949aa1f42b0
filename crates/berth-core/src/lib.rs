//! Registry semantics: what push, pull, mount, delete, discovery and import mean, written
//! against [`berth_storage::BlobStore`] and [`berth_meta::MetaStore`]. Nothing here knows
//! HTTP or SQL.

pub mod artifacts;
mod blobs;
mod discovery;
mod error;
pub mod events;
pub mod gc;
pub mod gc_schedule;
mod health;
pub mod import;
pub mod labels;
pub mod lifecycle;
mod manifests;
pub mod policy;
pub mod quota;
mod read_cache;
pub mod retention;
pub mod tag_rules;
mod uploads;
mod usage;

use std::sync::Arc;

use berth_meta::MetaStore;
use berth_storage::{BlobStore, KeyedLocks};

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
    /// Send clients to the store for blob bytes where it can give them a URL
    /// (`storage.redirect.disable` off).
    pub redirect: bool,
}

pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    options: Options,
    /// Serialises requests on one upload session (offset check, write, state update).
    upload_locks: KeyedLocks,
    /// Manifest pulls not yet written to the metadata (for retention rules).
    pulls: gc::PullLog,
    /// Hot reads from memory, kept right by generations (see the module).
    cache: read_cache::ReadCache,
    /// Who hears domain events, if anyone.
    events: Option<Arc<dyn events::EventSink>>,
}

impl Registry {
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>, options: Options) -> Self {
        let counted = meta.clone();
        Registry {
            blobs,
            meta,
            options,
            upload_locks: KeyedLocks::default(),
            pulls: gc::PullLog::default(),
            cache: read_cache::ReadCache::new(move || counted.write_count()),
            events: None,
        }
    }

    /// Sends domain events (quota notices) to `sink`.
    pub fn with_events(mut self, sink: Arc<dyn events::EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    pub(crate) fn emit(&self, event: events::DomainEvent) {
        if let Some(sink) = &self.events {
            sink.emit(event);
        }
    }

    /// Watches the metadata for commits by writers that berth's write count does not
    /// see (someone with the `sqlite3` shell), so cached reads follow them within
    /// [`read_cache::WATCH_INTERVAL`]. A serving registry runs this for its lifetime.
    pub async fn watch_other_writers(&self) {
        let mut ticker = tokio::time::interval(read_cache::WATCH_INTERVAL);
        let mut last = None;
        loop {
            ticker.tick().await;
            let now = self.meta.data_version().await.ok();
            // An error counts as a change: better a cold cache than a stale one.
            if now.is_none() || now != last {
                self.cache.changed();
            }
            last = now;
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
