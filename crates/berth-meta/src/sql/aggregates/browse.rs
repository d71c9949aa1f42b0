//! Repositories and artifacts as the management API lists them.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use sqlx::Row;

use super::projects::{like_escaped, repository_range};
use super::{DbRow, Meta};
use crate::sql::parse_digest;
use crate::{ArtifactRow, Browse, RepositoryRow, Result};

/// Whether manifest `m` is listed as an artifact: tagged, or neither an index child nor a
/// referrer in its repository.
macro_rules! listed {
    () => {
        "(EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
          OR (m.subject IS NULL AND NOT EXISTS (SELECT 1 FROM manifest_references mr
              WHERE mr.repository_id = m.repository_id AND mr.child_digest = m.digest
                AND mr.kind = 'manifest')))"
    };
}

/// A repository's columns, counts included (`r` is the repository).
const REPOSITORY_COLUMNS: &str = concat!(
    "r.id, r.name, r.description, r.pull_count, r.created_at,
    (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id AND ",
    listed!(),
    ") AS artifact_count,
    ",
    greatest!(),
    "(r.created_at,
        COALESCE((SELECT MAX(m.created_at) FROM manifests m WHERE m.repository_id = r.id), 0),
        COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id), 0)
    ) AS updated_at"
);

/// An artifact's columns (`m` is the manifest).
const ARTIFACT_COLUMNS: &str = "m.repository_id, m.digest, m.media_type, m.artifact_type,
    m.annotations, m.content, m.created_at, m.pulled_at,
    m.size + (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT)
        FROM manifest_references mr JOIN blobs b ON b.digest = mr.child_digest
        WHERE mr.repository_id = m.repository_id AND mr.manifest_digest = m.digest
          AND mr.kind = 'blob') AS total_size";

fn repository_from_row(row: &DbRow) -> Result<RepositoryRow> {
    Ok(RepositoryRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        artifact_count: row.try_get("artifact_count")?,
        pull_count: row.try_get("pull_count")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

impl Meta {
    async fn artifact_from_row(&self, row: &DbRow) -> Result<ArtifactRow> {
        let repository_id: i64 = row.try_get("repository_id")?;
        let digest: String = row.try_get("digest")?;
        let tags = sqlx::query(
            "SELECT name, updated_at FROM tags WHERE repository_id = $1 AND digest = $2 ORDER BY name",
        )
        .bind(repository_id)
        .bind(digest.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|t| Ok((t.try_get("name")?, t.try_get("updated_at")?)))
        .collect::<Result<_>>()?;
        Ok(ArtifactRow {
            repository_id,
            digest: parse_digest(digest)?,
            media_type: row.try_get("media_type")?,
            artifact_type: row.try_get("artifact_type")?,
            annotations: row.try_get("annotations")?,
            content: bytes::Bytes::from(row.try_get::<Vec<u8>, _>("content")?),
            size: row.try_get("total_size")?,
            pushed_at_ms: row.try_get("created_at")?,
            pulled_at_ms: row.try_get("pulled_at")?,
            tags,
        })
    }
}

#[async_trait]
impl Browse for Meta {
    async fn project_repositories(
        &self,
        project: &str,
        name_contains: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RepositoryRow>, i64)> {
        let (from, to) = repository_range(project);
        let pattern = format!("%{}%", like_escaped(name_contains.unwrap_or("")));
        let filter = "(r.name = $1 OR (r.name >= $2 AND r.name < $3))
            AND r.name LIKE $4 ESCAPE '\\'
            AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM repositories r WHERE {filter}"
        )))
        .bind(project)
        .bind(&from)
        .bind(&to)
        .bind(&pattern)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories r WHERE {filter}
             ORDER BY r.name LIMIT $5 OFFSET $6"
        )))
        .bind(project)
        .bind(&from)
        .bind(&to)
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let repositories = rows
            .iter()
            .map(repository_from_row)
            .collect::<Result<_>>()?;
        Ok((repositories, total))
    }

    async fn repository_row(&self, repo: &RepoName) -> Result<Option<RepositoryRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories r WHERE r.name = $1
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)"
        )))
        .bind(repo.as_str())
        .fetch_optional(&self.read)
        .await?
        .map(|row| repository_from_row(&row))
        .transpose()
    }

    async fn set_repository_description(&self, repo: &RepoName, description: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE repositories SET description = $2 WHERE name = $1
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)",
        )
        .bind(repo.as_str())
        .bind(description)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn artifacts(
        &self,
        repo: &RepoName,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ArtifactRow>, i64)> {
        let Some(id) = self.repo_id(repo).await? else {
            return Ok((vec![], 0));
        };
        let total: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM manifests m WHERE m.repository_id = $1 AND ",
            listed!()
        ))
        .bind(id)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM manifests m WHERE m.repository_id = $1 AND {}
             ORDER BY m.created_at DESC, m.digest LIMIT $2 OFFSET $3",
            listed!()
        )))
        .bind(id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let mut artifacts = Vec::with_capacity(rows.len());
        for row in &rows {
            artifacts.push(self.artifact_from_row(row).await?);
        }
        Ok((artifacts, total))
    }

    async fn artifact(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ArtifactRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM manifests m
             WHERE m.repository_id = (SELECT id FROM repositories WHERE name = $1) AND m.digest = $2"
        )))
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => Ok(Some(self.artifact_from_row(&row).await?)),
            None => Ok(None),
        }
    }
}
