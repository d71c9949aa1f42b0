//! `/system/retention`: berth's own extension for the retention policies `config.yml`
//! declares (`berth.retention`, registry-wide, on tags), beside Harbor's per-project
//! `/retentions`: what they are, their runs, and running them now.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::Verb;
use berth_core::lifecycle::Trigger;
use berth_meta::LifecycleRun;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::gc::{lifecycle_for, run_status};
use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

const WHAT: &str = "the configured retention";

/// One of the configuration's policies.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConfiguredPolicy {
    repositories: String,
    tags: String,
    /// How many keep rules it has.
    rules: usize,
    delete_untagged: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConfiguredRetention {
    policies: Vec<ConfiguredPolicy>,
    /// Whether a run goes on in this process now.
    running: bool,
}

/// One run of the configuration's policies.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConfiguredExecution {
    id: i64,
    /// `cli`, `api` or `schedule`.
    trigger: String,
    dry_run: bool,
    /// `Running`, `Success`, `Error` or `Stopped`.
    status: String,
    start_time: String,
    /// Empty while running.
    end_time: String,
    /// The tags and manifests it deleted (or would have), once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    report: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct RunBody {
    /// Say what would go, delete nothing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    page: Option<i64>,
    page_size: Option<i64>,
}

fn execution(run: &LifecycleRun) -> ConfiguredExecution {
    ConfiguredExecution {
        id: run.id,
        trigger: run.trigger.clone(),
        dry_run: run.dry_run,
        status: run_status(run).into(),
        start_time: timestamp(run.started_at_ms),
        end_time: run.finished_at_ms.map(timestamp).unwrap_or_default(),
        report: run
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        error: run.error.clone(),
    }
}

/// The configuration's retention policies.
#[utoipa::path(get, path = "/system/retention", tag = "Retention",
    operation_id = "getConfiguredRetention",
    responses((status = 200, body = ConfiguredRetention), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub(super) async fn get_configured_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    let lifecycle = lifecycle_for(&state, &who, Verb::Read, WHAT)?;
    let policies = lifecycle
        .retention
        .iter()
        .map(|p| ConfiguredPolicy {
            repositories: p.repositories.as_str().into(),
            tags: p.tags.as_str().into(),
            rules: p.keep.len(),
            delete_untagged: p.delete_untagged,
        })
        .collect();
    Ok(axum::Json(ConfiguredRetention {
        policies,
        running: lifecycle.retention_running(),
    })
    .into_response())
}

/// Apply the configuration's policies now (`dry_run`: only say what would go); `201`
/// with the execution, which goes on in the background.
#[utoipa::path(post, path = "/system/retention/executions", tag = "Retention",
    operation_id = "runConfiguredRetention", request_body = RunBody,
    responses((status = 201, description = "Started", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn run_configured_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(body): JsonBody<RunBody>,
) -> ApiResult {
    let lifecycle = lifecycle_for(&state, &who, Verb::Create, WHAT)?;
    if lifecycle.retention.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "no retention policies are configured: add berth.retention.policies to config.yml, or give a project its own through /retentions",
        ));
    }
    let id = lifecycle
        .start_retention(body.dry_run, Trigger::Api)
        .await?;
    let location = format!("{}/{id}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// The runs of the configuration's policies, newest first.
#[utoipa::path(get, path = "/system/retention/executions", tag = "Retention",
    operation_id = "listConfiguredRetentionExecutions", params(PageParams),
    responses((status = 200, body = [ConfiguredExecution], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn list_configured_executions(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let lifecycle = lifecycle_for(&state, &who, Verb::List, WHAT)?;
    let (runs, total) = lifecycle
        .runs("retention", 0, page.offset(), page.limit())
        .await?;
    let shown: Vec<ConfiguredExecution> = runs.iter().map(execution).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// One run of the configuration's policies.
#[utoipa::path(get, path = "/system/retention/executions/{id}", tag = "Retention",
    operation_id = "getConfiguredRetentionExecution",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = ConfiguredExecution), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_configured_execution(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let lifecycle = lifecycle_for(&state, &who, Verb::Read, WHAT)?;
    let run = lifecycle.run("retention", id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("there is no retention run {id}"),
        )
    })?;
    Ok(axum::Json(execution(&run)).into_response())
}
