//! The lifecycle run history.

use async_trait::async_trait;
use sqlx::Row;

use super::{Db, DbRow, Meta};
use crate::sql::{RUN_HISTORY, WriteLock};
use crate::{LifecycleRun, Result, Runs, now_ms};

/// The columns [`lifecycle_run`] reads, as a literal for `concat!`.
macro_rules! run_columns {
    () => {
        "id, kind, trigger, dry_run, started_at, finished_at, summary, error, owner, heartbeat_at, \
         policy_id, stop_requested"
    };
}

fn lifecycle_run(r: &DbRow) -> Result<LifecycleRun> {
    Ok(LifecycleRun {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        trigger: r.try_get("trigger")?,
        dry_run: r.try_get("dry_run")?,
        started_at_ms: r.try_get("started_at")?,
        finished_at_ms: r.try_get("finished_at")?,
        summary: r.try_get("summary")?,
        error: r.try_get("error")?,
        owner: r.try_get("owner")?,
        heartbeat_at_ms: r.try_get("heartbeat_at")?,
        policy_id: r.try_get("policy_id")?,
        stop_requested: r.try_get("stop_requested")?,
    })
}

impl Meta {
    /// Lifecycle runs a query over [`run_columns!`] selects, from a reader.
    async fn fetch_runs(
        &self,
        query: sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments>,
    ) -> Result<Vec<LifecycleRun>> {
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(lifecycle_run).collect()
    }
}

#[async_trait]
impl Runs for Meta {
    async fn start_run(
        &self,
        kind: &str,
        policy_id: i64,
        trigger: &str,
        dry_run: bool,
        owner: &str,
    ) -> Result<i64> {
        let now = now_ms();
        Ok(sqlx::query_scalar(
            "INSERT INTO lifecycle_runs
                 (kind, trigger, dry_run, started_at, owner, heartbeat_at, policy_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(kind)
        .bind(trigger)
        .bind(dry_run)
        .bind(now)
        .bind(owner)
        .bind(now)
        .bind(policy_id)
        .fetch_one(&self.write)
        .await
        .inspect(|_| self.writes.raise())?)
    }

    async fn heartbeat_run(&self, id: i64) -> Result<bool> {
        let stop: Option<bool> = sqlx::query_scalar(
            "UPDATE lifecycle_runs SET heartbeat_at = $1 WHERE id = $2 AND finished_at IS NULL
             RETURNING stop_requested",
        )
        .bind(now_ms())
        .bind(id)
        .fetch_optional(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(stop.unwrap_or(false))
    }

    async fn request_stop(&self, kind: &str, id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE lifecycle_runs SET stop_requested = TRUE
             WHERE id = $1 AND kind = $2 AND finished_at IS NULL",
        )
        .bind(id)
        .bind(kind)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() > 0)
    }

    async fn unfinished_runs(&self) -> Result<Vec<LifecycleRun>> {
        self.fetch_runs(sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE finished_at IS NULL ORDER BY id"
        )))
        .await
    }

    async fn abandon_run(&self, id: i64, error: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE lifecycle_runs SET finished_at = COALESCE(heartbeat_at, started_at), error = $1
             WHERE id = $2 AND finished_at IS NULL",
        )
        .bind(error)
        .bind(id)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?
        .rows_affected()
            > 0)
    }

    async fn finish_run(
        &self,
        id: i64,
        summary: Option<&str>,
        error: Option<&str>,
        keep: bool,
    ) -> Result<()> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        if keep {
            sqlx::query(
                "UPDATE lifecycle_runs SET finished_at = $1, summary = $2, error = $3 WHERE id = $4",
            )
            .bind(now_ms())
            .bind(summary)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM lifecycle_runs WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // The history is for people looking at recent runs; it must not grow forever.
        sqlx::query(
            "DELETE FROM lifecycle_runs WHERE kind = (SELECT kind FROM lifecycle_runs WHERE id = $1)
             AND id <= $2 - $3",
        )
        .bind(id)
        .bind(id)
        .bind(RUN_HISTORY)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn runs(
        &self,
        kind: &str,
        policy_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LifecycleRun>, i64)> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM lifecycle_runs WHERE kind = $1 AND policy_id = $2",
        )
        .bind(kind)
        .bind(policy_id)
        .fetch_one(&self.read)
        .await?;
        let query = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE kind = $1 AND policy_id = $2
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ));
        let runs = self
            .fetch_runs(query.bind(kind).bind(policy_id).bind(limit).bind(offset))
            .await?;
        Ok((runs, total))
    }

    async fn run(&self, kind: &str, id: i64) -> Result<Option<LifecycleRun>> {
        let query = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE kind = $1 AND id = $2"
        ));
        Ok(self.fetch_runs(query.bind(kind).bind(id)).await?.pop())
    }

    async fn runs_after(&self, id: i64, limit: u32) -> Result<Vec<LifecycleRun>> {
        let query = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM lifecycle_runs WHERE id > $1 ORDER BY id LIMIT $2"
        ));
        self.fetch_runs(query.bind(id).bind(i64::from(limit))).await
    }

    async fn last_run_id(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM lifecycle_runs")
                .fetch_one(&self.read)
                .await?,
        )
    }
}
