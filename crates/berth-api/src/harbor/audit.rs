//! The audit log, in Harbor's shapes: `/audit-logs` and `/auditlog-exts` for the
//! registry (administrators: everything; others: the projects they administer), and
//! `/projects/{p}/logs` and `/projects/{p}/auditlog-exts` for one project.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use berth_auth::{Identity, Permission, ProjectQuery, Resource, Verb};
use berth_meta::{AuditEntry, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, Params, project_for, project_ref, q, refused, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult};

/// Harbor's `AuditLog`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditLog {
    id: i64,
    username: String,
    resource: String,
    resource_type: String,
    operation: String,
    op_time: String,
}

/// Harbor's `AuditLogExt`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditLogExt {
    id: i64,
    username: String,
    resource: String,
    resource_type: String,
    operation: String,
    operation_description: String,
    operation_result: bool,
    op_time: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditLogEventType {
    event_type: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// `username=`, `operation=`, `resource_type=`, `resource=~part`,
    /// `op_time=[2026-01-02 15:04:05~2026-01-03 00:00:00]`.
    q: Option<String>,
    /// Accepted and ignored: newest first.
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// What berth records, as Harbor's event types (`<operation>_<resource type>`).
const EVENT_TYPES: &[&str] = &[
    "create_artifact",
    "delete_artifact",
    "pull_artifact",
    "create_project",
    "update_project",
    "delete_project",
    "create_project_member",
    "update_project_member",
    "delete_project_member",
    "create_robot",
    "update_robot",
    "delete_robot",
    "create_user",
    "update_user",
    "delete_user",
    "login_user",
    "create_user_group",
    "update_user_group",
    "delete_user_group",
    "create_ldap_user",
];

const LOG_LIST: Permission = Permission::new(Resource::Log, Verb::List);

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// Milliseconds of a UTC time as Harbor's queries write it (`2006-01-02 15:04:05`, or
/// with a `T` and optional `Z`).
fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let mut d = date.split('-').map(|n| n.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut h = time.split(':').map(|n| n.parse::<i64>().ok());
    let (hh, mm, ss) = (
        h.next()??,
        h.next().flatten().unwrap_or(0),
        h.next().flatten().unwrap_or(0),
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000)
}

/// The query `q` asks for, one page of it.
fn query_of(params: &AuditParams, page: Page) -> Result<AuditQuery, ApiError> {
    let _ = &params.sort;
    let terms = q::parse(params.q.as_deref())?;
    let exact = |key: &str| terms.get(key).and_then(|t| t.exact()).map(String::from);
    let mut query = AuditQuery {
        username: exact("username"),
        operation: exact("operation"),
        resource_type: exact("resource_type"),
        offset: page.offset(),
        limit: page.limit(),
        ..Default::default()
    };
    query.resource_contains = terms.get("resource").map(|t| match t {
        q::Term::Fuzzy(part) => part.clone(),
        t => t.exact().unwrap_or_default().to_string(),
    });
    if let Some(term) = terms.get("op_time") {
        let q::Term::Range(from, to) = term else {
            return Err(bad("op_time takes a range: op_time=[from~to]".into()));
        };
        let time = |v: &Option<String>| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .map(|t| {
                    parse_time(t).ok_or_else(|| {
                        bad(format!(
                            "{t:?} is not a time: use 2006-01-02 15:04:05 (UTC)"
                        ))
                    })
                })
                .transpose()
        };
        query.from_ms = time(from)?;
        query.to_ms = time(to)?;
    }
    Ok(query)
}

/// The projects whose logs `who` may read (`None`: all, for administrators).
async fn readable_projects(
    state: &AppState,
    who: &Identity,
) -> Result<Option<Vec<String>>, ApiError> {
    if who.admin || who.at_system("audit-log", Verb::List) {
        return Ok(None);
    }
    if who.is_anonymous() {
        return Err(refused(who, "the audit log needs a signed-in user".into()));
    }
    let (projects, _) = state
        .teams
        .list(
            who,
            ProjectQuery {
                limit: i64::MAX,
                ..Default::default()
            },
        )
        .await?;
    let mut readable = Vec::new();
    for p in projects {
        if state
            .auth
            .policy()
            .rights(who, &p.name)
            .await?
            .allows(LOG_LIST)
        {
            readable.push(p.name);
        }
    }
    Ok(Some(readable))
}

