//! The registry's size through time: a sample a day of the stored bytes (each blob once)
//! and the repositories, for the trend on the dashboard. Each `serve` process samples as
//! it starts, and a scheduled job every hour; the day's row keeps the latest, so a past
//! day reads as it ended. Reading the history measures nothing (the dashboard has the live totals from
//! `/statistics` already; measuring again would double its cost).

use berth_meta::{UsageSample, now_ms};

use crate::{Registry, Result};

const DAY_MS: i64 = 86_400_000;

impl Registry {
    /// Measures the registry now and records it as today's sample.
    pub async fn sample_usage(&self) -> Result<UsageSample> {
        let (projects, storage_bytes) = self.meta.project_statistics().await?;
        let at = now_ms();
        let sample = UsageSample {
            day: at.div_euclid(DAY_MS),
            storage_bytes,
            repositories: projects.iter().map(|(_, _, repos)| repos).sum(),
            recorded_at_ms: at,
        };
        self.meta.record_usage(&sample).await?;
        Ok(sample)
    }

    /// The samples of the last `days` days (today included), oldest first.
    pub async fn usage_history(&self, days: i64) -> Result<Vec<UsageSample>> {
        let today = now_ms().div_euclid(DAY_MS);
        Ok(self.meta.usage_history(today - days.max(1) + 1).await?)
    }
}
