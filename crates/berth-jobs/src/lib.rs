//! Background work shared by every berth process on one metadata database. A job is a row
//! in the metadata's job table ([`berth_meta::Leases`]): whoever claims it holds a lease
//! for a while and renews it while working; a holder that dies stops renewing, and another
//! process takes the job once the lease has run out (at once, when the holder is a process
//! on this host that is gone). So with N replicas each scheduled run happens once, one
//! replica at a time delivers a webhook endpoint's queue, and a collection started by hand
//! waits for one running elsewhere.
//!
//! Three shapes of work:
//! - [`Jobs::schedule`]: runs when its [`Cadence`] comes due, on one process;
//! - [`Jobs::exclusive`]: runs now, alone across processes (a collection asked for);
//! - [`Jobs::singleton`]: runs for as long as its process holds the lease (a delivery
//!   worker), on one process at a time.
//!
//! [`Jobs::shutdown`] cancels what runs and gives the leases back, so another replica
//! carries on without waiting for them to run out.

mod process;
mod schedule;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_meta::{ClaimRequest, JobClaim, Leases, MetaError, now_ms};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use process::{Liveness, ProcessId};
pub use schedule::{Schedule, ScheduleError};

/// How long a lease lasts unless configured (`berth.jobs.lease`): long enough that a busy
/// database does not cost a holder its job, short enough that a dead holder's job moves
/// on soon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The longest a waiting process goes without looking at a job again.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Another process took the job over (this one could not renew its lease in time).
    #[error("lost the lease of job {0} to another process; it carries on there")]
    LeaseLost(String),
    /// The process is shutting down.
    #[error("job {0} was stopped: berth is shutting down")]
    Stopped(String),
}

/// When a scheduled job comes due again.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// This long after the previous run ended.
    Every(Duration),
    /// At the cron schedule's next time (UTC).
    Cron(Schedule),
}

impl Cadence {
    /// The next time due after `now_ms`, if there is one.
    pub fn next_after_ms(&self, now_ms: i64) -> Option<i64> {
        match self {
            Cadence::Every(d) => Some(now_ms.saturating_add(millis(*d))),
            Cadence::Cron(s) => s.next_after(now_ms / 1000).map(|s| s.saturating_mul(1000)),
        }
    }
}

