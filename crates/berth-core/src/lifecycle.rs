//! Runs garbage collection and retention on behalf of the server's schedules, the HTTP API
//! and the CLI: one run of each kind at a time across every process on the metadata (a
//! job lease, see `berth-jobs`), every run recorded in the metadata (so runs from a `berth gc` process show in the server's API) and counted in
//! the metrics.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::gc::{GcOptions, GcReport, Progress, Quiet};
use crate::retention::project::{PROJECT_RETENTION, ProjectPolicy, ProjectRetentionReport};
use crate::retention::{RetentionPolicy, RetentionReport};
use crate::{Registry, RegistryError, Result};
use berth_jobs::{Jobs, Liveness, ProcessId};

/// How often a running run says its process is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a run on another host may stay silent before it counts as abandoned (on this
/// host the process itself is looked up).
const SILENCE: Duration = Duration::from_secs(60);
/// The job leases of a collection and a retention run.
const GC_RUN: &str = "run:gc";
const RETENTION_RUN: &str = "run:retention";
/// What an abandoned run's record says.
const ABANDONED: &str = "abandoned: the process running it stopped (killed or crashed) \
    before it finished; what it had committed stays done, the next run does the rest";

/// Runs other processes (`berth gc` from the command line) recorded, counted into this
/// process's metrics once each.
#[derive(Default)]
struct OtherRuns {
    /// Every run up to here is finished and counted (or was there before this process).
    watermark: Option<i64>,
    /// Counted runs above the watermark (finished while an older one still ran).
    counted: HashSet<i64>,
}

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Api,
    /// Background collection and the configuration's retention schedule.
    Schedule,
    /// A cron schedule set through the API (garbage collection, project retention):
    /// always kept in the history, even when it found nothing to do.
    Cron,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Api => "api",
            Trigger::Schedule => "schedule",
            Trigger::Cron => "cron",
        }
    }

    /// Whether a run recorded with `trigger` started by itself.
    pub fn scheduled(trigger: &str) -> bool {
        trigger == Trigger::Schedule.as_str() || trigger == Trigger::Cron.as_str()
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
    stop: &'a AtomicBool,
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

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.inner.stopped()
    }
}

/// A run recorded as started: its id, and the flag that asks it to stop.
struct Started {
    id: i64,
    stop: Arc<AtomicBool>,
}

pub struct Lifecycle {
    registry: Arc<Registry>,
    /// The running collection's progress (in this process).
    gc_progress: std::sync::Mutex<Option<GcProgress>>,
    /// The configured collection (grace, rules); callers may override per run.
    pub gc: GcOptions,
    pub retention: Vec<RetentionPolicy>,
    /// How often collection runs in the background, when it does.
    pub gc_every: Option<std::time::Duration>,
    pub metrics: LifecycleMetrics,
    /// This process runs one (its progress is here); the lease makes it the only one.
    gc_running: tokio::sync::Mutex<()>,
    retention_running: tokio::sync::Mutex<()>,
    /// The leases that keep runs one at a time across processes.
    jobs: Arc<Jobs>,
    /// This process, as its runs record it.
    owner: String,
    other_runs: tokio::sync::Mutex<OtherRuns>,
    /// The stop flags of the runs going on in this process, by run id.
    stops: std::sync::Mutex<HashMap<i64, Arc<AtomicBool>>>,
}

impl Lifecycle {
    pub fn new(
        registry: Arc<Registry>,
        gc: GcOptions,
        retention: Vec<RetentionPolicy>,
        metrics: LifecycleMetrics,
        jobs: Arc<Jobs>,
    ) -> Self {
        Lifecycle {
            registry,
            gc,
            retention,
            gc_every: None,
            metrics,
            gc_progress: Default::default(),
            gc_running: Default::default(),
            retention_running: Default::default(),
            owner: jobs.holder().to_string(),
            jobs,
            other_runs: Default::default(),
            stops: Default::default(),
        }
    }

    /// Says that collection runs in the background every `every`.
    pub fn with_gc_schedule(mut self, every: Option<std::time::Duration>) -> Self {
        self.gc_every = every;
        self
    }

