//! `/retentions`: a project's tag-retention policy in Harbor's shape — the policy (one
//! per project, named in the project's metadata as `retention_id`), its runs
//! (executions), each run's repositories (tasks) and what became of each artifact (the
//! task log). The rules and their meaning are in `berth_core::retention::project`.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Identity, Permission, ProjectRef, Resource, Verb};
use berth_core::lifecycle::{Lifecycle, Trigger};
use berth_core::retention::project::{
    self as retention, Outcome, PROJECT_RETENTION, PolicyError, PolicySpec, ProjectPolicy,
    ProjectRetentionReport, RetentionTask, RuleSpec, Selector, Template,
};
use berth_meta::LifecycleRun;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::gc::run_status;
use super::models::Errors;
use super::paging::{self, Page};
use super::selectors::{
    Selector as HarborSelector, SelectorRule, only, repository_of, repository_scope, selector,
};
use super::{Caller, JsonBody, Params, project_for, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// Harbor's `RetentionRule`.
pub(super) type RetentionRule = SelectorRule;

/// Harbor's `RetentionRuleTrigger`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct RetentionRuleTrigger {
    /// `Schedule`.
    #[serde(default)]
    kind: String,
    /// `cron`: five fields, or Harbor's six with seconds first (a plain number); empty for
    /// none.
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: Map<String, Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    references: Map<String, Value>,
}

/// Harbor's `RetentionPolicyScope`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct RetentionPolicyScope {
    /// `project`.
    #[serde(default)]
    level: String,
    /// The project's id.
    #[serde(default, rename = "ref")]
    reference: i64,
}

/// Harbor's `RetentionPolicy`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct RetentionPolicy {
    #[serde(default)]
    id: i64,
    /// `or` (the only algorithm: an artifact any rule keeps stays).
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    rules: Vec<RetentionRule>,
    #[serde(default)]
    trigger: Option<RetentionRuleTrigger>,
    #[serde(default)]
    scope: Option<RetentionPolicyScope>,
}

/// Harbor's `RetentionRuleParamMetadata`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionRuleParamMetadata {
    #[serde(rename = "type")]
    kind: &'static str,
    unit: &'static str,
    required: bool,
}

/// Harbor's `RetentionRuleMetadata`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionRuleMetadata {
    rule_template: &'static str,
    display_text: &'static str,
    action: &'static str,
    params: Vec<RetentionRuleParamMetadata>,
}

/// Harbor's `RetentionSelectorMetadata`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionSelectorMetadata {
    display_text: &'static str,
    kind: &'static str,
    decorations: Vec<&'static str>,
}

/// Harbor's `RetentionMetadata`: what rules may say.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionMetadata {
    templates: Vec<RetentionRuleMetadata>,
    scope_selectors: Vec<RetentionSelectorMetadata>,
    tag_selectors: Vec<RetentionSelectorMetadata>,
}

/// Harbor's `RetentionExecution`: one run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionExecution {
    id: i64,
    policy_id: i64,
    start_time: String,
    /// Empty while running.
    end_time: String,
    /// `Running`, `Success`, `Error` or `Stopped`.
    status: String,
    /// `MANUAL` or `SCHEDULE`.
    trigger: String,
    dry_run: bool,
}

