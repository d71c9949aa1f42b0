//! `berth backup DEST` and `berth restore SRC`: a consistent copy of a registry taken while
//! it serves, and bringing one back into an empty storage root.
//!
//! A backup is a directory: `metadata.db` (a snapshot of the metadata as of one moment),
//! `blobs/<algorithm>/<2 hex>/<hex>/data` (every blob that snapshot lists, in
//! Distribution's layout), the token service's signing key when there is one, and
//! `backup.json` saying what it holds. Blobs are content-addressed, so a later backup into
//! the same directory adds only the new ones; on the same filesystem they are hard links.
//! While the blobs are copied the backup holds the placement lock shared, so garbage
//! collection cannot remove a blob the snapshot lists before it is copied (pushes go on).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use berth_meta::{MetaStore, SqliteMeta, Uploads};
use berth_oci::Digest;
use berth_storage::distribution::{blob_data, v2_dir};
use indicatif::{ProgressBar, ProgressStyle};

use crate::settings::{AuthSettings, ServeSettings};

const SNAPSHOT: &str = "metadata.db";
const KEY: &str = "token-key.pem";
const INDEX: &str = "backup.json";
/// Blobs listed per query.
const PAGE: u32 = 1000;

/// The SQLite file `command` works on; PostgreSQL has its own tools.
fn sqlite_only<'a>(s: &'a ServeSettings, command: &str) -> anyhow::Result<&'a Path> {
    s.metadata.sqlite_path().with_context(|| {
        format!(
            "berth {command} works on SQLite metadata, and this registry's is in {}: use              PostgreSQL's own tools for it (pg_dump / pg_restore, or continuous archiving),              and copy the storage root's blobs beside it",
            s.metadata.describe()
        )
    })
}

/// The storage root `command` works on; a bucket is backed up by the store's own means.
fn filesystem_only<'a>(s: &'a ServeSettings, command: &str) -> anyhow::Result<&'a Path> {
    s.storage.filesystem_root().with_context(|| {
        format!(
            "berth {command} copies a filesystem storage root, and this registry's blobs are \
             in {}: use the object store's own replication or versioning for them",
            s.storage.describe()
        )
    })
}

/// The signing key of berth's own token service, if this registry has one.
fn signing_key(s: &ServeSettings) -> Option<&Path> {
    match &s.auth {
        AuthSettings::Local { signing_key, .. } => Some(signing_key),
        _ => None,
    }
}

/// Puts `from` at `to` (absent so far): a hard link where both are on one filesystem, else
/// a copy made durable before it takes the final name. `false` if `to` was there already.
fn place(from: &Path, to: &Path) -> anyhow::Result<bool> {
    if to.is_file() {
        return Ok(false);
    }
    let dir = to.parent().context("a blob path has a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if fs::hard_link(from, to).is_ok() {
        return Ok(true);
    }
    let tmp = dir.join(format!("data.tmp-{}", std::process::id()));
    fs::copy(from, &tmp).with_context(|| format!("copying {}", from.display()))?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    fs::rename(&tmp, to).with_context(|| format!("placing {}", to.display()))?;
    Ok(true)
}

fn progress(len: u64, what: &str) -> anyhow::Result<ProgressBar> {
    Ok(ProgressBar::new(len).with_style(
        ProgressStyle::with_template(&format!("{{spinner}} [{{bar:40}}] {{pos}}/{{len}} {what}"))?
            .progress_chars("=> "),
    ))
}

