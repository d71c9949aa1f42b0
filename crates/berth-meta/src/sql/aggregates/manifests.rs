//! Repositories, manifests, tags and referrers.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName, Tag};
use sqlx::Row;

use super::graph::{
    ensure_repo, link_blob_in, missing, missing_in, put_manifest_in, set_tag_in, stored_manifest,
};
use super::{Meta, review};
use crate::sql::{HOLDS_BLOB, HOLDS_MANIFEST, NEEDED_BY_INDEX_OR_SUBJECT, WriteLock, parse_digest};
use crate::{
    ImportedRepository, ManifestRecord, Manifests, MetaError, Referrer, Result, StoredManifest,
    now_ms,
};

#[async_trait]
impl Manifests for Meta {
    async fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        Ok(self.repo_id(repo).await?.is_some())
    }

    async fn missing_manifests(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>> {
        let id = self.repo_id(repo).await?;
        missing(&self.read, HOLDS_MANIFEST, id, digests).await
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tags: &[Tag],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let repo_id = ensure_repo(&mut tx, repo, now).await?;
        // Checked again here, under the write lock: garbage collection may have removed a
        // blob since the caller looked.
        for (digests, exists, is_child) in [
            (&manifest.blobs, HOLDS_BLOB, false),
            (&manifest.children, HOLDS_MANIFEST, true),
        ] {
            if let Some(digest) = missing_in(&mut tx, exists, repo_id, digests)
                .await?
                .into_iter()
                .next()
            {
                return Err(MetaError::MissingReference {
                    digest,
                    manifest: is_child,
                });
            }
        }
        put_manifest_in(&mut tx, repo_id, manifest, now).await?;
        for tag in tags {
            set_tag_in(&mut tx, repo_id, tag.as_str(), &manifest.digest, now).await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>> {
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content, m.subject FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?
        .map(stored_manifest)
        .transpose()
    }

    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<StoredManifest>> {
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content, m.subject FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(&self.read)
        .await?
        .map(stored_manifest)
        .transpose()
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let deleted =
            review::delete_manifest_in(&mut tx, repo_id, &digest.to_string(), now_ms()).await?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(false);
        };
        let mut tx = self.begin(WriteLock::Repository(repo)).await?;
        let digest: Option<String> = sqlx::query_scalar(
            "DELETE FROM tags WHERE repository_id = $1 AND name = $2 RETURNING digest",
        )
        .bind(repo_id)
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(digest) = &digest {
            review::review_manifest(&mut tx, repo_id, digest, now_ms()).await?;
        }
        self.commit(tx).await?;
        Ok(digest.is_some())
    }

    async fn tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        let Some(repo_id) = self.repo_id(repo).await? else {
            return Ok(None);
        };
        let tags = sqlx::query_scalar(
            "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(repo_id)
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(Some(tags))
    }

    async fn repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories r WHERE name > $1
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
             ORDER BY name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.subject = $2 ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Referrer {
                    digest: parse_digest(row.try_get("digest")?)?,
                    media_type: row.try_get("media_type")?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    artifact_type: row.try_get("artifact_type")?,
                    annotations: row.try_get("annotations")?,
                })
            })
            .collect()
    }

    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.digest = $2 ORDER BY t.name",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_all(&self.read)
        .await?)
    }

    async fn manifest_referenced(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let found: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2",
            NEEDED_BY_INDEX_OR_SUBJECT
        )))
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?;
        Ok(found.unwrap_or(false))
    }

    async fn import_repositories(&self, repos: &[ImportedRepository]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Everything).await?;
        for repo in repos {
            let repo_id = ensure_repo(&mut tx, &repo.name, now).await?;
            for (digest, size) in &repo.layers {
                link_blob_in(&mut tx, repo_id, digest, *size, now).await?;
            }
            for m in &repo.manifests {
                put_manifest_in(&mut tx, repo_id, m, now).await?;
            }
            for (tag, digest) in &repo.tags {
                set_tag_in(&mut tx, repo_id, tag.as_str(), digest, now).await?;
            }
        }
        self.commit(tx).await?;
        Ok(())
    }
}
