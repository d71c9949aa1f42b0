//! Hot reads from memory: manifests by tag or digest, which repository holds which blob,
//! and the bytes of small blobs. Every pull asks these; answering them from the metadata
//! database costs a hand-over to its worker thread and back, which is most of a
//! manifest GET's time.
//!
//! **Staying right.** Entries carry the cache's generation when they were read, and any
//! change makes every entry stale at once: this process's own writes bump the
//! generation right after they commit (so a client reads what it just pushed or
//! deleted), and a watcher bumps it when the database says another connection committed
//! (a `berth gc` or `berth retention` from the command line) — within
//! [`WATCH_INTERVAL`]. A reader notes the generation *before* it queries, so a value read
//! just before a change is never stored as current. Only what exists is kept (a miss is
//! asked again), and blob bytes are content-addressed: they are served only after the
//! membership check says the repository holds the blob.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_meta::{RepositoryBlob, StoredManifest};
use berth_oci::{Digest, RepoName};
use bytes::Bytes;

/// How often the database is asked whether another connection changed it.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(50);

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

#[derive(Default)]
pub struct ReadCache {
    generation: AtomicU64,
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
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Something changed: every entry read before now is stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self, at: u64) -> bool {
        at == self.generation.load(Ordering::Acquire)
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

    #[test]
    fn a_change_makes_everything_stale() {
        let cache = ReadCache::default();
        let repo: RepoName = "a/b".parse().unwrap();
        let read_at = cache.generation();
        cache.keep_manifest(read_at, &repo, "v1", &manifest(b"{}"));
        assert!(cache.manifest(&repo, "v1").is_some());
        assert!(cache.manifest(&repo, "v2").is_none());
        cache.changed();
        assert!(cache.manifest(&repo, "v1").is_none());
    }

    #[test]
    fn a_value_read_before_a_change_is_not_kept() {
        let cache = ReadCache::default();
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
        let cache = ReadCache::default();
        let small = Bytes::from(vec![1u8; 100]);
        let big = Bytes::from(vec![2u8; SMALL_BLOB as usize + 1]);
        cache.keep_content(&Digest::sha256(&small), &small);
        cache.keep_content(&Digest::sha256(&big), &big);
        assert_eq!(cache.content(&Digest::sha256(&small)), Some(small));
        assert!(cache.content(&Digest::sha256(&big)).is_none());
    }
}
