//! The history of garbage-collection and retention runs.

use async_trait::async_trait;

use crate::{LifecycleRun, Result};

#[async_trait]
pub trait Runs: Send + Sync + 'static {
    /// Records that a lifecycle run (`kind`: gc, retention) of the retention policy
    /// `policy_id` (0 for none) started in the process `owner`; its id.
    async fn start_run(
        &self,
        kind: &str,
        policy_id: i64,
        trigger: &str,
        dry_run: bool,
        owner: &str,
    ) -> Result<i64>;

    /// The running run's process is alive; whether it was asked to stop.
    async fn heartbeat_run(&self, id: i64) -> Result<bool>;

    /// Asks the unfinished run `id` of `kind` to stop; `false` when it is not running.
    async fn request_stop(&self, kind: &str, id: i64) -> Result<bool>;

    /// Runs not finished (running, or their process died), oldest first.
    async fn unfinished_runs(&self) -> Result<Vec<LifecycleRun>>;

    /// Ends an unfinished run with `error`, as of its last heartbeat; `false` if it had
    /// finished meanwhile.
    async fn abandon_run(&self, id: i64, error: &str) -> Result<bool>;

    /// Records how a run ended; `keep: false` forgets it instead (a scheduled run that
    /// found nothing to do). Old runs beyond a fixed history are forgotten.
    async fn finish_run(
        &self,
        id: i64,
        summary: Option<&str>,
        error: Option<&str>,
        keep: bool,
    ) -> Result<()>;

    /// One page of the runs of `kind` for the policy `policy_id` (0 for none), newest
    /// first, and how many there are.
    async fn runs(
        &self,
        kind: &str,
        policy_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LifecycleRun>, i64)>;

    /// Run `id` of `kind`.
    async fn run(&self, kind: &str, id: i64) -> Result<Option<LifecycleRun>>;

    /// Runs of every kind with an id above `id`, oldest first, at most `limit`.
    async fn runs_after(&self, id: i64, limit: u32) -> Result<Vec<LifecycleRun>>;

    /// The highest run id so far (0 for none).
    async fn last_run_id(&self) -> Result<i64>;
}
