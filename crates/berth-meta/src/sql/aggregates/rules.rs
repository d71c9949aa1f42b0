//! Immutable-tag rules.

use async_trait::async_trait;
use sqlx::Row;

use super::{DbRow, Meta};
use crate::sql::WriteLock;
use crate::{ImmutableRuleRecord, Result, TagRules};

const RULE_COLUMNS: &str = "r.id, r.project_id, r.priority, r.disabled, r.repository_decoration, \
    r.repository_pattern, r.tag_decoration, r.tag_pattern, r.created_at";

fn rule_from_row(row: &DbRow) -> Result<ImmutableRuleRecord> {
    Ok(ImmutableRuleRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        priority: row.try_get("priority")?,
        disabled: row.try_get("disabled")?,
        repository_decoration: row.try_get("repository_decoration")?,
        repository_pattern: row.try_get("repository_pattern")?,
        tag_decoration: row.try_get("tag_decoration")?,
        tag_pattern: row.try_get("tag_pattern")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

#[async_trait]
impl TagRules for Meta {
    async fn create_immutable_rule(&self, r: &ImmutableRuleRecord) -> Result<Option<i64>> {
        // Everything: a project being deleted (which takes its rules along) is either gone
        // before this looks, or sees this rule.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO immutable_rules (project_id, priority, disabled, repository_decoration,
                 repository_pattern, tag_decoration, tag_pattern, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE EXISTS (SELECT 1 FROM projects WHERE id = $1) RETURNING id",
        )
        .bind(r.project_id)
        .bind(r.priority)
        .bind(r.disabled)
        .bind(&r.repository_decoration)
        .bind(&r.repository_pattern)
        .bind(&r.tag_decoration)
        .bind(&r.tag_pattern)
        .bind(r.created_at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    async fn immutable_rules(&self, project_id: i64) -> Result<Vec<ImmutableRuleRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM immutable_rules r WHERE r.project_id = $1 ORDER BY r.id"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    async fn immutable_rules_named(&self, project: &str) -> Result<Vec<ImmutableRuleRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM immutable_rules r JOIN projects p ON p.id = r.project_id
             WHERE p.name = $1 ORDER BY r.id"
        )))
        .bind(project)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    async fn update_immutable_rule(&self, r: &ImmutableRuleRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE immutable_rules SET priority = $2, disabled = $3, repository_decoration = $4,
                 repository_pattern = $5, tag_decoration = $6, tag_pattern = $7 WHERE id = $1",
        )
        .bind(r.id)
        .bind(r.priority)
        .bind(r.disabled)
        .bind(&r.repository_decoration)
        .bind(&r.repository_pattern)
        .bind(&r.tag_decoration)
        .bind(&r.tag_pattern)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_immutable_rule(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM immutable_rules WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }
}