/// Harbor's `RetentionExecutionTask`: one repository of a run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionExecutionTask {
    id: i64,
    execution_id: i64,
    repository: String,
    job_id: String,
    /// `Success` or `Error`.
    status: String,
    /// Harbor's job status code: 3 for a finished task.
    status_code: i64,
    status_revision: i64,
    start_time: String,
    end_time: String,
    /// Artifacts looked at.
    total: u64,
    /// Artifacts left in place.
    retained: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct TriggerBody {
    /// Say what would go, delete nothing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct OperateBody {
    /// `stop`.
    #[serde(default)]
    action: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    page: Option<i64>,
    page_size: Option<i64>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

impl From<PolicyError> for ApiError {
    fn from(err: PolicyError) -> ApiError {
        let (status, code) = match &err {
            PolicyError::Meta(m) => return crate::response::meta_error(m),
            PolicyError::Conflict(..) => (StatusCode::CONFLICT, "CONFLICT"),
            PolicyError::NoSuchPolicy(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            PolicyError::Invalid(_)
            | PolicyError::TooMany
            | PolicyError::NoSuchProject(_)
            | PolicyError::ProjectHasOne { .. } => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

fn rule_json(n: usize, r: &RuleSpec) -> RetentionRule {
    let mut params = Map::new();
    if Template::parse(&r.template).is_some_and(|t| t.unit().is_some()) {
        params.insert(r.template.clone(), json!(r.param));
    }
    RetentionRule {
        id: n as i64,
        priority: r.priority,
        disabled: r.disabled,
        action: "retain".into(),
        template: r.template.clone(),
        params,
        tag_selectors: vec![selector(
            &r.tags.decoration,
            &r.tags.pattern,
            json!({ "untagged": r.untagged }).to_string(),
        )],
        scope_selectors: repository_scope(selector(
            &r.repositories.decoration,
            &r.repositories.pattern,
            String::new(),
        )),
    }
}

fn policy_json(p: &ProjectPolicy) -> RetentionPolicy {
    let mut settings = Map::new();
    settings.insert("cron".into(), Value::String(p.schedule.clone()));
    RetentionPolicy {
        id: p.id,
        algorithm: "or".into(),
        rules: p
            .rules
            .iter()
            .enumerate()
            .map(|(n, r)| rule_json(n, r))
            .collect(),
        trigger: Some(RetentionRuleTrigger {
            kind: "Schedule".into(),
            settings,
            references: Map::new(),
        }),
        scope: Some(RetentionPolicyScope {
            level: "project".into(),
            reference: p.project_id,
        }),
    }
}

/// Harbor's reading of a tag selector's `untagged` extra: by default untagged artifacts
/// are chosen by `matches` and left out by `excludes`.
fn untagged(s: &HarborSelector) -> bool {
    let default = s.decoration != "excludes";
    serde_json::from_str::<Value>(&s.extras)
        .ok()
        .and_then(|v| v.get("untagged").and_then(Value::as_bool))
        .unwrap_or(default)
}

/// The template's number: an integer (or a string holding one) under the template's
/// id; Harbor's default when left out.
fn param(n: usize, rule: &RetentionRule) -> Result<i64, ApiError> {
    let Some(template) = Template::parse(&rule.template) else {
        return Ok(0); // the core names the known templates
    };
    if template.unit().is_none() {
        return Ok(0);
    }
    match rule.params.get(&rule.template) {
        None | Some(Value::Null) => Ok(template.default_param()),
        Some(Value::Number(v)) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| {
                bad(format!(
                    "rule {n}: params.{} must be a whole number",
                    rule.template
                ))
            }),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            bad(format!(
                "rule {n}: params.{} must be a whole number, not {s:?}",
                rule.template
            ))
        }),
        Some(other) => Err(bad(format!(
            "rule {n}: params.{} must be a whole number, not {other}",
            rule.template
        ))),
    }
}

fn rule_spec(n: usize, rule: &RetentionRule) -> Result<RuleSpec, ApiError> {
    if !matches!(rule.action.as_str(), "" | "retain") {
        return Err(bad(format!(
            "rule {n}: action {:?} is not valid: use retain",
            rule.action
        )));
    }
    let context = format!("rule {n}: ");
    let repository = repository_of(&rule.scope_selectors, &context)?;
    let tag = only(&rule.tag_selectors, "tag", &context)?;
    Ok(RuleSpec {
        priority: rule.priority,
        disabled: rule.disabled,
        template: rule.template.clone(),
        param: param(n, rule)?,
        repositories: Selector {
            decoration: repository.decoration.clone(),
            pattern: repository.pattern.clone(),
        },
        tags: Selector {
            decoration: tag.decoration.clone(),
            pattern: tag.pattern.clone(),
        },
        untagged: untagged(tag),
    })
}

/// The body as the core's spec (checked there), and the project its scope names.
fn policy_spec(body: &RetentionPolicy) -> Result<(PolicySpec, Option<i64>), ApiError> {
    if !matches!(body.algorithm.as_str(), "" | "or") {
        return Err(bad(format!(
            "algorithm {:?} is not supported: use or",
            body.algorithm
        )));
    }
    let rules = body
        .rules
        .iter()
        .enumerate()
        .map(|(n, r)| rule_spec(n, r))
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = match &body.trigger {
        None => String::new(),
        Some(t) if matches!(t.kind.as_str(), "" | "Schedule") => match t.settings.get("cron") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(cron)) => cron.trim().to_string(),
            Some(other) => {
                return Err(bad(format!(
                    "trigger.settings.cron must be a string, not {other}"
                )));
            }
        },
        Some(t) => {
            return Err(bad(format!(
                "trigger kind {:?} is not supported: use Schedule",
                t.kind
            )));
        }
    };
    let project = match &body.scope {
        None => None,
        Some(s) if s.level == "project" => Some(s.reference),
        Some(s) => {
            return Err(bad(format!(
                "scope {:?} is not supported: use project",
                s.level
            )));
        }
    };
    let spec = retention::checked(PolicySpec { rules, schedule })?;
    Ok((spec, project))
}

