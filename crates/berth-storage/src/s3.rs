//! Blobs in an S3-compatible object store (AWS S3, Garage, Ceph, MinIO…), in
//! Distribution's layout under `rootdirectory`, so a registry:2 bucket is read in place.
//!
//! Objects cannot be appended to, so an upload is a run of chunk objects, one per
//! write, named by the offset it starts at and a name of its own
//! (`_berth/uploads/<id>/<offset, 20 digits>-<nonce>`). An object is written whole or not
//! at all, and the metadata records which ones it accepted (the upload's parts): two
//! requests writing at one offset (a retry that reached another replica) write two
//! objects, and the one that lost the race for the offset is never part of the blob. Finishing
//! an upload copies its one chunk into place inside the store (no bytes through berth);
//! an upload sent in several chunks is joined by streaming them into one multipart object.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_oci::Digest;
use berth_oci::range::ByteRange;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use tokio::io::AsyncWriteExt;

use crate::{
    BlobStore, ByteStream, Found, InventoryStream, Result, StorageError, UploadRef, UploadWriter,
    Written,
};

/// Digits of an upload chunk's offset in its name: names sort as offsets do.
const OFFSET_DIGITS: usize = 20;
/// How long a request to the store is retried before it fails: a store that is down
/// answers clients with an error in seconds, not after object_store's three minutes.
const RETRY_FOR: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Multipart parts: 8 MiB each (S3 wants at least 5), at most 2 in flight per upload, so
/// an upload in progress holds at most three parts in memory (the one filling and two
/// being sent) however large the blob; object_store's default is 10 MiB × 8.
const PART_SIZE: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 2;
/// How long a presigned blob URL stays valid (Distribution's 20 minutes): long enough for a
/// slow client to start the download, short enough that a URL leaked in a log expires.
const REDIRECT_VALID_FOR: Duration = Duration::from_secs(20 * 60);

/// How to reach the bucket: Distribution's `storage.s3` keys.
#[derive(Clone)]
pub struct S3Options {
    pub bucket: String,
    pub region: String,
    /// `regionendpoint`: the store's URL when it is not AWS (Garage, MinIO, Ceph).
    pub endpoint: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// `sessiontoken`: with temporary credentials.
    pub session_token: Option<String>,
    /// `forcepathstyle`: `https://host/bucket/key` rather than `https://bucket.host/key`.
    pub force_path_style: bool,
    /// `rootdirectory`: a prefix inside the bucket.
    pub root: String,
}

/// Everything but the secret key.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl S3Options {
    /// `s3://bucket/root` (and the endpoint), for messages.
    pub fn describe(&self) -> String {
        let root = self.root.trim_matches('/');
        let at = self
            .endpoint
            .as_deref()
            .map(|e| format!(" at {e}"))
            .unwrap_or_default();
        if root.is_empty() {
            format!("s3://{}{at}", self.bucket)
        } else {
            format!("s3://{}/{root}{at}", self.bucket)
        }
    }
}

pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    /// `<rootdirectory>/docker/registry/v2`.
    v2: Path,
    describe: String,
}

