//! Hot reads from memory: manifests by tag or digest, which repository holds which blob,
//! and the bytes of small blobs. Every pull asks these; answering them from the metadata
//! database costs a hand-over to its worker thread and back, which is most of a
//! manifest GET's time.
//!
//! **Staying right.** Entries carry the generation they were read at, and any write makes
//! every entry stale at once. The generation is the metadata's write count — raised after
//! every write that any berth process commits on the same database (`berth gc` and
//! `berth retention` from the command line included), and read from shared memory
//! without a query — plus a local count a watcher raises when the database says a writer
//! berth does not know committed (within [`WATCH_INTERVAL`]). A reader notes the
//! generation *before* it queries, so a value read just before a change is never stored
//! as current. Only what exists is kept (a miss is asked again), and blob bytes are
//! content-addressed: they are served only after the membership check says the
//! repository holds the blob.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_meta::{RepositoryBlob, StoredManifest};
use berth_oci::{Digest, RepoName};
use bytes::Bytes;

/// How often the database is asked whether a writer berth does not know changed it.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Entries per map before it starts over (no eviction bookkeeping on the hot path).
const MAX_ENTRIES: usize = 8192;
/// Manifests larger than this are read from the database each time.
const MAX_MANIFEST: usize = 256 * 1024;
/// Blobs up to this size have their bytes kept: small layers and configs, which clients
/// fetch often and whose cost is per request, not per byte.
pub const SMALL_BLOB: u64 = 64 * 1024;
/// All kept blob bytes together.
const MAX_CONTENT_BYTES: usize = 8 << 20;

#[derive(Default)]
struct Contents {
    blobs: HashMap<Digest, Bytes>,
    bytes: usize,
}

/// Answers kept with the generation they were read at.
pub struct Kept<K, V> {
    map: Mutex<HashMap<K, (u64, V)>>,
    /// Which answers are small enough to keep.
    worth_keeping: fn(&V) -> bool,
}

impl<K: Hash + Eq, V: Clone> Kept<K, V> {
    fn new(worth_keeping: fn(&V) -> bool) -> Self {
        Kept {
            map: Mutex::default(),
            worth_keeping,
        }
    }

    fn get(&self, key: &K, now: Generation) -> Option<V> {
        let map = lock(&self.map);
        let (at, value) = map.get(key)?;
        (*at == now.0).then(|| value.clone())
    }

    fn keep(&self, key: K, at: Generation, value: &V) {
        if !(self.worth_keeping)(value) {
            return;
        }
        let mut map = lock(&self.map);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (at.0, value.clone()));
    }

    /// Drops one answer (what it says is about to change).
    pub fn forget(&self, key: &K) {
        lock(&self.map).remove(key);
    }
}

pub struct ReadCache {
    /// Raised by the watcher of foreign writers.
    local: AtomicU64,
    /// The metadata's write count.
    writes: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Manifests by `(repository, tag or digest)`.
    pub manifests: Kept<(RepoName, String), StoredManifest>,
    /// What `(repository, digest)` holds of a blob.
    pub blobs: Kept<(RepoName, Digest), RepositoryBlob>,
    contents: Mutex<Contents>,
}

