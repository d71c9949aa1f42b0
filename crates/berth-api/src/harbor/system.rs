//! The signed-in user, what this registry is, whether its parts work, and its counts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use berth_auth::rbac::{every_permission, robot_permissions};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::{
    ComponentHealthStatus, Errors, GeneralInfo, OverallHealthStatus, Permission, Statistic,
    UserResp,
};
use super::{Caller, Params, refused, timestamp};
use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, ApiResult};

/// The signed-in user's profile.
#[utoipa::path(get, path = "/users/current", tag = "user", operation_id = "getCurrentUserInfo",
    responses((status = 200, body = UserResp), (status = 401, body = Errors)))]
pub(super) async fn get_current_user_info(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    let Some(name) = who.user.clone() else {
        return Err(refused(
            &who,
            "there is no current user: nobody signed in".into(),
        ));
    };
    // A stored user as the users API shows them; else (htpasswd, tokens of another
    // issuer, robots) only the name and what this request may do.
    let resp = match state.teams.user(&name).await? {
        Some(u) => super::users::user_resp(&u),
        None => UserResp {
            user_id: 0,
            username: name,
            email: None,
            realname: None,
            comment: None,
            sysadmin_flag: who.admin,
            admin_role_in_auth: false,
            creation_time: None,
            update_time: None,
            oidc_user_meta: None,
        },
    };
    Ok(axum::Json(resp).into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PermissionParams {
    /// `/project/{id}` for a project's permissions, `/system` for the registry's.
    scope: Option<String>,
    /// Resources relative to the scope (`repository` rather than `/project/1/repository`).
    relative: Option<bool>,
}

/// What the signed-in user may do at a scope.
#[utoipa::path(get, path = "/users/current/permissions", tag = "user",
    operation_id = "getCurrentUserPermissions", params(PermissionParams),
    responses((status = 200, body = [Permission]), (status = 401, body = Errors)))]
pub(super) async fn get_current_user_permissions(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<PermissionParams>,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(&who, "sign in to see your permissions".into()));
    }
    let scope = params.scope.unwrap_or_default();
    let relative = params.relative.unwrap_or(false);
    let mut permissions = Vec::new();
    if let Some(id) = scope
        .strip_prefix("/project/")
        .and_then(|id| id.parse::<i64>().ok())
        && let Some(project) = state.teams.find(&berth_auth::ProjectRef::Id(id)).await?
    {
        let rights = state.auth.policy().rights(&who, &project.name).await?;
        for p in every_permission().filter(|p| rights.allows(*p)) {
            // Harbor names the project itself `.` when relative (its UI looks for it).
            let resource = match (relative, p.resource.as_str()) {
                (true, "") => ".".to_string(),
                (true, r) => r.to_string(),
                (false, "") => scope.clone(),
                (false, r) => format!("{scope}/{r}"),
            };
            permissions.push(Permission {
                resource,
                action: p.verb.as_str().into(),
            });
        }
    } else if scope == "/system" && who.admin {
        for (resource, actions) in SYSTEM_ADMIN {
            for action in *actions {
                let resource = if relative {
                    resource.to_string()
                } else {
                    format!("/system/{resource}")
                };
                permissions.push(Permission {
                    resource,
                    action: action.to_string(),
                });
            }
        }
    }
    Ok(axum::Json(permissions).into_response())
}

/// What a system administrator may do at `/system`, of what berth has.
const SYSTEM_ADMIN: &[(&str, &[&str])] = &[
    ("catalog", &["read"]),
    ("project", &["create", "read", "update", "delete", "list"]),
    ("user", &["create", "read", "update", "delete", "list"]),
    (
        "user-group",
        &["create", "read", "update", "delete", "list"],
    ),
    (
        "garbage-collection",
        &["create", "read", "update", "delete", "list"],
    ),
];

/// Whether the API answers: `Pong`, for anyone, whatever the health of its parts.
#[utoipa::path(get, path = "/ping", tag = "ping", operation_id = "getPing",
    responses((status = 200, body = String, content_type = "text/plain")))]
pub(super) async fn get_ping() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        "Pong",
    )
}

