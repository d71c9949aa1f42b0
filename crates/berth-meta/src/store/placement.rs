//! The placement lock: keeps putting a blob in place (bytes stored, then the metadata that
//! makes them visible) and garbage collection (metadata forgotten, then bytes removed)
//! from interleaving, across every process on this metadata. Placements share it; a
//! collection step takes it alone, briefly. It lives with the metadata because the
//! metadata is what every process on one registry shares: a file lock beside a SQLite
//! database, an advisory lock in PostgreSQL.

use async_trait::async_trait;

use crate::Result;

#[async_trait]
pub trait Placement: Send + Sync + 'static {
    /// For placing blobs; many at once, in every process.
    async fn placing(&self) -> Result<PlacementGuard>;

    /// For removing blobs; alone.
    async fn sweeping(&self) -> Result<PlacementGuard>;
}

/// Holds the lock until dropped.
pub struct PlacementGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl PlacementGuard {
    pub(crate) fn new(held: impl Send + Sync + 'static) -> Self {
        PlacementGuard(Box::new(held))
    }
}

impl std::fmt::Debug for PlacementGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlacementGuard")
    }
}
