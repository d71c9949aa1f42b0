//! One test suite for blob storage, whatever the driver: the filesystem always, and S3 on
//! the test Garage (`BERTH_TEST_S3` names its endpoint, as `scripts/test.sh` starts it;
//! `BERTH_REQUIRE_S3=1` makes its absence a failure). Each test gets a fresh store.

use futures_util::TryStreamExt;

use crate::{BlobStore, ByteStream, FsBlobStore, S3BlobStore, S3Options, StorageError};
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

#[tokio::test]
async fn upload_commit_read() {
    for (name, store) in stores() {
        let id = "0123abcd-0000-4000-8000-000000000000";
        assert_eq!(
            store.upload_len(id).await.unwrap().unwrap_or(0),
            0,
            "{name}"
        );
        let mut w = store.upload_writer(id, 0).await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 6, "{name}");
        // A failed request left junk past the acknowledged offset: reopening drops it.
        let mut w = store.upload_writer(id, 6).await.unwrap();
        w.write(Bytes::from_static(b"junk")).await.unwrap();
        drop(w);
        let mut w = store.upload_writer(id, 6).await.unwrap();
        w.write(Bytes::from(vec![b'w'; 3 << 20])).await.unwrap();
        let len = w.finish().await.unwrap();
        assert_eq!(len, 6 + (3 << 20), "{name}");
        assert_eq!(store.upload_len(id).await.unwrap(), Some(len), "{name}");
        let mut expected = b"hello ".to_vec();
        expected.extend(vec![b'w'; 3 << 20]);
        assert_eq!(
            collect(store.read_upload(id).await.unwrap()).await,
            expected,
            "{name}"
        );
        let digest = Digest::sha256(&expected);
        store.commit_upload(id, &digest, len).await.unwrap();
        assert_eq!(store.stat(&digest).await.unwrap(), Some(len), "{name}");
        assert_eq!(
            store.upload_len(id).await.unwrap().unwrap_or(0),
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
        assert!(store.upload_writer("../../etc", 0).await.is_err(), "{name}");
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
        let lost = "0123abcd-0000-4000-8000-000000000001";
        store
            .upload_writer(lost, 0)
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        assert!(
            matches!(
                store.upload_writer(lost, 10).await,
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

#[tokio::test]
async fn one_chunk_uploads_small_blobs_and_inventory() {
    for (name, store) in stores() {
        // One chunk: the commit moves it into place.
        let id = "0123abcd-0000-4000-8000-00000000000a";
        let data = Bytes::from(vec![7u8; 1 << 20]);
        let mut w = store.upload_writer(id, 0).await.unwrap();
        w.write(data.clone()).await.unwrap();
        w.finish().await.unwrap();
        let digest = Digest::sha256(&data);
        store
            .commit_upload(id, &digest, data.len() as u64)
            .await
            .unwrap();
        // The same blob again: the upload is discarded, the blob stays.
        let again = "0123abcd-0000-4000-8000-00000000000b";
        let mut w = store.upload_writer(again, 0).await.unwrap();
        w.write(data.clone()).await.unwrap();
        w.finish().await.unwrap();
        store
            .commit_upload(again, &digest, data.len() as u64)
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
        store.delete_upload(again).await.unwrap();
    }
}
