//! A garbage-collection schedule set through the management API (Harbor's
//! `/system/gc/schedule`), kept in the database's settings: full runs at cron times with
//! their own parameters, beside the configuration's background collection (which reviews
//! what changed every `berth.gc.interval`).

use std::sync::Arc;

use berth_jobs::Schedule;
use berth_meta::now_ms;
use serde::{Deserialize, Serialize};

use crate::gc::Quiet;
use crate::lifecycle::{Lifecycle, Trigger};
use crate::{RegistryError, Result};

/// The setting that holds it, as JSON; empty when there is none.
const SETTING: &str = "gc.schedule";

/// Harbor's schedule types that name a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleKind {
    Hourly,
    Daily,
    Weekly,
    Custom,
}

impl ScheduleKind {
    pub fn parse(text: &str) -> Option<ScheduleKind> {
        match text {
            "Hourly" => Some(ScheduleKind::Hourly),
            "Daily" => Some(ScheduleKind::Daily),
            "Weekly" => Some(ScheduleKind::Weekly),
            // Harbor's enum has both names for a cron of one's own.
            "Custom" | "Schedule" => Some(ScheduleKind::Custom),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Hourly => "Hourly",
            ScheduleKind::Daily => "Daily",
            ScheduleKind::Weekly => "Weekly",
            ScheduleKind::Custom => "Custom",
        }
    }

    /// The cron Harbor's UI writes for the type, used when a request gives none.
    fn preset(self) -> Option<&'static str> {
        match self {
            ScheduleKind::Hourly => Some("0 0 * * * *"),
            ScheduleKind::Daily => Some("0 0 0 * * *"),
            ScheduleKind::Weekly => Some("0 0 0 * * 0"),
            ScheduleKind::Custom => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcSchedule {
    pub kind: ScheduleKind,
    /// Five fields, or Harbor's six with seconds first.
    pub cron: String,
    pub delete_untagged: bool,
    pub dry_run: bool,
    /// Runs due up to this time (ms) have been started.
    pub scheduled_until_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum GcScheduleError {
    #[error("invalid cron string for scheduled garbage collection: {0}")]
    Cron(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl GcSchedule {
    /// A schedule from now on; an empty `cron` takes the type's preset (`Custom` needs one).
    pub fn new(
        kind: ScheduleKind,
        cron: &str,
        delete_untagged: bool,
        dry_run: bool,
    ) -> std::result::Result<GcSchedule, GcScheduleError> {
        let cron = match (cron.trim(), kind.preset()) {
            ("", Some(preset)) => preset.to_string(),
            ("", None) => {
                return Err(GcScheduleError::Cron(
                    "a Custom schedule needs a cron, e.g. \"0 0 3 * * *\"".into(),
                ));
            }
            (given, _) => given.to_string(),
        };
        Schedule::parse_with_seconds(&cron).map_err(|e| GcScheduleError::Cron(e.to_string()))?;
        Ok(GcSchedule {
            kind,
            cron,
            delete_untagged,
            dry_run,
            scheduled_until_ms: now_ms(),
        })
    }

    fn schedule(&self) -> Option<Schedule> {
        Schedule::parse_with_seconds(&self.cron).ok()
    }

    /// The next time it runs after `after_ms`, in ms.
    pub fn next_after_ms(&self, after_ms: i64) -> Option<i64> {
        self.schedule()?
            .next_after(after_ms / 1000)
            .map(|s| s.saturating_mul(1000))
    }
}

impl Lifecycle {
    pub async fn gc_schedule(&self) -> Result<Option<GcSchedule>> {
        let stored = self.registry().meta().setting(SETTING).await?;
        Ok(stored
            .filter(|s| !s.is_empty())
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Sets the schedule, or with `None` removes it.
    pub async fn set_gc_schedule(&self, schedule: Option<&GcSchedule>) -> Result<()> {
        let value = schedule
            .and_then(|s| serde_json::to_string(s).ok())
            .unwrap_or_default();
        Ok(self.registry().meta().set_setting(SETTING, &value).await?)
    }

    /// Runs a collection if the schedule's time came since its last run (called by one
    /// process at a time: a leased job).
    pub async fn run_due_gc_schedule(self: &Arc<Self>) {
        let mut schedule = match self.gc_schedule().await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the garbage collection schedule");
                return;
            }
        };
        let now = now_ms();
        if schedule
            .next_after_ms(schedule.scheduled_until_ms)
            .is_none_or(|next| next > now)
        {
            return;
        }
        schedule.scheduled_until_ms = now;
        if let Err(e) = self.set_gc_schedule(Some(&schedule)).await {
            tracing::warn!(error = %e, "cannot record the scheduled garbage collection");
            return;
        }
        let mut options = self.gc;
        options.dry_run = schedule.dry_run;
        options.rules.delete_untagged = schedule.delete_untagged;
        match self.collect(&options, Trigger::Cron, &Quiet).await {
            Ok(r) => tracing::info!(
                manifests = r.manifests_deleted,
                blobs = r.blobs_deleted,
                bytes = r.bytes_freed,
                "scheduled garbage collection finished"
            ),
            Err(e) => tracing::warn!(error = %e, "scheduled garbage collection failed"),
        }
    }
}
