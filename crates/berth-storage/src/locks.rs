//! Per-key async locks (one per upload id), created on demand and dropped when unused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    /// Waits for and takes the lock of `key`. The guard may be moved into other tasks.
    pub async fn acquire(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 1024 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(key.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Keeps a blob becoming visible (an upload finishing, a manifest being stored: bytes put
/// in place, then the metadata that makes them visible) and garbage collection (metadata
/// forgotten, then bytes removed) from interleaving. Placements share the lock; a
/// collection step takes it alone, briefly. It is a file lock, so a `berth gc` process and
/// a serving registry on the same storage exclude each other too.
#[derive(Debug, Clone)]
pub struct SweepLock {
    path: std::path::PathBuf,
}

/// Holds the lock until dropped (closing the file releases it).
#[derive(Debug)]
pub struct SweepGuard(#[allow(dead_code)] std::fs::File);

impl SweepLock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        SweepLock { path: path.into() }
    }

    /// For placing blobs; many at once.
    pub async fn shared(&self) -> crate::Result<SweepGuard> {
        self.take(false).await
    }

    /// For removing blobs; alone.
    pub async fn exclusive(&self) -> crate::Result<SweepGuard> {
        self.take(true).await
    }

    async fn take(&self, exclusive: bool) -> crate::Result<SweepGuard> {
        let path = self.path.clone();
        crate::blocking(move || {
            let take = || -> std::io::Result<std::fs::File> {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)?;
                // One open file per holder: flock locks belong to the open file, so holders
                // in the same process exclude each other as processes do.
                if exclusive {
                    file.lock()?;
                } else {
                    file.lock_shared()?;
                }
                Ok(file)
            };
            take()
                .map(SweepGuard)
                .map_err(|e| crate::StorageError::io(&path, e))
        })
        .await
    }
}
