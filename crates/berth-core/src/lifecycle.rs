//! Runs garbage collection and retention on behalf of the server's schedules, the HTTP API
//! and the CLI: one run of each kind at a time per process, every run recorded in the
//! metadata (so runs from a `berth gc` process show in the server's API) and counted in
//! the metrics.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::gc::{GcOptions, GcReport, Progress};
use crate::retention::{RetentionPolicy, RetentionReport};
use crate::{Registry, RegistryError, Result};

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Api,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Api => "api",
            Trigger::Schedule => "schedule",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RunLabels {
    pub kind: &'static str,
    pub result: &'static str,
}

/// Lifecycle counters, registered by whoever serves the metrics.
#[derive(Clone, Default)]
pub struct LifecycleMetrics {
    pub runs: Family<RunLabels, Counter>,
    pub manifests_deleted: Counter,
    pub blobs_deleted: Counter,
    pub bytes_freed: Counter,
    pub tags_deleted: Counter,
    /// Milliseconds the last garbage collection took.
    pub last_gc_ms: Gauge,
}

impl LifecycleMetrics {
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "berth_lifecycle_runs",
            "Garbage collection and retention runs, by kind and result",
            self.runs.clone(),
        );
        registry.register(
            "berth_gc_manifests_deleted",
            "Manifests garbage collection deleted",
            self.manifests_deleted.clone(),
        );
        registry.register(
            "berth_gc_blobs_deleted",
            "Blobs garbage collection removed",
            self.blobs_deleted.clone(),
        );
        registry.register_with_unit(
            "berth_gc_freed",
            "Bytes garbage collection returned",
            prometheus_client::registry::Unit::Bytes,
            self.bytes_freed.clone(),
        );
        registry.register(
            "berth_retention_tags_deleted",
            "Tags retention policies deleted",
            self.tags_deleted.clone(),
        );
        registry.register(
            "berth_gc_last_duration_milliseconds",
            "How long the last garbage collection took",
            self.last_gc_ms.clone(),
        );
    }
}

/// Where a running collection stands, for the API.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcProgress {
    pub pass: &'static str,
    /// Items in the pass's queue when it started.
    pub queued: u64,
    pub reviewed: u64,
    pub removed: u64,
}

/// Forwards progress to the caller's reporter and keeps the latest for the API.
struct Tracked<'a> {
    inner: &'a dyn Progress,
    latest: &'a std::sync::Mutex<Option<GcProgress>>,
}

impl Progress for Tracked<'_> {
    fn pass(&self, name: &'static str, queued: u64) {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(GcProgress {
            pass: name,
            queued,
            ..GcProgress::default()
        });
        self.inner.pass(name, queued);
    }

    fn advance(&self, examined: u64, removed: u64) {
        if let Some(p) = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            p.reviewed += examined;
            p.removed += removed;
        }
        self.inner.advance(examined, removed);
    }
}

pub struct Lifecycle {
    registry: Arc<Registry>,
    /// The running collection's progress (in this process).
    gc_progress: std::sync::Mutex<Option<GcProgress>>,
    /// The configured collection (grace, rules); callers may override per run.
    pub gc: GcOptions,
    pub retention: Vec<RetentionPolicy>,
    pub metrics: LifecycleMetrics,
    gc_running: tokio::sync::Mutex<()>,
    retention_running: tokio::sync::Mutex<()>,
}

impl Lifecycle {
    pub fn new(
        registry: Arc<Registry>,
        gc: GcOptions,
        retention: Vec<RetentionPolicy>,
        metrics: LifecycleMetrics,
    ) -> Self {
        Lifecycle {
            registry,
            gc,
            retention,
            metrics,
            gc_progress: Default::default(),
            gc_running: Default::default(),
            retention_running: Default::default(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Whether a collection is running in this process now.
    pub fn gc_running(&self) -> bool {
        self.gc_running.try_lock().is_err()
    }

    /// Where the collection running in this process stands, if one is.
    pub fn gc_progress(&self) -> Option<GcProgress> {
        if !self.gc_running() {
            return None;
        }
        self.gc_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a retention run is going on in this process now.
    pub fn retention_running(&self) -> bool {
        self.retention_running.try_lock().is_err()
    }

    /// Runs a garbage collection (waiting for one already running here to finish).
    pub async fn collect(
        &self,
        options: &GcOptions,
        trigger: Trigger,
        progress: &dyn Progress,
    ) -> Result<GcReport> {
        let _one = self.gc_running.lock().await;
        let meta = self.registry.meta();
        let id = meta
            .start_run("gc", trigger.as_str(), options.dry_run)
            .await?;
        let tracked = Tracked {
            inner: progress,
            latest: &self.gc_progress,
        };
        let result = self.registry.collect_garbage(options, &tracked).await;
        let idle =
            trigger == Trigger::Schedule && result.as_ref().is_ok_and(|r| !r.removed_anything());
        self.finish("gc", id, &result, idle).await;
        if let Ok(r) = &result
            && !r.dry_run
        {
            self.metrics.manifests_deleted.inc_by(r.manifests_deleted);
            self.metrics.blobs_deleted.inc_by(r.blobs_deleted);
            self.metrics.bytes_freed.inc_by(r.bytes_freed);
            self.metrics.last_gc_ms.set(r.duration_ms as i64);
        }
        result
    }

    /// Applies the configured retention policies.
    pub async fn retain(&self, dry_run: bool, trigger: Trigger) -> Result<RetentionReport> {
        let _one = self.retention_running.lock().await;
        let meta = self.registry.meta();
        let id = meta
            .start_run("retention", trigger.as_str(), dry_run)
            .await?;
        // Pull-based rules must see the pulls this process has noted so far.
        let result = match self.registry.flush_pulls().await {
            Ok(_) => {
                self.registry
                    .apply_retention(&self.retention, self.gc.grace, dry_run)
                    .await
            }
            Err(e) => Err(e),
        };
        self.finish("retention", id, &result, false).await;
        if let Ok(r) = &result
            && !r.dry_run
        {
            self.metrics
                .tags_deleted
                .inc_by(r.tags_deleted.len() as u64);
        }
        result
    }

    /// Records the end of a run. A scheduled run that changed nothing is counted in the
    /// metrics but not kept in the history, which would otherwise fill with them.
    async fn finish<T: serde::Serialize>(
        &self,
        kind: &'static str,
        id: i64,
        result: &std::result::Result<T, RegistryError>,
        idle_schedule: bool,
    ) {
        let (summary, error) = match result {
            Ok(report) => (serde_json::to_string(report).ok(), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let label = RunLabels {
            kind,
            result: if error.is_some() { "failed" } else { "ok" },
        };
        self.metrics.runs.get_or_create(&label).inc();
        if let Err(e) = self
            .registry
            .meta()
            .finish_run(id, summary.as_deref(), error.as_deref(), !idle_schedule)
            .await
        {
            tracing::warn!(error = %e, kind, "could not record the end of a lifecycle run");
        }
    }
}