/// Harbor's `Permissions`: what robots may be given.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Permissions {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Permission>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    project: Vec<Permission>,
}

/// The permissions a robot may be given: system-level ones for system administrators,
/// project-level ones for them and for project admins (of any project); `403` for
/// everyone else, as in Harbor.
#[utoipa::path(get, path = "/permissions", tag = "permissions", operation_id = "getPermissions",
    responses((status = 200, body = Permissions), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub(super) async fn get_permissions(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(&who, "sign in to see the permissions".into()));
    }
    if !who.admin && !administers_a_project(&state, &who).await? {
        return Err(refused(
            &who,
            format!(
                "only system administrators and project admins see the permissions robots may hold; {} is neither",
                who.describe()
            ),
        ));
    }
    let listed = |pairs: Vec<(&str, &str)>| -> Vec<Permission> {
        pairs
            .into_iter()
            .map(|(resource, action)| Permission {
                resource: resource.into(),
                action: action.into(),
            })
            .collect()
    };
    let (system, project) = robot_permissions();
    Ok(axum::Json(Permissions {
        // Project admins do not see the system level (Harbor).
        system: if who.admin {
            listed(system)
        } else {
            Vec::new()
        },
        project: listed(project),
    })
    .into_response())
}

/// Whether `who` (a user, not a robot) is project admin somewhere.
async fn administers_a_project(
    state: &AppState,
    who: &berth_auth::Identity,
) -> Result<bool, ApiError> {
    if who.robot.is_some() {
        return Ok(false);
    }
    let query = berth_auth::ProjectQuery {
        limit: i64::MAX,
        ..Default::default()
    };
    let (seen, _) = state.teams.list(who, query).await?;
    let roles = state.auth.policy().roles_in(who, &seen).await?;
    Ok(roles
        .values()
        .any(|held| held.contains(&berth_auth::Role::ProjectAdmin)))
}

/// Harbor's name for how people sign in: `db_auth` for berth's users, `ldap_auth` and
/// `oidc_auth` with a directory or provider beside them; else the `auth` mode's name.
pub(super) fn auth_mode(state: &AppState) -> &'static str {
    match state.auth.mode_name() {
        "local" if state.oidc.is_some() => "oidc_auth",
        "local" if state.auth.directory().is_some() => "ldap_auth",
        "local" => "db_auth",
        other => other,
    }
}

/// What this registry is; anonymous callers see less.
#[utoipa::path(get, path = "/systeminfo", tag = "systeminfo", operation_id = "getSystemInfo",
    responses((status = 200, body = GeneralInfo)))]
pub(super) async fn get_system_info(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> ApiResult {
    let mut info = GeneralInfo {
        auth_mode: auth_mode(&state).into(),
        primary_auth_mode: false,
        self_registration: false,
        ..Default::default()
    };
    if !who.is_anonymous() {
        let peer = peer.map(|p| p.0);
        let external =
            access::public_base(&headers, peer.as_ref(), state.options.base_url.as_deref());
        info.registry_url = Some(
            external
                .split_once("://")
                .map_or(external.as_str(), |(_, host)| host)
                .to_string(),
        );
        info.external_url = Some(external);
        info.project_creation_restriction = Some(state.teams.restriction.as_str().into());
        info.harbor_version = Some(format!("berth-{}", env!("CARGO_PKG_VERSION")));
        info.has_ca_root = Some(false);
        info.notification_enable = Some(true);
        info.current_time = Some(timestamp(berth_meta::now_ms()));
    }
    Ok(axum::Json(info).into_response())
}

/// Harbor's `Storage`: a volume's size and free space in bytes.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Storage {
    total: u64,
    free: u64,
}

/// Harbor's `SystemInfo`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SystemVolumes {
    storage: Vec<Storage>,
}

