//! `berth backup DEST` and `berth restore SRC`: a consistent copy of a registry taken while
//! it serves, and bringing one back into an empty registry — on either metadata engine and
//! either blob store.
//!
//! A backup is a directory: `metadata.db` (a SQLite snapshot of the metadata as of one
//! moment, also of PostgreSQL metadata), `blobs/<algorithm>/<2 hex>/<hex>/data` (every blob
//! that snapshot lists, in Distribution's layout), the token service's signing key file
//! when there is one (on PostgreSQL the key is in the snapshot), and `backup.json` saying
//! what it holds. Blobs are content-addressed, so a later backup into the same directory
//! adds only the new ones; from a filesystem root on the same filesystem they are hard
//! links, from S3 they are downloaded. While the blobs are copied the backup holds the
//! placement lock shared, so garbage collection cannot remove a blob the snapshot lists
//! before it is copied (pushes go on).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use berth_meta::{MetaStore, PgMeta, SqliteMeta, copy_into_postgres};
use berth_oci::Digest;
use berth_storage::distribution::{blob_data, v2_dir};
use berth_storage::{BlobStore, UploadRef};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metadata::MetadataLocation;
use crate::settings::{AuthSettings, ServeSettings};

const SNAPSHOT: &str = "metadata.db";
const KEY: &str = "token-key.pem";
const INDEX: &str = "backup.json";
/// Blobs listed per query.
const PAGE: u32 = 1000;

