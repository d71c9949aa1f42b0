//! Audit entries as syslog messages (RFC 5424), each carrying the entry's JSON line, to
//! a syslog server over UDP, TCP (length-framed, RFC 6587) or a local socket. The database
//! stays the record: a message that cannot be sent is logged and dropped, never retried
//! for ever.

use std::io;

use berth_config::{SyslogTarget, SyslogTransport};
use berth_meta::AuditEntry;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixDatagram};

/// RFC 5424 severities: a done action is informational, a refused one a notice.
const INFO: u8 = 6;
const NOTICE: u8 = 5;

pub struct SyslogSink {
    target: SyslogTarget,
    /// This machine's name, as messages carry it.
    hostname: String,
    connection: Option<Connection>,
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
}

impl Connection {
    /// Whether a stream's server hung up. A write after that would still succeed once
    /// (the kernel takes it) and the message would be lost, so look before writing.
    fn closed_by_peer(&self) -> bool {
        let Connection::Tcp(stream) = self else {
            return false;
        };
        let mut byte = [0u8; 1];
        match stream.try_read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }
}

impl SyslogSink {
    pub fn new(target: SyslogTarget) -> SyslogSink {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty() && !h.contains(' '))
            .unwrap_or_else(|| "-".into());
        SyslogSink {
            target,
            hostname,
            connection: None,
        }
    }

    /// One message per entry (`line` is the entry as JSON); a broken stream is opened
    /// again once before the batch is given up.
    pub async fn send(&mut self, batch: &[AuditEntry], line: impl Fn(&AuditEntry) -> String) {
        let messages: Vec<Vec<u8>> = batch.iter().map(|e| self.message(e, &line(e))).collect();
        for attempt in 0..2 {
            match self.send_all(&messages).await {
                Ok(()) => return,
                Err(e) => {
                    self.connection = None;
                    if attempt == 1 {
                        tracing::warn!(error = %e, entries = batch.len(), "could not send audit entries to syslog (berth.audit.syslog); the database has them");
                    }
                }
            }
        }
    }

    fn message(&self, entry: &AuditEntry, json: &str) -> Vec<u8> {
        let severity = if entry.success { INFO } else { NOTICE };
        let priority = u16::from(self.target.facility) * 8 + u16::from(severity);
        format!(
            "<{priority}>1 {} {} berth {} audit - {}",
            crate::harbor::timestamp(entry.at_ms),
            self.hostname,
            std::process::id(),
            json.trim_end()
        )
        .into_bytes()
    }

    async fn send_all(&mut self, messages: &[Vec<u8>]) -> io::Result<()> {
        let connection = match self.connection.take() {
            Some(c) if !c.closed_by_peer() => c,
            _ => self.connect().await?,
        };
        let connection = self.connection.insert(connection);
        match connection {
            Connection::Udp(socket) => {
                for m in messages {
                    socket.send(m).await?;
                }
            }
            Connection::Unix(socket) => {
                for m in messages {
                    socket.send(m).await?;
                }
            }
            Connection::Tcp(stream) => {
                let mut framed = Vec::new();
                for m in messages {
                    framed.extend_from_slice(format!("{} ", m.len()).as_bytes());
                    framed.extend_from_slice(m);
                }
                stream.write_all(&framed).await?;
            }
        }
        Ok(())
    }

    async fn connect(&self) -> io::Result<Connection> {
        Ok(match &self.target.transport {
            SyslogTransport::Udp(address) => {
                let socket = UdpSocket::bind(if address.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })
                .await?;
                socket.connect(address).await?;
                Connection::Udp(socket)
            }
            SyslogTransport::Tcp(address) => Connection::Tcp(TcpStream::connect(address).await?),
            SyslogTransport::Unix(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                Connection::Unix(socket)
            }
        })
    }
}
