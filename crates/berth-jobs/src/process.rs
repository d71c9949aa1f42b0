//! Which process runs something, well enough to tell later whether it is still alive: the
//! host, the pid namespace (containers can share a host name but not their pids), the
//! process id and the process's start time (so a reused pid is not mistaken for the
//! process that died). Written into lifecycle runs; read back to mark the runs of
//! killed processes as such.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessId {
    pub host: String,
    /// The inode of `/proc/self/ns/pid`; 0 where unknown.
    pub namespace: u64,
    pub pid: u32,
    /// Clock ticks after boot at which the process started (`/proc/<pid>/stat`); 0 where
    /// unknown.
    pub started: u64,
}

/// What can be said of a process named by a [`ProcessId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
    /// On another host: only its heartbeats can tell.
    Unknown,
}

impl ProcessId {
    pub fn current() -> ProcessId {
        let pid = std::process::id();
        ProcessId {
            host: host_name(),
            namespace: pid_namespace(),
            pid,
            started: start_time(pid).unwrap_or(0),
        }
    }

    /// The `host/namespace/pid/started` form [`fmt::Display`] writes.
    pub fn parse(s: &str) -> Option<ProcessId> {
        let mut parts = s.rsplitn(4, '/');
        let started = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let namespace = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(ProcessId {
            host,
            namespace,
            pid,
            started,
        })
    }

    pub fn liveness(&self) -> Liveness {
        if self.host != host_name() || self.namespace != pid_namespace() || self.namespace == 0 {
            return Liveness::Unknown;
        }
        match start_time(self.pid) {
            Some(t) if t == self.started || self.started == 0 => Liveness::Alive,
            Some(_) => Liveness::Gone, // the pid now belongs to another process
            None if cfg!(target_os = "linux") => Liveness::Gone,
            None => Liveness::Unknown,
        }
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.host, self.namespace, self.pid, self.started
        )
    }
}

fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of `/proc/<pid>/stat`, after the parenthesised command name (which may hold
/// spaces and parentheses itself).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_its_form_round_trips() {
        let me = ProcessId::current();
        assert_eq!(ProcessId::parse(&me.to_string()), Some(me.clone()));
        if cfg!(target_os = "linux") {
            assert!(me.started > 0);
            assert_eq!(me.liveness(), Liveness::Alive);
            let reused = ProcessId {
                started: me.started + 1,
                ..me.clone()
            };
            assert_eq!(reused.liveness(), Liveness::Gone);
        }
        let elsewhere = ProcessId {
            host: "another-host".into(),
            ..me.clone()
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        let other_container = ProcessId {
            namespace: me.namespace + 1,
            ..me
        };
        assert_eq!(other_container.liveness(), Liveness::Unknown);
        assert_eq!(ProcessId::parse("nonsense"), None);
    }
}
