//! A [`BlobStore`] that times every call of the one it wraps, for
//! `registry_storage_action_seconds{driver, action}` (Distribution's metric).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use berth_oci::Digest;
use berth_oci::range::ByteRange;
use berth_storage::{BlobStore, ByteStream, Result, UploadRef, UploadWriter};
use bytes::Bytes;

use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn BlobStore>,
    driver: &'static str,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn BlobStore>, driver: &'static str, metrics: Arc<Metrics>) -> Self {
        MeteredStore {
            inner,
            driver,
            metrics,
        }
    }

    async fn timed<T>(&self, action: &'static str, f: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = f.await;
        self.metrics
            .storage_action(self.driver, action, started.elapsed());
        out
    }
}

#[async_trait]
impl BlobStore for MeteredStore {
    async fn capacity(&self) -> Result<Option<berth_storage::Capacity>> {
        self.inner.capacity().await
    }

    async fn delete_many(&self, digests: &[Digest]) -> Result<u64> {
        self.timed("Delete", self.inner.delete_many(digests)).await
    }

    async fn inventory(
        &self,
        temp_age: std::time::Duration,
    ) -> Result<berth_storage::InventoryStream> {
        self.timed("Walk", self.inner.inventory(temp_age)).await
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        self.timed("Stat", self.inner.stat(digest)).await
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream> {
        self.timed("Reader", self.inner.read(digest, range)).await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        self.timed("GetContent", self.inner.get(digest)).await
    }

    async fn put(&self, digest: &Digest, bytes: Bytes) -> Result<()> {
        self.timed("PutContent", self.inner.put(digest, bytes))
            .await
    }

    async fn upload_writer(
        &self,
        upload: UploadRef<'_>,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>> {
        self.timed("Writer", self.inner.upload_writer(upload, offset))
            .await
    }

    async fn upload_len(&self, upload: UploadRef<'_>) -> Result<Option<u64>> {
        self.timed("Stat", self.inner.upload_len(upload)).await
    }

    async fn read_upload(&self, upload: UploadRef<'_>) -> Result<ByteStream> {
        self.timed("Reader", self.inner.read_upload(upload)).await
    }

    async fn commit_upload(&self, upload: UploadRef<'_>, digest: &Digest, size: u64) -> Result<()> {
        self.timed("Move", self.inner.commit_upload(upload, digest, size))
            .await
    }

    async fn delete_upload(&self, upload_id: &str) -> Result<()> {
        self.timed("Delete", self.inner.delete_upload(upload_id))
            .await
    }

    async fn check_writable(&self) -> Result<()> {
        self.timed("PutContent", self.inner.check_writable()).await
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        self.timed("URLFor", self.inner.redirect_url(digest)).await
    }
}
