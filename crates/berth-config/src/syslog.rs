//! `berth.audit.syslog`: where audit entries are also sent as syslog messages, and under
//! which facility.

use std::path::PathBuf;

use serde::Deserialize;

/// `berth.audit.syslog` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SyslogConfig {
    /// `udp://host:port`, `tcp://host:port` or `unix:///dev/log`.
    pub address: String,
    /// A facility name: `local0` … `local7`, `auth`, `authpriv`, `user`, `daemon`, …
    pub facility: String,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            address: String::new(),
            facility: "local0".into(),
        }
    }
}

/// How syslog messages travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One datagram per message to `host:port`.
    Udp(String),
    /// A stream to `host:port`, messages framed by their length (RFC 6587).
    Tcp(String),
    /// Datagrams to a local socket such as `/dev/log`.
    Unix(PathBuf),
}

/// A checked `berth.audit.syslog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: SyslogTransport,
    /// The facility's number (RFC 5424, table 1).
    pub facility: u8,
}

/// RFC 5424's facility names, by number.
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

impl SyslogConfig {
    /// The target this names, or what is wrong with it (naming the key).
    pub fn target(&self) -> Result<SyslogTarget, (&'static str, String)> {
        let address = self.address.trim();
        let host_port = |rest: &str| {
            let valid = rest
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if valid {
                Ok(rest.to_string())
            } else {
                Err((
                    "berth.audit.syslog.address",
                    format!("{address:?} needs a host and a port, e.g. udp://127.0.0.1:514"),
                ))
            }
        };
        let transport = if let Some(rest) = address.strip_prefix("udp://") {
            SyslogTransport::Udp(host_port(rest)?)
        } else if let Some(rest) = address.strip_prefix("tcp://") {
            SyslogTransport::Tcp(host_port(rest)?)
        } else if let Some(path) = address
            .strip_prefix("unix://")
            .filter(|p| p.starts_with('/'))
        {
            SyslogTransport::Unix(PathBuf::from(path))
        } else {
            return Err((
                "berth.audit.syslog.address",
                format!(
                    "{address:?} is not a syslog address: write udp://host:port, tcp://host:port or unix:///dev/log"
                ),
            ));
        };
        let facility = FACILITIES
            .iter()
            .position(|f| f.eq_ignore_ascii_case(self.facility.trim()))
            .ok_or_else(|| {
                (
                    "berth.audit.syslog.facility",
                    format!(
                        "{:?} is not a syslog facility: use one of {}",
                        self.facility,
                        FACILITIES.join(", ")
                    ),
                )
            })?;
        Ok(SyslogTarget {
            transport,
            facility: facility as u8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str, facility: &str) -> SyslogConfig {
        SyslogConfig {
            address: address.into(),
            facility: facility.into(),
        }
    }

    #[test]
    fn addresses_and_facilities() {
        let t = config("udp://127.0.0.1:514", "local0").target().unwrap();
        assert_eq!(t.transport, SyslogTransport::Udp("127.0.0.1:514".into()));
        assert_eq!(t.facility, 16);
        let t = config("tcp://logs.example:601", "AUTHPRIV")
            .target()
            .unwrap();
        assert_eq!(
            (t.transport, t.facility),
            (SyslogTransport::Tcp("logs.example:601".into()), 10)
        );
        let t = config("unix:///dev/log", "user").target().unwrap();
        assert_eq!(t.transport, SyslogTransport::Unix("/dev/log".into()));
        for bad in [
            "",
            "127.0.0.1:514",
            "udp://host",
            "tcp://:514",
            "unix://dev/log",
            "http://x:1",
        ] {
            let (key, _) = config(bad, "local0").target().unwrap_err();
            assert_eq!(key, "berth.audit.syslog.address", "{bad}");
        }
        let (key, message) = config("udp://h:514", "local9").target().unwrap_err();
        assert_eq!(key, "berth.audit.syslog.facility");
        assert!(message.contains("local7"));
    }
}
