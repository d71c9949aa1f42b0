//! Online garbage collection: manifests and blobs that nothing needs any more, found through
//! the metadata's review queues and removed while the registry serves.
//!
//! A pass takes batches of candidates under review for longer than the grace period. Each
//! batch is decided and forgotten in one metadata transaction that checks references
//! again, then its bytes are removed; the batch holds the placement lock alone, so no upload or
//! manifest can make one of those blobs visible in between. Bytes whose metadata went but
//! that a crash left on disk are only wasted space; nothing referenced is ever removed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_meta::{CollectRules, CollectedManifest, duration_ms, now_ms};
use berth_oci::{Digest, RepoName};
use berth_storage::Found;
use futures_util::StreamExt;

use crate::{Registry, RegistryError, Result};

/// Candidates decided per transaction: small enough that pushes waiting on the placement lock
/// wait milliseconds, large enough to amortise the commit.
const BATCH: u32 = 256;

/// Temporary files older than this belong to writes that crashed (a manifest write takes
/// milliseconds).
const TEMP_FILE_AGE: Duration = Duration::from_secs(3600);

/// What one collection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// How long something must have been unreferenced (or untagged) before it goes.
    pub grace: Duration,
    pub rules: CollectRules,
    /// Only report what would go.
    pub dry_run: bool,
    /// Also walk the stored blobs for bytes the metadata does not know (left by a crash
    /// between a step's commit and its deletes). Only once the metadata knows every blob:
    /// not while a registry:2 tree awaits its import.
    pub walk_storage: bool,
}

/// What a collection removed (or would remove, in a dry run).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GcReport {
    pub dry_run: bool,
    pub manifests_deleted: u64,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    /// Stored blobs the metadata did not know (crash leftovers), removed.
    pub orphan_files_removed: u64,
    /// Temporary files of crashed writes removed on the storage walk.
    pub temp_files_removed: u64,
    pub duration_ms: u64,
    /// The manifests, as `repository@digest (reason)`; the first 1,000.
    pub manifests: Vec<String>,
    /// The blobs' digests; the first 1,000.
    pub blobs: Vec<String>,
    /// Queued for review but still inside the grace period: not decided by this run.
    pub waiting_manifests: u64,
    pub waiting_blobs: u64,
    /// When the first of those may be collected (ms), if there are any.
    pub next_collectable_at_ms: Option<i64>,
}

/// Hears how far a collection has come (the CLI draws progress bars with it).
pub trait Progress: Send + Sync {
    /// A pass starts: `manifests` or `blobs`, with how many wait in its queue.
    fn pass(&self, name: &'static str, queued: u64);
    /// `examined` more candidates were decided, `removed` of them removed.
    fn advance(&self, examined: u64, removed: u64);
    /// Someone asked the run to stop: it does after the batch at hand.
    fn stopped(&self) -> bool {
        false
    }
}

/// A [`Progress`] that says nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn pass(&self, _: &'static str, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
}

/// How many manifests and blobs a report names (it counts them all).
const LISTED: usize = 1000;

impl GcReport {
    /// Whether the run removed (or, dry, would remove) anything at all.
    pub fn removed_anything(&self) -> bool {
        self.manifests_deleted
            + self.blobs_deleted
            + self.orphan_files_removed
            + self.temp_files_removed
            > 0
    }

    fn add_manifests(&mut self, collected: &[CollectedManifest]) {
        self.manifests_deleted += collected.len() as u64;
        for m in collected {
            if self.manifests.len() < LISTED {
                self.manifests.push(format!(
                    "{}@{} ({})",
                    m.repository,
                    m.digest,
                    m.reason.as_str()
                ));
            }
        }
    }

    fn add_blob(&mut self, digest: &Digest, size: u64) {
        self.blobs_deleted += 1;
        self.bytes_freed += size;
        if self.blobs.len() < LISTED {
            self.blobs.push(digest.to_string());
        }
    }
}

