//! Filesystem driver, using Distribution's layout so a registry:2 root is read in place:
//! `<root>/docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data`. Uploads live under
//! `<root>/docker/registry/v2/_berth/uploads/<id>/data`, on the same filesystem, so
//! finishing one is a rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use berth_oci::Digest;
use berth_oci::range::ByteRange;
use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use crate::locks::KeyedLocks;
use crate::{
    BlobStore, ByteStream, Result, StorageError, UploadRef, UploadWriter, Written, blocking,
    valid_upload_id,
};

/// Reads and writes move in 1 MiB pieces: tokio's 4 KiB default is an order of magnitude
/// slower for multi-gigabyte layers.
const IO_CHUNK: usize = 1 << 20;

pub struct FsBlobStore {
    v2: PathBuf,
    /// Held by a writer and by its in-flight write. A writer dropped mid-request (client
    /// gone) may still have a write running; the next writer for that upload waits for
    /// it instead of racing it on the same file.
    upload_locks: KeyedLocks,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let v2 = crate::distribution::v2_dir(&root.into());
        let uploads = v2.join("_berth/uploads");
        fs::create_dir_all(&uploads).map_err(|e| StorageError::io(&uploads, e))?;
        Ok(FsBlobStore {
            v2,
            upload_locks: KeyedLocks::default(),
        })
    }

    /// `<root>/docker/registry/v2`, the top of Distribution's tree.
    pub fn v2_dir(&self) -> &Path {
        &self.v2
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        crate::distribution::blob_data(&self.v2, digest)
    }

    fn upload_dir(&self, id: &str) -> Result<PathBuf> {
        if !valid_upload_id(id) {
            return Err(StorageError::InvalidUploadId);
        }
        Ok(self.v2.join("_berth/uploads").join(id))
    }
}

