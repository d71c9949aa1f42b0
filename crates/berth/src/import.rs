//! `berth import`: index a registry:2 tree, with a progress bar.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use berth_core::import::{ImportProgress, ImportSummary, import_tree};
use berth_meta::{MetaStore, SqliteMeta};
use berth_storage::distribution::{FsTree, RegistryTree};
use berth_storage::{BlobStore, FsBlobStore};
use indicatif::{ProgressBar, ProgressStyle};

struct Bar(ProgressBar);

impl ImportProgress for Bar {
    fn started(&self, repositories: usize) {
        self.0.set_length(repositories as u64);
    }
    fn repository_done(&self, name: &str) {
        self.0.set_message(name.to_string());
        self.0.inc(1);
    }
    fn warning(&self, message: &str) {
        self.0.suspend(|| eprintln!("warning: {message}"));
    }
}

/// Logs progress instead of drawing a bar (used when `serve` imports on first start).
pub struct LogProgress;

impl ImportProgress for LogProgress {
    fn started(&self, repositories: usize) {
        tracing::info!(repositories, "importing registry:2 metadata");
    }
    fn repository_done(&self, name: &str) {
        tracing::debug!(repository = name, "imported");
    }
    fn warning(&self, message: &str) {
        tracing::warn!("import: {message}");
    }
}

pub fn default_metadata_path(root: &Path) -> std::path::PathBuf {
    root.join("berth/metadata.db")
}

/// `berth import ROOTDIR`: a registry:2 root on this disk, into SQLite metadata beside it
/// (or `--metadata`).
pub fn run(root: &Path, metadata: Option<&Path>) -> anyhow::Result<()> {
    let v2 = berth_storage::distribution::v2_dir(root);
    anyhow::ensure!(
        v2.is_dir(),
        "{} holds no registry:2 data (expected {}); pass the storage root directory, or \
         --config with the registry's config (for a registry:2 bucket in S3)",
        root.display(),
        v2.display()
    );
    let db = metadata.map_or_else(|| default_metadata_path(root), Path::to_path_buf);
    crate::runtime()?.block_on(async {
        let blobs = FsBlobStore::new(root).context("opening the storage root")?;
        let meta: Arc<dyn MetaStore> = Arc::new(
            SqliteMeta::open(&db)
                .await
                .with_context(|| format!("opening metadata database {}", db.display()))?,
        );
        let tree = FsTree { v2 };
        import_with_bar(&tree, &blobs, meta.as_ref(), &db.display().to_string()).await
    })
}

/// `berth import --config CONFIG`: the tree where the config's storage is (a filesystem
/// root or an S3 bucket), into the metadata it names (SQLite or PostgreSQL).
pub fn run_config(config: &Path) -> anyhow::Result<()> {
    let s = crate::settings::load(Some(config))?;
    crate::runtime()?.block_on(async {
        let (blobs, tree) = s.storage.open()?;
        let meta = s.metadata.open().await?;
        import_with_bar(
            tree.as_ref(),
            blobs.as_ref(),
            meta.as_ref(),
            &s.metadata.describe(),
        )
        .await
    })
}

async fn import_with_bar(
    tree: &dyn RegistryTree,
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    into: &str,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} repositories {msg}")?
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let summary = import_tree(tree, blobs, meta, &Bar(bar.clone())).await?;
    mark_imported(meta).await?;
    bar.finish_and_clear();
    println!(
        "imported {} in {:.1}s into {into}",
        describe(&summary),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

pub fn describe(s: &ImportSummary) -> String {
    format!(
        "{} repositories, {} manifests, {} tags, {} layer links ({} warnings)",
        s.repositories, s.manifests, s.tags, s.layers, s.warnings
    )
}

/// Set once a registry:2 tree has been indexed completely.
const IMPORTED_KEY: &str = "distribution_import_completed_at";

/// On `serve`: a root or bucket with registry:2 data that was never fully imported is imported
/// before serving, so a registry:2 user just points berth at their directory. An import
/// cut short by a crash is simply run again (it is idempotent).
pub async fn import_if_new(
    tree: &dyn RegistryTree,
    blobs: &dyn BlobStore,
    meta: &Arc<dyn MetaStore>,
) -> anyhow::Result<()> {
    if meta.setting(IMPORTED_KEY).await?.is_some() || tree.is_empty().await? {
        return Ok(());
    }
    let summary = import_tree(tree, blobs, meta.as_ref(), &LogProgress).await?;
    mark_imported(meta.as_ref()).await?;
    tracing::info!("imported existing registry:2 data: {}", describe(&summary));
    Ok(())
}

async fn mark_imported(meta: &dyn MetaStore) -> anyhow::Result<()> {
    meta.set_setting(IMPORTED_KEY, &berth_meta::now_ms().to_string())
        .await?;
    Ok(())
}
