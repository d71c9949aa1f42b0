//! Limits password guessing. Failures are counted per (address, user) pair, so an attacker
//! can slow and lock only their own attempts, never the real user signing in from
//! elsewhere; and per address, against one address trying many users. An attempt is
//! counted *before* its password is checked, so a burst of parallel guesses gets no more
//! checks than a sequence of them would.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits; defaults suit an interactive registry (a CI job with a wrong password
/// is stopped within seconds, a person mistyping twice is not).
#[derive(Debug, Clone)]
pub struct LimiterSettings {
    /// Failures are forgotten after this long without one.
    pub window: Duration,
    /// From this many failures of a pair on, each attempt first waits `delay`.
    pub slow_after: u32,
    pub delay: Duration,
    /// At this many failures (or attempts under way) of a pair, attempts are refused for
    /// `lockout`, doubled each time the pair is locked again (at most a day).
    pub refuse_after: u32,
    pub lockout: Duration,
    /// Failures from one address, over all users, before that address is refused
    /// (someone trying many user names).
    pub refuse_address_after: u32,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            window: Duration::from_secs(300),
            slow_after: 5,
            delay: Duration::from_secs(1),
            refuse_after: 10,
            lockout: Duration::from_secs(300),
            refuse_address_after: 50,
        }
    }
}

const MAX_LOCKOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    /// Attempts counted but not yet decided.
    in_flight: u32,
    last_failure: Instant,
    /// How many times this key has been locked out in a row.
    lockouts: u32,
    locked_until: Option<Instant>,
}

impl Record {
    fn new(now: Instant) -> Record {
        Record {
            failures: 0,
            in_flight: 0,
            last_failure: now,
            lockouts: 0,
            locked_until: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(IpAddr, String),
    Address(IpAddr),
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

/// An IPv6 client owns a whole /64 (it can take any address in it): it counts as one.
fn network_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        other => other,
    }
}

/// A login attempt counted by the limiter; say how it ended with [`Attempt::failed`] or
/// [`Attempt::succeeded`]. Dropped undecided (the request went away), it counts as
/// nothing.
pub struct Attempt {
    limiter: Arc<LoginLimiter>,
    keys: [Key; 2],
    /// What the limiter asked of the attempt before its check.
    pub verdict: Verdict,
    decided: bool,
    /// The password went to be checked: the attempt counts even if its request goes away
    /// (a client cannot drop connections to guess for free).
    checking: bool,
}

impl Attempt {
    /// The password is about to be checked.
    pub fn checking(&mut self) {
        self.checking = true;
    }

    pub fn failed(mut self) {
        self.decided = true;
        self.limiter.finish(&self.keys, false);
    }