/// Opens a file for reading and returns its length; a missing file is `NotFound`.
async fn open_with_len(path: &Path) -> Result<(File, u64)> {
    let path = path.to_path_buf();
    blocking(move || {
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            _ => StorageError::io(&path, e),
        })?;
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(&path, e))?
            .len();
        Ok((file, len))
    })
    .await
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// A temporary file name no other writer in this or another process uses at the same time:
/// identical manifests pushed to several repositories at once write the same blob
/// concurrently, and each must rename its own complete file into place.
fn unique_temp_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("data.tmp-{}-{n}", std::process::id())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream> {
        let path = self.blob_path(digest);
        let (file, len) = open_with_len(&path).await?;
        let std::ops::Range { start, end } = range.map_or(0..len, |r| r.within(len));
        Ok(crate::file_stream::stream_range(file, path, start, end))
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let path = self.blob_path(digest);
        blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::NotFound),
            Err(e) => Err(StorageError::io(&path, e)),
        })
        .await
    }

    async fn put(&self, digest: &Digest, bytes: Bytes) -> Result<()> {
        let path = self.blob_path(digest);
        blocking(move || {
            if path.is_file() {
                return Ok(());
            }
            let dir = parent(&path);
            fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
            let tmp = dir.join(unique_temp_name());
            let write = || -> io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                fs::rename(&tmp, &path)
            };
            write().map_err(|e| {
                let _ = fs::remove_file(&tmp);
                StorageError::io(&path, e)
            })?;
            sync_dir(dir)
        })
        .await
    }

    async fn delete_many(&self, digests: &[Digest]) -> Result<u64> {
        let paths: Vec<PathBuf> = digests.iter().map(|d| self.blob_path(d)).collect();
        blocking(move || {
            let mut removed = 0;
            for path in &paths {
                removed += u64::from(remove_blob_file(path)?);
            }
            Ok(removed)
        })
        .await
    }

    /// Files are served by the registry itself.
    async fn redirect_url(&self, _digest: &Digest) -> Result<Option<String>> {
        Ok(None)
    }

    async fn capacity(&self) -> Result<Option<crate::Capacity>> {
        let dir = self.v2.clone();
        blocking(move || volume_capacity(&dir).map(Some)).await
    }

    async fn check_writable(&self) -> Result<()> {
        // Where uploads land: if this takes a file, uploads can start.
        let probe = self.v2.join("_berth/uploads").join(unique_temp_name());
        blocking(move || {
            let write = || -> io::Result<()> {
                let mut f = File::create(&probe)?;
                f.write_all(b"ok")?;
                f.sync_all()?;
                fs::remove_file(&probe)
            };
            write().map_err(|e| StorageError::io(&probe, e))
        })
        .await
    }

    // One file per upload, cut back to the acknowledged offset: no parts to name.
    async fn upload_writer(
        &self,
        upload: UploadRef<'_>,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>> {
        let upload_id = upload.id;
        let dir = self.upload_dir(upload_id)?;
        let path = dir.join("data");
        let guard = self.upload_locks.acquire(upload_id).await;
        let id = upload_id.to_string();
        let file = blocking(move || {
            fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| StorageError::io(&path, e))?;
            let have = f.metadata().map_err(|e| StorageError::io(&path, e))?.len();
            if have < offset {
                // Never pad with zeros: the hash state covers bytes that are gone.
                return Err(StorageError::UploadLost {
                    id,
                    have,
                    want: offset,
                });
            }
            let mut cut = || -> io::Result<()> {
                if have > offset {
                    f.set_len(offset)?;
                }
                f.seek(SeekFrom::Start(offset))?;
                Ok(())
            };
            cut().map_err(|e| StorageError::io(&path, e))?;
            Ok(f)
        })
        .await?;
        Ok(Box::new(FsUploadWriter {
            written_to: offset,
            idle: Some((file, guard)),
            in_flight: None,
            pending: Vec::new(),
            pending_len: 0,
            len: offset,
        }))
    }

    async fn upload_len(&self, upload: UploadRef<'_>) -> Result<Option<u64>> {
        let path = self.upload_dir(upload.id)?.join("data");
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    async fn read_upload(&self, upload: UploadRef<'_>) -> Result<ByteStream> {
        let path = self.upload_dir(upload.id)?.join("data");
        let (file, len) = open_with_len(&path).await?;
        Ok(crate::file_stream::stream_range(file, path, 0, len))
    }

    async fn commit_upload(&self, upload: UploadRef<'_>, digest: &Digest, size: u64) -> Result<()> {
        let dir = self.upload_dir(upload.id)?;
        let target = self.blob_path(digest);
        blocking(move || {
            let intact = fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == size);
            if !intact {
                let target_dir = parent(&target);
                fs::create_dir_all(target_dir).map_err(|e| StorageError::io(target_dir, e))?;
                fs::rename(dir.join("data"), &target).map_err(|e| StorageError::io(&target, e))?;
                sync_dir(target_dir)?;
            }
            remove_dir_if_present(&dir)
        })
        .await
    }

    async fn delete_upload(&self, upload_id: &str) -> Result<()> {
        let dir = self.upload_dir(upload_id)?;
        blocking(move || remove_dir_if_present(&dir)).await
    }

    async fn inventory(&self, temp_age: std::time::Duration) -> Result<crate::InventoryStream> {
        let blobs = self.v2.join("blobs");
        // The walk runs on a blocking thread and hands what it finds over a small channel:
        // it waits while the consumer is busy, so nothing piles up in memory.
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::task::spawn_blocking(move || {
            let send = |found: Result<crate::Found>| tx.blocking_send(found).is_ok();
            if let Err(e) = walk_blobs(&blobs, temp_age, &send) {
                send(Err(e));
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|found| (found, rx)) },
        )))
    }
}

