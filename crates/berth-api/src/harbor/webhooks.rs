//! `/projects/{p}/webhook/...`: a project's webhook policies (which events go to which
//! receivers), what each sent (Harbor's executions, one task each), and the event types
//! and formats there are.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Resource, Verb};
use berth_meta::OutboxEvent;
use berth_notify::{
    EVENT_TYPES, NOTIFY_TYPES, PayloadFormat, PolicySpec, WebhookPolicy as Stored, WebhookTarget,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, named_project, q, timestamp};
use crate::AppState;
use crate::response::{ApiResult, hv};

/// Harbor's `WebhookPolicy`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookPolicy {
    id: i64,
    name: String,
    description: String,
    project_id: i64,
    targets: Vec<WebhookTarget>,
    event_types: Vec<String>,
    creator: String,
    creation_time: String,
    update_time: String,
    enabled: bool,
}

impl From<&Stored> for WebhookPolicy {
    fn from(p: &Stored) -> WebhookPolicy {
        let r = &p.record;
        WebhookPolicy {
            id: r.id,
            name: r.name.clone(),
            description: r.description.clone(),
            project_id: r.project_id,
            targets: p.targets.clone(),
            event_types: p.event_types.clone(),
            creator: r.creator.clone(),
            creation_time: timestamp(r.created_at_ms),
            update_time: timestamp(r.updated_at_ms),
            enabled: r.enabled,
        }
    }
}

/// Harbor's `WebhookPolicy` as a request body; `id`, `project_id`, `creator` and the
/// times are the server's and ignored. As in Harbor, a policy without `enabled` is off.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct WebhookPolicyReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    targets: Vec<WebhookTarget>,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    enabled: bool,
}

impl From<WebhookPolicyReq> for PolicySpec {
    fn from(r: WebhookPolicyReq) -> PolicySpec {
        PolicySpec {
            name: r.name,
            description: r.description,
            enabled: r.enabled,
            event_types: r.event_types,
            targets: r.targets,
        }
    }
}

/// Harbor's `SupportedWebhookEventTypes`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SupportedWebhookEventTypes {
    event_type: Vec<String>,
    notify_type: Vec<String>,
    payload_formats: Vec<PayloadFormats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PayloadFormats {
    notify_type: String,
    formats: Vec<String>,
}

/// Harbor's `Execution`: one event sent to one target.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Execution {
    id: i64,
    vendor_type: String,
    vendor_id: i64,
    status: String,
    status_message: String,
    metrics: ExecutionMetrics,
    trigger: String,
    extra_attrs: ExtraAttrs,
    start_time: String,
    end_time: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct ExecutionMetrics {
    task_count: i64,
    success_task_count: i64,
    error_task_count: i64,
    pending_task_count: i64,
    running_task_count: i64,
    scheduled_task_count: i64,
    stopped_task_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ExtraAttrs {
    event_type: String,
    payload: String,
}

/// Harbor's `Task`: the one delivery of an execution.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Task {
    id: i64,
    execution_id: i64,
    status: String,
    status_message: String,
    run_count: i64,
    extra_attrs: ExtraAttrs,
    creation_time: String,
    update_time: String,
    start_time: String,
    end_time: String,
}

/// Harbor's status of a delivery: `Pending` (not tried yet), `Running` (failed, to be
/// tried again), `Success`, `Error` (given up).
fn status(e: &OutboxEvent) -> &'static str {
    match (e.outcome.as_deref(), e.attempts) {
        (Some("Success"), _) => "Success",
        (Some(_), _) => "Error",
        (None, 0) => "Pending",
        (None, _) => "Running",
    }
}

fn extra_attrs(e: &OutboxEvent) -> ExtraAttrs {
    ExtraAttrs {
        event_type: e.event_type.clone().unwrap_or_default(),
        payload: e.payload.clone(),
    }
}

fn end_time(e: &OutboxEvent) -> String {
    e.finished_at_ms.map(timestamp).unwrap_or_default()
}

