//! The notification outbox.

use async_trait::async_trait;
use sqlx::Row;

use super::Meta;
use crate::sql::WriteLock;
use crate::{Outbox, OutboxEvent, Result, now_ms};

#[async_trait]
impl Outbox for Meta {
    async fn enqueue_events(&self, events: &[(String, String)]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Rows).await?;
        for (endpoint, payload) in events {
            sqlx::query(
                "INSERT INTO outbox (endpoint, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(endpoint)
            .bind(payload)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn due_events(&self, endpoint: &str, now: i64, limit: u32) -> Result<Vec<OutboxEvent>> {
        let rows = sqlx::query(
            "SELECT id, payload, attempts FROM outbox WHERE endpoint = $1 AND next_attempt_at <= $2
             ORDER BY id LIMIT $3",
        )
        .bind(endpoint)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEvent {
                    id: row.try_get("id")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                })
            })
            .collect()
    }

    async fn delivered_events(&self, ids: &[i64]) -> Result<()> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn postpone_events(&self, ids: &[i64], next_attempt_at: i64, error: &str) -> Result<()> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        for id in ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
            )
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.read)
            .await?;
        Ok(n as u64)
    }
}