impl Registry {
    /// Runs one garbage collection to the end of both review queues.
    pub async fn collect_garbage(
        &self,
        options: &GcOptions,
        progress: &dyn Progress,
    ) -> Result<GcReport> {
        let started = Instant::now();
        let grace_ms = duration_ms(options.grace);
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let (queued_manifests, queued_blobs) = self.meta.gc_backlog().await?;
        if options.dry_run {
            progress.pass("plan", queued_manifests + queued_blobs);
            let plan = self.meta.plan_collection(&options.rules, grace_ms).await?;
            report.add_manifests(&plan.manifests);
            for (digest, size) in &plan.blobs {
                report.add_blob(digest, *size);
            }
            progress.advance(queued_manifests + queued_blobs, report.blobs_deleted);
            if options.walk_storage {
                // Counted, not removed (temporary files included: none is old enough).
                report.orphan_files_removed =
                    self.orphan_suspects(Duration::MAX).await?.0.len() as u64;
            }
        } else {
            progress.pass("manifests", queued_manifests);
            self.collect_manifests(options, grace_ms, &mut report, progress)
                .await?;
            let (_, queued_blobs) = self.meta.gc_backlog().await?;
            progress.pass("blobs", queued_blobs);
            self.collect_blobs(grace_ms, &mut report, progress).await?;
            if options.walk_storage {
                self.remove_orphan_files(&mut report, progress).await?;
            }
        }
        let waiting = self.meta.gc_waiting(now_ms() - grace_ms).await?;
        report.waiting_manifests = waiting.manifests;
        report.waiting_blobs = waiting.blobs;
        report.next_collectable_at_ms = waiting.oldest_since.map(|since| since + grace_ms);
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Deletes garbage manifests until none is left; deleting an index can make its
    /// children garbage, which the next round (with a fresh cutoff) sees.
    async fn collect_manifests(
        &self,
        options: &GcOptions,
        grace_ms: i64,
        report: &mut GcReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        loop {
            let cutoff = now_ms() - grace_ms;
            let mut removed_this_round = 0;
            loop {
                let (collected, examined) = self
                    .meta
                    .collect_manifests(&options.rules, cutoff, BATCH)
                    .await?;
                progress.advance(examined as u64, collected.len() as u64);
                if progress.stopped() {
                    return Err(RegistryError::Stopped);
                }
                removed_this_round += collected.len();
                report.add_manifests(&collected);
                for m in &collected {
                    tracing::info!(repository = %m.repository, digest = %m.digest, reason = m.reason.as_str(), "garbage collection deleted manifest");
                }
                if examined < BATCH as usize {
                    break;
                }
            }
            if removed_this_round == 0 {
                return Ok(());
            }
        }
    }

    async fn collect_blobs(
        &self,
        grace_ms: i64,
        report: &mut GcReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        let cutoff = now_ms() - grace_ms;
        loop {
            let _alone = self.meta.sweeping().await?;
            let (collected, examined) = self.meta.collect_blobs(cutoff, BATCH).await?;
            let digests: Vec<Digest> = collected.iter().map(|(d, _)| d.clone()).collect();
            // The metadata is gone already: a failure here leaves wasted space only, which
            // the next storage walk reclaims.
            if let Err(e) = self.blobs.delete_many(&digests).await {
                tracing::warn!(error = %e, "could not remove collected blobs");
            }
            for (digest, size) in &collected {
                report.add_blob(digest, *size);
            }
            drop(_alone);
            progress.advance(examined as u64, collected.len() as u64);
            if progress.stopped() {
                return Err(RegistryError::Stopped);
            }
            if examined < BATCH as usize {
                return Ok(());
            }
        }
    }

    /// Removes stored blobs the metadata does not list. Decided under the placement lock held
    /// alone: no upload or manifest is then between putting its bytes in place and
    /// recording them, so a blob the metadata does not know is truly nobody's.
    async fn remove_orphan_files(
        &self,
        report: &mut GcReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        let (suspects, temp_files_removed) = self.orphan_suspects(TEMP_FILE_AGE).await?;
        report.temp_files_removed += temp_files_removed;
        progress.pass("storage", suspects.len() as u64);
        if suspects.is_empty() {
            return Ok(());
        }
        let _alone = self.meta.sweeping().await?;
        let orphans = self.meta.unknown_blobs(&suspects).await?;
        for digest in &orphans {
            report.bytes_freed += self.blobs.stat(digest).await?.unwrap_or(0);
        }
        let removed = self.blobs.delete_many(&orphans).await?;
        report.orphan_files_removed += removed;
        progress.advance(suspects.len() as u64, removed);
        if !orphans.is_empty() {
            tracing::info!(
                count = orphans.len(),
                "garbage collection removed stored blobs the metadata did not list"
            );
        }
        Ok(())
    }

    /// Walks the storage: the stored blobs the metadata knows nothing of, and how many
    /// temporary files older than `temp_age` went on the way. The walk is checked against
    /// the metadata a batch at a time; only the unknown ones are kept.
    async fn orphan_suspects(&self, temp_age: Duration) -> Result<(Vec<Digest>, u64)> {
        const BATCH: usize = 1000;
        let mut walk = self.blobs.inventory(temp_age).await?;
        let (mut unknown, mut batch, mut temp_files_removed) = (Vec::new(), Vec::new(), 0);
        loop {
            let done = match walk.next().await.transpose()? {
                Some(Found::Blob(digest)) => {
                    batch.push(digest);
                    false
                }
                Some(Found::TempFileRemoved) => {
                    temp_files_removed += 1;
                    false
                }
                None => true,
            };
            if batch.len() >= BATCH || (done && !batch.is_empty()) {
                unknown.extend(self.meta.unknown_blobs(&batch).await?);
                batch.clear();
            }
            if done {
                return Ok((unknown, temp_files_removed));
            }
        }
    }

    /// Notes a manifest pull (kept in memory; [`Registry::flush_pulls`] writes them).
    pub fn note_pull(&self, repo: &RepoName, digest: &Digest) {
        self.pulls.note(repo, digest);
    }

    /// Writes the pulls noted since the last flush, in one transaction.
    pub async fn flush_pulls(&self) -> Result<usize> {
        let pulls = self.pulls.take();
        if pulls.is_empty() {
            return Ok(0);
        }
        self.meta.record_pulls(&pulls).await?;
        Ok(pulls.len())
    }
}

/// Manifest pulls since the last flush: the latest time and a count per manifest, so a
/// hot tag costs one map entry however often it is pulled.
#[derive(Default)]
pub struct PullLog(Mutex<HashMap<(RepoName, Digest), (i64, u64)>>);

impl PullLog {
    fn note(&self, repo: &RepoName, digest: &Digest) {
        let now = now_ms();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry((repo.clone(), digest.clone()))
            .or_insert((now, 0));
        *entry = (now, entry.1 + 1);
    }

    fn take(&self) -> Vec<berth_meta::Pulls> {
        let map = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        map.into_iter()
            .map(|((repo, digest), (at, count))| berth_meta::Pulls {
                repo,
                digest,
                at,
                count,
            })
            .collect()
    }
}