/// The policy `id`, if `who` may do `verb` on its project's retention.
async fn policy_for(
    state: &AppState,
    who: &Identity,
    id: i64,
    verb: Verb,
) -> Result<ProjectPolicy, ApiError> {
    let policy = state.registry.retention_policy(id).await?;
    let permission = Permission::new(Resource::TagRetention, verb);
    project_for(state, who, &ProjectRef::Id(policy.project_id), permission).await?;
    Ok(policy)
}

fn lifecycle(state: &AppState) -> Result<Arc<Lifecycle>, ApiError> {
    state.lifecycle.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "retention runs are not available here",
        )
    })
}

/// The run `eid` of the policy.
async fn execution_of(
    lifecycle: &Lifecycle,
    policy: &ProjectPolicy,
    eid: i64,
) -> Result<LifecycleRun, ApiError> {
    lifecycle
        .run(PROJECT_RETENTION, eid)
        .await?
        .filter(|run| run.policy_id == policy.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("retention policy {} has no execution {eid}", policy.id),
            )
        })
}

fn report_of(run: &LifecycleRun) -> Option<ProjectRetentionReport> {
    run.summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
}

fn execution_json(run: &LifecycleRun) -> RetentionExecution {
    RetentionExecution {
        id: run.id,
        policy_id: run.policy_id,
        start_time: timestamp(run.started_at_ms),
        end_time: run.finished_at_ms.map(timestamp).unwrap_or_default(),
        status: run_status(run).into(),
        trigger: if Trigger::scheduled(&run.trigger) {
            "SCHEDULE"
        } else {
            "MANUAL"
        }
        .into(),
        dry_run: run.dry_run,
    }
}

fn task_json(run: &LifecycleRun, n: usize, task: &RetentionTask) -> RetentionExecutionTask {
    RetentionExecutionTask {
        id: n as i64 + 1,
        execution_id: run.id,
        repository: task.repository.clone(),
        job_id: format!("{}-{}", run.id, n + 1),
        status: if task.error.is_some() {
            "Error"
        } else {
            "Success"
        }
        .into(),
        status_code: 3,
        status_revision: task.finished_at_ms,
        start_time: timestamp(task.started_at_ms),
        end_time: timestamp(task.finished_at_ms),
        total: task.total,
        retained: task.retained,
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map(timestamp).unwrap_or_else(|| "-".into())
}

/// One repository's artifacts and what became of each, as a table.
fn task_log(run: &LifecycleRun, task: &RetentionTask) -> String {
    let mut log = format!(
        "retention of {} ({}execution {}): {} artifacts, {} retained\n",
        task.repository,
        if run.dry_run { "dry run, " } else { "" },
        run.id,
        task.total,
        task.retained
    );
    log.push_str("| Digest | Tags | PushedTime | PulledTime | Retention |\n");
    for a in &task.artifacts {
        let outcome = match a.outcome {
            Outcome::Retained => "RETAIN",
            Outcome::Deleted => "DEL",
            Outcome::Immutable => "IMMUTABLE",
            Outcome::Failed => "ERR",
        };
        log.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            a.digest,
            a.tags.join(","),
            timestamp(a.pushed_at_ms),
            when(a.pulled_at_ms),
            outcome
        ));
    }
    if let Some(e) = &task.error {
        log.push_str(&format!("error: {e}\n"));
    }
    log
}

