//! Web sessions.

use async_trait::async_trait;

use super::Meta;
use crate::{Result, SessionRecord, Sessions};

#[async_trait]
impl Sessions for Meta {
    async fn create_session(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_name, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.id_hash)
        .bind(&s.user_name)
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRecord>> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT id_hash, user_name, created_at, expires_at FROM sessions
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(
            |(id_hash, user_name, created_at_ms, expires_at_ms)| SessionRecord {
                id_hash,
                user_name,
                created_at_ms,
                expires_at_ms,
            },
        ))
    }

    async fn extend_session(&self, id_hash: &str, expires_at_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE sessions SET expires_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(expires_at_ms)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user_name: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_name = $1")
            .bind(user_name)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected())
    }
}
