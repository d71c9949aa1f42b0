//! Webhook policies.

use async_trait::async_trait;
use sqlx::Row;

use super::projects::like_escaped;
use super::{DbRow, Meta};
use crate::sql::WriteLock;
use crate::{ActivePolicy, PolicyWrite, Result, WebhookPolicies, WebhookPolicyRecord};

const POLICY_COLUMNS: &str = "w.id, w.project_id, w.name, w.description, w.enabled, \
    w.event_types, w.targets, w.creator, w.created_at, w.updated_at";

fn policy_from_row(row: &DbRow) -> Result<WebhookPolicyRecord> {
    Ok(WebhookPolicyRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: row.try_get("enabled")?,
        event_types: row.try_get("event_types")?,
        targets: row.try_get("targets")?,
        creator: row.try_get("creator")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl WebhookPolicies for Meta {
    async fn create_webhook_policy(&self, p: &WebhookPolicyRecord) -> Result<PolicyWrite> {
        // Everything: a project being deleted (which takes its policies along) is either
        // gone before this looks, or sees this policy.
        let mut tx = self.begin(WriteLock::Everything).await?;
        if !super::projects::project_exists(&mut tx, p.project_id).await? {
            return Ok(PolicyWrite::Missing);
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO webhook_policies (project_id, name, description, enabled, event_types,
                 targets, creator, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
        )
        .bind(p.project_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.enabled)
        .bind(&p.event_types)
        .bind(&p.targets)
        .bind(&p.creator)
        .bind(p.created_at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id.map_or(PolicyWrite::NameTaken, PolicyWrite::Done))
    }

    async fn webhook_policy(&self, id: i64) -> Result<Option<WebhookPolicyRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM webhook_policies w WHERE w.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|row| policy_from_row(&row))
        .transpose()
    }

    async fn webhook_policies(
        &self,
        project_id: i64,
        name_contains: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<WebhookPolicyRecord>, i64)> {
        let pattern = format!("%{}%", like_escaped(name_contains.unwrap_or("")));
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_policies WHERE project_id = $1 AND name LIKE $2 ESCAPE '\\'",
        )
        .bind(project_id)
        .bind(&pattern)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM webhook_policies w
             WHERE w.project_id = $1 AND w.name LIKE $2 ESCAPE '\\'
             ORDER BY w.id LIMIT $3 OFFSET $4"
        )))
        .bind(project_id)
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let policies = rows.iter().map(policy_from_row).collect::<Result<_>>()?;
        Ok((policies, total))
    }

    async fn active_webhook_policies(&self) -> Result<Vec<ActivePolicy>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS}, p.name AS project_name, p.public AS project_public
             FROM webhook_policies w JOIN projects p ON p.id = w.project_id
             WHERE w.enabled ORDER BY w.id"
        )))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActivePolicy {
                    policy: policy_from_row(row)?,
                    project_name: row.try_get("project_name")?,
                    project_public: row.try_get("project_public")?,
                })
            })
            .collect()
    }

    async fn update_webhook_policy(&self, p: &WebhookPolicyRecord) -> Result<PolicyWrite> {
        let mut tx = self.begin(WriteLock::Everything).await?;
        let clash: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM webhook_policies WHERE project_id = $1 AND name = $2 AND id <> $3",
        )
        .bind(p.project_id)
        .bind(&p.name)
        .bind(p.id)
        .fetch_optional(&mut *tx)
        .await?;
        if clash.is_some() {
            return Ok(PolicyWrite::NameTaken);
        }
        let done = sqlx::query(
            "UPDATE webhook_policies SET name = $2, description = $3, enabled = $4,
                 event_types = $5, targets = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.enabled)
        .bind(&p.event_types)
        .bind(&p.targets)
        .bind(p.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(if done.rows_affected() == 1 {
            PolicyWrite::Done(p.id)
        } else {
            PolicyWrite::Missing
        })
    }

    async fn delete_webhook_policy(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        sqlx::query("DELETE FROM outbox WHERE policy_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhook_policies WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }
}
