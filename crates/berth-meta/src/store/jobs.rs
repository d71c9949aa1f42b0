//! Background jobs shared by every process on this metadata: who holds each job, until
//! when, and when a scheduled one is next due. `berth-jobs` runs them; this is its table.

use async_trait::async_trait;

use crate::Result;

/// What a claim found: the job's row after the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    /// The claimer holds the job now (until the lease it asked for).
    pub won: bool,
    /// When the job is next due (ms since the epoch).
    pub due_at_ms: i64,
    /// Until when the current holder's lease runs (ms; 0 when nobody holds it).
    pub lease_until_ms: i64,
    /// Who holds it now.
    pub holder: Option<String>,
}

/// A claim of a job: who, when, for how long.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub name: &'a str,
    pub holder: &'a str,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    /// When a job seen for the first time is due.
    pub first_due_ms: i64,
    /// A job due later than this (its schedule was shortened since) is due now.
    pub latest_due_ms: i64,
    /// A holder known to be gone, whose lease counts as run out.
    pub dead_holder: Option<&'a str>,
}

#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes the job for its holder until the lease asked for, if it is due now and
    /// nobody else holds a live lease. Exactly one of several claimers racing wins.
    async fn claim_job(&self, claim: &ClaimRequest<'_>) -> Result<JobClaim>;

    /// Extends `holder`'s lease; `false` if it is not the holder anymore (its lease ran
    /// out and another took the job).
    async fn renew_job(&self, name: &str, holder: &str, lease_until_ms: i64) -> Result<bool>;

    /// Ends `holder`'s run of the job: nobody holds it, next due at `next_due_ms`.
    /// `false` if it was not the holder anymore.
    async fn finish_job(&self, name: &str, holder: &str, next_due_ms: i64) -> Result<bool>;

    /// Gives the job up without running it to the end (shutdown): due as it was, free for
    /// another holder at once.
    async fn release_job(&self, name: &str, holder: &str) -> Result<()>;
}