/// What retention rules may say: templates and selectors.
#[utoipa::path(get, path = "/retentions/metadatas", tag = "Retention",
    operation_id = "getRentenitionMetadata",
    responses((status = 200, body = RetentionMetadata), (status = 401, body = Errors)))]
pub(super) async fn get_retention_metadata(Caller(who): Caller) -> ApiResult {
    if who.is_anonymous() {
        return Err(super::refused(
            &who,
            "retention metadata is for signed-in users".into(),
        ));
    }
    let templates = Template::ALL
        .iter()
        .map(|t| RetentionRuleMetadata {
            rule_template: t.id(),
            display_text: t.display_text(),
            action: "retain",
            params: t
                .unit()
                .map(|unit| RetentionRuleParamMetadata {
                    kind: "int",
                    unit,
                    required: true,
                })
                .into_iter()
                .collect(),
        })
        .collect();
    Ok(axum::Json(RetentionMetadata {
        templates,
        scope_selectors: vec![RetentionSelectorMetadata {
            display_text: "Repositories",
            kind: "doublestar",
            decorations: vec!["repoMatches", "repoExcludes"],
        }],
        tag_selectors: vec![RetentionSelectorMetadata {
            display_text: "Tags",
            kind: "doublestar",
            decorations: vec!["matches", "excludes"],
        }],
    })
    .into_response())
}

