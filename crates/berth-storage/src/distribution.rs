//! Reading a CNCF Distribution (`registry:2`) tree in place: which repositories exist and
//! what their link files say. Only reads; berth's importer turns this into metadata.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_oci::Digest;

/// `<root>/docker/registry/v2`: the top of Distribution's tree under a storage root.
pub fn v2_dir(root: &Path) -> PathBuf {
    root.join("docker/registry/v2")
}

/// Where Distribution keeps a blob's bytes below the top of its tree (`v2`):
/// `blobs/<algorithm>/<2 hex>/<hex>/data`.
pub fn blob_data(v2: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    v2.join("blobs")
        .join(digest.algorithm().as_str())
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// What one repository directory of a Distribution tree holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepositoryLinks {
    /// The repository name: its path below `repositories/`, `/`-separated.
    pub name: String,
    /// `_layers/<alg>/<hex>/link`
    pub layers: Vec<Digest>,
    /// `_manifests/revisions/<alg>/<hex>/link`
    pub manifests: Vec<Digest>,
    /// `_manifests/tags/<tag>/current/link`
    pub tags: Vec<(String, Digest)>,
    /// Link files that could not be read or did not hold a digest.
    pub broken_links: Vec<String>,
}

/// A registry:2 tree's link files, wherever they are kept: what import reads.
#[async_trait::async_trait]
pub trait RegistryTree: Send + Sync {
    /// Whether there is no tree at all (cheap: start-up asks every time).
    async fn is_empty(&self) -> crate::Result<bool>;
    /// Every repository (holding `_manifests` or `_layers`), sorted by name.
    async fn repository_names(&self) -> crate::Result<Vec<String>>;
    /// The link files of one repository.
    async fn repository(&self, name: &str) -> crate::Result<RepositoryLinks>;
}

/// A tree on the filesystem, `<v2>/repositories/...`.
pub struct FsTree {
    pub v2: PathBuf,
}

#[async_trait::async_trait]
impl RegistryTree for FsTree {
    async fn is_empty(&self) -> crate::Result<bool> {
        Ok(!self.v2.join("repositories").is_dir())
    }

    async fn repository_names(&self) -> crate::Result<Vec<String>> {
        let v2 = self.v2.clone();
        crate::blocking(move || list_repositories(&v2).map_err(|e| crate::StorageError::io(&v2, e)))
            .await
    }

    async fn repository(&self, name: &str) -> crate::Result<RepositoryLinks> {
        let (v2, name) = (self.v2.clone(), name.to_string());
        crate::blocking(move || {
            read_repository(&v2, &name).map_err(|e| crate::StorageError::io(v2.join(&name), e))
        })
        .await
    }
}

/// Finds every repository under `<v2>/repositories`: directories holding `_manifests` or
/// `_layers`. Sorted by name.
pub fn list_repositories(v2: &Path) -> io::Result<Vec<String>> {
    let top = v2.join("repositories");
    let mut found = Vec::new();
    if top.is_dir() {
        walk(&top, &top, &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn walk(top: &Path, dir: &Path, found: &mut Vec<String>) -> io::Result<()> {
    let mut is_repo = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "_manifests" || name == "_layers" {
            is_repo = true;
        } else if !name.starts_with('_') {
            walk(top, &entry.path(), found)?;
        }
    }
    if is_repo && let Ok(rel) = dir.strip_prefix(top) {
        found.push(rel.to_string_lossy().replace('\\', "/"));
    }
    Ok(())
}

/// Reads the link files of one repository.
pub fn read_repository(v2: &Path, name: &str) -> io::Result<RepositoryLinks> {
    let dir = v2.join("repositories").join(name);
    let mut links = RepositoryLinks {
        name: name.to_string(),
        ..Default::default()
    };
    let mut broken = Vec::new();
    links.layers = digest_links(&dir.join("_layers"), &mut broken)?;
    links.manifests = digest_links(&dir.join("_manifests/revisions"), &mut broken)?;
    let tags_dir = dir.join("_manifests/tags");
    if tags_dir.is_dir() {
        for entry in fs::read_dir(&tags_dir)? {
            let entry = entry?;
            let tag = entry.file_name().to_string_lossy().into_owned();
            let link = entry.path().join("current/link");
            match read_link(&link) {
                Some(d) => links.tags.push((tag, d)),
                None => broken.push(link.display().to_string()),
            }
        }
    }
    links.tags.sort();
    links.broken_links = broken;
    Ok(links)
}

/// `<dir>/<alg>/<hex>/link` files, each holding `alg:hex`.
fn digest_links(dir: &Path, broken: &mut Vec<String>) -> io::Result<Vec<Digest>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for alg in fs::read_dir(dir)? {
        let alg = alg?;
        if !alg.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(alg.path())? {
            let link = entry?.path().join("link");
            if !link.exists() {
                continue;
            }
            match read_link(&link) {
                Some(d) => out.push(d),
                None => broken.push(link.display().to_string()),
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_link(path: &Path) -> Option<Digest> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}