/// The signing key file of berth's own token service, if this registry has one (with
/// PostgreSQL metadata the key is in the database, and so in the snapshot).
fn signing_key(s: &ServeSettings) -> Option<&Path> {
    match &s.auth {
        AuthSettings::Local { signing_key, .. } if s.metadata.sqlite_path().is_some() => {
            Some(signing_key)
        }
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

/// Downloads the blobs `listed` from `store` into the tree under `to` (those not there
/// yet); how many were new and how many bytes they hold.
async fn download_blobs(
    store: &dyn BlobStore,
    listed: &[(Digest, u64)],
    to: &Path,
) -> anyhow::Result<(u64, u64)> {
    let bar = progress(listed.len() as u64, "blobs")?;
    let (mut new, mut bytes) = (0, 0);
    for (digest, size) in listed {
        let target = blob_data(to, digest);
        if !target.is_file() {
            let dir = target.parent().context("a blob path has a directory")?;
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let tmp = dir.join(format!("data.tmp-{}", std::process::id()));
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("creating {}", tmp.display()))?;
            let mut stream = store.read(digest, None).await?;
            let mut got = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.with_context(|| format!("reading blob {digest}"))?;
                got += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            if got != *size {
                bail!("blob {digest} holds {got} bytes, not the {size} recorded");
            }
            file.sync_all().await?;
            fs::rename(&tmp, &target).with_context(|| format!("placing {}", target.display()))?;
            new += 1;
            bytes += size;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((new, bytes))
}

/// Bytes read from a backup's blob file at a time when uploading it.
const UPLOAD_PIECE: usize = 8 << 20;

/// Stores the blobs `listed` from the tree under `from` in `store` (those not there yet),
/// each as an upload finished under its digest; how many and how many bytes.
async fn upload_blobs(
    store: &dyn BlobStore,
    listed: &[(Digest, u64)],
    from: &Path,
) -> anyhow::Result<(u64, u64)> {
    let bar = progress(listed.len() as u64, "blobs")?;
    let (mut new, mut bytes) = (0, 0);
    for (digest, size) in listed {
        if store.stat(digest).await? != Some(*size) {
            let src = blob_data(from, digest);
            let mut file = tokio::fs::File::open(&src)
                .await
                .with_context(|| format!("blob {digest} is listed but not at {}", src.display()))?;
            let id = uuid::Uuid::new_v4().to_string();
            let fresh = UploadRef {
                id: &id,
                parts: &[],
            };
            let mut writer = store.upload_writer(fresh, 0).await?;
            loop {
                let mut buf = bytes::BytesMut::with_capacity(UPLOAD_PIECE);
                if file.read_buf(&mut buf).await? == 0 {
                    break;
                }
                writer.write(buf.freeze()).await?;
            }
            let written = writer.finish().await?;
            if written.len != *size {
                bail!(
                    "blob {digest} holds {} bytes, not the {size} recorded",
                    written.len
                );
            }
            let parts: Vec<String> = written.part.into_iter().collect();
            let upload = UploadRef {
                id: &id,
                parts: &parts,
            };
            store.commit_upload(upload, digest, *size).await?;
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
        let (new, bytes) = match s.storage.filesystem_root() {
            Some(root) => copy_blobs(&listed, &v2_dir(root), dest)?,
            None => download_blobs(storage.blobs.as_ref(), &listed, dest).await?,
        };
        fs::rename(&fresh, &snapshot).context("putting the snapshot in place")?;
        if let Some(key) = signing_key(&s).filter(|k| k.is_file()) {
            fs::copy(key, dest.join(KEY)).context("copying the token signing key")?;
        }
        let index = serde_json::json!({
            "berth": env!("CARGO_PKG_VERSION"),
            "taken_at": berth_notify::time::rfc3339((berth_meta::now_ms() / 1000) as u64),
            "source": s.storage.describe(),
            "metadata": s.metadata.describe(),
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
    crate::runtime()?.block_on(async {
        if let Some(held) = occupied(&s).await? {
            bail!(
                "{held} already holds a registry: restore into an empty one (a new storage \
                 root, state directory or database)"
            );
        }
        // The copy first (opening it may bring an older backup's schema up to date; the
        // backup itself stays as it was), its blobs next, the metadata in place last.
        let dir = s.root.join("berth");
        fs::create_dir_all(&dir)?;
        let restoring = dir.join(format!("{SNAPSHOT}.restoring"));
        fs::copy(&snapshot, &restoring).context("copying the metadata")?;
        fs::File::open(&restoring)?.sync_all()?;
        let listed = snapshot_blobs(&restoring).await?;
        let (new, bytes) = match s.storage.filesystem_root() {
            Some(root) => copy_blobs(&listed, src, &v2_dir(root))?,
            None => {
                let (blobs, _) = s.storage.open()?;
                upload_blobs(blobs.as_ref(), &listed, src).await?
            }
        };
        match &s.metadata {
            MetadataLocation::Sqlite(metadata) => {
                fs::rename(&restoring, metadata)?;
                // Opening it makes the files private.
                let meta = SqliteMeta::open(metadata).await?;
                forget_uploads(&meta).await?;
                meta.close().await;
            }
            MetadataLocation::Postgres(options) => {
                restore_into_postgres(&restoring, options).await?;
                for file in
                    std::iter::once(restoring.clone()).chain(SqliteMeta::companions(&restoring))
                {
                    let _ = fs::remove_file(file);
                }
            }
        }
        if let Some(key) = signing_key(&s)
            && src.join(KEY).is_file()
        {
            berth_auth::keys::write_private(key, &fs::read_to_string(src.join(KEY))?)
                .context("restoring the token signing key")?;
        }
        println!(
            "restored the metadata and {} blobs ({:.1} MB) into {} and {}",
            new,
            bytes as f64 / 1e6,
            s.storage.describe(),
            s.metadata.describe()
        );
        Ok(())
    })
}

/// What already holds a registry, of the places a restore would write.
async fn occupied(s: &ServeSettings) -> anyhow::Result<Option<String>> {
    match &s.metadata {
        MetadataLocation::Sqlite(metadata) if metadata.exists() => {
            return Ok(Some(metadata.display().to_string()));
        }
        MetadataLocation::Sqlite(_) => {}
        MetadataLocation::Postgres(options) => {
            let db = PgMeta::open(options)
                .await
                .with_context(|| format!("connecting to PostgreSQL {}", options.describe()))?;
            let empty = berth_meta::ensure_empty(&db).await;
            db.close().await;
            match empty {
                Ok(()) => {}
                Err(berth_meta::MetaError::NotEmpty(table)) => {
                    return Ok(Some(format!(
                        "PostgreSQL {} (its {table} table)",
                        options.describe()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(s.storage
        .filesystem_root()
        .filter(|root| v2_dir(root).join("blobs").exists())
        .map(|root| root.display().to_string()))
}

/// Copies the snapshot at `snapshot` into the (empty) PostgreSQL database.
async fn restore_into_postgres(
    snapshot: &Path,
    options: &berth_meta::PostgresOptions,
) -> anyhow::Result<()> {
    let from = SqliteMeta::open(snapshot).await?;
    let to = PgMeta::open(options)
        .await
        .with_context(|| format!("connecting to PostgreSQL {}", options.describe()))?;
    let bar = crate::copy_cmd::Bar::new()?;
    let copied = copy_into_postgres(&from, &to, &bar)
        .await
        .context("restoring the metadata into PostgreSQL (its database must be empty)");
    bar.0.finish_and_clear();
    from.close().await;
    copied?;
    forget_uploads(&to).await?;
    to.close().await;
    Ok(())
}

/// Uploads under way at the backup had their bytes elsewhere: their clients start again.
async fn forget_uploads(meta: &dyn MetaStore) -> anyhow::Result<()> {
    for id in meta.stale_uploads(i64::MAX).await? {
        meta.delete_upload(&id).await?;
    }
    Ok(())
}
