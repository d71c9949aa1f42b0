//! The registry's size through time: a sample a day of the stored bytes (each blob once)
//! and the repositories, for the trend on the dashboard. A scheduled job samples every
//! hour and the day's row keeps the latest, so a past day reads as it ended; today reads
//! as it is now.

use berth_meta::{UsageSample, now_ms};

use crate::{Registry, Result};

const DAY_MS: i64 = 86_400_000;

impl Registry {
    /// The registry's size now, as today's sample.
    async fn measure_usage(&self) -> Result<UsageSample> {
        let (projects, storage_bytes) = self.meta.project_statistics().await?;
        let at = now_ms();
        Ok(UsageSample {
            day: at.div_euclid(DAY_MS),
            storage_bytes,
            repositories: projects.iter().map(|(_, _, repos)| repos).sum(),
            recorded_at_ms: at,
        })
    }

    /// Measures the registry and records it as today's sample.
    pub async fn sample_usage(&self) -> Result<UsageSample> {
        let sample = self.measure_usage().await?;
        self.meta.record_usage(&sample).await?;
        Ok(sample)
    }

    /// The last `days` days (today included), oldest first: the recorded samples of the
    /// days before, and today measured now.
    pub async fn usage_history(&self, days: i64) -> Result<Vec<UsageSample>> {
        let now = self.measure_usage().await?;
        let mut history = self.meta.usage_history(now.day - days.max(1) + 1).await?;
        history.retain(|s| s.day < now.day);
        history.push(now);
        Ok(history)
    }
}