impl S3BlobStore {
    pub fn new(o: &S3Options) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&o.bucket)
            .with_region(&o.region)
            .with_virtual_hosted_style_request(!o.force_path_style)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: RETRY_FOR,
                ..RetryConfig::default()
            })
            .with_client_options(ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT));
        if let Some(endpoint) = &o.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(key), Some(secret)) = (&o.access_key, &o.secret_key) {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
        }
        if let Some(token) = &o.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|e| StorageError::Config {
            what: o.describe(),
            message: e.to_string(),
        })?;
        let root = o.root.trim_matches('/');
        let v2 = if root.is_empty() {
            Path::from("docker/registry/v2")
        } else {
            Path::from(format!("{root}/docker/registry/v2"))
        };
        Ok(S3BlobStore {
            store: Arc::new(store),
            v2,
            describe: o.describe(),
        })
    }

    fn blob_path(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        self.v2
            .clone()
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn upload_dir(&self, id: &str) -> Result<Path> {
        if !crate::valid_upload_id(id) {
            return Err(StorageError::InvalidUploadId);
        }
        Ok(self.v2.clone().join("_berth").join("uploads").join(id))
    }

    fn error(&self, what: &Path, e: object_store::Error) -> StorageError {
        store_error(&self.describe, what, e)
    }

    /// Every object stored for an upload, accepted or not.
    async fn upload_objects(&self, id: &str) -> Result<Vec<object_store::ObjectMeta>> {
        let dir = self.upload_dir(id)?;
        self.store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| self.error(&dir, e))
    }

    /// An upload's accepted chunks that are stored, in order: (offset, length, object).
    /// An upload begun by an older berth names no parts; its chunks are the objects
    /// named by their offset alone.
    async fn chunks(&self, upload: UploadRef<'_>) -> Result<Vec<(u64, u64, Path)>> {
        let mut chunks: Vec<(u64, u64, Path)> = self
            .upload_objects(upload.id)
            .await?
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?;
                let accepted = if upload.parts.is_empty() {
                    name.bytes().all(|b| b.is_ascii_digit())
                } else {
                    upload.parts.iter().any(|p| p == name)
                };
                let offset = name.split('-').next()?.parse::<u64>().ok()?;
                accepted.then_some((offset, meta.size, meta.location))
            })
            .collect();
        chunks.sort_by_key(|(offset, _, _)| *offset);
        Ok(chunks)
    }

    /// A buffered writer of one object, multipart once it passes a part.
    fn writer(&self, path: Path) -> BufWriter {
        let store: Arc<dyn ObjectStore> = self.store.clone();
        BufWriter::with_capacity(store, path, PART_SIZE).with_max_concurrency(PARTS_IN_FLIGHT)
    }

    async fn delete_paths(&self, paths: impl IntoIterator<Item = Path>) -> Result<()> {
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(&path, e)),
            }
        }
        Ok(())
    }

    fn stream(&self, what: Path, result: object_store::GetResult) -> ByteStream {
        let describe = format!("{}/{what}", self.describe);
        Box::pin(result.into_stream().map(move |chunk| {
            chunk.map_err(|e| std::io::Error::other(format!("reading {describe}: {e}")))
        }))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream> {
        let path = self.blob_path(digest);
        let options = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.start..r.end + 1)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(self.stream(path, result))
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let path = self.blob_path(digest);
        let result = self
            .store
            .get(&path)
            .await
            .map_err(|e| self.error(&path, e))?;
        result.bytes().await.map_err(|e| self.error(&path, e))
    }

    async fn put(&self, digest: &Digest, bytes: Bytes) -> Result<()> {
        let path = self.blob_path(digest);
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(())
    }

    /// Which of them are there (checked a few at a time), then one batched delete
    /// request per thousand (S3's DeleteObjects) rather than one request per blob.
    async fn delete_many(&self, digests: &[Digest]) -> Result<u64> {
        let store = self;
        let present: Vec<Path> = futures_util::stream::iter(digests.to_vec())
            .map(move |digest: Digest| async move {
                let there = store.stat(&digest).await?;
                Ok::<_, StorageError>(there.map(|_| store.blob_path(&digest)))
            })
            .buffer_unordered(16)
            .try_filter_map(|path| async move { Ok(path) })
            .try_collect()
            .await?;
        let removed = present.len() as u64;
        let locations = futures_util::stream::iter(present.into_iter().map(Ok)).boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(done) = deleted.next().await {
            match done {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(&self.v2, e)),
            }
        }
        Ok(removed)
    }

    async fn upload_writer(
        &self,
        upload: UploadRef<'_>,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>> {
        // Objects of requests that were never acknowledged are left alone: one may be a
        // request in progress elsewhere, and none is ever read (they go with the upload).
        let kept: Vec<_> = self
            .chunks(upload)
            .await?
            .into_iter()
            .filter(|(o, _, _)| *o < offset)
            .collect();
        let have = contiguous_len(&kept);
        if have != offset {
            return Err(StorageError::UploadLost {
                id: upload.id.to_string(),
                have: have.min(offset),
                want: offset,
            });
        }
        let name = format!(
            "{offset:0width$}-{nonce}",
            width = OFFSET_DIGITS,
            nonce = uuid::Uuid::new_v4().simple()
        );
        let path = self.upload_dir(upload.id)?.join(name.as_str());
        Ok(Box::new(ChunkWriter {
            writer: self.writer(path.clone()),
            path,
            name,
            describe: self.describe.clone(),
            offset,
            written: 0,
        }))
    }

    async fn upload_len(&self, upload: UploadRef<'_>) -> Result<Option<u64>> {
        let chunks = self.chunks(upload).await?;
        if chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(contiguous_len(&chunks)))
    }

    async fn read_upload(&self, upload: UploadRef<'_>) -> Result<ByteStream> {
        let mut streams = Vec::new();
        for (_, _, path) in self.chunks(upload).await? {
            let result = self
                .store
                .get(&path)
                .await
                .map_err(|e| self.error(&path, e))?;
            streams.push(self.stream(path, result));
        }
        Ok(Box::pin(futures_util::stream::iter(streams).flatten()))
    }

    async fn commit_upload(&self, upload: UploadRef<'_>, digest: &Digest, size: u64) -> Result<()> {
        let target = self.blob_path(digest);
        if self.stat(digest).await? != Some(size) {
            let chunks = self.chunks(upload).await?;
            let total = contiguous_len(&chunks);
            if total != size || chunks.iter().map(|(_, len, _)| len).sum::<u64>() != size {
                return Err(StorageError::UploadLost {
                    id: upload.id.to_string(),
                    have: total,
                    want: size,
                });
            }
            match chunks.as_slice() {
                [(_, _, only)] => self
                    .store
                    .copy(only, &target)
                    .await
                    .map_err(|e| self.error(only, e))?,
                _ => {
                    let mut joined = self.writer(target.clone());
                    for (_, _, path) in &chunks {
                        let result = self
                            .store
                            .get(path)
                            .await
                            .map_err(|e| self.error(path, e))?;
                        let mut parts = result.into_stream();
                        while let Some(part) = parts.next().await {
                            let part = part.map_err(|e| self.error(path, e))?;
                            joined.put(part).await.map_err(|e| self.error(&target, e))?;
                        }
                    }
                    joined
                        .shutdown()
                        .await
                        .map_err(|e| StorageError::io(target.as_ref(), e))?;
                }
            }
        }
        self.delete_upload(upload.id).await
    }

    async fn delete_upload(&self, upload_id: &str) -> Result<()> {
        let objects = self.upload_objects(upload_id).await?;
        self.delete_paths(objects.into_iter().map(|o| o.location))
            .await
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        use object_store::signer::{Method, Signer};
        let path = self.blob_path(digest);
        let url = self
            .store
            .signed_url(Method::GET, &path, REDIRECT_VALID_FOR)
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(Some(url.to_string()))
    }

    async fn capacity(&self) -> Result<Option<crate::Capacity>> {
        Ok(None)
    }

    async fn check_writable(&self) -> Result<()> {
        let probe = self.v2.clone().join("_berth").join("probe");
        self.store
            .put(&probe, PutPayload::from_static(b"berth"))
            .await
            .map_err(|e| self.error(&probe, e))?;
        self.delete_paths([probe]).await
    }

    async fn inventory(&self, _temp_age: Duration) -> Result<InventoryStream> {
        let prefix = self.v2.clone().join("blobs");
        let describe = self.describe.clone();
        // Multipart uploads that never completed are the store's to expire (a bucket
        // lifecycle rule); they are not objects and hold no names.
        Ok(Box::pin(self.store.list(Some(&prefix)).filter_map(
            move |meta| {
                let found = match meta {
                    Err(e) => Some(Err(store_error(&describe, &prefix, e))),
                    // blobs/<algorithm>/<2 hex>/<hex>/data
                    Ok(meta) => {
                        let parts: Vec<_> = meta.location.parts().collect();
                        match parts.as_slice() {
                            [.., algorithm, _, hex, data] if data.as_ref() == "data" => {
                                format!("{}:{}", algorithm.as_ref(), hex.as_ref())
                                    .parse()
                                    .ok()
                                    .map(|d| Ok(Found::Blob(d)))
                            }
                            _ => None,
                        }
                    }
                };
                std::future::ready(found)
            },
        )))
    }
}

