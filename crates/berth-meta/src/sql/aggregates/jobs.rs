//! The shared job table. Job rows are never cached by readers, so these writes do not
//! raise the write count that read caches follow.

use async_trait::async_trait;
use sqlx::Row;

use super::Meta;
use crate::{ClaimRequest, JobClaim, Leases, Result, now_ms};

#[async_trait]
impl Leases for Meta {
    async fn claim_job(&self, c: &ClaimRequest<'_>) -> Result<JobClaim> {
        sqlx::query(
            "INSERT INTO jobs (name, due_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(c.name)
        .bind(c.first_due_ms)
        .execute(&self.write)
        .await?;
        // One statement decides: of claimers racing, the row's lock lets one through and
        // the others find it held when they re-read it.
        let won = sqlx::query(
            "UPDATE jobs SET holder = $2, lease_until = $3
             WHERE name = $1
               AND (holder IS NULL OR lease_until < $4 OR holder = $6)
               AND (due_at <= $4 OR due_at > $5)
             RETURNING due_at, lease_until, holder",
        )
        .bind(c.name)
        .bind(c.holder)
        .bind(c.lease_until_ms)
        .bind(c.now_ms)
        .bind(c.latest_due_ms)
        .bind(c.dead_holder)
        .fetch_optional(&self.write)
        .await?;
        let (won, row) = match won {
            Some(row) => (true, row),
            None => (
                false,
                sqlx::query("SELECT due_at, lease_until, holder FROM jobs WHERE name = $1")
                    .bind(c.name)
                    .fetch_one(&self.write)
                    .await?,
            ),
        };
        Ok(JobClaim {
            won,
            due_at_ms: row.try_get("due_at")?,
            lease_until_ms: row.try_get("lease_until")?,
            holder: row.try_get("holder")?,
        })
    }

    async fn renew_job(&self, name: &str, holder: &str, lease_until_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE jobs SET lease_until = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(lease_until_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(&self, name: &str, holder: &str, next_due_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET holder = NULL, lease_until = 0, due_at = $3, last_finished_at = $4
             WHERE name = $1 AND holder = $2",
        )
        .bind(name)
        .bind(holder)
        .bind(next_due_ms)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET holder = NULL, lease_until = 0 WHERE name = $1 AND holder = $2",
        )
        .bind(name)
        .bind(holder)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