/// The blob volume's size and free space; none listed when the blobs are in an object
/// store (it has no volume to fill).
#[utoipa::path(get, path = "/systeminfo/volumes", tag = "systeminfo", operation_id = "getVolumes",
    responses((status = 200, body = SystemVolumes), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub(super) async fn get_volumes(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    super::at_system(&who, "system-volumes", berth_auth::Verb::Read)?;
    let storage = state
        .registry
        .storage_capacity()
        .await?
        .map(|c| Storage {
            total: c.total,
            free: c.free,
        })
        .into_iter()
        .collect();
    Ok(axum::Json(SystemVolumes { storage }).into_response())
}

/// Whether the registry's parts work: `healthy` only when every one does.
#[utoipa::path(get, path = "/health", tag = "health", operation_id = "getHealth",
    responses((status = 200, body = OverallHealthStatus)))]
pub(super) async fn get_health(State(state): State<Arc<AppState>>) -> ApiResult {
    let mut checks = state.registry.readiness().await;
    checks.extend(state.periodic_checks.report());
    let mut components = vec![ComponentHealthStatus {
        name: "core".into(),
        status: "healthy".into(),
        error: None,
    }];
    components.extend(checks.into_iter().map(|c| {
        ComponentHealthStatus {
            name: c.name,
            status: if c.error.is_none() {
                "healthy"
            } else {
                "unhealthy"
            }
            .into(),
            error: c.error,
        }
    }));
    components.sort_by(|a, b| a.name.cmp(&b.name));
    let healthy = components.iter().all(|c| c.status == "healthy");
    let status = if healthy { "healthy" } else { "unhealthy" }.into();
    Ok(axum::Json(OverallHealthStatus { status, components }).into_response())
}

/// Counts of projects and repositories; totals for administrators.
#[utoipa::path(get, path = "/statistics", tag = "statistic", operation_id = "getStatistic",
    responses((status = 200, body = Statistic), (status = 401, body = Errors)))]
pub(super) async fn get_statistic(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> Result<axum::response::Response, ApiError> {
    if who.is_anonymous() {
        return Err(refused(&who, "sign in to see statistics".into()));
    }
    let (projects, bytes) = state.teams.statistics().await?;
    let mine = state.auth.policy().visible_projects(&who).await?;
    let mut s = Statistic::default();
    for (name, public, repos) in &projects {
        if *public {
            s.public_project_count += 1;
            s.public_repo_count += repos;
        } else if who.admin || mine.as_ref().is_none_or(|m| m.contains(name)) {
            s.private_project_count += 1;
            s.private_repo_count += repos;
        }
    }
    if who.admin {
        s.total_project_count = projects.len() as i64;
        s.total_repo_count = projects.iter().map(|p| p.2).sum();
        s.total_storage_consumption = bytes;
    }
    Ok((StatusCode::OK, axum::Json(s)).into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HistoryParams {
    /// How many days back, today included: 1 to 366, 30 unless given.
    days: Option<i64>,
}

/// One day of the registry's size (berth's; Harbor keeps no history).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UsageDay {
    /// `YYYY-MM-DD`, UTC.
    date: String,
    /// Stored bytes, each blob once, as last sampled that day.
    total_storage_consumption: i64,
    total_repo_count: i64,
}

/// The registry's size day by day, oldest first (administrators), as sampled when `serve`
/// starts and then hourly; a day keeps its last sample. A day without one (the registry
/// was not running) is missing, not zero.
#[utoipa::path(get, path = "/statistics/history", tag = "statistic",
    operation_id = "getStatisticHistory", params(HistoryParams),
    responses((status = 200, body = [UsageDay]), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn get_statistic_history(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<HistoryParams>,
) -> ApiResult {
    if !who.admin {
        return Err(refused(
            &who,
            "the registry's usage history is for system administrators".into(),
        ));
    }
    let days = params.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("days must be from 1 to 366, not {days}"),
        ));
    }
    let shown: Vec<UsageDay> = state
        .registry
        .usage_history(days)
        .await?
        .into_iter()
        .map(|s| {
            let (y, m, d) = berth_meta::civil_from_days(s.day);
            UsageDay {
                date: format!("{y:04}-{m:02}-{d:02}"),
                total_storage_consumption: s.storage_bytes,
                total_repo_count: s.repositories,
            }
        })
        .collect();
    Ok(axum::Json(shown).into_response())
}