/// Lists `blobs/<algorithm>/<xx>/<hex>/data` to `send`, removing old `data.tmp-*` files
/// beside them. Stops early when `send` says nobody listens any more.
fn walk_blobs(
    blobs: &Path,
    temp_age: std::time::Duration,
    send: &dyn Fn(Result<crate::Found>) -> bool,
) -> Result<()> {
    let entries = |dir: &Path| -> Result<Vec<fs::DirEntry>> {
        match fs::read_dir(dir) {
            Ok(rd) => rd
                .collect::<io::Result<Vec<_>>>()
                .map_err(|e| StorageError::io(dir, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StorageError::io(dir, e)),
        }
    };
    for algorithm in entries(blobs)? {
        let alg_name = algorithm.file_name().to_string_lossy().into_owned();
        for prefix in entries(&algorithm.path())? {
            for blob_dir in entries(&prefix.path())? {
                let hex = blob_dir.file_name().to_string_lossy().into_owned();
                for file in entries(&blob_dir.path())? {
                    let name = file.file_name();
                    let name = name.to_string_lossy();
                    if name == "data" {
                        if let Ok(d) = format!("{alg_name}:{hex}").parse::<Digest>()
                            && !send(Ok(crate::Found::Blob(d)))
                        {
                            return Ok(());
                        }
                    } else if name.starts_with("data.tmp-") {
                        let old = file
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age >= temp_age);
                        if old
                            && fs::remove_file(file.path()).is_ok()
                            && !send(Ok(crate::Found::TempFileRemoved))
                        {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn remove_blob_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            // Distribution keeps one directory per blob; remove it too.
            let _ = fs::remove_dir(parent(path));
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::io(dir, e)),
        _ => Ok(()),
    }
}

/// How much written data may still be on its way to disk behind the newest batch.
const WRITE_BEHIND_WINDOW: u64 = 16 << 20;

/// Starts writeback of the batch just written (`start..end`) and waits for the data one
/// window further back. Dirty pages stay bounded while the upload streams in, and the
/// fsync that makes the upload durable has almost nothing left to write, instead of a
/// whole layer. Errors are left to that fsync, which reports them.
#[cfg(target_os = "linux")]
fn write_behind(file: &File, start: u64, end: u64) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let (Ok(offset), Ok(len)) = (i64::try_from(start), i64::try_from(end - start)) else {
        return;
    };
    // SAFETY: plain syscalls on a file descriptor this function borrows; they read no
    // memory of ours.
    unsafe {
        libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE);
        let behind = offset - WRITE_BEHIND_WINDOW as i64;
        if behind >= 0 {
            libc::sync_file_range(
                fd,
                behind,
                len,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn write_behind(_file: &File, _start: u64, _end: u64) {}

/// An upload's file with its lock.
type OpenUpload = (File, OwnedMutexGuard<()>);

/// Batches received chunks into ~1 MiB writes on a blocking thread, one write in flight
/// while the next batch is received and hashed. The upload's lock travels with the file
/// into the blocking write, so it is released only when no write can still land.
struct FsUploadWriter {
    idle: Option<OpenUpload>,
    in_flight: Option<JoinHandle<io::Result<OpenUpload>>>,
    pending: Vec<Bytes>,
    pending_len: usize,
    len: u64,
    /// File offset where the next batch lands.
    written_to: u64,
}

impl FsUploadWriter {
    async fn wait_in_flight(&mut self) -> Result<()> {
        if let Some(handle) = self.in_flight.take() {
            let idle = handle
                .await
                .map_err(io::Error::other)
                .and_then(|r| r)
                .map_err(|e| StorageError::io("<upload>", e))?;
            self.idle = Some(idle);
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.wait_in_flight().await?;
        let (mut file, guard) = self
            .idle
            .take()
            .ok_or_else(|| StorageError::io("<upload>", io::Error::other("writer closed")))?;
        let chunks = std::mem::take(&mut self.pending);
        let start = self.written_to;
        self.written_to += self.pending_len as u64;
        let end = self.written_to;
        self.pending_len = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            for c in &chunks {
                file.write_all(c)?;
            }
            write_behind(&file, start, end);
            Ok((file, guard))
        }));
        Ok(())
    }
}

#[async_trait]
impl UploadWriter for FsUploadWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.len += chunk.len() as u64;
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= IO_CHUNK {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Written> {
        self.flush_pending().await?;
        self.wait_in_flight().await?;
        if let Some((file, guard)) = self.idle.take() {
            blocking(move || {
                let synced = file
                    .sync_data()
                    .map_err(|e| StorageError::io("<upload>", e));
                drop(guard);
                synced
            })
            .await?;
        }
        Ok(Written {
            len: self.len,
            part: None,
        })
    }
}

/// The size and free space of the filesystem holding `dir` (statvfs).
// statvfs's field types differ between platforms (u32 on some); the casts are not no-ops
// everywhere.
#[allow(clippy::unnecessary_cast)]
fn volume_capacity(dir: &Path) -> Result<crate::Capacity> {
    use std::os::unix::ffi::OsStrExt;
    let failed = |e: io::Error| StorageError::io(dir, e);
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| failed(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` a buffer statvfs fills in.
    let done = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if done != 0 {
        return Err(failed(io::Error::last_os_error()));
    }
    // SAFETY: statvfs succeeded, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    let block = stats.f_frsize as u64;
    Ok(crate::Capacity {
        total: stats.f_blocks as u64 * block,
        free: stats.f_bavail as u64 * block,
    })
}
