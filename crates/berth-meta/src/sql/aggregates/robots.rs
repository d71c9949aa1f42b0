//! Robot accounts.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};

use super::projects::like_escaped;
use super::{Db, DbRow, Meta};
use crate::sql::WriteLock;
use crate::{Result, RobotQuery, RobotRecord, Robots};

const ROBOT_COLUMNS: &str = "id, name, description, project_id, secret_hash, duration, expires_at, \
    disabled, permissions, creator_type, creator_ref, created_at, updated_at";

fn robot_from_row(row: &DbRow) -> Result<RobotRecord> {
    Ok(RobotRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        project_id: row.try_get("project_id")?,
        secret_hash: row.try_get("secret_hash")?,
        duration_days: row.try_get("duration")?,
        expires_at: row.try_get("expires_at")?,
        disabled: row.try_get("disabled")?,
        permissions: row.try_get("permissions")?,
        creator_type: row.try_get("creator_type")?,
        creator_ref: row.try_get("creator_ref")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

fn push_robot_filter(q: &mut QueryBuilder<Db>, query: &RobotQuery) {
    match query.project_id {
        Some(id) => q.push(" WHERE project_id = ").push_bind(id),
        None => q.push(" WHERE project_id IS NULL"),
    };
    if let Some(part) = &query.name_contains {
        q.push(" AND name LIKE ")
            .push_bind(format!("%{}%", like_escaped(part)))
            .push(" ESCAPE '\\'");
    }
}

#[async_trait]
impl Robots for Meta {
    async fn create_robot(&self, r: &RobotRecord) -> Result<Option<i64>> {
        // Everything: a project being deleted (which takes its robots along) is either gone
        // before this looks, or sees this robot.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO robots (name, description, project_id, secret_hash, duration, expires_at,
                 disabled, permissions, creator_type, creator_ref, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11
             WHERE ($3 IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = $3))
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&r.name)
        .bind(&r.description)
        .bind(r.project_id)
        .bind(&r.secret_hash)
        .bind(r.duration_days)
        .bind(r.expires_at)
        .bind(r.disabled)
        .bind(&r.permissions)
        .bind(&r.creator_type)
        .bind(r.creator_ref)
        .bind(r.created_at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    async fn robot(&self, id: i64) -> Result<Option<RobotRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROBOT_COLUMNS} FROM robots WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|row| robot_from_row(&row))
        .transpose()
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<RobotRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROBOT_COLUMNS} FROM robots WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await?
        .map(|row| robot_from_row(&row))
        .transpose()
    }

    async fn robots(&self, query: &RobotQuery) -> Result<(Vec<RobotRecord>, i64)> {
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM robots");
        push_robot_filter(&mut count, query);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut page = QueryBuilder::<Db>::new(format!("SELECT {ROBOT_COLUMNS} FROM robots"));
        push_robot_filter(&mut page, query);
        page.push(" ORDER BY id LIMIT ")
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = page.build().fetch_all(&self.read).await?;
        let robots = rows.iter().map(robot_from_row).collect::<Result<_>>()?;
        Ok((robots, total))
    }

    async fn update_robot(&self, r: &RobotRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE robots SET description = $2, secret_hash = $3, duration = $4, expires_at = $5,
                 disabled = $6, permissions = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(r.id)
        .bind(&r.description)
        .bind(&r.secret_hash)
        .bind(r.duration_days)
        .bind(r.expires_at)
        .bind(r.disabled)
        .bind(&r.permissions)
        .bind(r.updated_at_ms)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_robot(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM robots WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }
}
