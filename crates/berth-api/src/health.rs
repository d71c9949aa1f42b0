//! Health endpoints: `/healthz` says the process answers; `/readyz` says whether it can
//! take pushes now (storage takes a write, the metadata database answers), and if not,
//! which check fails and why. The same report is served at `/debug/health` on the debug
//! listener, as in Distribution.

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::response::{ApiError, hv};

#[derive(Debug, Clone, Copy)]
pub enum Probe {
    Alive,
    Ready,
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
        Probe::Alive => json_response(StatusCode::OK, json!({ "status": "alive" })),
        Probe::Ready => readiness(state).await,
    }
}

/// 200 with every check, or 503 naming the failing ones.
pub async fn readiness(state: &AppState) -> Response {
    let checks = state.registry.readiness().await;
    let ready = checks.iter().all(|c| c.error.is_none());
    let report: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|c| {
            let value = match &c.error {
                None => json!({ "status": "ok" }),
                Some(e) => json!({ "status": "failing", "error": e }),
            };
            (c.name.to_string(), value)
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
    json_response(status, json!({ "status": word, "checks": report }))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, hv("application/json"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, hv("no-store"));
    resp
}