impl From<&OutboxEvent> for Execution {
    fn from(e: &OutboxEvent) -> Execution {
        let status = status(e);
        let mut metrics = ExecutionMetrics {
            task_count: 1,
            ..ExecutionMetrics::default()
        };
        match status {
            "Success" => metrics.success_task_count = 1,
            "Error" => metrics.error_task_count = 1,
            "Pending" => metrics.pending_task_count = 1,
            _ => metrics.running_task_count = 1,
        }
        Execution {
            id: e.id,
            vendor_type: "WEBHOOK".into(),
            vendor_id: e.policy_id.unwrap_or_default(),
            status: status.into(),
            status_message: e.last_error.clone().unwrap_or_default(),
            metrics,
            trigger: "EVENT".into(),
            extra_attrs: extra_attrs(e),
            start_time: timestamp(e.created_at_ms),
            end_time: end_time(e),
        }
    }
}

impl From<&OutboxEvent> for Task {
    fn from(e: &OutboxEvent) -> Task {
        Task {
            id: e.id,
            execution_id: e.id,
            status: status(e).into(),
            status_message: e.last_error.clone().unwrap_or_default(),
            run_count: i64::from(e.attempts) + i64::from(e.outcome.as_deref() == Some("Success")),
            extra_attrs: extra_attrs(e),
            creation_time: timestamp(e.created_at_ms),
            update_time: e
                .finished_at_ms
                .map_or_else(|| timestamp(e.created_at_ms), timestamp),
            start_time: timestamp(e.created_at_ms),
            end_time: end_time(e),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    /// `name=~part` (policies); accepted and ignored for executions and tasks.
    q: Option<String>,
    /// Accepted and ignored: policies by id, executions newest first.
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// The delivery `execution_id` of policy `stored`, as Harbor's 404 says otherwise.
async fn delivery(
    state: &AppState,
    stored: &Stored,
    execution_id: i64,
) -> Result<OutboxEvent, crate::response::ApiError> {
    state
        .events
        .notifier
        .webhooks()
        .delivery(stored, execution_id)
        .await?
        .ok_or_else(|| {
            crate::response::ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "execution {execution_id} not found in policy {}",
                    stored.record.id
                ),
            )
        })
}

/// A project's webhook policies.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/policies", tag = "webhook",
    operation_id = "ListWebhookPoliciesOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"), ListParams),
    responses((status = 200, body = [WebhookPolicy], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_webhook_policies(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = &params.sort;
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::List),
    )
    .await?;
    let terms = q::parse(params.q.as_deref())?;
    let name = terms.get("name").map(|t| match t {
        q::Term::Fuzzy(part) => part.clone(),
        t => t.exact().unwrap_or_default().to_string(),
    });
    let (policies, total) = state
        .events
        .notifier
        .webhooks()
        .list(p.id, name.as_deref(), page.offset(), page.limit())
        .await?;
    let shown: Vec<WebhookPolicy> = policies.iter().map(WebhookPolicy::from).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// Create a webhook policy: its event types of this project go to its targets.
#[utoipa::path(post, path = "/projects/{project_name_or_id}/webhook/policies", tag = "webhook",
    operation_id = "CreateWebhookPolicyOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id")),
    request_body = WebhookPolicyReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn create_webhook_policy(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<WebhookPolicyReq>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Create),
    )
    .await?;
    let creator = who.user.clone().unwrap_or_default();
    let created = state
        .events
        .notifier
        .webhooks()
        .create(p.id, &creator, req.into())
        .await?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), created.record.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// One webhook policy.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "GetWebhookPolicyOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id")),
    responses((status = 200, body = WebhookPolicy), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_webhook_policy(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Read),
    )
    .await?;
    let stored = state.events.notifier.webhooks().get(p.id, id).await?;
    Ok(axum::Json(WebhookPolicy::from(&stored)).into_response())
}

/// Replace a webhook policy's name, description, switch, event types and targets.
#[utoipa::path(put, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "UpdateWebhookPolicyOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id")),
    request_body = WebhookPolicyReq,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn update_webhook_policy(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
    JsonBody(req): JsonBody<WebhookPolicyReq>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Update),
    )
    .await?;
    let webhooks = state.events.notifier.webhooks();
    let stored = webhooks.get(p.id, id).await?;
    webhooks.update(&stored, req.into()).await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete a webhook policy and what it has sent.
