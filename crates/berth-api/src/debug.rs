//! The debug listener (`http.debug.addr`): Prometheus metrics at
//! `http.debug.prometheus.path` when enabled, and the readiness report at `/debug/health`.
//! Kept off the main port so it can stay private.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::response::hv;

#[derive(Debug, Clone)]
pub struct DebugOptions {
    /// `None` when `http.debug.prometheus.enabled` is false.
    pub metrics_path: Option<String>,
}

struct DebugState {
    app: Arc<AppState>,
    options: DebugOptions,
}

pub fn router(app: Arc<AppState>, options: DebugOptions) -> axum::Router {
    axum::Router::new()
        .fallback(serve)
        .with_state(Arc::new(DebugState { app, options }))
}

/// The metrics exposition, with the content gauges read fresh from the database.
pub(crate) async fn metrics_response(app: &AppState) -> Response {
    match app.registry.meta().storage_stats().await {
        Ok(stats) => app.metrics.set_storage_stats(&stats),
        Err(e) => tracing::warn!(error = %e, "cannot read storage totals for the metrics"),
    }
    if let Some(lifecycle) = &app.lifecycle
        && let Err(e) = lifecycle.count_other_runs().await
    {
        tracing::warn!(error = %e, "cannot read other processes' lifecycle runs for the metrics");
    }
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        hv("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

async fn serve(State(state): State<Arc<DebugState>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = req.uri().path();
    if state.options.metrics_path.as_deref() == Some(path) {
        return metrics_response(&state.app).await;
    }
    if path == "/debug/health" {
        return crate::health::readiness(&state.app).await;
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
