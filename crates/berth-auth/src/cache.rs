//! Remembers credentials that verified recently. Docker clients send Basic credentials
//! with every request, and bcrypt/argon2 cost tens of milliseconds each by design.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MAX_ENTRIES: usize = 10_000;

pub struct VerifiedCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
    /// Credentials being checked now: the same ones arriving meanwhile wait for that
    /// check instead of counting as more attempts (a client opening many connections at
    /// once is not guessing).
    checks: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

/// The turn to check one set of credentials; the next holder finds the result cached.
pub struct CheckTurn<'a> {
    cache: &'a VerifiedCache,
    key: [u8; 32],
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for CheckTurn<'_> {
    fn drop(&mut self) {
        let mut checks = self.cache.checks.lock().unwrap_or_else(|e| e.into_inner());
        // Held by the map and by this turn only: nobody waits, the entry goes.
        if checks
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) <= 2)
        {
            checks.remove(&self.key);
        }
    }
}

/// The cache key covers the stored hash too, so a changed password or htpasswd line
/// invalidates what was remembered for the old one. Passwords are kept only hashed.
fn key(user: &str, password: &str, stored: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user, password, stored] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl VerifiedCache {
    pub fn new(ttl: Duration) -> VerifiedCache {
        VerifiedCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            checks: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until no other check of these credentials goes on, and takes the turn.
    pub async fn turn(&self, user: &str, password: &str, stored: &str) -> CheckTurn<'_> {
        let key = key(user, password, stored);
        let mutex = {
            let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
            checks.entry(key).or_default().clone()
        };
        CheckTurn {
            cache: self,
            key,
            _turn: mutex.lock_owned().await,
        }
    }

    pub fn contains(&self, user: &str, password: &str, stored: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key(user, password, stored))
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn insert(&self, user: &str, password: &str, stored: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, until| *until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key(user, password, stored), Instant::now() + self.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_same_stored_hash() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        cache.insert("u", "p", "hash1");
        assert!(cache.contains("u", "p", "hash1"));
        assert!(!cache.contains("u", "p", "hash2"));
        assert!(!cache.contains("u", "q", "hash1"));
        let expired = VerifiedCache::new(Duration::ZERO);
        expired.insert("u", "p", "h");
        assert!(!expired.contains("u", "p", "h"));
    }

    #[tokio::test]
    async fn one_check_of_the_same_credentials_at_a_time() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let first = cache.turn("u", "p", "h").await;
        // Other credentials do not wait.
        drop(cache.turn("u", "q", "h").await);
        let waiting = tokio::time::timeout(Duration::from_millis(50), cache.turn("u", "p", "h"));
        assert!(
            waiting.await.is_err(),
            "the same credentials wait for the first check"
        );
        drop(first);
        drop(cache.turn("u", "p", "h").await);
        assert!(
            cache.checks.lock().unwrap().is_empty(),
            "finished turns leave nothing"
        );
    }

    #[test]
    fn expired_entries_are_not_remembered() {
        let expired = VerifiedCache::new(Duration::ZERO);
        expired.insert("u", "p", "h");
        assert!(!expired.contains("u", "p", "h"));
    }
}
