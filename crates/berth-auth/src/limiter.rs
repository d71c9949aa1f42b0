//! Slows, then refuses, repeated failed logins from one address or for one user.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits; defaults suit an interactive registry (a CI job with a wrong password
/// is stopped within seconds, a person mistyping twice is not).
#[derive(Debug, Clone)]
pub struct LimiterSettings {
    /// Failures counted over this long.
    pub window: Duration,
    /// From this many failures on, each further attempt waits `delay`.
    pub slow_after: u32,
    pub delay: Duration,
    /// From this many failures on, attempts are refused until `lockout` has passed.
    pub refuse_after: u32,
    pub lockout: Duration,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            window: Duration::from_secs(300),
            slow_after: 5,
            delay: Duration::from_secs(1),
            refuse_after: 10,
            lockout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    first: Instant,
    last: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(String),
}

/// What to do with a login attempt before checking its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Check it, but only after this pause.
    Slow(Duration),
    /// Refuse without checking; retry after this long.
    Refuse(Duration),
}

pub struct LoginLimiter {
    settings: LimiterSettings,
    records: Mutex<HashMap<Key, Record>>,
}

const MAX_RECORDS: usize = 100_000;

impl LoginLimiter {
    pub fn new(settings: LimiterSettings) -> LoginLimiter {
        LoginLimiter {
            settings,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn keys(addr: IpAddr, user: &str) -> [Key; 2] {
        [Key::Address(addr), Key::User(user.to_string())]
    }

    pub fn check(&self, addr: IpAddr, user: &str) -> Verdict {
        let now = Instant::now();
        let s = &self.settings;
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut verdict = Verdict::Proceed;
        for key in Self::keys(addr, user) {
            let Some(r) = records.get(&key) else { continue };
            if r.failures >= s.refuse_after {
                let until = r.last + s.lockout;
                if until > now {
                    return Verdict::Refuse(until - now);
                }
            } else if r.failures >= s.slow_after && now.duration_since(r.first) < s.window {
                verdict = Verdict::Slow(s.delay);
            }
        }
        verdict
    }

    pub fn failed(&self, addr: IpAddr, user: &str) {
        let now = Instant::now();
        let s = &self.settings;
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= MAX_RECORDS {
            records.retain(|_, r| now.duration_since(r.last) < s.window.max(s.lockout));
        }
        for key in Self::keys(addr, user) {
            let r = records.entry(key).or_insert(Record {
                failures: 0,
                first: now,
                last: now,
            });
            // A quiet window starts the count again (a finished lockout too).
            let expired = now.duration_since(r.first) >= s.window
                && (r.failures < s.refuse_after || now.duration_since(r.last) >= s.lockout);
            if expired {
                *r = Record {
                    failures: 0,
                    first: now,
                    last: now,
                };
            }
            r.failures += 1;
            r.last = now;
        }
    }

    pub fn succeeded(&self, addr: IpAddr, user: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        for key in Self::keys(addr, user) {
            records.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LimiterSettings {
            slow_after: 2,
            refuse_after: 4,
            ..LimiterSettings::default()
        })
    }

    #[test]
    fn slows_then_refuses_then_forgives_on_success() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(l.check(ip, "u"), Verdict::Proceed);
        l.failed(ip, "u");
        l.failed(ip, "u");
        assert!(matches!(l.check(ip, "u"), Verdict::Slow(_)));
        l.failed(ip, "u");
        l.failed(ip, "u");
        assert!(matches!(l.check(ip, "u"), Verdict::Refuse(_)));
        // The user is locked from another address too, and the address for other users.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(matches!(l.check(other, "u"), Verdict::Refuse(_)));
        assert!(matches!(l.check(ip, "v"), Verdict::Refuse(_)));
        assert_eq!(l.check(other, "v"), Verdict::Proceed);
        l.succeeded(ip, "u");
        assert_eq!(l.check(ip, "u"), Verdict::Proceed);
    }
}
