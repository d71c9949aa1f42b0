//! SQLite's placement lock: a file lock beside the database, so a `berth gc` and a
//! serving registry on the same database exclude each other as two tasks do.

use async_trait::async_trait;

use super::{SqliteMeta, beside};
use crate::{MetaError, Placement, PlacementGuard, Result};

/// Suffix of the lock file beside the database file.
pub(super) const PLACEMENT_LOCK: &str = "-placement.lock";

#[async_trait]
impl Placement for SqliteMeta {
    async fn placing(&self) -> Result<PlacementGuard> {
        self.lock_file(false).await
    }

    async fn sweeping(&self) -> Result<PlacementGuard> {
        self.lock_file(true).await
    }
}

impl SqliteMeta {
    async fn lock_file(&self, exclusive: bool) -> Result<PlacementGuard> {
        let path = beside(&self.path, PLACEMENT_LOCK);
        let take = move || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            // One open file per holder: flock locks belong to the open file, so holders
            // in one process exclude each other as processes do.
            if exclusive {
                file.lock()?;
            } else {
                file.lock_shared()?;
            }
            Ok(file)
        };
        let file = tokio::task::spawn_blocking(take)
            .await
            .map_err(|e| MetaError::Database(sqlx::Error::Io(std::io::Error::other(e))))?
            .map_err(|e| MetaError::Database(sqlx::Error::Io(e)))?;
        Ok(PlacementGuard::new(file))
    }
}
