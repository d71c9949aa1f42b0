//! Retention policies per project.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{Db, DbRow, Meta};
use crate::sql::WriteLock;
use crate::{MetaError, PolicyCreation, Result, RetentionPolicies, RetentionPolicyRecord};

const POLICY_COLUMNS: &str =
    "id, project_id, rules, schedule, scheduled_until, created_at, updated_at";

/// The key in a project's metadata that names its policy (Harbor's).
const RETENTION_ID: &str = "retention_id";

fn policy_from_row(row: &DbRow) -> Result<RetentionPolicyRecord> {
    Ok(RetentionPolicyRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        rules: row.try_get("rules")?,
        schedule: row.try_get("schedule")?,
        scheduled_until_ms: row.try_get("scheduled_until")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

impl Meta {
    /// Sets (or with `None` removes) `retention_id` in the project's metadata.
    async fn name_policy_in_project(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        project_id: i64,
        policy: Option<i64>,
    ) -> Result<()> {
        let current: Option<String> =
            sqlx::query_scalar("SELECT metadata FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&mut **tx)
                .await?;
        let Some(current) = current else {
            return Ok(());
        };
        let mut metadata: BTreeMap<String, String> =
            serde_json::from_str(&current).map_err(|_| MetaError::Corrupt {
                column: "projects.metadata",
                value: current.clone(),
            })?;
        match policy {
            Some(id) => metadata.insert(RETENTION_ID.into(), id.to_string()),
            None => metadata.remove(RETENTION_ID),
        };
        let json = serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into());
        sqlx::query("UPDATE projects SET metadata = $2 WHERE id = $1")
            .bind(project_id)
            .bind(json)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl RetentionPolicies for Meta {
    async fn create_retention_policy(&self, p: &RetentionPolicyRecord) -> Result<PolicyCreation> {
        // Everything: a project being deleted (which takes its policy along) is either
        // gone before this looks, or sees this policy.
        let mut tx = self.begin(WriteLock::Everything).await?;
        if !super::projects::project_exists(&mut tx, p.project_id).await? {
            return Ok(PolicyCreation::NoSuchProject);
        }
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM retention_policies WHERE project_id = $1")
                .bind(p.project_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok(PolicyCreation::ProjectHasOne(id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO retention_policies
                 (project_id, rules, schedule, scheduled_until, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(p.project_id)
        .bind(&p.rules)
        .bind(&p.schedule)
        .bind(p.scheduled_until_ms)
        .bind(p.created_at_ms)
        .bind(p.updated_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        self.name_policy_in_project(&mut tx, p.project_id, Some(id))
            .await?;
        self.commit(tx).await?;
        Ok(PolicyCreation::Created(id))
    }

    async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicyRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM retention_policies WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(policy_from_row)
        .transpose()
    }

    async fn update_retention_policy(&self, p: &RetentionPolicyRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE retention_policies SET rules = $2, schedule = $3, scheduled_until = $4,
                 updated_at = $5 WHERE id = $1",
        )
        .bind(p.id)
        .bind(&p.rules)
        .bind(&p.schedule)
        .bind(p.scheduled_until_ms)
        .bind(p.updated_at_ms)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_retention_policy(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        let project: Option<i64> =
            sqlx::query_scalar("DELETE FROM retention_policies WHERE id = $1 RETURNING project_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(project) = project else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM lifecycle_runs WHERE policy_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.name_policy_in_project(&mut tx, project, None).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn scheduled_retention_policies(&self) -> Result<Vec<RetentionPolicyRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM retention_policies WHERE schedule <> '' ORDER BY id"
        )))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    async fn advance_retention_schedule(&self, id: i64, from: i64, until: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE retention_policies SET scheduled_until = $3
             WHERE id = $1 AND scheduled_until = $2",
        )
        .bind(id)
        .bind(from)
        .bind(until)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() > 0)
    }
}