async fn entries(
    state: &AppState,
    params: &AuditParams,
    projects: Option<Vec<String>>,
) -> Result<(Vec<AuditEntry>, i64, Page), ApiError> {
    let page = Page::at(params.page, params.page_size)?;
    let mut query = query_of(params, page)?;
    query.projects = projects;
    let (found, total) = state
        .registry
        .meta()
        .audit_entries(&query)
        .await
        .map_err(berth_auth::AuthError::from)?;
    Ok((found, total, page))
}

fn legacy(e: &AuditEntry) -> AuditLog {
    AuditLog {
        id: e.id,
        username: e.username.clone(),
        resource: e.resource.clone(),
        resource_type: e.resource_type.clone(),
        operation: e.operation.clone(),
        op_time: timestamp(e.at_ms),
    }
}

fn extended(e: &AuditEntry) -> AuditLogExt {
    AuditLogExt {
        id: e.id,
        username: e.username.clone(),
        resource: e.resource.clone(),
        resource_type: e.resource_type.clone(),
        operation: e.operation.clone(),
        operation_description: e.description.clone(),
        operation_result: e.success,
        op_time: timestamp(e.at_ms),
    }
}

/// The audit log (Harbor's older shape).
#[utoipa::path(get, path = "/audit-logs", tag = "auditlog", operation_id = "listAuditLogs",
    params(AuditParams),
    responses((status = 200, body = [AuditLog], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 422, body = Errors)))]
pub(super) async fn list_audit_logs(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<AuditParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let projects = readable_projects(&state, &who).await?;
    let (found, total, page) = entries(&state, &params, projects).await?;
    let shown: Vec<AuditLog> = found.iter().map(legacy).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// The audit log with each operation's description and result.
#[utoipa::path(get, path = "/auditlog-exts", tag = "auditlog", operation_id = "listAuditLogExts",
    params(AuditParams),
    responses((status = 200, body = [AuditLogExt], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 422, body = Errors)))]
pub(super) async fn list_audit_log_exts(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<AuditParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let projects = readable_projects(&state, &who).await?;
    let (found, total, page) = entries(&state, &params, projects).await?;
    let shown: Vec<AuditLogExt> = found.iter().map(extended).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// The kinds of entries berth records.
#[utoipa::path(get, path = "/auditlog-exts/events", tag = "auditlog", operation_id = "listAuditLogEventTypes",
    responses((status = 200, body = [AuditLogEventType]), (status = 401, body = Errors)))]
pub(super) async fn list_audit_log_event_types(Caller(who): Caller) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(&who, "the audit log needs a signed-in user".into()));
    }
    let types: Vec<AuditLogEventType> = EVENT_TYPES
        .iter()
        .map(|t| AuditLogEventType {
            event_type: (*t).into(),
        })
        .collect();
    Ok(axum::Json(types).into_response())
}

/// One project's audit log (Harbor's older shape).
#[utoipa::path(get, path = "/projects/{project_name_or_id}/logs", tag = "project", operation_id = "getLogs",
    params(("project_name_or_id" = String, Path, description = "The project's name"), AuditParams),
    responses((status = 200, body = [AuditLog], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_project_logs(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
    Params(params): Params<AuditParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), LOG_LIST).await?;
    let (found, total, page) = entries(&state, &params, Some(vec![p.name])).await?;
    let shown: Vec<AuditLog> = found.iter().map(legacy).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// One project's audit log with descriptions and results.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/auditlog-exts", tag = "project", operation_id = "getLogExts",
    params(("project_name_or_id" = String, Path, description = "The project's name"), AuditParams),
    responses((status = 200, body = [AuditLogExt], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_project_log_exts(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
    Params(params): Params<AuditParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), LOG_LIST).await?;
    let (found, total, page) = entries(&state, &params, Some(vec![p.name])).await?;
    let shown: Vec<AuditLogExt> = found.iter().map(extended).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn harbors_query_times() {
        assert_eq!(super::parse_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            super::parse_time("2025-12-02T00:00:00Z"),
            Some(1_764_633_600_000)
        );
        assert_eq!(super::parse_time("2025-13-02 00:00:00"), None);
        assert_eq!(super::parse_time("yesterday"), None);
    }
}
