//! The notification outbox.

use async_trait::async_trait;
use sqlx::Row;

use super::{DbRow, Meta};
use crate::sql::WriteLock;
use crate::{NewOutboxEvent, Outbox, OutboxEvent, OutboxFeed, Result, now_ms};

const OUTBOX_COLUMNS: &str = "id, endpoint, payload, attempts, policy_id, event_type, outcome, \
    last_error, created_at, finished_at";

fn event_from_row(row: &DbRow) -> Result<OutboxEvent> {
    Ok(OutboxEvent {
        id: row.try_get("id")?,
        endpoint: row.try_get("endpoint")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        policy_id: row.try_get("policy_id")?,
        event_type: row.try_get("event_type")?,
        outcome: row.try_get("outcome")?,
        last_error: row.try_get("last_error")?,
        created_at_ms: row.try_get("created_at")?,
        finished_at_ms: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl Outbox for Meta {
    async fn enqueue_events(&self, events: &[NewOutboxEvent]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Rows).await?;
        for event in events {
            sqlx::query(
                "INSERT INTO outbox (endpoint, payload, next_attempt_at, created_at, policy_id, event_type)
                 VALUES ($1, $2, $3, $3, $4, $5)",
            )
            .bind(&event.endpoint)
            .bind(&event.payload)
            .bind(now)
            .bind(event.policy_id)
            .bind(&event.event_type)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn due_events(
        &self,
        feed: OutboxFeed<'_>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>> {
        let rows = match feed {
            OutboxFeed::Endpoint(endpoint) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE endpoint = $1 AND next_attempt_at <= $2 AND policy_id IS NULL
                     ORDER BY id LIMIT $3"
                )))
                .bind(endpoint)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?
            }
            // Across policies, what has waited longest first: one receiver that is down
            // (and postponed) does not hold up the others.
            OutboxFeed::Policies => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE next_attempt_at <= $1 AND policy_id IS NOT NULL AND outcome IS NULL
                     ORDER BY next_attempt_at, id LIMIT $2"
                )))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.iter().map(event_from_row).collect()
    }

    async fn delivered_events(&self, ids: &[i64]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Rows).await?;
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE id = $1 AND policy_id IS NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE outbox SET outcome = 'Success', finished_at = $2
                 WHERE id = $1 AND policy_id IS NOT NULL",
            )
            .bind(id)
            .bind(now)
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

    async fn abandon_events(&self, ids: &[i64], error: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Rows).await?;
        for id in ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, outcome = 'Error', finished_at = $1,
                     last_error = $2 WHERE id = $3 AND policy_id IS NOT NULL",
            )
            .bind(now)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE outcome IS NULL")
            .fetch_one(&self.read)
            .await?;
        Ok(n as u64)
    }

    async fn policy_deliveries(
        &self,
        policy_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OutboxEvent>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE policy_id = $1")
            .bind(policy_id)
            .fetch_one(&self.read)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE policy_id = $1
             ORDER BY id DESC LIMIT $2 OFFSET $3"
        )))
        .bind(policy_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let events = rows.iter().map(event_from_row).collect::<Result<_>>()?;
        Ok((events, total))
    }

    async fn policy_delivery(&self, policy_id: i64, id: i64) -> Result<Option<OutboxEvent>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE policy_id = $1 AND id = $2"
        )))
        .bind(policy_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|row| event_from_row(&row))
        .transpose()
    }

    async fn forget_deliveries(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE policy_id IS NOT NULL AND outcome IS NOT NULL AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected())
    }
}
