//! What `serve` runs beside the requests, as jobs (`berth-jobs`) so that with several
//! replicas each happens once: the hourly usage sample, upload purging, the check for uploads that lost their
//! bytes, garbage collection and scheduled retention (the configuration's and the projects'). Writing noted pull times is each
//! process's own (they are in its memory).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_core::Registry;
use berth_core::gc::Quiet;
use berth_core::lifecycle::{Lifecycle, Trigger};
use berth_jobs::{Cadence, Jobs};

use crate::settings::ServeSettings;

/// How often pull times noted in memory are written: often enough that a crash loses
/// little, rarely enough that pulls cost no database write each.
const PULL_FLUSH: Duration = Duration::from_secs(10);

pub fn start(jobs: &Arc<Jobs>, lifecycle: Arc<Lifecycle>, s: &ServeSettings) {
    let registry = lifecycle.registry().clone();
    jobs.local_every(PULL_FLUSH, with(&registry, flush_pulls));
    // Each process samples as it starts (a restarted registry's trend is current at
    // once), then one of them every hour.
    tokio::spawn(sample_usage(registry.clone()));
    jobs.schedule(
        "schedule:usage-sample",
        Cadence::Every(USAGE_SAMPLE),
        USAGE_SAMPLE,
        with(&registry, sample_usage),
    );
    jobs.schedule(
        "schedule:lost-uploads",
        Cadence::Every(LOST_UPLOADS),
        Duration::ZERO,
        with(&registry, forget_lost_uploads),
    );
    if let Some(purging) = s.upload_purging.clone() {
        let (age, dry_run) = (purging.age, purging.dry_run);
        jobs.schedule(
            "schedule:upload-purging",
            Cadence::Every(purging.interval),
            Duration::ZERO,
            with(&registry, move |r| purge_uploads(r, age, dry_run)),
        );
    }
    if s.gc.background {
        tracing::info!(
            interval = ?s.gc.interval,
            grace = ?s.gc.options.grace,
            delete_untagged = s.gc.options.rules.delete_untagged,
            "garbage collection runs in the background"
        );
        let walker = jobs.clone();
        jobs.schedule(
            "schedule:gc",
            Cadence::Every(s.gc.interval),
            s.gc.interval,
            with(&lifecycle, move |l| collect_garbage(l, walker.clone())),
        );
    }
    jobs.schedule(
        "schedule:gc-cron",
        Cadence::Every(API_SCHEDULES),
        Duration::ZERO,
        with(&lifecycle, |l| async move { l.run_due_gc_schedule().await }),
    );
    jobs.schedule(
        "schedule:project-retention",
        Cadence::Every(API_SCHEDULES),
        Duration::ZERO,
        with(&lifecycle, |l| async move {
            l.run_due_project_retention().await
        }),
    );
    if let Some(schedule) = s.retention.schedule.clone() {
        tracing::info!(%schedule, policies = lifecycle.retention.len(), dry_run = s.retention.dry_run, "retention scheduled");
        let dry_run = s.retention.dry_run;
        jobs.schedule(
            "schedule:retention",
            Cadence::Cron(schedule),
            Duration::MAX,
            with(&lifecycle, move |l| retain(l, dry_run)),
        );
    }
}

/// A job's work over a shared `value`: each run gets its own handle.
fn with<T, F, Fut>(value: &Arc<T>, work: F) -> impl Fn() -> Fut + Send + Sync + 'static
where
    T: Send + Sync + 'static + ?Sized,
    F: Fn(Arc<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let value = value.clone();
    move || work(value.clone())
}

/// How often the registry's size is measured for the usage trend (a day keeps its last).
const USAGE_SAMPLE: Duration = Duration::from_secs(3600);

async fn sample_usage(registry: Arc<Registry>) {
    if let Err(e) = registry.sample_usage().await {
        tracing::warn!(error = %e, "could not record the registry's size for the usage trend");
    }
}

async fn flush_pulls(registry: Arc<Registry>) {
    if let Err(e) = registry.flush_pulls().await {
        tracing::warn!(error = %e, "could not record pull times; will try again");
    }
}

/// How often background collection also walks the stored blobs for crash leftovers: the
/// walk reads every blob directory, the queues only what changed.
const STORAGE_WALK: Duration = Duration::from_secs(24 * 3600);

async fn collect_garbage(lifecycle: Arc<Lifecycle>, jobs: Arc<Jobs>) {
    let mut options = lifecycle.gc;
    // The storage walk reads every blob directory, the queues only what changed: one run
    // a day (across replicas) walks it.
    options.walk_storage = match jobs.take_turn("turn:gc-storage-walk", STORAGE_WALK).await {
        Ok(turn) => turn,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether this collection walks the storage");
            false
        }
    };
    match lifecycle.collect(&options, Trigger::Schedule, &Quiet).await {
        Ok(r) if r.removed_anything() => {
            tracing::info!(
                manifests = r.manifests_deleted,
                blobs = r.blobs_deleted,
                orphans = r.orphan_files_removed,
                temp_files = r.temp_files_removed,
                bytes = r.bytes_freed,
                ms = r.duration_ms,
                "garbage collection freed space"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "garbage collection failed; will try again"),
    }
}

async fn retain(lifecycle: Arc<Lifecycle>, dry_run: bool) {
    match lifecycle.retain(dry_run, Trigger::Schedule).await {
        Ok(r) => tracing::info!(
            dry_run,
            repositories = r.repositories,
            tags = r.tags_deleted.len(),
            manifests = r.manifests_deleted.len(),
            "retention run finished"
        ),
        Err(e) => tracing::warn!(error = %e, "retention run failed"),
    }
}

/// How often the schedules set through the API (garbage collection, the projects'
/// retention) are looked at: cron schedules name minutes, so a run starts at most this
/// late.
const API_SCHEDULES: Duration = Duration::from_secs(15);

/// How often upload sessions are checked for bytes that vanished (a full disk freed by
/// hand): such a session can never finish, so it goes soon, not after the purge age.
const LOST_UPLOADS: Duration = Duration::from_secs(60);

async fn forget_lost_uploads(registry: Arc<Registry>) {
    match registry.forget_lost_uploads().await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => tracing::warn!(
            uploads = ids.len(),
            ids = ids.join(","),
            "forgot uploads whose stored bytes were lost; their clients start again"
        ),
        Err(e) => tracing::warn!(error = %e, "checking uploads for lost bytes failed"),
    }
}

/// Distribution's upload purging: sessions untouched for `age` go.
async fn purge_uploads(registry: Arc<Registry>, age: Duration, dry_run: bool) {
    match registry.purge_uploads(age, dry_run).await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) if dry_run => tracing::info!(
            uploads = ids.len(),
            ids = ids.join(","),
            "upload purging (dry run): would remove abandoned uploads"
        ),
        Ok(ids) => tracing::info!(
            uploads = ids.len(),
            ids = ids.join(","),
            "purged abandoned uploads"
        ),
        Err(e) => tracing::warn!(error = %e, "upload purging failed; will try again"),
    }
}
