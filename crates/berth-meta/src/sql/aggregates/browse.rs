//! Repositories and artifacts as the management API lists them.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use sqlx::{QueryBuilder, Row};

use super::projects::{like_escaped, push_visibility, repository_range};
use super::{Db, DbRow, Meta};
use crate::sql::parse_digest;
use crate::{
    ArtifactQuery, ArtifactRow, ArtifactScope, Browse, RepositoryKey, RepositoryQuery,
    RepositoryRow, Result,
};

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

/// When repository `r` last changed: its creation, or the latest push of a manifest or tag.
macro_rules! updated_at {
    () => {
        concat!(
            greatest!(),
            "(r.created_at,
                COALESCE((SELECT MAX(m.created_at) FROM manifests m WHERE m.repository_id = r.id), 0),
                COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id), 0))"
        )
    };
}

/// A repository's columns, counts included (`r` is the repository, `p` its project).
const REPOSITORY_COLUMNS: &str = concat!(
    "r.id, r.name, r.description, r.pull_count, r.created_at,
    p.id AS project_id, p.public AS project_public,
    (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id AND ",
    listed!(),
    ") AS artifact_count, ",
    updated_at!(),
    " AS updated_at"
);

/// Repositories `r`, each with its project `p` (a repository's first push creates it).
const REPOSITORIES_WITH_PROJECTS: &str = concat!(
    "repositories r JOIN projects p ON p.name = ",
    project_of!("r.name")
);

/// An artifact's columns (`m` is the manifest).
const ARTIFACT_COLUMNS: &str = "m.repository_id, m.digest,
    (SELECT name FROM repositories WHERE id = m.repository_id) AS repository_name, m.media_type, m.artifact_type,
    m.annotations, m.content, m.created_at, m.pulled_at,
    m.size + (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT)
        FROM manifest_references mr JOIN blobs b ON b.digest = mr.child_digest
        WHERE mr.repository_id = m.repository_id AND mr.manifest_digest = m.digest
          AND mr.kind = 'blob') AS total_size";

fn repository_from_row(row: &DbRow) -> Result<RepositoryRow> {
    Ok(RepositoryRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        project_id: row.try_get("project_id")?,
        project_public: row.try_get("project_public")?,
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
            repository_name: row.try_get("repository_name")?,
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
    async fn list_repositories(
        &self,
        query: &RepositoryQuery,
    ) -> Result<(Vec<RepositoryRow>, i64)> {
        // Every repository has its project, so the join is only for filters on projects.
        let from = if query.project_id.is_some() || query.visible.is_some() {
            REPOSITORIES_WITH_PROJECTS
        } else {
            "repositories r"
        };
        let mut count = QueryBuilder::<Db>::new(format!("SELECT COUNT(*) FROM {from}"));
        push_repository_filter(&mut count, query);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let column = match query.order.key {
            RepositoryKey::Name => "r.name",
            RepositoryKey::CreationTime => "r.created_at",
            RepositoryKey::UpdateTime => updated_at!(),
            RepositoryKey::PullCount => "r.pull_count",
        };
        let direction = if query.order.descending {
            "DESC"
        } else {
            "ASC"
        };
        let order = format!(" ORDER BY {column} {direction}, r.id {direction}");
        // The page's ids first, so the counts are computed for its rows only (a sort
        // would otherwise carry them for every repository that matches).
        let mut select = QueryBuilder::<Db>::new(format!(
            "SELECT {REPOSITORY_COLUMNS} FROM {REPOSITORIES_WITH_PROJECTS} WHERE r.id IN
             (SELECT r.id FROM {from}"
        ));
        push_repository_filter(&mut select, query);
        select.push(&order).push(" LIMIT ");
        select
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset)
            .push(")");
        select.push(&order);
        let rows = select.build().fetch_all(&self.read).await?;
        let repositories = rows
            .iter()
            .map(repository_from_row)
            .collect::<Result<_>>()?;
        Ok((repositories, total))
    }

    async fn repository_row(&self, repo: &RepoName) -> Result<Option<RepositoryRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REPOSITORY_COLUMNS} FROM {REPOSITORIES_WITH_PROJECTS} WHERE r.name = $1
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

    async fn artifacts(&self, query: &ArtifactQuery) -> Result<(Vec<ArtifactRow>, i64)> {
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM (");
        push_artifact_selection(&mut count, query);
        count.push(") picked");
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut select =
            QueryBuilder::<Db>::new(format!("SELECT {ARTIFACT_COLUMNS} FROM manifests m JOIN ("));
        push_artifact_selection(&mut select, query);
        let direction = if query.oldest_first { "ASC" } else { "DESC" };
        select.push(format!(
            ") picked ON picked.repository_id = m.repository_id AND picked.digest = m.digest
             ORDER BY m.created_at {direction}, m.digest {direction} LIMIT "
        ));
        select
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = select.build().fetch_all(&self.read).await?;
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

/// The WHERE clause of a repository listing (over [`REPOSITORIES_WITH_PROJECTS`] when
/// it filters on projects).
fn push_repository_filter(q: &mut QueryBuilder<Db>, query: &RepositoryQuery) {
    q.push(" WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)");
    if let Some(project) = &query.project {
        q.push(" AND ");
        push_in_project(q, project);
    }
    if let Some(id) = query.project_id {
        q.push(" AND p.id = ").push_bind(id);
    }
    if let Some(name) = &query.name {
        q.push(" AND r.name = ").push_bind(name.clone());
    }
    if let Some(part) = &query.name_contains {
        q.push(" AND r.name LIKE ")
            .push_bind(format!("%{}%", like_escaped(part)))
            .push(" ESCAPE '\\'");
    }
    if let Some(visible) = &query.visible {
        q.push(" AND ");
        push_visibility(q, visible);
    }
}

/// Repository `r` is in `project`: as a name range, so the database uses the
/// repositories' name index.
fn push_in_project(q: &mut QueryBuilder<Db>, project: &str) {
    let (from, to) = repository_range(project);
    q.push("(r.name = ")
        .push_bind(project.to_string())
        .push(" OR (r.name >= ")
        .push_bind(from)
        .push(" AND r.name < ")
        .push_bind(to)
        .push("))");
}

/// The `(repository_id, digest)` pairs of the artifacts `query` picks.
fn push_artifact_selection(q: &mut QueryBuilder<Db>, query: &ArtifactQuery) {
    if query.latest_in_repository {
        q.push(
            "SELECT repository_id, digest FROM (SELECT m.repository_id, m.digest,
                ROW_NUMBER() OVER (PARTITION BY m.repository_id
                    ORDER BY m.created_at DESC, m.digest DESC) AS newness",
        );
    } else {
        q.push("SELECT m.repository_id, m.digest");
    }
    q.push(concat!(" FROM manifests m WHERE ", listed!()));
    match &query.scope {
        ArtifactScope::Repository(repo) => {
            q.push(" AND m.repository_id = (SELECT id FROM repositories WHERE name = ")
                .push_bind(repo.to_string())
                .push(")");
        }
        ArtifactScope::Project(project) => {
            q.push(" AND m.repository_id IN (SELECT id FROM repositories r WHERE ");
            push_in_project(q, project);
            q.push(")");
        }
    }
    if let Some(digest) = &query.digest {
        q.push(" AND m.digest = ").push_bind(digest.to_string());
    }
    if let Some(kind) = &query.artifact_type {
        q.push(" AND m.artifact_type = ").push_bind(kind.clone());
    }
    if query.latest_in_repository {
        q.push(") ranked WHERE newness = 1");
    }
}
