//! The daily usage samples.

use async_trait::async_trait;

use super::Meta;
use crate::{Result, UsageHistory, UsageSample};

#[async_trait]
impl UsageHistory for Meta {
    async fn record_usage(&self, s: &UsageSample) -> Result<()> {
        sqlx::query(
            "INSERT INTO usage_samples (day, storage_bytes, repositories, recorded_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (day) DO UPDATE SET storage_bytes = excluded.storage_bytes,
                 repositories = excluded.repositories, recorded_at = excluded.recorded_at
             WHERE usage_samples.recorded_at <= excluded.recorded_at",
        )
        .bind(s.day)
        .bind(s.storage_bytes)
        .bind(s.repositories)
        .bind(s.recorded_at_ms)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(())
    }

    async fn usage_history(&self, since_day: i64) -> Result<Vec<UsageSample>> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT day, storage_bytes, repositories, recorded_at FROM usage_samples
             WHERE day >= $1 ORDER BY day",
        )
        .bind(since_day)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(day, storage_bytes, repositories, recorded_at_ms)| UsageSample {
                    day,
                    storage_bytes,
                    repositories,
                    recorded_at_ms,
                },
            )
            .collect())
    }
}