pub struct Jobs {
    meta: Arc<dyn Leases>,
    /// This process, as the job table names it.
    holder: String,
    lease: Duration,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Jobs {
    pub fn new(meta: Arc<dyn Leases>, lease: Duration) -> Arc<Jobs> {
        Self::for_holder(meta, lease, &ProcessId::current().to_string())
    }

    /// Jobs held under another name than this process's own (tests playing several).
    pub fn for_holder(meta: Arc<dyn Leases>, lease: Duration, holder: &str) -> Arc<Jobs> {
        Arc::new(Jobs {
            meta,
            holder: holder.to_string(),
            lease: lease.max(Duration::from_secs(1)),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// This process, as it holds jobs.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Runs `work` whenever `cadence` comes due (first `first` from the time the job is
    /// first seen), on whichever process claims it. A run that fails is logged by `work`;
    /// the job is due again by its cadence either way.
    pub fn schedule<F, Fut>(
        self: &Arc<Self>,
        name: &str,
        cadence: Cadence,
        first: Duration,
        work: F,
    ) where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let jobs = self.clone();
        let name = name.to_string();
        self.tasks.spawn(async move {
            loop {
                let now = now_ms();
                let Some(latest) = cadence.next_after_ms(now) else {
                    tracing::warn!(job = name, ?cadence, "the schedule never fires again");
                    return;
                };
                let first_due = now.saturating_add(millis(first)).min(latest);
                let wake = match jobs.claim(&name, first_due, latest).await {
                    Ok(c) if c.won => {
                        match jobs.held(&name, work()).await {
                            Ok(()) => {
                                let next = cadence.next_after_ms(now_ms()).unwrap_or(i64::MAX);
                                if let Err(e) = jobs.meta.finish_job(&name, &jobs.holder, next).await {
                                    tracing::warn!(job = name, error = %e, "could not record the end of a job run");
                                }
                            }
                            Err(JobError::Stopped(_)) => {
                                jobs.release(&name).await;
                                return;
                            }
                            Err(e) => tracing::warn!(job = name, error = %e, "job run ended early"),
                        }
                        continue;
                    }
                    Ok(c) => c.due_at_ms.max(c.lease_until_ms),
                    Err(e) => {
                        tracing::warn!(job = name, error = %e, "cannot claim job; will look again");
                        0
                    }
                };
                if !jobs.pause_until(wake).await {
                    return;
                }
            }
        });
    }

    /// Runs `work` now, once nobody else holds the job `name` (waiting for that), and
    /// holds the job until it ends.
    pub async fn exclusive<T, Fut>(&self, name: &str, work: Fut) -> Result<T, JobError>
    where
        Fut: Future<Output = T>,
    {
        loop {
            match self.claim(name, 0, i64::MAX).await {
                Ok(c) if c.won => break,
                Ok(c) => {
                    if !self.pause_until(c.lease_until_ms).await {
                        return Err(JobError::Stopped(name.to_string()));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let result = self.held(name, work).await;
        match &result {
            Ok(_) => {
                self.meta.finish_job(name, &self.holder, 0).await?;
            }
            Err(JobError::LeaseLost(_)) => {}
            Err(_) => self.release(name).await,
        }
        result
    }

    /// Keeps `work` running on exactly one process: whichever holds the job `name`. When
    /// the lease is lost, `work` is dropped and this process waits for its turn again.
    pub fn singleton<F, Fut>(self: &Arc<Self>, name: &str, work: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let jobs = self.clone();
        let name = name.to_string();
        self.tasks.spawn(async move {
            loop {
                let wake = match jobs.claim(&name, 0, i64::MAX).await {
                    Ok(c) if c.won => {
                        tracing::debug!(job = name, "holding job");
                        match jobs.held(&name, work()).await {
                            Err(JobError::Stopped(_)) => {
                                jobs.release(&name).await;
                                return;
                            }
                            Err(e) => tracing::info!(job = name, error = %e, "job moved on"),
                            Ok(()) => jobs.release(&name).await,
                        }
                        continue;
                    }
                    Ok(c) => c.lease_until_ms,
                    Err(e) => {
                        tracing::warn!(job = name, error = %e, "cannot claim job; will look again");
                        0
                    }
                };
                if !jobs.pause_until(wake).await {
                    return;
                }
            }
        });
    }

    /// Runs `work` every `interval` in this process alone (work on what this process
    /// holds in memory), until shutdown.
    pub fn local_every<F, Fut>(self: &Arc<Self>, interval: Duration, work: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = ticker.tick() => work().await,
                }
            }
        });
    }

    /// Whether this process takes the turn `name`, due every `every` (first at once):
    /// of the processes asking, one gets each turn. For work done as part of another job
    /// (the storage walk of some collections).
    pub async fn take_turn(&self, name: &str, every: Duration) -> Result<bool, JobError> {
        let now = now_ms();
        let next = now.saturating_add(millis(every));
        let claim = self.claim(name, now, next).await?;
        if claim.won {
            self.meta.finish_job(name, &self.holder, next).await?;
        }
        Ok(claim.won)
    }

    /// Cancels every job running here and gives their leases back; waits (a bounded
    /// time) for that.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background jobs did not stop within 10 s; their leases run out");
        }
    }

    /// Claims `name`, also from a holder on this host that is gone.
    async fn claim(
        &self,
        name: &str,
        first_due: i64,
        latest_due: i64,
    ) -> Result<JobClaim, JobError> {
        let now = now_ms();
        let until = now.saturating_add(millis(self.lease));
        let mut ask = ClaimRequest {
            name,
            holder: &self.holder,
            now_ms: now,
            lease_until_ms: until,
            first_due_ms: first_due,
            latest_due_ms: latest_due,
            dead_holder: None,
        };
        let claim = self.meta.claim_job(&ask).await?;
        let dead = claim
            .holder
            .as_deref()
            .filter(|h| ProcessId::parse(h).is_some_and(|p| p.liveness() == Liveness::Gone));
        match dead {
            Some(dead) if !claim.won => {
                tracing::info!(
                    job = name,
                    holder = dead,
                    "taking over the job of a process that is gone"
                );
                ask.dead_holder = Some(dead);
                Ok(self.meta.claim_job(&ask).await?)
            }
            _ => Ok(claim),
        }
    }

    /// Runs `work` while renewing the lease of `name`; stops it when the lease is lost
    /// or the process shuts down.
    async fn held<T>(&self, name: &str, work: impl Future<Output = T>) -> Result<T, JobError> {
        let renew = async {
            let every = self.lease / 3;
            let mut valid_until = now_ms().saturating_add(millis(self.lease));
            loop {
                tokio::time::sleep(every).await;
                let until = now_ms().saturating_add(millis(self.lease));
                match self.meta.renew_job(name, &self.holder, until).await {
                    Ok(true) => valid_until = until,
                    Ok(false) => return JobError::LeaseLost(name.to_string()),
                    // The database may be back before the lease runs out.
                    Err(e) if now_ms() < valid_until => {
                        tracing::warn!(job = name, error = %e, "cannot renew the job's lease; trying again");
                    }
                    Err(_) => return JobError::LeaseLost(name.to_string()),
                }
            }
        };
        tokio::select! {
            result = work => Ok(result),
            lost = renew => Err(lost),
            _ = self.stop.cancelled() => Err(JobError::Stopped(name.to_string())),
        }
    }

    async fn release(&self, name: &str) {
        if let Err(e) = self.meta.release_job(name, &self.holder).await {
            tracing::warn!(job = name, error = %e, "could not give the job back; its lease runs out");
        }
    }

    /// Waits until `at_ms` (ms since the epoch), at most [`LOOK_AGAIN`], and at least a
    /// moment; `false` if the process is shutting down.
    async fn pause_until(&self, at_ms: i64) -> bool {
        let wait = Duration::from_millis(at_ms.saturating_sub(now_ms()).max(0) as u64)
            .clamp(Duration::from_millis(50), LOOK_AGAIN);
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
