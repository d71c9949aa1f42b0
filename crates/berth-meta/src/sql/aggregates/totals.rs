//! The database as a whole, in the SQL both engines speak: totals, emptiness, the blob
//! list a backup copies. Each engine's `Engine` implementation adds what is its own.

use berth_oci::Digest;
use sqlx::Row;

use super::Meta;
use crate::sql::parse_digest;
use crate::{Result, StorageStats};

impl Meta {
    pub(super) async fn holds_nothing(&self) -> Result<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM repositories)")
            .fetch_one(&self.read)
            .await?;
        Ok(!any)
    }

    pub(super) async fn totals(&self) -> Result<StorageStats> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM repositories) AS repositories,
                    (SELECT COUNT(*) FROM manifests) AS manifests,
                    (SELECT COUNT(*) FROM blobs) AS blobs,
                    (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs) AS blob_bytes,
                    (SELECT COUNT(*) FROM uploads) AS uploads",
        )
        .fetch_one(&self.read)
        .await?;
        let n = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
        Ok(StorageStats {
            repositories: n("repositories")?,
            manifests: n("manifests")?,
            blobs: n("blobs")?,
            blob_bytes: n("blob_bytes")?,
            uploads: n("uploads")?,
        })
    }

    pub(super) async fn blobs_after(
        &self,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<(Digest, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT digest, size FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2",
        )
        .bind(after.map_or_else(String::new, |d| d.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(d, size)| Ok((parse_digest(d)?, size.max(0) as u64)))
            .collect()
    }
}
