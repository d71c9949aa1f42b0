//! Upload sessions.

use async_trait::async_trait;
use berth_oci::{Algorithm, Digest, RepoName};
use sqlx::Row;

use super::Meta;
use super::graph::{ensure_repo, link_blob_in};
use crate::sql::WriteLock;
use crate::{MetaError, Result, UploadSession, Uploads, now_ms};

#[async_trait]
impl Uploads for Meta {
    async fn complete_upload(
        &self,
        upload_id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        link_blob_in(&mut tx, repo_id, digest, size, now).await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn create_upload(&self, s: &UploadSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, algorithm, size, hash_state, started_at, updated_at, parts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(s.repository.as_str())
        .bind(s.algorithm.as_str())
        .bind(s.size as i64)
        .bind(&s.hash_state)
        .bind(s.started_at_ms)
        .bind(s.started_at_ms)
        .bind(parts_json(&s.parts))
        .execute(&self.write)
        .await
            .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadSession>> {
        let Some(row) = sqlx::query(
            "SELECT id, repository, algorithm, size, hash_state, started_at, parts FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let repository: String = row.try_get("repository")?;
        let algorithm: String = row.try_get("algorithm")?;
        let parts: Option<String> = row.try_get("parts")?;
        let parts = match parts {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text).map_err(|_| MetaError::Corrupt {
                column: "uploads.parts",
                value: text.clone(),
            })?,
        };
        Ok(Some(UploadSession {
            id: row.try_get("id")?,
            repository: repository.parse().map_err(|_| MetaError::Corrupt {
                column: "uploads.repository",
                value: repository.clone(),
            })?,
            algorithm: Algorithm::parse(&algorithm).map_err(|_| MetaError::Corrupt {
                column: "uploads.algorithm",
                value: algorithm.clone(),
            })?,
            size: row.try_get::<i64, _>("size")? as u64,
            hash_state: row.try_get("hash_state")?,
            started_at_ms: row.try_get("started_at")?,
            parts,
        }))
    }

    async fn update_upload(
        &self,
        id: &str,
        from: u64,
        size: u64,
        hash_state: &[u8],
        parts: &[String],
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET size = $1, hash_state = $2, updated_at = $3, parts = $6
             WHERE id = $4 AND size = $5",
        )
        .bind(size as i64)
        .bind(hash_state)
        .bind(now_ms())
        .bind(id)
        .bind(from as i64)
        .bind(parts_json(parts))
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM uploads WHERE updated_at < $1 ORDER BY id")
                .bind(before)
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn delete_upload_if_stale(&self, id: &str, before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1 AND updated_at < $2")
            .bind(id)
            .bind(before)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }
}

/// The parts column: NULL for none (stores that keep one file per upload).
fn parts_json(parts: &[String]) -> Option<String> {
    (!parts.is_empty()).then(|| crate::sql::json_list(parts.iter().map(String::as_str)))
}
