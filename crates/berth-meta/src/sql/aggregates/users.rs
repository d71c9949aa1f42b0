//! The token service's users.

use async_trait::async_trait;

use super::Meta;
use super::graph::{user_change, user_from_row};
use crate::sql::WriteLock;
use crate::{Result, UserChange, UserRecord, Users, now_ms};

const USER_COLUMNS: &str = "id, name, password_hash, admin, email, realname, comment, created_at, \
    updated_at, origin, directory_groups, directory_admin, external_id";

#[async_trait]
impl Users for Meta {
    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY name"
        )))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
    }

    async fn create_user(&self, user: &UserRecord) -> Result<Option<i64>> {
        // Everything: user numbers are handed out one at a time.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (id, name, password_hash, admin, created_at, updated_at, email, realname, comment, origin, external_id)
             SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM users), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE lower(name) = lower($1))
             RETURNING id",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.admin)
        .bind(user.created_at_ms)
        .bind(user.updated_at_ms)
        .bind(&user.email)
        .bind(&user.realname)
        .bind(&user.comment)
        .bind(user.origin.as_str())
        .bind(&user.external_id)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3")
                .bind(password_hash)
                .bind(now_ms())
                .bind(name)
                .execute(&self.write)
                .await
                .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_profile(
        &self,
        name: &str,
        email: Option<&str>,
        realname: Option<&str>,
        comment: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET email = $2, realname = $3, comment = $4, updated_at = $5 WHERE name = $1",
        )
        .bind(name)
        .bind(email)
        .bind(realname)
        .bind(comment)
        .bind(now_ms())
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_directory_sign_in(
        &self,
        name: &str,
        email: Option<&str>,
        realname: Option<&str>,
        groups: &[i64],
        admin: bool,
    ) -> Result<bool> {
        let groups = serde_json::to_string(groups).unwrap_or_else(|_| "[]".into());
        let done = sqlx::query(
            "UPDATE users SET email = COALESCE($2, email), realname = COALESCE($3, realname),
                 directory_groups = $4, directory_admin = $5, updated_at = $6 WHERE name = $1",
        )
        .bind(name)
        .bind(email)
        .bind(realname)
        .bind(groups)
        .bind(admin)
        .bind(now_ms())
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_admin(&self, name: &str, admin: bool) -> Result<UserChange> {
        let mut tx = self.begin(WriteLock::Everything).await?;
        let done = sqlx::query(
            "UPDATE users SET admin = $2, updated_at = $3 WHERE name = $1 AND ($2
             OR NOT admin OR EXISTS (SELECT 1 FROM users WHERE admin AND name <> $1))",
        )
        .bind(name)
        .bind(admin)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let change = user_change(&mut tx, name, done).await?;
        self.commit(tx).await?;
        Ok(change)
    }

    async fn delete_user(&self, name: &str) -> Result<UserChange> {
        let mut tx = self.begin(WriteLock::Everything).await?;
        let done = sqlx::query(
            "DELETE FROM users WHERE name = $1
             AND (NOT admin OR EXISTS (SELECT 1 FROM users WHERE admin AND name <> $1))",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query("DELETE FROM project_members WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        let change = user_change(&mut tx, name, done).await?;
        self.commit(tx).await?;
        Ok(change)
    }
}