#[utoipa::path(delete, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "DeleteWebhookPolicyOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_webhook_policy(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Delete),
    )
    .await?;
    let webhooks = state.events.notifier.webhooks();
    let stored = webhooks.get(p.id, id).await?;
    webhooks.delete(&stored).await?;
    Ok(StatusCode::OK.into_response())
}

/// What a policy sent or is sending, newest first: one execution per event and target.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/executions",
    tag = "webhook", operation_id = "ListExecutionsOfWebhookPolicy",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id"), ListParams),
    responses((status = 200, body = [Execution], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_webhook_executions(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = (&params.q, &params.sort);
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Read),
    )
    .await?;
    let webhooks = state.events.notifier.webhooks();
    let stored = webhooks.get(p.id, id).await?;
    let (found, total) = webhooks
        .deliveries(&stored, page.offset(), page.limit())
        .await?;
    let shown: Vec<Execution> = found.iter().map(Execution::from).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// The task of one execution (each has exactly one).
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks",
    tag = "webhook", operation_id = "ListTasksOfWebhookExecution",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id"),
        ("execution_id" = i64, Path, description = "The execution's id"), ListParams),
    responses((status = 200, body = [Task], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_webhook_tasks(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id, execution)): Path<(String, i64, i64)>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Read),
    )
    .await?;
    let stored = state.events.notifier.webhooks().get(p.id, id).await?;
    let found = delivery(&state, &stored, execution).await?;
    let tasks: Vec<Task> = if page.offset() == 0 {
        vec![Task::from(&found)]
    } else {
        vec![]
    };
    Ok(paging::list(&uri, &tasks, 1, page))
}

/// What happened to one task, as text.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks/{task_id}/log",
    tag = "webhook", operation_id = "GetLogsOfWebhookTask",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("webhook_policy_id" = i64, Path, description = "The policy's id"),
        ("execution_id" = i64, Path, description = "The execution's id"),
        ("task_id" = i64, Path, description = "The task's id (the execution's)")),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_webhook_task_log(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id, execution, task)): Path<(String, i64, i64, i64)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Read),
    )
    .await?;
    let stored = state.events.notifier.webhooks().get(p.id, id).await?;
    let found = delivery(&state, &stored, execution).await?;
    if task != found.id {
        return Err(crate::response::ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("task {task} not found in execution {execution}"),
        ));
    }
    let mut log = format!(
        "{} {} queued for {}\n",
        timestamp(found.created_at_ms),
        found.event_type.as_deref().unwrap_or("event"),
        found.endpoint
    );
    if found.attempts > 0 {
        log.push_str(&format!(
            "{} failed attempt(s); the last: {}\n",
            found.attempts,
            found.last_error.as_deref().unwrap_or("")
        ));
    }
    match (found.outcome.as_deref(), found.finished_at_ms) {
        (Some("Success"), Some(at)) => log.push_str(&format!("{} delivered\n", timestamp(at))),
        (Some(_), Some(at)) => log.push_str(&format!("{} given up\n", timestamp(at))),
        _ => log.push_str("waiting for its next attempt\n"),
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}

/// The event types, notify types and payload formats a policy may use.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/webhook/events", tag = "webhook",
    operation_id = "GetSupportedEventTypes",
    params(("project_name_or_id" = String, Path, description = "The project's name or id")),
    responses((status = 200, body = SupportedWebhookEventTypes), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_supported_event_types(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
) -> ApiResult {
    named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::NotificationPolicy, Verb::Read),
    )
    .await?;
    let supported = SupportedWebhookEventTypes {
        event_type: EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
        notify_type: NOTIFY_TYPES.iter().map(|t| t.to_string()).collect(),
        payload_formats: vec![PayloadFormats {
            notify_type: "http".into(),
            formats: PayloadFormat::NAMES.iter().map(|f| f.to_string()).collect(),
        }],
    };
    Ok(axum::Json(supported).into_response())
}
