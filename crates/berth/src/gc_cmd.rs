//! `berth gc`, `berth garbage-collect` (registry:2's flags) and `berth retention`: run a
//! collection or the retention policies from the command line, with progress bars. They
//! work beside a registry serving the same config: both sides take the same database and
//! placement locks, and the server reads everything from the database, so it never serves what
//! was removed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_core::Registry;
use berth_core::gc::{GcReport, Progress};
use berth_core::lifecycle::{Lifecycle, LifecycleMetrics, Trigger};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::settings::{self, ServeSettings};

#[derive(Args)]
pub struct GcArgs {
    /// Only report what would be removed.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Also remove manifests no tag points to (unless an index or a present subject needs them).
    #[arg(short = 'm', long)]
    delete_untagged: bool,
    /// How long something must have been unreferenced before it goes (e.g. 24h, 30m, 0s);
    /// default: berth.gc.grace (24h).
    #[arg(long, value_parser = parse_duration)]
    grace: Option<Duration>,
    /// Print only the summary.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// A registry:2-style config.yml (default: ./data, as `berth serve` without one).
    config: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct RetentionArgs {
    /// Only list what would be deleted.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// The config whose berth.retention policies to apply.
    config: Option<std::path::PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    berth_config::parse_go_duration(s).map_err(|e| format!("{e} (e.g. 24h, 30m, 0s)"))
}

async fn open(s: &ServeSettings) -> anyhow::Result<Arc<Lifecycle>> {
    let crate::serve::Storage { blobs, meta } = crate::serve::open_storage(s).await?;
    let meta_for_jobs = meta.clone();
    let registry = Arc::new(Registry::new(
        blobs,
        meta,
        crate::serve::registry_options(s),
    ));
    Ok(Arc::new(Lifecycle::new(
        registry,
        s.gc.options,
        s.retention.policies.clone(),
        LifecycleMetrics::default(),
        berth_jobs::Jobs::new(meta_for_jobs, s.job_lease),
    )))
}

fn load(config: Option<&Path>) -> anyhow::Result<ServeSettings> {
    let s = settings::load(config)?;
    for warning in &s.warnings {
        eprintln!("warning: config: {warning}");
    }
    Ok(s)
}

/// One bar per pass.
struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    /// Removed so far in the current pass.
    removed: std::sync::atomic::AtomicU64,
    quiet: bool,
}

impl Progress for Bars {
    fn pass(&self, name: &'static str, queued: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(queued).with_style(
            ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} reviewed, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name);
        bar.set_message("0 removed");
        self.removed.store(0, std::sync::atomic::Ordering::Relaxed);
        let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.replace(bar) {
            old.finish();
        }
    }

    fn advance(&self, examined: u64, removed: u64) {
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            bar.inc(examined);
            let so_far = self
                .removed
                .fetch_add(removed, std::sync::atomic::Ordering::Relaxed)
                + removed;
            bar.set_message(format!("{so_far} removed"));
        }
    }
}

impl Bars {
    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish();
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn print_report(r: &GcReport, quiet: bool) {
    if r.dry_run && !quiet {
        for m in &r.manifests {
            println!("manifest eligible for deletion: {m}");
        }
        for b in &r.blobs {
            println!("blob eligible for deletion: {b}");
        }
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    if r.orphan_files_removed > 0 {
        println!(
            "{verb} {} stored blobs no repository holds (left by an interrupted run, or by registry:2 deletes)",
            r.orphan_files_removed
        );
    }
    println!(
        "garbage collection {verb} {} manifests and {} blobs, {} freed, in {:.2}s",
        r.manifests_deleted,
        r.blobs_deleted,
        megabytes(r.bytes_freed),
        r.duration_ms as f64 / 1000.0
    );
    if let Some(at) = r.next_collectable_at_ms {
        let wait = Duration::from_millis(at.saturating_sub(berth_meta::now_ms()).max(0) as u64);
        println!(
            "{} manifests and {} blobs are waiting out the grace period; the first may be \
             collected from {} (in {}), if nothing uses it by then",
            r.waiting_manifests,
            r.waiting_blobs,
            berth_notify::time::rfc3339((at / 1000) as u64),
            human(wait)
        );
    }
}

/// `3h 12m`, `4m 5s`, `12s`: how long until something, for people.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec}s"),
        (h, min, _) => format!("{h}h {min}m"),
    }
}

pub fn gc(args: GcArgs) -> anyhow::Result<()> {
    let s = load(args.config.as_deref())?;
    crate::runtime()?.block_on(async {
        let lifecycle = open(&s).await?;
        let mut options = lifecycle.gc;
        options.dry_run = args.dry_run;
        options.rules.delete_untagged |= args.delete_untagged;
        if let Some(grace) = args.grace {
            options.grace = grace;
        }
        let bars = Bars {
            bar: Default::default(),
            removed: Default::default(),
            quiet: args.quiet,
        };
        let report = lifecycle
            .collect(&options, Trigger::Cli, &bars)
            .await
            .context("garbage collection failed; run it again to finish (nothing referenced was removed)")?;
        bars.finish();
        print_report(&report, args.quiet);
        Ok(())
    })
}

pub fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    let s = load(args.config.as_deref())?;
    anyhow::ensure!(
        !s.retention.policies.is_empty(),
        "no retention policies: add berth.retention.policies to the config (see docs/operations.md)"
    );
    crate::runtime()?.block_on(async {
        let lifecycle = open(&s).await?;
        let r = lifecycle.retain(args.dry_run, Trigger::Cli).await?;
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        for t in &r.tags_deleted {
            println!("tag {verb}: {t}");
        }
        for m in &r.manifests_deleted {
            println!("manifest {verb}: {m}");
        }
        for t in &r.immutable_skipped {
            println!("immutable, kept: {t}");
        }
        println!(
            "retention {verb} {} tags and {} manifests in {} repositories; run `berth gc` (or let background collection) reclaim the space",
            r.tags_deleted.len(),
            r.manifests_deleted.len(),
            r.repositories
        );
        Ok(())
    })
}
