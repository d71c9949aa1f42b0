//! Labels and the artifacts that carry them.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use sqlx::Row;

use super::projects::like_escaped;
use super::{DbRow, Meta};
use crate::sql::WriteLock;
use crate::{
    Attached, LabelQuery, LabelRecord, LabelScope, LabelWrite, Labels, MetaError, Result, now_ms,
};

const LABEL_COLUMNS: &str =
    "l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at";

fn label_from_row(row: &DbRow) -> Result<LabelRecord> {
    let scope: String = row.try_get("scope")?;
    Ok(LabelRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        color: row.try_get("color")?,
        scope: LabelScope::parse(&scope).ok_or(MetaError::Corrupt {
            column: "labels.scope",
            value: scope.clone(),
        })?,
        project_id: row.try_get("project_id")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl Labels for Meta {
    async fn create_label(&self, label: &LabelRecord) -> Result<LabelWrite> {
        // Everything: a project being deleted (which takes its labels along) is either
        // gone before this looks, or sees this label.
        let mut tx = self.begin(WriteLock::Everything).await?;
        if label.scope == LabelScope::Project
            && !super::projects::project_exists(&mut tx, label.project_id).await?
        {
            return Ok(LabelWrite::Missing);
        }
        let now = now_ms();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (scope, project_id, name) DO NOTHING RETURNING id",
        )
        .bind(&label.name)
        .bind(&label.description)
        .bind(&label.color)
        .bind(label.scope.as_str())
        .bind(label.project_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id.map_or(LabelWrite::NameTaken, LabelWrite::Done))
    }

    async fn label(&self, id: i64) -> Result<Option<LabelRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|row| label_from_row(&row))
        .transpose()
    }

    async fn labels(&self, query: &LabelQuery) -> Result<(Vec<LabelRecord>, i64)> {
        let filter = "l.scope = $1 AND l.project_id = $2 AND l.name LIKE $3 ESCAPE '\\'";
        let project_id = match query.scope {
            LabelScope::Global => 0,
            LabelScope::Project => query.project_id,
        };
        let pattern = format!(
            "%{}%",
            like_escaped(query.name_contains.as_deref().unwrap_or(""))
        );
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM labels l WHERE {filter}"
        )))
        .bind(query.scope.as_str())
        .bind(project_id)
        .bind(&pattern)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LABEL_COLUMNS} FROM labels l WHERE {filter} ORDER BY l.name, l.id
             LIMIT $4 OFFSET $5"
        )))
        .bind(query.scope.as_str())
        .bind(project_id)
        .bind(&pattern)
        .bind(query.limit)
        .bind(query.offset)
        .fetch_all(&self.read)
        .await?;
        let labels = rows.iter().map(label_from_row).collect::<Result<_>>()?;
        Ok((labels, total))
    }

    async fn update_label(&self, label: &LabelRecord) -> Result<LabelWrite> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT other.id FROM labels l JOIN labels other
                ON other.scope = l.scope AND other.project_id = l.project_id
               AND other.name = $2 AND other.id <> l.id
             WHERE l.id = $1",
        )
        .bind(label.id)
        .bind(&label.name)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Ok(LabelWrite::NameTaken);
        }
        let changed = sqlx::query(
            "UPDATE labels SET name = $2, description = $3, color = $4, updated_at = $5
             WHERE id = $1",
        )
        .bind(label.id)
        .bind(&label.name)
        .bind(&label.description)
        .bind(&label.color)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(if changed == 1 {
            LabelWrite::Done(label.id)
        } else {
            LabelWrite::Missing
        })
    }

    async fn delete_label(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        sqlx::query("DELETE FROM artifact_labels WHERE label_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM labels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.commit(tx).await?;
        Ok(deleted == 1)
    }

    async fn attach_label(
        &self,
        label_id: i64,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Attached> {
        // Everything: a manifest deleted meanwhile takes its labels along in its own
        // transaction; this one sees it either there or gone.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let target: Option<i64> = sqlx::query_scalar(
            "SELECT m.repository_id FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2
               AND EXISTS (SELECT 1 FROM labels WHERE id = $3)",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .bind(label_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(repository_id) = target else {
            return Ok(Attached::Missing);
        };
        let added = sqlx::query(
            "INSERT INTO artifact_labels (label_id, repository_id, digest, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(label_id)
        .bind(repository_id)
        .bind(digest.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(if added == 1 {
            Attached::Done
        } else {
            Attached::AlreadyThere
        })
    }

    async fn detach_label(&self, label_id: i64, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let removed = sqlx::query(
            "DELETE FROM artifact_labels WHERE label_id = $1 AND digest = $3
               AND repository_id = (SELECT id FROM repositories WHERE name = $2)",
        )
        .bind(label_id)
        .bind(repo.as_str())
        .bind(digest.to_string())
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?
        .rows_affected();
        Ok(removed == 1)
    }

    async fn artifact_labels(
        &self,
        repository_id: i64,
        digest: &Digest,
    ) -> Result<Vec<LabelRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LABEL_COLUMNS} FROM labels l
             JOIN artifact_labels a ON a.label_id = l.id
             WHERE a.repository_id = $1 AND a.digest = $2 ORDER BY l.name, l.id"
        )))
        .bind(repository_id)
        .bind(digest.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(label_from_row)
        .collect()
    }
}
