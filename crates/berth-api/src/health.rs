//! Health endpoints: `/healthz` says the process answers; `/readyz` says whether it can
//! take pushes now (storage takes a write, the metadata database answers, and every
//! periodic check of the `health` section passes), and if not, which check fails and why.
//! The same report is served at `/debug/health` on the debug listener, as in Distribution.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::{Check, Registry};
use serde_json::json;

use crate::AppState;
use crate::response::{ApiError, json, no_store};

#[derive(Debug, Clone, Copy)]
pub enum Probe {
    Alive,
    Ready,
}

/// Asks a running registry at `base` (e.g. `http://127.0.0.1:5000`) whether it is ready
/// (`/readyz`): the status and body it answered. For container health checks, which have
/// no curl in a `FROM scratch` image.
pub async fn ask_ready(base: &str) -> Result<(u16, String), reqwest::Error> {
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(url)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

pub fn route(path: &str) -> Option<Probe> {
    match path {
        "/healthz" => Some(Probe::Alive),
        "/readyz" => Some(Probe::Ready),
        _ => None,
    }
}

pub async fn answer(state: &AppState, probe: Probe, method: &Method) -> Response {
    if *method != Method::GET && *method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "health endpoints take GET",
        )
        .into_response();
    }
    match probe {
        Probe::Alive => no_store(json(
            StatusCode::OK,
            &serde_json::json!({ "status": "alive" }),
        )),
        Probe::Ready => readiness(state).await,
    }
}

/// 200 with every check, or 503 naming the failing ones.
pub async fn readiness(state: &AppState) -> Response {
    let mut checks = state.registry.readiness().await;
    checks.extend(state.periodic_checks.report());
    let ready = checks.iter().all(|c| c.error.is_none());
    let report: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|c| {
            let value = match &c.error {
                None => json!({ "status": "ok" }),
                Some(e) => json!({ "status": "failing", "error": e }),
            };
            (c.name.clone(), value)
        })
        .collect();
    if !ready {
        for c in checks.iter().filter(|c| c.error.is_some()) {
            tracing::warn!(
                check = c.name,
                error = c.error.as_deref().unwrap_or(""),
                "not ready"
            );
        }
    }
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    no_store(json(
        status,
        &serde_json::json!({ "status": word, "checks": report }),
    ))
}

/// What a periodic check (Distribution's `health` section) looks at.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Storage takes a write (`health.storagedriver`).
    Storage,
    /// Fails while the file exists (`health.file`).
    FileAbsent(PathBuf),
    /// The URI answers `status` (`health.http`).
    Http {
        uri: String,
        headers: Vec<(String, String)>,
        status: u16,
        timeout: Duration,
    },
    /// A TCP connection can be made (`health.tcp`).
    Tcp { addr: String, timeout: Duration },
}

#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    pub kind: CheckKind,
    pub interval: Duration,
    /// Failures in a row before the check reports failing.
    pub threshold: u32,
}

struct Periodic {
    name: String,
    error: Mutex<Option<String>>,
}

/// The `health` section's checks, each run on its own interval in the background.
#[derive(Default)]
pub struct PeriodicChecks {
    checks: Vec<Arc<Periodic>>,
}

impl PeriodicChecks {
    pub fn start(specs: Vec<CheckSpec>, registry: Arc<Registry>) -> PeriodicChecks {
        // An HTTP client loads the system's root certificates: only when a check needs it.
        let needs_http = specs
            .iter()
            .any(|s| matches!(s.kind, CheckKind::Http { .. }));
        let client = needs_http.then(reqwest::Client::new);
        let checks = specs
            .into_iter()
            .map(|spec| {
                let check = Arc::new(Periodic {
                    name: spec.name.clone(),
                    error: Mutex::new(None),
                });
                tokio::spawn(run(spec, check.clone(), registry.clone(), client.clone()));
                check
            })
            .collect();
        PeriodicChecks { checks }
    }

    pub fn report(&self) -> Vec<Check> {
        self.checks
            .iter()
            .map(|c| Check {
                name: c.name.clone(),
                error: c.error.lock().map(|e| e.clone()).unwrap_or(None),
            })
            .collect()
    }
}

async fn probe(
    kind: &CheckKind,
    registry: &Registry,
    client: Option<&reqwest::Client>,
) -> Result<(), String> {
    match kind {
        CheckKind::Storage => registry.storage_check().await.error.map_or(Ok(()), Err),
        CheckKind::FileAbsent(path) => match tokio::fs::metadata(path).await {
            Ok(_) => Err(format!("{} exists", path.display())),
            Err(_) => Ok(()),
        },
        CheckKind::Http {
            uri,
            headers,
            status,
            timeout,
        } => {
            let client = client.ok_or("no HTTP client")?;
            let mut request = client.get(uri).timeout(*timeout);
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let response = request.send().await.map_err(|e| format!("{uri}: {e}"))?;
            if response.status().as_u16() == *status {
                Ok(())
            } else {
                Err(format!(
                    "{uri} answered {}, not {status}",
                    response.status().as_u16()
                ))
            }
        }
        CheckKind::Tcp { addr, timeout } => {
            match tokio::time::timeout(*timeout, tokio::net::TcpStream::connect(addr.as_str()))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("{addr}: {e}")),
                Err(_) => Err(format!(
                    "{addr}: no connection within {}s",
                    timeout.as_secs_f32()
                )),
            }
        }
    }
}

async fn run(
    spec: CheckSpec,
    check: Arc<Periodic>,
    registry: Arc<Registry>,
    client: Option<reqwest::Client>,
) {
    let mut failures = 0u32;
    loop {
        let outcome = probe(&spec.kind, &registry, client.as_ref()).await;
        let reported = match outcome {
            Ok(()) => {
                failures = 0;
                None
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                (failures >= spec.threshold.max(1)).then_some(e)
            }
        };
        if let Ok(mut slot) = check.error.lock() {
            *slot = reported;
        }
        tokio::time::sleep(spec.interval).await;
    }
}
