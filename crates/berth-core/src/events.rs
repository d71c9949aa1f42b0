//! Domain events the registry raises beyond its requests' own answers, for whoever
//! listens (webhook policies): the core says what happened, not where it goes.

/// A project's storage quota was passed (a blob refused) or is nearly used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaNotice {
    /// The repository the blob was for.
    pub repository: String,
    pub digest: String,
    /// What the project holds, what the blob adds, and the limit, in bytes.
    pub used: i64,
    pub adding: i64,
    pub limit: i64,
    /// For people.
    pub details: String,
}

/// A project's retention policy ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionNotice {
    pub project: String,
    pub policy_id: i64,
    /// `MANUAL` or `SCHEDULE`.
    pub trigger: &'static str,
    pub dry_run: bool,
    /// Artifacts looked at, and left in place.
    pub total: u64,
    pub retained: u64,
    /// What went (or would go, dry): repository, digest, tags.
    pub deleted: Vec<(String, String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// A project's retention policy finished a run.
    RetentionFinished(RetentionNotice),
    /// A blob was refused: it would take its project past its limit.
    QuotaExceeded(QuotaNotice),
    /// A blob took its project past [`QUOTA_WARNING_PERCENT`] of its limit.
    QuotaWarning(QuotaNotice),
}

/// The share of a limit past which a project is warned, once, as it crosses it.
pub const QUOTA_WARNING_PERCENT: i64 = 85;

/// Takes domain events; must not block (the request that raised it waits).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: DomainEvent);
}