/// Every stored blob `meta` lists, page by page.
async fn all_blobs(meta: &dyn MetaStore) -> anyhow::Result<Vec<(Digest, u64)>> {
    let mut all = Vec::new();
    loop {
        let page = meta.stored_blobs(all.last().map(|(d, _)| d), PAGE).await?;
        let done = page.len() < PAGE as usize;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The blobs a metadata snapshot lists. The snapshot is opened like any database and
/// closed again; the files opening leaves beside it are removed.
async fn snapshot_blobs(snapshot: &Path) -> anyhow::Result<Vec<(Digest, u64)>> {
    let copy = SqliteMeta::open(snapshot)
        .await
        .with_context(|| format!("reading the metadata snapshot {}", snapshot.display()))?;
    let listed = all_blobs(&copy).await;
    copy.close().await;
    for companion in SqliteMeta::companions(snapshot) {
        let _ = fs::remove_file(companion);
    }
    listed
}

/// Copies the blobs `listed` from the tree under `from` to the one under `to`; how many
/// were new and how many bytes they hold. Every listed blob must be there.
fn copy_blobs(listed: &[(Digest, u64)], from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let bar = progress(listed.len() as u64, "blobs")?;
    let (mut new, mut bytes) = (0, 0);
    for (digest, size) in listed {
        let src = blob_data(from, digest);
        let len = fs::metadata(&src).map(|m| m.len()).with_context(|| {
            format!(
                "blob {digest} is listed but not stored at {}",
                src.display()
            )
        })?;
        if len != *size {
            bail!("blob {digest} holds {len} bytes, not the {size} recorded");
        }
        if place(&src, &blob_data(to, digest))? {
            new += 1;
            bytes += size;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((new, bytes))
}

pub fn backup(config: Option<&Path>, dest: &Path) -> anyhow::Result<()> {
    let s = crate::settings::load(config)?;
    sqlite_only(&s, "backup")?;
    let root = filesystem_only(&s, "backup")?;
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    crate::runtime()?.block_on(async {
        let storage = crate::serve::open_storage(&s).await?;
        let meta = storage.meta;
        // Shared, as a push holds it: collections wait until every listed blob is copied.
        let _no_sweeping = meta.placing().await?;
        let snapshot = dest.join(SNAPSHOT);
        let fresh = dest.join(format!("{SNAPSHOT}.new"));
        let _ = fs::remove_file(&fresh);
        meta.snapshot_to(&fresh)
            .await
            .context("taking a snapshot of the metadata")?;
        let listed = snapshot_blobs(&fresh).await?;
        let started = std::time::Instant::now();
        let (new, bytes) = copy_blobs(&listed, &v2_dir(root), dest)?;
        fs::rename(&fresh, &snapshot).context("putting the snapshot in place")?;
        if let Some(key) = signing_key(&s).filter(|k| k.is_file()) {
            fs::copy(key, dest.join(KEY)).context("copying the token signing key")?;
        }
        let index = serde_json::json!({
            "berth": env!("CARGO_PKG_VERSION"),
            "taken_at": berth_notify::time::rfc3339((berth_meta::now_ms() / 1000) as u64),
            "source": root.display().to_string(),
            "blobs": listed.len(),
            "bytes": listed.iter().map(|(_, n)| n).sum::<u64>(),
        });
        let mut f = fs::File::create(dest.join(INDEX))?;
        writeln!(f, "{index:#}")?;
        f.sync_all()?;
        println!(
            "backed up the metadata and {} blobs into {} ({} new, {:.1} MB, in {:.1}s)",
            listed.len(),
            dest.display(),
            new,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

pub fn restore(config: Option<&Path>, src: &Path) -> anyhow::Result<()> {
    let s = crate::settings::load(config)?;
    let snapshot = src.join(SNAPSHOT);
    if !snapshot.is_file() {
        bail!("{} holds no berth backup (no {SNAPSHOT})", src.display());
    }
    let metadata = sqlite_only(&s, "restore")?;
    let root = filesystem_only(&s, "restore")?;
    if metadata.exists() || v2_dir(root).join("blobs").exists() {
        bail!(
            "{} already holds a registry: restore into an empty storage root (set \
             storage.filesystem.rootdirectory to a new directory)",
            s.root.display()
        );
    }
    crate::runtime()?.block_on(async {
        // The copy first (opening it may bring an older backup's schema up to date; the
        // backup itself stays as it was), its blobs next, its final name last.
        let dir = metadata
            .parent()
            .context("the metadata path has a directory")?;
        fs::create_dir_all(dir)?;
        let restoring = metadata.with_extension("db.restoring");
        fs::copy(&snapshot, &restoring).context("copying the metadata")?;
        fs::File::open(&restoring)?.sync_all()?;
        let listed = snapshot_blobs(&restoring).await?;
        let (new, bytes) = copy_blobs(&listed, src, &v2_dir(root))?;
        fs::rename(&restoring, metadata)?;
        // Opening it makes the files private. Uploads under way at the backup had their
        // bytes elsewhere: their clients start again.
        let meta = SqliteMeta::open(metadata).await?;
        for id in meta.stale_uploads(i64::MAX).await? {
            meta.delete_upload(&id).await?;
        }
        meta.close().await;
        if let Some(key) = signing_key(&s)
            && src.join(KEY).is_file()
        {
            berth_auth::keys::write_private(key, &fs::read_to_string(src.join(KEY))?)
                .context("restoring the token signing key")?;
        }
        println!(
            "restored the metadata and {} blobs ({:.1} MB) into {}",
            new,
            bytes as f64 / 1e6,
            s.root.display()
        );
        Ok(())
    })
}
