//! Where the blobs live — a filesystem root in Distribution's layout, or an S3-compatible
//! bucket — and opening it with the lock that orders placing blobs against collecting them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use berth_config::{Config, S3Config, StorageDriver};
use berth_storage::distribution::{FsTree, RegistryTree};
use berth_storage::{BlobStore, FsBlobStore, S3BlobStore, S3Options};

/// S3's region when `storage.s3.region` is not set (stores other than AWS mostly ignore it).
const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub enum BlobLocation {
    Filesystem(PathBuf),
    S3(Box<S3Options>),
}

impl BlobLocation {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(match config.storage.driver() {
            StorageDriver::Filesystem { rootdirectory, .. } => {
                BlobLocation::Filesystem(rootdirectory.clone())
            }
            StorageDriver::S3(s3) => BlobLocation::S3(Box::new(s3_options(s3)?)),
            other => bail!(
                "storage.{}: berth stores blobs on the filesystem or in S3-compatible object \
                 storage; configure storage.filesystem or storage.s3",
                other.name()
            ),
        })
    }

    /// The filesystem root, if the blobs are on one.
    pub fn filesystem_root(&self) -> Option<&Path> {
        match self {
            BlobLocation::Filesystem(root) => Some(root),
            BlobLocation::S3(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            BlobLocation::Filesystem(root) => root.display().to_string(),
            BlobLocation::S3(o) => o.describe(),
        }
    }

    /// Opens the store and the registry:2 tree that may be in it (for import).
    pub fn open(&self) -> anyhow::Result<Opened> {
        Ok(match self {
            BlobLocation::Filesystem(root) => {
                let store = FsBlobStore::new(root)
                    .with_context(|| format!("opening the storage root {}", root.display()))?;
                let tree = FsTree {
                    v2: berth_storage::distribution::v2_dir(root),
                };
                (Arc::new(store), Arc::new(tree))
            }
            BlobLocation::S3(o) => {
                let store = Arc::new(
                    S3BlobStore::new(o).with_context(|| format!("opening {}", o.describe()))?,
                );
                (store.clone(), store)
            }
        })
    }
}

/// An opened store: its blobs and the registry:2 tree in it.
pub type Opened = (Arc<dyn BlobStore>, Arc<dyn RegistryTree>);

fn s3_options(s3: &S3Config) -> anyhow::Result<S3Options> {
    let bucket = s3
        .bucket
        .clone()
        .filter(|b| !b.is_empty())
        .context("storage.s3.bucket: set the bucket that holds the blobs")?;
    // Distribution's regionendpoint may name a host without a scheme; `secure` says which.
    let endpoint = s3
        .regionendpoint
        .as_ref()
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else if s3.secure.unwrap_or(true) {
                format!("https://{e}")
            } else {
                format!("http://{e}")
            }
        });
    if s3.accesskey.is_some() != s3.secretkey.is_some() {
        bail!(
            "storage.s3: set both accesskey and secretkey, or neither (to use the environment's credentials)"
        );
    }
    Ok(S3Options {
        bucket,
        region: s3
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.into()),
        endpoint,
        access_key: s3.accesskey.clone(),
        secret_key: s3.secretkey.clone(),
        session_token: s3.sessiontoken.clone(),
        force_path_style: s3.forcepathstyle,
        root: s3.rootdirectory.clone().unwrap_or_default(),
    })
}