    /// Ends the records of runs whose process is gone (killed, crashed), so they do not
    /// show as running forever: on this host the process is looked up; elsewhere a run
    /// that sent no heartbeat for a minute is taken as gone.
    pub async fn reap_abandoned_runs(&self) -> Result<u64> {
        let meta = self.registry.meta();
        let silent_since = berth_meta::now_ms() - berth_meta::duration_ms(SILENCE);
        let mut reaped = 0;
        for run in meta.unfinished_runs().await? {
            let owner = run.owner.as_deref();
            if owner == Some(self.owner.as_str()) {
                continue; // ours, and we are alive
            }
            let gone = match owner.and_then(ProcessId::parse).map(|p| p.liveness()) {
                Some(Liveness::Gone) => true,
                Some(Liveness::Alive) => false,
                Some(Liveness::Unknown) | None => {
                    run.heartbeat_at_ms.unwrap_or(run.started_at_ms) < silent_since
                }
            };
            if gone && meta.abandon_run(run.id, ABANDONED).await? {
                tracing::warn!(
                    run = run.id,
                    kind = run.kind,
                    owner,
                    "marked a lifecycle run abandoned: its process is gone"
                );
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    /// One page of the runs of `kind`, newest first, with abandoned ones marked as such,
    /// and how many there are.
    pub async fn runs(
        &self,
        kind: &str,
        policy_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<berth_meta::LifecycleRun>, i64)> {
        self.reap_abandoned_runs().await?;
        Ok(self
            .registry
            .meta()
            .runs(kind, policy_id, offset, limit)
            .await?)
    }

    /// Asks the run `id` of `kind` to stop, wherever it runs (the process sees it at its
    /// next heartbeat; this one at once); `false` when it is not running.
    pub async fn stop_run(&self, kind: &str, id: i64) -> Result<bool> {
        self.reap_abandoned_runs().await?;
        let asked = self.registry.meta().request_stop(kind, id).await?;
        if let Some(flag) = self.stops().get(&id) {
            flag.store(true, Ordering::Relaxed);
        }
        Ok(asked)
    }

    fn stops(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<AtomicBool>>> {
        self.stops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a run as started in this process.
    async fn begin(
        &self,
        kind: &str,
        policy_id: i64,
        trigger: Trigger,
        dry_run: bool,
    ) -> Result<Started> {
        let id = self
            .registry
            .meta()
            .start_run(kind, policy_id, trigger.as_str(), dry_run, &self.owner)
            .await?;
        let stop = Arc::new(AtomicBool::new(false));
        self.stops().insert(id, stop.clone());
        Ok(Started { id, stop })
    }

    /// Run `id` of `kind`, if there is one.
    pub async fn run(&self, kind: &str, id: i64) -> Result<Option<berth_meta::LifecycleRun>> {
        self.reap_abandoned_runs().await?;
        Ok(self.registry.meta().run(kind, id).await?)
    }

    /// Starts counting runs of other processes into the metrics: those recorded from now
    /// on (a server calls this when it starts).
    pub async fn watch_other_runs(&self) -> Result<()> {
        let last = self.registry.meta().last_run_id().await?;
        self.other_runs.lock().await.watermark = Some(last);
        Ok(())
    }

    /// Adds the runs other processes finished since the last look to the metrics, so a
    /// `berth gc` from cron shows in the server's metrics like its own runs.
    pub async fn count_other_runs(&self) -> Result<()> {
        let mut seen = self.other_runs.lock().await;
        let Some(watermark) = seen.watermark else {
            return Ok(());
        };
        self.reap_abandoned_runs().await?;
        let runs = self.registry.meta().runs_after(watermark, 1000).await?;
        let mut new_watermark = watermark;
        let mut contiguous = true;
        for run in &runs {
            let finished = run.finished_at_ms.is_some();
            if finished
                && run.owner.as_deref() != Some(self.owner.as_str())
                && seen.counted.insert(run.id)
            {
                self.count_finished(run);
            }
            contiguous &= finished;
            if contiguous {
                new_watermark = run.id;
            }
        }
        seen.watermark = Some(new_watermark);
        seen.counted.retain(|id| *id > new_watermark);
        Ok(())
    }

    /// The metrics of one run recorded by another process.
    fn count_finished(&self, run: &berth_meta::LifecycleRun) {
        let kind = match run.kind.as_str() {
            "gc" => "gc",
            "retention" => "retention",
            PROJECT_RETENTION => PROJECT_RETENTION,
            _ => return,
        };
        let failed = run.error.is_some();
        let summary = run.summary.as_deref().unwrap_or("null");
        match kind {
            "gc" => {
                if let Ok(r) = serde_json::from_str::<GcReport>(summary) {
                    self.count_gc(&r);
                }
            }
            PROJECT_RETENTION => {
                if let Ok(r) = serde_json::from_str::<ProjectRetentionReport>(summary) {
                    self.count_project_retention(&r);
                }
            }
            _ => {
                if let Ok(r) = serde_json::from_str::<RetentionReport>(summary) {
                    self.count_retention(&r);
                }
            }
        }
        let result = if failed { "failed" } else { "ok" };
        self.metrics
            .runs
            .get_or_create(&RunLabels { kind, result })
            .inc();
    }

    fn count_gc(&self, r: &GcReport) {
        if !r.dry_run {
            self.metrics.manifests_deleted.inc_by(r.manifests_deleted);
            self.metrics.blobs_deleted.inc_by(r.blobs_deleted);
            self.metrics.bytes_freed.inc_by(r.bytes_freed);
            self.metrics.last_gc_ms.set(r.duration_ms as i64);
        }
    }

    fn count_project_retention(&self, r: &ProjectRetentionReport) {
        if !r.dry_run {
            self.metrics.tags_deleted.inc_by(r.tags_deleted());
        }
    }

    fn count_retention(&self, r: &RetentionReport) {
        if !r.dry_run {
            self.metrics
                .tags_deleted
                .inc_by(r.tags_deleted.len() as u64);
        }
    }

    /// Runs `work` for `run`, telling the metadata every [`HEARTBEAT`] that this process
    /// is still at it, and raising the run's stop flag when someone asked it to stop.
    async fn with_heartbeat<T>(&self, run: &Started, work: impl Future<Output = T>) -> T {
        let meta = self.registry.meta();
        let id = run.id;
        let beat = async {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.tick().await; // the first tick is immediate: the start was recorded
            loop {
                tick.tick().await;
                match meta.heartbeat_run(id).await {
                    Ok(true) => run.stop.store(true, Ordering::Relaxed),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(run = id, error = %e, "could not record a heartbeat"),
                }
            }
        };
        tokio::select! {
            result = work => result,
            never = beat => never,
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

    /// Where the collection `run` stands, if this process runs it now.
    pub fn progress_of(&self, run: &berth_meta::LifecycleRun) -> Option<GcProgress> {
        let ours = run.owner.as_deref() == Some(self.owner.as_str());
        if !ours || run.finished_at_ms.is_some() || !self.stops().contains_key(&run.id) {
            return None;
        }
        self.gc_progress()
    }

    /// Whether a retention run is going on in this process now.
    pub fn retention_running(&self) -> bool {
        self.retention_running.try_lock().is_err()
    }

    /// Runs a garbage collection (waiting for one already running, here or in another
    /// process, to finish).
    pub async fn collect(
        &self,
        options: &GcOptions,
        trigger: Trigger,
        progress: &dyn Progress,
    ) -> Result<GcReport> {
        let _here = self.gc_running.lock().await;
        let alone = async {
            self.reap_abandoned_runs().await?;
            let run = self.begin("gc", 0, trigger, options.dry_run).await?;
            self.with_heartbeat(
                &run,
                self.collect_recorded(&run, options, trigger, progress),
            )
            .await
        };
        self.jobs.exclusive(GC_RUN, alone).await?
    }

    /// Records a garbage collection and runs it in the background (after one already
    /// running); its run id.
    pub async fn start_collection(
        self: &Arc<Self>,
        options: GcOptions,
        trigger: Trigger,
    ) -> Result<i64> {
        let run = self.begin("gc", 0, trigger, options.dry_run).await?;
        Ok(self.spawn_alone("gc", run, GC_RUN, |l| &l.gc_running, move |me, run| async move {
            me.collect_recorded(&run, &options, trigger, &Quiet).await
        }))
    }

    /// Runs `work` for the recorded `run` in the background once no other run of its kind
    /// goes on, here (`here`) or elsewhere (the lease `job`); its run id. The heartbeat
    /// goes from the start: waiting for a run elsewhere to end is not being gone.
    fn spawn_alone<T, Fut>(
        self: &Arc<Self>,
        kind: &'static str,
        run: Started,
        job: &'static str,
        here: fn(&Lifecycle) -> &tokio::sync::Mutex<()>,
        work: impl FnOnce(Arc<Lifecycle>, Arc<Started>) -> Fut + Send + 'static,
    ) -> i64
    where
        T: serde::Serialize + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let id = run.id;
        let run = Arc::new(run);
        let me = self.clone();
        tokio::spawn(async move {
            let alone = async {
                let _here = here(&me).lock().await;
                me.jobs.exclusive(job, work(me.clone(), run.clone())).await
            };
            match me.with_heartbeat(&run, alone).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, kind, "lifecycle run failed"),
                Err(e) => {
                    // It never ran (shutting down): its record must not say running.
                    let never: Result<T> = Err(e.into());
                    me.finish(kind, &run, &never, false).await;
                }
            }
        });
        id
    }

    async fn collect_recorded(
        &self,
        run: &Started,
        options: &GcOptions,
        trigger: Trigger,
        progress: &dyn Progress,
    ) -> Result<GcReport> {
        let tracked = Tracked {
            inner: progress,
            latest: &self.gc_progress,
            stop: &run.stop,
        };
        let result = self.registry.collect_garbage(options, &tracked).await;
        let idle =
            trigger == Trigger::Schedule && result.as_ref().is_ok_and(|r| !r.removed_anything());
        self.finish("gc", run, &result, idle).await;
        if let Ok(r) = &result {
            self.count_gc(r);
        }
        result
    }

    /// Applies the configured retention policies.
    pub async fn retain(&self, dry_run: bool, trigger: Trigger) -> Result<RetentionReport> {
        let _here = self.retention_running.lock().await;
        let alone = async {
            self.reap_abandoned_runs().await?;
            let run = self.begin("retention", 0, trigger, dry_run).await?;
            self.with_heartbeat(&run, self.retain_recorded(&run, dry_run))
                .await
        };
        self.jobs.exclusive(RETENTION_RUN, alone).await?
    }

    /// Records a run of the configured retention policies and runs it in the background
    /// (after one already running); its run id.
    pub async fn start_retention(self: &Arc<Self>, dry_run: bool, trigger: Trigger) -> Result<i64> {
        let run = self.begin("retention", 0, trigger, dry_run).await?;
        Ok(self.spawn_alone(
            "retention",
            run,
            RETENTION_RUN,
            |l| &l.retention_running,
            move |me, run| async move { me.retain_recorded(&run, dry_run).await },
        ))
    }

    async fn retain_recorded(&self, run: &Started, dry_run: bool) -> Result<RetentionReport> {
        // Pull-based rules must see the pulls this process has noted so far.
        let work = async {
            self.registry.flush_pulls().await?;
            self.registry
                .apply_retention(&self.retention, self.gc.grace, dry_run)
                .await
        };
        let result = work.await;
        self.finish("retention", run, &result, false).await;
        if let Ok(r) = &result {
            self.count_retention(r);
        }
        result
    }

    /// Records a run of a project's retention policy and runs it in the background; its
    /// run id. Runs of different policies go on side by side.
    pub async fn start_project_retention(
        self: &Arc<Self>,
        policy: ProjectPolicy,
        dry_run: bool,
        trigger: Trigger,
    ) -> Result<i64> {
        let run = self
            .begin(PROJECT_RETENTION, policy.id, trigger, dry_run)
            .await?;
        let id = run.id;
        let me = self.clone();
        tokio::spawn(async move {
            let stop = run.stop.clone();
            let stopped = move || stop.load(Ordering::Relaxed);
            let work = async {
                me.registry.flush_pulls().await?;
                me.registry
                    .apply_project_retention(&policy, dry_run, &stopped)
                    .await
            };
            let result = me.with_heartbeat(&run, work).await;
            me.finish(PROJECT_RETENTION, &run, &result, false).await;
            match &result {
                Ok(r) => {
                    me.count_project_retention(r);
                    me.announce_retention(trigger, r);
                }
                Err(e) => tracing::warn!(policy = policy.id, error = %e, "retention run failed"),
            }
        });
        Ok(id)
    }

    /// Tells the project's webhook policies what a run of its retention policy did.
    fn announce_retention(&self, trigger: Trigger, report: &ProjectRetentionReport) {
        let deleted = report
            .tasks
            .iter()
            .flat_map(|t| {
                t.artifacts
                    .iter()
                    .filter(|a| a.outcome == crate::retention::project::Outcome::Deleted)
                    .map(|a| (t.repository.clone(), a.digest.clone(), a.tags.clone()))
            })
            .collect();
        self.registry
            .emit(crate::events::DomainEvent::RetentionFinished(
                crate::events::RetentionNotice {
                    project: report.project.clone(),
                    policy_id: report.policy_id,
                    trigger: if Trigger::scheduled(trigger.as_str()) {
                        "SCHEDULE"
                    } else {
                        "MANUAL"
                    },
                    dry_run: report.dry_run,
                    total: report.tasks.iter().map(|t| t.total).sum(),
                    retained: report.tasks.iter().map(|t| t.retained).sum(),
                    deleted,
                },
            ));
    }

    /// Starts the runs of project policies whose schedule came due.
    pub async fn run_due_project_retention(self: &Arc<Self>) {
        let due = match self
            .registry
            .due_retention_policies(berth_meta::now_ms())
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the retention schedules; will look again");
                return;
            }
        };
        for policy in due {
            let id = policy.id;
            if let Err(e) = self
                .start_project_retention(policy, false, Trigger::Cron)
                .await
            {
                tracing::warn!(policy = id, error = %e, "could not start a scheduled retention run");
            }
        }
    }

    /// Records the end of a run. A scheduled run that changed nothing is counted in the
    /// metrics but not kept in the history, which would otherwise fill with them.
    async fn finish<T: serde::Serialize>(
        &self,
        kind: &'static str,
        run: &Started,
        result: &std::result::Result<T, RegistryError>,
        idle_schedule: bool,
    ) {
        let id = run.id;
        self.stops().remove(&id);
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
