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

type Stamped<T> = (u64, T);

#[derive(Default)]
struct Contents {
    blobs: HashMap<Digest, Bytes>,
    bytes: usize,
}

pub struct ReadCache {
    /// Raised by the watcher of foreign writers.
    local: AtomicU64,
    /// The metadata's write count.
    writes: Box<dyn Fn() -> u64 + Send + Sync>,
    /// `(repository, tag or digest)`.
    manifests: Mutex<HashMap<(RepoName, String), Stamped<StoredManifest>>>,
    blobs: Mutex<HashMap<(RepoName, Digest), Stamped<RepositoryBlob>>>,
    contents: Mutex<Contents>,
}

/// The generation a reader noted before querying; pass it back when storing the answer.
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn put<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, Stamped<V>>, key: K, at: u64, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, (at, value));
}

impl ReadCache {
    /// A cache whose answers stay good while `writes` (a count that only rises) stays.
    pub fn new(writes: impl Fn() -> u64 + Send + Sync + 'static) -> ReadCache {
        ReadCache {
            local: AtomicU64::new(0),
            writes: Box::new(writes),
            manifests: Default::default(),
            blobs: Default::default(),
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

    fn current(&self, at: u64) -> bool {
        at == self.generation().0
    }

    pub fn manifest(&self, repo: &RepoName, reference: &str) -> Option<StoredManifest> {
        let map = lock(&self.manifests);
        // The key is built only to look up; a miss costs one allocation.
        let (at, m) = map.get(&(repo.clone(), reference.to_string()))?;
        self.current(*at).then(|| m.clone())
    }

    pub fn keep_manifest(
        &self,
        read_at: Generation,
        repo: &RepoName,
        reference: &str,
        m: &StoredManifest,
    ) {
        if m.content.len() <= MAX_MANIFEST && self.current(read_at.0) {
            let key = (repo.clone(), reference.to_string());
            put(&mut lock(&self.manifests), key, read_at.0, m.clone());
        }
    }

    pub fn blob(&self, repo: &RepoName, digest: &Digest) -> Option<RepositoryBlob> {
        let map = lock(&self.blobs);
        let (at, b) = map.get(&(repo.clone(), digest.clone()))?;
        self.current(*at).then_some(*b)
    }

    pub fn keep_blob(
        &self,
        read_at: Generation,
        repo: &RepoName,
        digest: &Digest,
        b: RepositoryBlob,
    ) {
        if self.current(read_at.0) {
            put(
                &mut lock(&self.blobs),
                (repo.clone(), digest.clone()),
                read_at.0,
                b,
            );
        }
    }

    /// Drops what is known of one blob in one repository (its review time changed).
    pub fn forget_blob(&self, repo: &RepoName, digest: &Digest) {
        lock(&self.blobs).remove(&(repo.clone(), digest.clone()));
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

    fn manifest(content: &'static [u8]) -> StoredManifest {
        StoredManifest {
            digest: Digest::sha256(content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            content: Bytes::from_static(content),
            subject: None,
        }
    }

    use std::sync::Arc;

    fn cache() -> (ReadCache, Arc<AtomicU64>) {
        let writes = Arc::new(AtomicU64::new(0));
        let w = writes.clone();
        (ReadCache::new(move || w.load(Ordering::Acquire)), writes)
    }

    #[test]
    fn a_change_makes_everything_stale() {
        let (cache, writes) = cache();
        let repo: RepoName = "a/b".parse().unwrap();
        let read_at = cache.generation();
        cache.keep_manifest(read_at, &repo, "v1", &manifest(b"{}"));
        assert!(cache.manifest(&repo, "v1").is_some());
        assert!(cache.manifest(&repo, "v2").is_none());
        cache.changed();
        assert!(cache.manifest(&repo, "v1").is_none());
        cache.keep_manifest(cache.generation(), &repo, "v1", &manifest(b"{}"));
        assert!(cache.manifest(&repo, "v1").is_some());
        writes.fetch_add(1, Ordering::AcqRel); // another process wrote
        assert!(cache.manifest(&repo, "v1").is_none());
    }

    #[test]
    fn a_value_read_before_a_change_is_not_kept() {
        let (cache, _) = cache();
        let repo: RepoName = "a".parse().unwrap();
        let read_at = cache.generation();
        cache.changed(); // committed while the reader was querying
        cache.keep_manifest(read_at, &repo, "v1", &manifest(b"{}"));
        assert!(cache.manifest(&repo, "v1").is_none());
        let blob = RepositoryBlob {
            size: 3,
            unreferenced_since: None,
        };
        let d = Digest::sha256(b"abc");
        cache.keep_blob(read_at, &repo, &d, blob);
        assert!(cache.blob(&repo, &d).is_none());
        cache.keep_blob(cache.generation(), &repo, &d, blob);
        assert_eq!(cache.blob(&repo, &d), Some(blob));
        cache.forget_blob(&repo, &d);
        assert!(cache.blob(&repo, &d).is_none());
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