    pub fn succeeded(mut self) {
        self.decided = true;
        self.limiter.finish(&self.keys, true);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.decided && self.checking {
            self.limiter.finish(&self.keys, false);
        } else if !self.decided {
            let mut records = self.limiter.lock();
            for key in &self.keys {
                if let Some(r) = records.get_mut(key) {
                    r.in_flight = r.in_flight.saturating_sub(1);
                }
            }
        }
    }
}

impl LoginLimiter {
    pub fn new(settings: LimiterSettings) -> Arc<LoginLimiter> {
        Arc::new(LoginLimiter {
            settings,
            records: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keys(addr: IpAddr, user: &str) -> [Key; 2] {
        let addr = network_of(addr);
        [Key::Pair(addr, user.to_string()), Key::Address(addr)]
    }

    /// Counts an attempt by `user` from `addr`, or refuses it: `Err` is how long to wait.
    pub fn begin(self: &Arc<Self>, addr: IpAddr, user: &str) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let s = &self.settings;
        let keys = Self::keys(addr, user);
        let mut records = self.lock();
        if records.len() >= MAX_RECORDS {
            let keep = s.window.max(s.lockout);
            records.retain(|_, r| {
                r.in_flight > 0
                    || now.duration_since(r.last_failure) < keep
                    || r.locked_until.is_some_and(|u| u > now)
            });
            // Still full (a flood from very many addresses): memory stays bounded, and
            // only lockouts under way are worth keeping.
            if records.len() >= MAX_RECORDS {
                records.retain(|_, r| r.locked_until.is_some_and(|u| u > now));
            }
            if records.len() >= MAX_RECORDS {
                records.clear();
            }
        }
        let mut verdict = Verdict::Proceed;
        for (key, limit) in keys.iter().zip([s.refuse_after, s.refuse_address_after]) {
            let Some(r) = records.get_mut(key) else {
                continue;
            };
            if let Some(until) = r.locked_until {
                if until > now {
                    return Err(until - now);
                }
                // The quiet window runs from the end of the lockout.
                r.locked_until = None;
                r.last_failure = until;
            }
            let quiet = now.duration_since(r.last_failure);
            if r.in_flight == 0 && quiet >= s.window {
                // A quiet window forgives the failures; only a quiet day the lockouts.
                let lockouts = if quiet >= MAX_LOCKOUT { 0 } else { r.lockouts };
                *r = Record {
                    lockouts,
                    ..Record::new(now)
                };
            }
            if r.failures + r.in_flight >= limit {
                // Only attempts under way can reach the limit without a lockout yet:
                // wait for them.
                return Err(s.delay);
            }
            if matches!(key, Key::Pair(..)) && r.failures >= s.slow_after {
                verdict = Verdict::Slow(s.delay);
            }
        }
        for key in &keys {
            records
                .entry(key.clone())
                .or_insert_with(|| Record::new(now))
                .in_flight += 1;
        }
        Ok(Attempt {
            limiter: self.clone(),
            keys,
            verdict,
            decided: false,
            checking: false,
        })
    }

    fn finish(&self, keys: &[Key; 2], success: bool) {
        let now = Instant::now();
        let s = &self.settings;
        let mut records = self.lock();
        for (key, limit) in keys.iter().zip([s.refuse_after, s.refuse_address_after]) {
            let Some(r) = records.get_mut(key) else {
                continue;
            };
            r.in_flight = r.in_flight.saturating_sub(1);
            if success {
                // The user proved who they are: their pair starts over. The address keeps
                // what other users' failures from it added up to.
                if matches!(key, Key::Pair(..)) {
                    *r = Record {
                        in_flight: r.in_flight,
                        ..Record::new(now)
                    };
                }
                continue;
            }
            r.failures += 1;
            r.last_failure = now;
            if r.failures >= limit && r.locked_until.is_none() {
                let lockout = (s.lockout * 2u32.pow(r.lockouts.min(16))).min(MAX_LOCKOUT);
                r.locked_until = Some(now + lockout);
                r.lockouts += 1;
                // The next lockout comes after `limit` more failures, and lasts longer.
                r.failures = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Arc<LoginLimiter> {
        LoginLimiter::new(LimiterSettings {
            slow_after: 2,
            refuse_after: 4,
            refuse_address_after: 6,
            ..LimiterSettings::default()
        })
    }

    fn fail(l: &Arc<LoginLimiter>, ip: IpAddr, user: &str) {
        l.begin(ip, user).expect("not refused").failed();
    }

    #[test]
    fn slows_then_refuses_only_that_address_and_user() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(l.begin(ip, "u").unwrap().verdict, Verdict::Proceed);
        fail(&l, ip, "u");
        fail(&l, ip, "u");
        assert_eq!(
            l.begin(ip, "u").unwrap().verdict,
            Verdict::Slow(l.settings.delay)
        );
        fail(&l, ip, "u");
        fail(&l, ip, "u");
        assert!(l.begin(ip, "u").is_err(), "locked out");
        // The real user from another address is not locked out, nor other users here.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(l.begin(other, "u").unwrap().verdict, Verdict::Proceed);
        assert_eq!(l.begin(ip, "v").unwrap().verdict, Verdict::Proceed);
    }

    #[test]
    fn an_attempt_dropped_while_checked_counts_as_failed() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..4 {
            let mut a = l.begin(ip, "u").unwrap();
            a.checking();
            drop(a); // the client went away while its password was checked
        }
        assert!(l.begin(ip, "u").is_err());
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let l = limiter();
        for i in 1..=6u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            fail(&l, ip, &format!("user{i}"));
        }
        let same_net = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        assert!(l.begin(same_net, "another").is_err());
        let other_net = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(l.begin(other_net, "another").is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_before_they_are_checked() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.3".parse().unwrap();
        let under_way: Vec<Attempt> = (0..4).map(|_| l.begin(ip, "u").unwrap()).collect();
        assert!(
            l.begin(ip, "u").is_err(),
            "a fifth parallel guess is refused"
        );
        drop(under_way); // undecided (requests gone): they count for nothing
        assert!(l.begin(ip, "u").is_ok());
    }

    #[test]
    fn success_forgives_the_pair_and_many_users_lock_the_address() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.4".parse().unwrap();
        fail(&l, ip, "u");
        fail(&l, ip, "u");
        l.begin(ip, "u").unwrap().succeeded();
        assert_eq!(l.begin(ip, "u").unwrap().verdict, Verdict::Proceed);
        for user in ["a", "b", "c", "d"] {
            fail(&l, ip, user);
        }
        assert!(l.begin(ip, "e").is_err(), "six failures from one address");
        let other: IpAddr = "192.0.2.5".parse().unwrap();
        assert!(l.begin(other, "e").is_ok());
    }

    #[test]
    fn lockouts_grow() {
        // Lockout as long as the window, as by default: the end of a lockout is no quiet
        // window that forgives it.
        let l = LoginLimiter::new(LimiterSettings {
            slow_after: 100,
            refuse_after: 2,
            lockout: Duration::from_millis(30),
            window: Duration::from_millis(30),
            ..LimiterSettings::default()
        });
        let ip: IpAddr = "192.0.2.6".parse().unwrap();
        fail(&l, ip, "u");
        fail(&l, ip, "u");
        let first = l.begin(ip, "u").err().expect("locked");
        assert!(first <= Duration::from_millis(30));
        std::thread::sleep(first);
        fail(&l, ip, "u");
        fail(&l, ip, "u");
        let second = l.begin(ip, "u").err().expect("locked again");
        assert!(second > Duration::from_millis(30), "{second:?}");
    }
}
