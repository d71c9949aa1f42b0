//! One test suite for blob storage, whatever the driver: the filesystem always, and S3 on
//! the test Garage (`BERTH_TEST_S3` names its endpoint, as `scripts/test.sh` starts it;
//! `BERTH_REQUIRE_S3=1` makes its absence a failure). Each test gets a fresh store.

use futures_util::TryStreamExt;

use crate::{
    BlobStore, ByteStream, FsBlobStore, S3BlobStore, S3Options, StorageError, UploadRef, Written,
};
use berth_oci::Digest;
use berth_oci::range::ByteRange;
use bytes::Bytes;

/// The key and bucket `scripts/garage.sh` sets up.
pub const TEST_KEY_ID: &str = "GK00000000000000000000b17e";
pub const TEST_SECRET: &str = "62657274686265727468626572746862657274686265727468626572746862ab";
pub const TEST_BUCKET: &str = "berth";

fn unique(kind: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "berth-storage-{kind}-{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh store of every driver this machine runs, with its name.
pub(crate) fn stores() -> Vec<(&'static str, Box<dyn BlobStore>)> {
    let dir = std::env::temp_dir().join(unique("fs"));
    let mut stores: Vec<(&'static str, Box<dyn BlobStore>)> =
        vec![("filesystem", Box::new(FsBlobStore::new(&dir).unwrap()))];
    match std::env::var("BERTH_TEST_S3") {
        Ok(endpoint) => stores.push((
            "s3",
            Box::new(
                S3BlobStore::new(&S3Options {
                    bucket: TEST_BUCKET.into(),
                    region: "garage".into(),
                    endpoint: Some(endpoint),
                    access_key: Some(TEST_KEY_ID.into()),
                    secret_key: Some(TEST_SECRET.into()),
                    session_token: None,
                    force_path_style: true,
                    root: unique("s3"),
                })
                .unwrap(),
            ),
        )),
        Err(_) => assert!(
            std::env::var_os("BERTH_REQUIRE_S3").is_none(),
            "BERTH_REQUIRE_S3 is set but BERTH_TEST_S3 names no endpoint"
        ),
    }
    stores
}

async fn collect(s: ByteStream) -> Vec<u8> {
    s.try_fold(Vec::new(), |mut acc, b| async move {
        acc.extend_from_slice(&b);
        Ok(acc)
    })
    .await
    .unwrap()
}

/// An upload as the core keeps it: its id, and the length and parts the metadata
/// accepted so far.
struct Upload {
    id: &'static str,
    len: u64,
    parts: Vec<String>,
}

impl Upload {
    fn new(id: &'static str) -> Self {
        Upload {
            id,
            len: 0,
            parts: Vec::new(),
        }
    }

    fn at(&self) -> UploadRef<'_> {
        UploadRef {
            id: self.id,
            parts: &self.parts,
        }
    }

    /// Writes `bytes` at the accepted length without accepting them (a request that
    /// failed, or lost its race): what it wrote.
    async fn write(&self, store: &dyn BlobStore, bytes: Bytes) -> Written {
        let mut w = store.upload_writer(self.at(), self.len).await.unwrap();
        w.write(bytes).await.unwrap();
        w.finish().await.unwrap()
    }

    /// Writes `bytes` at the accepted length and accepts them, as the core does.
    async fn append(&mut self, store: &dyn BlobStore, bytes: Bytes) {
        let written = self.write(store, bytes).await;
        self.accept(written);
    }

    fn accept(&mut self, written: Written) {
        self.len = written.len;
        self.parts.extend(written.part);
    }
}

#[tokio::test]
async fn upload_commit_read() {
    for (name, store) in stores() {
        let store = store.as_ref();
        let mut up = Upload::new("0123abcd-0000-4000-8000-000000000000");
        assert_eq!(
            store.upload_len(up.at()).await.unwrap().unwrap_or(0),
            0,
            "{name}"
        );
        up.append(store, Bytes::from_static(b"hello ")).await;
        assert_eq!(up.len, 6, "{name}");
        // A failed request left junk past the acknowledged offset: reopening drops it.
        let mut w = store.upload_writer(up.at(), 6).await.unwrap();
        w.write(Bytes::from_static(b"junk")).await.unwrap();
        drop(w);
        up.append(store, Bytes::from(vec![b'w'; 3 << 20])).await;
        let len = up.len;
        assert_eq!(len, 6 + (3 << 20), "{name}");
        assert_eq!(
            store.upload_len(up.at()).await.unwrap(),
            Some(len),
            "{name}"
        );
        let mut expected = b"hello ".to_vec();
        expected.extend(vec![b'w'; 3 << 20]);
        assert_eq!(
            collect(store.read_upload(up.at()).await.unwrap()).await,
            expected,
            "{name}"
        );
        let digest = Digest::sha256(&expected);
        store.commit_upload(up.at(), &digest, len).await.unwrap();
        assert_eq!(store.stat(&digest).await.unwrap(), Some(len), "{name}");
        assert_eq!(
            store.upload_len(up.at()).await.unwrap().unwrap_or(0),
            0,
            "{name}: upload gone"
        );
        assert_eq!(
            collect(store.read(&digest, None).await.unwrap()).await,
            expected,
            "{name}"
        );
        assert_eq!(store.get(&digest).await.unwrap(), expected, "{name}");
        let part = store
            .read(&digest, Some(ByteRange { start: 2, end: 7 }))
            .await
            .unwrap();
        assert_eq!(collect(part).await, b"llo ww", "{name}");
        let escape = UploadRef {
            id: "../../etc",
            parts: &[],
        };
        assert!(store.upload_writer(escape, 0).await.is_err(), "{name}");
        assert!(
            store
                .stat(&Digest::sha256(b"never stored"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            matches!(
                store.get(&Digest::sha256(b"never stored")).await,
                Err(StorageError::NotFound)
            ),
            "{name}"
        );
        // Bytes that are gone are never replaced by zeros.
        let lost = Upload::new("0123abcd-0000-4000-8000-000000000001");
        lost.write(store, Bytes::new()).await;
        assert!(
            matches!(
                store.upload_writer(lost.at(), 10).await,
                Err(StorageError::UploadLost {
                    have: 0,
                    want: 10,
                    ..
                })
            ),
            "{name}"
        );
        assert_eq!(
            store
                .delete_many(std::slice::from_ref(&digest))
                .await
                .unwrap(),
            1,
            "{name}"
        );
        assert_eq!(store.stat(&digest).await.unwrap(), None, "{name}");
        assert_eq!(
            store
                .delete_many(std::slice::from_ref(&digest))
                .await
                .unwrap(),
            0,
            "{name}"
        );
    }
}

/// Two requests write at one offset (a retry that reached another replica while the
/// first still ran): only the chunk the metadata accepted becomes part of the blob,
/// whichever finished writing last. Stores that keep parts only: the filesystem keeps one
/// file per upload, written by one server at a time.
#[tokio::test]
async fn only_the_accepted_chunk_at_an_offset_counts() {
    for (name, store) in stores().into_iter().filter(|(n, _)| *n == "s3") {
        let store = store.as_ref();
        let mut up = Upload::new("0123abcd-0000-4000-8000-0000000000c1");
        up.append(store, Bytes::from_static(b"first ")).await;
        let winner = up.write(store, Bytes::from_static(b"accepted")).await;
        let loser = up.write(store, Bytes::from_static(b"rejected")).await;
        assert_ne!(winner.part, loser.part, "{name}: two objects");
        up.accept(winner);
        // The loser's write, opened after the winner was accepted at the old offset, can
        // no longer take the accepted chunk away either.
        let late = store.upload_writer(up.at(), 6).await.unwrap();
        drop(late);
        assert_eq!(
            collect(store.read_upload(up.at()).await.unwrap()).await,
            b"first accepted",
            "{name}"
        );
        let digest = Digest::sha256(b"first accepted");
        store.commit_upload(up.at(), &digest, up.len).await.unwrap();
        assert_eq!(
            store.get(&digest).await.unwrap(),
            &b"first accepted"[..],
            "{name}"
        );
        assert_eq!(store.upload_len(up.at()).await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn one_chunk_uploads_small_blobs_and_inventory() {
    for (name, store) in stores() {
        let store = store.as_ref();
        // One chunk: the commit moves it into place.
        let mut up = Upload::new("0123abcd-0000-4000-8000-00000000000a");
        let data = Bytes::from(vec![7u8; 1 << 20]);
        up.append(store, data.clone()).await;
        let digest = Digest::sha256(&data);
        store
            .commit_upload(up.at(), &digest, data.len() as u64)
            .await
            .unwrap();
        // The same blob again: the upload is discarded, the blob stays.
        let mut again = Upload::new("0123abcd-0000-4000-8000-00000000000b");
        again.append(store, data.clone()).await;
        store
            .commit_upload(again.at(), &digest, data.len() as u64)
            .await
            .unwrap();
        assert_eq!(store.get(&digest).await.unwrap(), data, "{name}");
        // A manifest-sized blob put whole.
        let small = Bytes::from_static(b"{\"schemaVersion\":2}");
        let small_digest = Digest::sha256(&small);
        store.put(&small_digest, small.clone()).await.unwrap();
        assert_eq!(store.get(&small_digest).await.unwrap(), small, "{name}");
        let walk = store
            .inventory(std::time::Duration::from_secs(3600))
            .await
            .unwrap();
        let mut listed: Vec<Digest> = walk
            .try_filter_map(|found| async move {
                Ok(match found {
                    crate::Found::Blob(d) => Some(d),
                    crate::Found::TempFileRemoved => None,
                })
            })
            .try_collect()
            .await
            .unwrap();
        listed.sort_by_key(|d| d.to_string());
        let mut want = vec![digest.clone(), small_digest.clone()];
        want.sort_by_key(|d| d.to_string());
        assert_eq!(listed, want, "{name}");
        store.check_writable().await.unwrap();
        store.delete_upload(again.id).await.unwrap();
    }
}
