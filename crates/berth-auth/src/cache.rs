//! Remembers credentials that verified recently. Docker clients send Basic credentials
//! with every request, and bcrypt/argon2 cost tens of milliseconds each by design.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MAX_ENTRIES: usize = 10_000;

pub struct VerifiedCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
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
}
