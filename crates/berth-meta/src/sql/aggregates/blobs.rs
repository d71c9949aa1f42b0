//! Which repository holds which blob.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use sqlx::Row;

use super::graph::{ensure_repo, link_blob_in, missing};
use super::{Meta, review};
use crate::sql::{HOLDS_BLOB, WriteLock};
use crate::{Blobs, RepositoryBlob, Result, now_ms};

#[async_trait]
impl Blobs for Meta {
    async fn repository_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<RepositoryBlob>> {
        let row = sqlx::query(
            "SELECT b.size,
                CASE WHEN NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest)
                THEN (SELECT q.since FROM gc_blob_review q WHERE q.digest = b.digest) END
                AS unreferenced_since
             FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(RepositoryBlob {
                size: row.try_get::<i64, _>("size")?.max(0) as u64,
                unreferenced_since: row.try_get("unreferenced_since")?,
            })
        })
        .transpose()
    }

    async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = $1 ORDER BY r.name LIMIT $2",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let digest = digest.to_string();
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                .bind(repo_id)
                .bind(&digest)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if done > 0 {
            review::review_blob(&mut tx, &digest, now_ms()).await?;
        }
        self.commit(tx).await?;
        Ok(done > 0)
    }

    async fn link_existing_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        // Under the write lock: a blob collected a moment ago is not linked back.
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(size) = size else {
            return Ok(None);
        };
        let size = size.max(0) as u64;
        link_blob_in(&mut tx, repo_id, digest, size, now).await?;
        self.commit(tx).await?;
        Ok(Some(size))
    }

    async fn touch_blob(&self, digest: &Digest) -> Result<bool> {
        let digest = digest.to_string();
        let mut tx = self.begin(WriteLock::Shared).await?;
        sqlx::query(concat!(
            "UPDATE gc_blob_review SET since = ",
            greatest!(),
            "(since, $1) WHERE digest = $2"
        ))
        .bind(now_ms())
        .bind(&digest)
        .execute(&mut *tx)
        .await?;
        let present: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)")
                .bind(&digest)
                .fetch_one(&mut *tx)
                .await?;
        self.commit(tx).await?;
        Ok(present)
    }

    async fn missing_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        let id = self.repo_id(repo).await?;
        missing(&self.read, HOLDS_BLOB, id, digests).await
    }
}