/// The generation a reader noted before querying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReadCache {
    /// A cache whose answers stay good while `writes` (a count that only rises) stays.
    pub fn new(writes: impl Fn() -> u64 + Send + Sync + 'static) -> ReadCache {
        ReadCache {
            local: AtomicU64::new(0),
            writes: Box::new(writes),
            manifests: Kept::new(|m| m.content.len() <= MAX_MANIFEST),
            blobs: Kept::new(|_| true),
            contents: Default::default(),
        }
    }

    /// Both counts only rise, so their sum is unchanged exactly when neither changed.
    pub fn generation(&self) -> Generation {
        Generation(self.local.load(Ordering::Acquire) + (self.writes)())
    }

    /// Something changed that the write count does not show: every entry is stale.
    pub fn changed(&self) {
        self.local.fetch_add(1, Ordering::AcqRel);
    }

    /// The answer `kept` has for `key` if nothing changed since it was read, else what
    /// `read` finds — kept if it exists and nothing changed while it was read (the
    /// generation is noted before `read`, a lazy future, runs).
    pub async fn through<K: Hash + Eq, V: Clone, E>(
        &self,
        kept: &Kept<K, V>,
        key: K,
        read: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        let read_at = self.generation();
        if let Some(v) = kept.get(&key, read_at) {
            return Ok(Some(v));
        }
        let found = read.await?;
        if let Some(v) = &found
            && self.generation() == read_at
        {
            kept.keep(key, read_at, v);
        }
        Ok(found)
    }

    /// The bytes of a small blob, if kept. Content-addressed: never stale.
    pub fn content(&self, digest: &Digest) -> Option<Bytes> {
        lock(&self.contents).blobs.get(digest).cloned()
    }

    pub fn keep_content(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() as u64 > SMALL_BLOB {
            return;
        }
        let mut c = lock(&self.contents);
        if c.bytes + bytes.len() > MAX_CONTENT_BYTES {
            *c = Contents::default();
        }
        if c.blobs.insert(digest.clone(), bytes.clone()).is_none() {
            c.bytes += bytes.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn manifest(content: &'static [u8]) -> StoredManifest {
        StoredManifest {
            digest: Digest::sha256(content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            content: Bytes::from_static(content),
            subject: None,
        }
    }

    fn cache() -> (ReadCache, Arc<AtomicU64>) {
        let writes = Arc::new(AtomicU64::new(0));
        let w = writes.clone();
        (ReadCache::new(move || w.load(Ordering::Acquire)), writes)
    }

    type Found = Result<Option<StoredManifest>, ()>;

    /// Reads `key` through the cache; `Some(true)` if the answer came from `fresh`.
    async fn read(cache: &ReadCache, key: &str, fresh: &StoredManifest) -> bool {
        let repo: RepoName = "a/b".parse().unwrap();
        let asked = std::cell::Cell::new(false);
        let read = async {
            asked.set(true);
            Found::Ok(Some(fresh.clone()))
        };
        let got = cache
            .through(&cache.manifests, (repo, key.to_string()), read)
            .await
            .unwrap();
        assert_eq!(got.map(|m| m.digest), Some(fresh.digest.clone()));
        asked.get()
    }

    #[tokio::test]
    async fn a_change_makes_everything_stale() {
        let (cache, writes) = cache();
        let m = manifest(b"{}");
        assert!(read(&cache, "v1", &m).await, "a miss reads");
        assert!(!read(&cache, "v1", &m).await, "then it is kept");
        assert!(read(&cache, "v2", &m).await, "per key");
        cache.changed();
        assert!(read(&cache, "v1", &m).await, "a foreign writer was seen");
        assert!(!read(&cache, "v1", &m).await);
        writes.fetch_add(1, Ordering::AcqRel); // another process wrote
        assert!(read(&cache, "v1", &m).await);
    }

    #[tokio::test]
    async fn a_value_read_while_something_changed_is_not_kept() {
        let (cache, writes) = cache();
        let repo: RepoName = "a".parse().unwrap();
        let key = (repo, "v1".to_string());
        let read = async {
            writes.fetch_add(1, Ordering::AcqRel); // committed while the reader queried
            Found::Ok(Some(manifest(b"{}")))
        };
        cache
            .through(&cache.manifests, key.clone(), read)
            .await
            .unwrap();
        assert!(cache.manifests.get(&key, cache.generation()).is_none());
        let none = async { Found::Ok(None) };
        assert!(
            cache
                .through(&cache.manifests, key.clone(), none)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            cache.manifests.get(&key, cache.generation()).is_none(),
            "misses are asked again"
        );
        let blob = RepositoryBlob {
            size: 3,
            unreferenced_since: None,
        };
        let bkey = ("a".parse().unwrap(), Digest::sha256(b"abc"));
        let found = async { Result::<_, ()>::Ok(Some(blob)) };
        cache
            .through(&cache.blobs, bkey.clone(), found)
            .await
            .unwrap();
        assert_eq!(cache.blobs.get(&bkey, cache.generation()), Some(blob));
        cache.blobs.forget(&bkey);
        assert!(cache.blobs.get(&bkey, cache.generation()).is_none());
    }

    #[test]
    fn only_small_contents_are_kept() {
        let (cache, _) = cache();
        let small = Bytes::from(vec![1u8; 100]);
        let big = Bytes::from(vec![2u8; SMALL_BLOB as usize + 1]);
        cache.keep_content(&Digest::sha256(&small), &small);
        cache.keep_content(&Digest::sha256(&big), &big);
        assert_eq!(cache.content(&Digest::sha256(&small)), Some(small));
        assert!(cache.content(&Digest::sha256(&big)).is_none());
    }
}
