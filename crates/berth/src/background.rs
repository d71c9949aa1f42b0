//! What `serve` runs beside the requests: upload purging, garbage collection, scheduled
//! retention, and writing noted pull times.

use std::sync::Arc;
use std::time::Duration;

use berth_core::Registry;
use berth_core::gc::Quiet;
use berth_core::lifecycle::{Lifecycle, Trigger};

use crate::settings::ServeSettings;

/// How often pull times noted in memory are written: often enough that a crash loses
/// little, rarely enough that pulls cost no database write each.
const PULL_FLUSH: Duration = Duration::from_secs(10);

pub fn start(lifecycle: Arc<Lifecycle>, s: &ServeSettings) {
    tokio::spawn(flush_pulls(lifecycle.registry().clone()));
    tokio::spawn(forget_lost_uploads(lifecycle.registry().clone()));
    if s.gc.background {
        tracing::info!(
            interval = ?s.gc.interval,
            grace = ?s.gc.options.grace,
            delete_untagged = s.gc.options.rules.delete_untagged,
            "garbage collection runs in the background"
        );
        tokio::spawn(collect_garbage(lifecycle.clone(), s.gc.interval));
    }
    if let Some(schedule) = s.retention.schedule.clone() {
        tracing::info!(%schedule, policies = lifecycle.retention.len(), dry_run = s.retention.dry_run, "retention scheduled");
        tokio::spawn(retain(lifecycle, schedule, s.retention.dry_run));
    }
}

async fn flush_pulls(registry: Arc<Registry>) {
    let mut ticker = tokio::time::interval(PULL_FLUSH);
    loop {
        ticker.tick().await;
        if let Err(e) = registry.flush_pulls().await {
            tracing::warn!(error = %e, "could not record pull times; will try again");
        }
    }
}

/// How often background collection also walks the stored blobs for crash leftovers: the
/// walk reads every blob directory, the queues only what changed.
const STORAGE_WALK: Duration = Duration::from_secs(24 * 3600);

async fn collect_garbage(lifecycle: Arc<Lifecycle>, interval: Duration) {
    let mut last_walk: Option<std::time::Instant> = None;
    loop {
        tokio::time::sleep(interval).await;
        let mut options = lifecycle.gc;
        options.walk_storage = last_walk.is_none_or(|at| at.elapsed() >= STORAGE_WALK);
        if options.walk_storage {
            last_walk = Some(std::time::Instant::now());
        }
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
}

async fn retain(
    lifecycle: Arc<Lifecycle>,
    schedule: berth_core::schedule::Schedule,
    dry_run: bool,
) {
    loop {
        let now = berth_meta::now_ms() / 1000;
        let Some(next) = schedule.next_after(now) else {
            tracing::warn!(%schedule, "the retention schedule never fires");
            return;
        };
        tokio::time::sleep(Duration::from_secs((next - now).max(0) as u64)).await;
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
}

/// How often upload sessions are checked for bytes that vanished (a full disk freed by
/// hand): such a session can never finish, so it goes soon, not after the purge age.
const LOST_UPLOADS: Duration = Duration::from_secs(60);

async fn forget_lost_uploads(registry: Arc<Registry>) {
    let mut ticker = tokio::time::interval(LOST_UPLOADS);
    loop {
        ticker.tick().await;
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
}

/// Distribution's upload purging: every `interval`, sessions untouched for `age` go.
pub async fn purge_uploads(registry: Arc<Registry>, p: crate::settings::UploadPurging) {
    let mut ticker = tokio::time::interval(p.interval);
    loop {
        ticker.tick().await;
        match registry.purge_uploads(p.age, p.dry_run).await {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) if p.dry_run => tracing::info!(
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
}
