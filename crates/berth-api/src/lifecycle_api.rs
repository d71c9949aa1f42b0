//! `/api/v1/gc` and `/api/v1/retention`: start and watch garbage collection and retention
//! runs over HTTP.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/gc` | `{"running", "progress", "backlog", "config", "runs": [...]}` (newest first) |
//! | `POST /api/v1/gc?dryrun=&deleteuntagged=&grace=&wait=` | 200 with the report; 202 with `wait=false` |
//! | `GET /api/v1/retention` | `{"running", "schedule", "policies", "runs": [...]}` |
//! | `POST /api/v1/retention?dryrun=&wait=` | 200 with the report; 202 with `wait=false` |
//!
//! Who may: administrators (see `Authenticator::authorize_management`): with `auth.local`
//! users created as administrators; with htpasswd every user (they may delete anything
//! on `/v2` already); with an external token issuer only tokens carrying
//! `registry:admin:*`; anyone when authentication is off. A token issued for `/v2` never.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::gc::{GcOptions, Quiet};
use berth_core::lifecycle::{Lifecycle, Trigger};
use berth_meta::LifecycleRun;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, error_response as error, first_param, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gc,
    Retention,
}

pub fn route(path: &str) -> Option<Kind> {
    match path {
        "/api/v1/gc" => Some(Kind::Gc),
        "/api/v1/retention" => Some(Kind::Retention),
        _ => None,
    }
}

fn flag(query: &[(String, String)], key: &str, default: bool) -> Result<bool, ApiError> {
    match first_param(query, key) {
        None => Ok(default),
        Some("true" | "1" | "") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID",
            format!("{key}={other:?}: use true or false"),
        )),
    }
}

pub async fn handle(
    state: &AppState,
    kind: Kind,
    method: &Method,
    headers: &HeaderMap,
    query: &[(String, String)],
    peer: Option<&Peer>,
) -> (Response, Option<String>) {
    let who = match access::check_management(&state.auth, headers, peer, &state.options).await {
        Ok(who) => who,
        Err(refusal) => return (refusal, None),
    };
    let user = who.user.clone();
    if !who.admin {
        let denied = error(
            StatusCode::FORBIDDEN,
            "DENIED",
            "only administrators may start or watch lifecycle runs",
        );
        return (denied, user);
    }
    let Some(lifecycle) = state.lifecycle.clone() else {
        return (
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "lifecycle runs are not available here",
            ),
            user,
        );
    };
    let resp = match (method, kind) {
        (&Method::GET, Kind::Gc) => gc_status(&lifecycle).await,
        (&Method::GET, Kind::Retention) => retention_status(&lifecycle).await,
        (&Method::POST, kind) => start(lifecycle, kind, query).await,
        _ => Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "use GET to watch runs or POST to start one",
        )),
    };
    (resp.unwrap_or_else(|r| r), user)
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "lifecycle API failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN",
        format!("internal server error: {e}"),
    )
}

fn rfc3339_ms(ms: i64) -> String {
    berth_notify::time::rfc3339((ms.max(0) / 1000) as u64)
}

fn run_json(r: &LifecycleRun) -> Value {
    json!({
        "id": r.id,
        "trigger": r.trigger,
        "dry_run": r.dry_run,
        "started_at": rfc3339_ms(r.started_at_ms),
        "finished_at": r.finished_at_ms.map(rfc3339_ms),
        "report": r.summary.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
        "error": r.error,
    })
}

async fn recent_runs(lifecycle: &Lifecycle, kind: &str) -> Result<Vec<Value>, Response> {
    let (runs, _) = lifecycle.runs(kind, 0, 0, 20).await.map_err(internal)?;
    Ok(runs.iter().map(run_json).collect())
}

async fn gc_status(lifecycle: &Lifecycle) -> Result<Response, Response> {
    let (manifests, blobs) = lifecycle
        .registry()
        .meta()
        .gc_backlog()
        .await
        .map_err(internal)?;
    let gc = &lifecycle.gc;
    Ok(json(
        StatusCode::OK,
        &json!({
            "running": lifecycle.gc_running(),
            "progress": lifecycle.gc_progress(),
            "backlog": {"manifests": manifests, "blobs": blobs},
            "config": {
                "grace_seconds": gc.grace.as_secs_f64(),
                "deleteuntagged": gc.rules.delete_untagged,
                "orphanreferrers": gc.rules.orphan_referrers,
            },
            "runs": recent_runs(lifecycle, "gc").await?,
        }),
    ))
}

async fn retention_status(lifecycle: &Lifecycle) -> Result<Response, Response> {
    let policies: Vec<Value> = lifecycle
        .retention
        .iter()
        .map(|p| json!({"repositories": p.repositories.as_str(), "tags": p.tags.as_str(), "rules": p.keep.len(), "delete_untagged": p.delete_untagged}))
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({
            "running": lifecycle.retention_running(),
            "policies": policies,
            "runs": recent_runs(lifecycle, "retention").await?,
        }),
    ))
}

fn gc_options(
    lifecycle: &Lifecycle,
    query: &[(String, String)],
    dry_run: bool,
) -> Result<GcOptions, ApiError> {
    let mut options = lifecycle.gc;
    options.dry_run = dry_run;
    options.rules.delete_untagged = flag(query, "deleteuntagged", options.rules.delete_untagged)?;
    if let Some(grace) = first_param(query, "grace") {
        options.grace = berth_config::parse_go_duration(grace).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID",
                format!("grace={grace:?}: {e} (e.g. 24h, 30m, 0s)"),
            )
        })?;
    }
    Ok(options)
}

async fn start(
    lifecycle: Arc<Lifecycle>,
    kind: Kind,
    query: &[(String, String)],
) -> Result<Response, Response> {
    let bad = IntoResponse::into_response;
    let wait = flag(query, "wait", true).map_err(bad)?;
    let dry_run = flag(query, "dryrun", false).map_err(bad)?;
    let gc = match kind {
        Kind::Gc => Some(gc_options(&lifecycle, query, dry_run).map_err(bad)?),
        Kind::Retention => None,
    };
    let run = async move {
        let report = match gc {
            Some(options) => lifecycle
                .collect(&options, Trigger::Api, &Quiet)
                .await
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
            None => lifecycle
                .retain(dry_run, Trigger::Api)
                .await
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
        };
        if let Err(e) = &report {
            tracing::error!(error = %e, ?kind, "lifecycle run failed");
        }
        report
    };
    if !wait {
        tokio::spawn(run);
        return Ok(json(StatusCode::ACCEPTED, &json!({"started": true})));
    }
    match run.await {
        Ok(report) => Ok(json(StatusCode::OK, &report)),
        Err(e) => Err(internal(e)),
    }
}