/// A registry:2 tree in the bucket (`<v2>/repositories/...`), read by listing: the digests
/// of layer and revision links are in their names, tags' in their link objects.
#[async_trait]
impl crate::distribution::RegistryTree for S3BlobStore {
    async fn is_empty(&self) -> Result<bool> {
        let top = self.v2.clone().join("repositories");
        // The first page of the listing is enough.
        match self.store.list(Some(&top)).next().await {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(e)) => Err(self.error(&top, e)),
        }
    }

    async fn repository_names(&self) -> Result<Vec<String>> {
        let top = self.v2.clone().join("repositories");
        let mut listed = self.store.list(Some(&top));
        let mut names = std::collections::BTreeSet::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| self.error(&top, e))?;
            let parts: Vec<String> = meta
                .location
                .prefix_match(&top)
                .map(|rest| rest.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            if let Some(at) = parts
                .iter()
                .position(|p| p == "_manifests" || p == "_layers")
                && at > 0
            {
                names.insert(parts[..at].join("/"));
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn repository(&self, name: &str) -> Result<crate::distribution::RepositoryLinks> {
        let dir = self.v2.clone().join("repositories");
        let dir = name.split('/').fold(dir, |d, part| d.join(part));
        let mut links = crate::distribution::RepositoryLinks {
            name: name.to_string(),
            ..Default::default()
        };
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| self.error(&dir, e))?;
        for meta in listed {
            let parts: Vec<String> = meta
                .location
                .prefix_match(&dir)
                .map(|rest| rest.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let digest = |alg: &str, hex: &str| format!("{alg}:{hex}").parse::<Digest>().ok();
            match parts.as_slice() {
                ["_layers", alg, hex, "link"] => match digest(alg, hex) {
                    Some(d) => links.layers.push(d),
                    None => links.broken_links.push(meta.location.to_string()),
                },
                ["_manifests", "revisions", alg, hex, "link"] => match digest(alg, hex) {
                    Some(d) => links.manifests.push(d),
                    None => links.broken_links.push(meta.location.to_string()),
                },
                ["_manifests", "tags", tag, "current", "link"] => {
                    let tag = tag.to_string();
                    let linked = match self.store.get(&meta.location).await {
                        Ok(got) => got.bytes().await.ok(),
                        Err(_) => None,
                    };
                    match linked
                        .and_then(|b| String::from_utf8(b.to_vec()).ok())
                        .and_then(|t| t.trim().parse::<Digest>().ok())
                    {
                        Some(d) => links.tags.push((tag, d)),
                        None => links.broken_links.push(meta.location.to_string()),
                    }
                }
                _ => {} // tag history, upload state: not what import reads
            }
        }
        links.layers.sort();
        links.manifests.sort();
        links.tags.sort();
        Ok(links)
    }
}

/// How many bytes an upload's chunks (in offset order) hold without a gap from offset 0:
/// what follows a gap cannot be trusted.
fn contiguous_len(chunks: &[(u64, u64, Path)]) -> u64 {
    let mut have = 0;
    for (start, len, _) in chunks {
        if *start != have {
            break;
        }
        have += len;
    }
    have
}

/// What an object_store error at `what` (in the store `describe` names) means here: not
/// there, out of reach for now, or refused. Every request to the store is judged so.
fn store_error(describe: &str, what: &Path, e: object_store::Error) -> StorageError {
    let path = format!("{describe}/{what}");
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        other if unreachable(&other) => StorageError::Unavailable {
            path,
            source: Box::new(other),
        },
        other => StorageError::Remote {
            path,
            source: Box::new(other),
        },
    }
}

/// The store could not be reached (refused, timed out, cut off), as opposed to refusing
/// what was asked: an HTTP failure below any response, somewhere in the error's sources.
fn unreachable(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
                    | HttpErrorKind::Request
            );
        }
        source = err.source();
    }
    false
}

/// One chunk of an upload, written as one object (multipart when large).
struct ChunkWriter {
    writer: BufWriter,
    path: Path,
    /// Its name in the upload: the part the metadata records once it is accepted.
    name: String,
    describe: String,
    offset: u64,
    written: u64,
}

#[async_trait]
impl UploadWriter for ChunkWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.written += chunk.len() as u64;
        let (describe, path) = (&self.describe, &self.path);
        self.writer
            .put(chunk)
            .await
            .map_err(|e| store_error(describe, path, e))
    }

    async fn finish(mut self: Box<Self>) -> Result<Written> {
        if self.written == 0 {
            // Nothing to keep: no empty chunk object.
            let _ = self.writer.abort().await;
            return Ok(Written {
                len: self.offset,
                part: None,
            });
        }
        self.writer
            .shutdown()
            .await
            .map_err(|e| StorageError::io(self.path.as_ref(), e))?;
        Ok(Written {
            len: self.offset + self.written,
            part: Some(self.name),
        })
    }
}
