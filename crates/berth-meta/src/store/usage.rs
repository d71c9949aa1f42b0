//! The registry's size through time: one sample a day, for the dashboard's trend.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSample {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Stored bytes, each blob once.
    pub storage_bytes: i64,
    /// Repositories holding at least one manifest.
    pub repositories: i64,
    pub recorded_at_ms: i64,
}

#[async_trait]
pub trait UsageHistory: Send + Sync + 'static {
    /// Records the day's sample, replacing an earlier one of the same day (every replica
    /// may sample; the last writer of the day wins, and all of them measure the same).
    async fn record_usage(&self, sample: &UsageSample) -> Result<()>;

    /// The samples from `since_day` on, oldest first.
    async fn usage_history(&self, since_day: i64) -> Result<Vec<UsageSample>>;
}