/// Give a project its retention policy (one per project; `400` when it has one).
#[utoipa::path(post, path = "/retentions", tag = "Retention", operation_id = "createRetention",
    request_body = RetentionPolicy,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn create_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(body): JsonBody<RetentionPolicy>,
) -> ApiResult {
    let (spec, project) = policy_spec(&body)?;
    let Some(project) = project.filter(|id| *id > 0) else {
        return Err(bad(
            "give the policy's project as scope {\"level\": \"project\", \"ref\": <project id>}",
        ));
    };
    let permission = Permission::new(Resource::TagRetention, Verb::Create);
    project_for(&state, &who, &ProjectRef::Id(project), permission)
        .await
        .map_err(|e| match e.status {
            StatusCode::NOT_FOUND => bad(format!("invalid project id {project}")),
            _ => e,
        })?;
    let id = state
        .registry
        .create_retention_policy(project, spec)
        .await?;
    let location = format!("{}/{id}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// A retention policy.
#[utoipa::path(get, path = "/retentions/{id}", tag = "Retention", operation_id = "getRetention",
    params(("id" = i64, Path, description = "The policy's id")),
    responses((status = 200, body = RetentionPolicy), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let policy = policy_for(&state, &who, id, Verb::Read).await?;
    Ok(axum::Json(policy_json(&policy)).into_response())
}

/// Replace a policy's rules and schedule (its project stays).
#[utoipa::path(put, path = "/retentions/{id}", tag = "Retention", operation_id = "updateRetention",
    params(("id" = i64, Path, description = "The policy's id")),
    request_body = RetentionPolicy,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn update_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<RetentionPolicy>,
) -> ApiResult {
    let (spec, project) = policy_spec(&body)?;
    let policy = policy_for(&state, &who, id, Verb::Update).await?;
    if project.is_some_and(|p| p != 0 && p != policy.project_id) {
        return Err(bad(format!(
            "policy {id} belongs to project {}: a policy cannot move to another project",
            policy.project_id
        )));
    }
    state.registry.update_retention_policy(id, spec).await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete a policy with its runs.
#[utoipa::path(delete, path = "/retentions/{id}", tag = "Retention", operation_id = "deleteRetention",
    params(("id" = i64, Path, description = "The policy's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_retention(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    policy_for(&state, &who, id, Verb::Delete).await?;
    state.registry.delete_retention_policy(id).await?;
    Ok(StatusCode::OK.into_response())
}

/// Run the policy now (`dry_run`: only say what would go); `201` with the execution.
#[utoipa::path(post, path = "/retentions/{id}/executions", tag = "Retention",
    operation_id = "triggerRetentionExecution",
    params(("id" = i64, Path, description = "The policy's id")),
    request_body = TriggerBody,
    responses((status = 201, description = "Started", headers(("Location" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn trigger_retention_execution(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    OriginalUri(uri): OriginalUri,
    JsonBody(body): JsonBody<TriggerBody>,
) -> ApiResult {
    let policy = policy_for(&state, &who, id, Verb::Update).await?;
    let eid = lifecycle(&state)?
        .start_project_retention(policy, body.dry_run, Trigger::Api)
        .await?;
    let location = format!("{}/{eid}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// The policy's runs, newest first.
#[utoipa::path(get, path = "/retentions/{id}/executions", tag = "Retention",
    operation_id = "listRetentionExecutions",
    params(("id" = i64, Path, description = "The policy's id"), PageParams),
    responses((status = 200, body = [RetentionExecution], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_retention_executions(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    Params(params): Params<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let policy = policy_for(&state, &who, id, Verb::List).await?;
    let (runs, total) = lifecycle(&state)?
        .runs(PROJECT_RETENTION, policy.id, page.offset(), page.limit())
        .await?;
    let shown: Vec<RetentionExecution> = runs.iter().map(execution_json).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// Stop a run (`{"action": "stop"}`): it stops before its next repository.
#[utoipa::path(patch, path = "/retentions/{id}/executions/{eid}", tag = "Retention",
    operation_id = "operateRetentionExecution",
    params(("id" = i64, Path, description = "The policy's id"),
        ("eid" = i64, Path, description = "The execution's id")),
    request_body = OperateBody,
    responses((status = 200, description = "Asked to stop"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn operate_retention_execution(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((id, eid)): Path<(i64, i64)>,
    JsonBody(body): JsonBody<OperateBody>,
) -> ApiResult {
    if body.action != "stop" {
        return Err(bad(format!(
            "action {:?} is not supported: use stop",
            body.action
        )));
    }
    let policy = policy_for(&state, &who, id, Verb::Update).await?;
    let lifecycle = lifecycle(&state)?;
    execution_of(&lifecycle, &policy, eid).await?;
    // A run that finished meanwhile has nothing to stop: as in Harbor, that is no error.
    lifecycle.stop_run(PROJECT_RETENTION, eid).await?;
    Ok(StatusCode::OK.into_response())
}

/// The repositories one run looked at (known once it finished).
#[utoipa::path(get, path = "/retentions/{id}/executions/{eid}/tasks", tag = "Retention",
    operation_id = "listRetentionTasks",
    params(("id" = i64, Path, description = "The policy's id"),
        ("eid" = i64, Path, description = "The execution's id"), PageParams),
    responses((status = 200, body = [RetentionExecutionTask], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_retention_tasks(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((id, eid)): Path<(i64, i64)>,
    Params(params): Params<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let policy = policy_for(&state, &who, id, Verb::List).await?;
    let run = execution_of(&*lifecycle(&state)?, &policy, eid).await?;
    let tasks = report_of(&run).map(|r| r.tasks).unwrap_or_default();
    let shown: Vec<RetentionExecutionTask> = tasks
        .iter()
        .enumerate()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|(n, t)| task_json(&run, n, t))
        .collect();
    Ok(paging::list(&uri, &shown, tasks.len() as i64, page))
}

/// What became of each artifact of one repository in a run, as text.
#[utoipa::path(get, path = "/retentions/{id}/executions/{eid}/tasks/{tid}", tag = "Retention",
    operation_id = "getRetentionTaskLog",
    params(("id" = i64, Path, description = "The policy's id"),
        ("eid" = i64, Path, description = "The execution's id"),
        ("tid" = i64, Path, description = "The task's id")),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_retention_task_log(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((id, eid, tid)): Path<(i64, i64, i64)>,
) -> ApiResult {
    let policy = policy_for(&state, &who, id, Verb::Read).await?;
    let run = execution_of(&*lifecycle(&state)?, &policy, eid).await?;
    let tasks = report_of(&run).map(|r| r.tasks).unwrap_or_default();
    let task = usize::try_from(tid - 1)
        .ok()
        .and_then(|n| tasks.get(n))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("execution {eid} has no task {tid}"),
            )
        })?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        task_log(&run, task),
    )
        .into_response())
}
