//! Indexing a CNCF Distribution (`registry:2`) tree into the metadata database, in place:
//! link files are read, manifest blobs are parsed, and no blob byte is moved or copied.

use berth_meta::{ImportedRepository, ManifestRecord, MetaStore};

use crate::manifests::manifest_record;
use berth_oci::{Digest, ParsedManifest, RepoName, Tag};
use berth_storage::BlobStore;
use berth_storage::distribution::{RegistryTree, RepositoryLinks};
use futures_util::{StreamExt, TryStreamExt};

use crate::{RegistryError, Result};

/// Receives progress as the import walks repositories.
pub trait ImportProgress: Send + Sync {
    fn started(&self, repositories: usize);
    fn repository_done(&self, name: &str);
    fn warning(&self, message: &str);
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub repositories: usize,
    pub manifests: usize,
    pub tags: usize,
    pub layers: usize,
    pub warnings: usize,
}

/// Repositories read from disk at once: link-file reads and manifest parses overlap.
const READ_AHEAD: usize = 8;
/// Repositories written per metadata transaction: one commit (and fsync) per batch
/// rather than per repository.
const BATCH: usize = 256;

/// Indexes every repository of a registry:2 tree (on disk or in a bucket). Safe to run
/// again: what is already known is left as it is.
pub async fn import_tree(
    tree: &dyn RegistryTree,
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary> {
    let names = tree.repository_names().await?;
    progress.started(names.len());
    let mut summary = ImportSummary::default();
    let mut reads = futures_util::stream::iter(names)
        .map(|name| async move {
            let links = tree.repository(&name).await?;
            let mut counts = ImportSummary::default();
            let repo = import_repository(links, blobs, progress, &mut counts).await?;
            Ok::<_, RegistryError>((name, repo, counts))
        })
        .buffered(READ_AHEAD);
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = Vec::with_capacity(BATCH);
    while let Some(read) = reads.next().await {
        let (name, repo, counts) = read?;
        summary.add(&counts);
        match repo {
            Some(repo) => {
                batch.push(repo);
                summary.repositories += 1;
            }
            None => summary.warnings += 1,
        }
        done.push(name);
        if batch.len() >= BATCH {
            flush(meta, progress, &mut batch, &mut done).await?;
        }
    }
    flush(meta, progress, &mut batch, &mut done).await?;
    Ok(summary)
}

/// Writes a batch, then reports its repositories as done.
async fn flush(
    meta: &dyn MetaStore,
    progress: &dyn ImportProgress,
    batch: &mut Vec<ImportedRepository>,
    done: &mut Vec<String>,
) -> Result<()> {
    if !batch.is_empty() {
        meta.import_repositories(batch).await?;
        batch.clear();
    }
    for name in done.drain(..) {
        progress.repository_done(&name);
    }
    Ok(())
}

impl ImportSummary {
    fn add(&mut self, other: &ImportSummary) {
        self.repositories += other.repositories;
        self.manifests += other.manifests;
        self.tags += other.tags;
        self.layers += other.layers;
        self.warnings += other.warnings;
    }
}

async fn import_repository(
    links: RepositoryLinks,
    blobs: &dyn BlobStore,
    progress: &dyn ImportProgress,
    summary: &mut ImportSummary,
) -> Result<Option<ImportedRepository>> {
    let mut warn = |msg: String| {
        progress.warning(&msg);
        summary.warnings += 1;
    };
    let name: RepoName = match links.name.parse() {
        Ok(n) => n,
        Err(e) => {
            warn(format!("skipping repository {:?}: {e}", links.name));
            return Ok(None);
        }
    };
    for path in &links.broken_links {
        warn(format!("{name}: unreadable link file {path}"));
    }
    let mut repo = ImportedRepository {
        name: name.clone(),
        layers: Vec::new(),
        manifests: Vec::new(),
        tags: Vec::new(),
    };
    for digest in links.layers {
        match blobs.stat(&digest).await? {
            Some(size) => repo.layers.push((digest, size)),
            None => warn(format!(
                "{name}: layer {digest} is linked but its blob is missing"
            )),
        }
    }
    for digest in links.manifests {
        match read_manifest(blobs, &digest).await? {
            Some(m) => repo.manifests.push(m),
            None => warn(format!(
                "{name}: manifest {digest} is missing or not a manifest; skipped"
            )),
        }
    }
    for (tag, digest) in links.tags {
        let known = repo.manifests.iter().any(|m| m.digest == digest);
        match tag.parse::<Tag>() {
            Ok(t) if known => repo.tags.push((t, digest)),
            Ok(_) => warn(format!(
                "{name}: tag {tag} points at unknown manifest {digest}"
            )),
            Err(e) => warn(format!("{name}: skipping tag: {e}")),
        }
    }
    summary.layers += repo.layers.len();
    summary.manifests += repo.manifests.len();
    summary.tags += repo.tags.len();
    Ok(Some(repo))
}

async fn read_manifest(blobs: &dyn BlobStore, digest: &Digest) -> Result<Option<ManifestRecord>> {
    let content: Vec<u8> = match blobs.read(digest, None).await {
        Ok(stream) => stream
            .try_fold(Vec::new(), |mut acc, chunk| async move {
                acc.extend_from_slice(&chunk);
                Ok(acc)
            })
            .await
            .map_err(RegistryError::Body)?,
        Err(berth_storage::StorageError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Ok(parsed) = ParsedManifest::parse_stored(&content) else {
        return Ok(None);
    };
    Ok(Some(manifest_record(
        digest.clone(),
        &parsed,
        content.into(),
    )))
}
