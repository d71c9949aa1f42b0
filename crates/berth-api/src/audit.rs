//! The audit log's recorder. Entries queue without waiting (pulls are the hottest path);
//! one task writes them in batches to the metadata and, when configured, as JSON lines to
//! a file for a log shipper and to a syslog server, and removes entries older than the
//! retention.
//!
//! What is recorded comes from the front door, so no handler has to remember it:
//! manifest pushes, pulls and deletes (the registry events), token-service sign-ins, and
//! every change made through the management API, refused ones included.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_meta::{AuditEntry, MetaStore};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How many entries may wait for the writer before new ones are dropped (and counted).
const QUEUE: usize = 10_000;
/// The most entries written in one transaction.
const BATCH: usize = 500;
/// How often old entries are removed.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// `berth.audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    pub pulls: bool,
    pub retention: Option<Duration>,
    pub file: Option<PathBuf>,
    pub syslog: Option<berth_config::SyslogTarget>,
}

pub struct Auditor {
    queue: mpsc::Sender<AuditEntry>,
    /// Record pulls too.
    pub pulls: bool,
    dropped: AtomicU64,
}

impl Auditor {
    /// The recorder and its writer task (on the current runtime).
    pub fn start(meta: Arc<dyn MetaStore>, settings: AuditSettings) -> Arc<Auditor> {
        let (queue, entries) = mpsc::channel(QUEUE);
        tokio::spawn(write_entries(meta, entries, settings.clone()));
        Arc::new(Auditor {
            queue,
            pulls: settings.pulls,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues `entry`; never waits. A full queue (the metadata far behind) drops it and
    /// says so in the log, once per thousand.
    pub fn record(&self, entry: AuditEntry) {
        if self.queue.try_send(entry).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 1000 == 1 {
                tracing::warn!(
                    dropped = n,
                    "the audit log cannot keep up; entries were dropped"
                );
            }
        }
    }
}

/// One entry as a JSON line.
fn json_line(e: &AuditEntry) -> String {
    let mut line = serde_json::json!({
        "id": e.id,
        "op_time": crate::harbor::timestamp(e.at_ms),
        "username": e.username,
        "operation": e.operation,
        "resource_type": e.resource_type,
        "resource": e.resource,
        "operation_description": e.description,
        "operation_result": e.success,
        "project": e.project,
        "client_ip": e.client_ip,
    })
    .to_string();
    line.push('\n');
    line
}

async fn write_entries(
    meta: Arc<dyn MetaStore>,
    mut entries: mpsc::Receiver<AuditEntry>,
    settings: AuditSettings,
) {
    let mut file = match &settings.file {
        Some(path) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
        {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot open the audit log file (berth.audit.file); entries go to the database only");
                None
            }
        },
        None => None,
    };
    let mut syslog = settings
        .syslog
        .clone()
        .map(crate::audit_syslog::SyslogSink::new);
    let mut purge = tokio::time::interval(PURGE_EVERY);
    loop {
        let first = tokio::select! {
            next = entries.recv() => match next {
                Some(e) => e,
                None => return,
            },
            _ = purge.tick() => {
                if let Some(keep) = settings.retention {
                    let before = berth_meta::now_ms() - keep.as_millis() as i64;
                    match meta.purge_audit(before).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "old audit log entries removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "could not remove old audit log entries"),
                    }
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match entries.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        store(meta.as_ref(), &batch).await;
        if let Some(f) = file.as_mut() {
            let lines: String = batch.iter().map(json_line).collect();
            if let Err(e) = f.write_all(lines.as_bytes()).await {
                tracing::warn!(error = %e, "could not append to the audit log file");
            }
        }
        if let Some(sink) = syslog.as_mut() {
            sink.send(&batch, json_line).await;
        }
    }
}

/// Writes a batch, retrying a while when the metadata is unavailable (a PostgreSQL
/// failover): the entries are what happened, worth a few seconds.
async fn store(meta: &dyn MetaStore, batch: &[AuditEntry]) {
    for attempt in 0..5u32 {
        match meta.append_audit(batch).await {
            Ok(()) => return,
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, "audit log write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, entries = batch.len(), "audit log entries lost: the metadata refused them");
            }
        }
    }
}

/// What kind of request the front door is serving, as far as the audit log goes.
pub(crate) enum Kind {
    /// `/v2`: its registry event (push, pull, delete of a manifest) is recorded.
    Registry,
    /// The token service: a password sign-in is recorded, refused ones too.
    SignIn,
    /// A change through the management API (path below the API's base).
    Change { path: String },
}

/// What the front door keeps of a request before serving it.
pub(crate) struct Request {
    kind: Kind,
    method: axum::http::Method,
    /// The user name of Basic credentials, for refused sign-ins.
    basic_user: Option<String>,
    client_ip: Option<String>,
    /// The project a change names, resolved before the change (a deleted project's name
    /// cannot be looked up after).
    project: Option<String>,
}

impl Request {
    pub(crate) async fn new(
        state: &crate::AppState,
        kind: Kind,
        method: &axum::http::Method,
        headers: &axum::http::HeaderMap,
        peer: Option<&crate::access::Peer>,
    ) -> Request {
        let basic_user = match crate::access::credentials(headers, peer) {
            berth_auth::Credentials::Basic { user, .. } => Some(user),
            _ => None,
        };
        let project = match &kind {
            Kind::Change { path } => match segments(path).as_slice() {
                ["projects", p, ..] => Some(project_name(state, p).await),
                _ => None,
            },
            _ => None,
        };
        Request {
            kind,
            method: method.clone(),
            basic_user,
            client_ip: peer.map(|p| p.addr.ip().to_string()),
            project,
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// A project's name from a path segment that may be its id.
async fn project_name(state: &crate::AppState, segment: &str) -> String {
    let by = berth_auth::ProjectRef::parse(segment, false);
    match state.teams.find(&by).await {
        Ok(Some(p)) => p.name,
        _ => segment.to_string(),
    }
}

/// What a management change was about: resource type, resource, project.
async fn subject(
    state: &crate::AppState,
    request: &Request,
    path: &str,
    location: Option<&str>,
) -> (&'static str, String, Option<String>) {
    let created = location
        .and_then(|l| l.rsplit('/').next())
        .map(String::from);
    let id_or_created = |id: Option<&&str>| id.map(|s| s.to_string()).or(created.clone());
    let project = request.project.clone();
    match segments(path).as_slice() {
        ["projects"] => {
            let name = match &created {
                Some(c) => Some(project_name(state, c).await),
                None => None,
            };
            ("project", name.clone().unwrap_or_default(), name)
        }
        ["projects", _, "members", rest @ ..] => {
            let member = id_or_created(rest.first()).unwrap_or_default();
            let p = project.clone().unwrap_or_default();
            ("project_member", format!("{p}/{member}"), project)
        }
        ["projects", ..] => ("project", project.clone().unwrap_or_default(), project),
        ["users", rest @ ..] => {
            let id = id_or_created(rest.first()).unwrap_or_default();
            let name = match id.parse::<i64>() {
                Ok(n) => state
                    .teams
                    .user_by_id(n)
                    .await
                    .ok()
                    .flatten()
                    .map(|u| u.name),
                Err(_) => None,
            };
            ("user", name.unwrap_or(id), None)
        }
        ["robots", rest @ ..] => {
            let id = id_or_created(rest.first()).unwrap_or_default();
            let name = match id.parse::<i64>() {
                Ok(n) => state.robots.get(n).await.ok().map(|r| r.record.name),
                Err(_) => None,
            };
            ("robot", name.unwrap_or(id), None)
        }
        ["usergroups", rest @ ..] => (
            "user_group",
            id_or_created(rest.first()).unwrap_or_default(),
            None,
        ),
        ["ldap", "users", "import"] => ("ldap_user", "import".into(), None),
        _ => ("api", path.to_string(), None),
    }
}

/// Records what `request` did, from its response's status and `Location` (not the
/// response itself: its body cannot be held across the lookups).
pub(crate) async fn after(
    state: &crate::AppState,
    auditor: &Auditor,
    request: Request,
    status: axum::http::StatusCode,
    location: Option<String>,
    user: Option<&str>,
    emitted: Option<&crate::v2::Emit>,
) {
    use berth_notify::Action;
    let username = user
        .map(String::from)
        .or_else(|| request.basic_user.clone())
        .unwrap_or_default();
    let entry = |operation: &str,
                 resource_type: &str,
                 resource: String,
                 description: String,
                 success: bool,
                 project: Option<String>| AuditEntry {
        id: 0,
        at_ms: berth_meta::now_ms(),
        username: username.clone(),
        operation: operation.into(),
        resource_type: resource_type.into(),
        resource,
        description,
        success,
        project,
        client_ip: request.client_ip.clone(),
    };
    let recorded = match &request.kind {
        Kind::Registry => {
            let Some(crate::v2::Emit(action, target)) = emitted else {
                return;
            };
            if target.media_type == crate::v2::BLOB_MEDIA_TYPE {
                return;
            }
            let operation = match action {
                Action::Push => "create",
                Action::Pull if auditor.pulls => "pull",
                Action::Delete => "delete",
                Action::Pull | Action::Mount => return,
            };
            let resource = match &target.tag {
                Some(tag) => format!("{}:{tag}", target.repository),
                None => format!("{}@{}", target.repository, target.digest),
            };
            let project = target.repository.split('/').next().map(String::from);
            let description = format!("{operation} artifact {resource}");
            entry(operation, "artifact", resource, description, true, project)
        }
        Kind::SignIn => {
            let Some(who) = request.basic_user.clone() else {
                return;
            };
            let description = if status.is_success() {
                "signed in (token issued)".to_string()
            } else {
                format!("sign-in refused ({})", status.as_u16())
            };
            entry("login", "user", who, description, status.is_success(), None)
        }
        Kind::Change { path } => {
            let (resource_type, resource, project) =
                subject(state, &request, path, location.as_deref()).await;
            let operation = match request.method.as_str() {
                "POST" => "create",
                "DELETE" => "delete",
                _ => "update",
            };
            let description = format!("{} {path} → {}", request.method, status.as_u16());
            entry(
                operation,
                resource_type,
                resource,
                description,
                status.as_u16() < 400,
                project,
            )
        }
    };
    auditor.record(recorded);
}
