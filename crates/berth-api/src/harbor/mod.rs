//! Harbor's management API (`/api/v2.0`): typed axum handlers whose serde types also
//! describe the OpenAPI document berth serves at `/api/v2.0/openapi.json`. Harbor's
//! `api/v2.0/swagger.yaml` is the reference for paths, bodies, codes and paging; the
//! rules behind each endpoint live in berth-auth and berth-core.

mod audit;
mod caller;
mod configurations;
mod gc;
mod immutable;
mod labels;
mod ldap;
mod members;
mod models;
mod oidc;
mod paging;
mod project_metadata;
mod projects;
mod q;
mod quotas;
mod repositories;
mod retention;
mod robots;
mod search;
mod selectors;
mod sessions;
mod system;
mod system_retention;
mod users;
mod webhooks;

use std::sync::Arc;

use axum::http::StatusCode;
use berth_auth::{Identity, Permission, ProjectRecord, ProjectRef};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::response::ApiError;

pub(crate) use caller::{Caller, SignedInSlot};
pub(crate) use sessions::session_cookie;

/// The API's base path below `http.prefix`.
pub(crate) const BASE: &str = "/api/v2.0";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth management API",
        description = "Harbor's /api/v2.0 for the resources berth has, and berth's own extensions under the same prefix."
    ),
    servers((url = "/api/v2.0")),
    tags(
        (name = "project", description = "Projects: the first path component of repository names"),
        (name = "member", description = "Who holds which role in a project"),
        (name = "user", description = "The signed-in user"),
        (name = "quota", description = "Each project's storage limit and use"),
        (name = "auditlog", description = "Who did what to which resource, when, and whether it worked"),
        (name = "Ldap", description = "The LDAP directory: test it, find users and groups, import users"),
        (name = "usergroup", description = "Groups of users, as the directory names them; they hold project roles"),
        (name = "robot", description = "Robot accounts: machine credentials with a permission list"),
        (name = "systeminfo", description = "What this registry is"),
        (name = "health", description = "Whether its parts work"),
        (name = "statistic", description = "Counts of projects and repositories"),
        (name = "search", description = "Projects and repositories by a part of their names"),
        (name = "repository", description = "Repositories: what a project holds"),
        (name = "artifact", description = "Artifacts (manifests) in a repository, with their tags"),
        (name = "Retention", description = "A project's tag-retention policy, its runs and what they deleted")
    )
)]
struct ApiDoc;

/// Whether `local` (a path below `http.prefix`) is the management API's.
pub(crate) fn matches(local: &str) -> bool {
    local
        .strip_prefix(BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        || BROWSER_PATHS.contains(&local)
}

/// Harbor's browser sign-in paths (outside `/api/v2.0`).
pub(crate) const BROWSER_PATHS: [&str; 4] = [
    "/c/oidc/login",
    "/c/oidc/callback",
    "/c/login",
    "/c/log_out",
];

/// The management API's routes and its OpenAPI document, below `{prefix}/api/v2.0`.
pub(crate) fn router(prefix: &str) -> axum::Router<Arc<AppState>> {
    let (routes, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            projects::list_projects,
            projects::create_project,
            projects::head_project
        ))
        .routes(routes!(
            projects::get_project,
            projects::update_project,
            projects::delete_project
        ))
        .routes(routes!(projects::get_project_deletable))
        .routes(routes!(projects::get_project_summary))
        .routes(routes!(
            project_metadata::list_project_metadatas,
            project_metadata::add_project_metadatas
        ))
        .routes(routes!(
            project_metadata::get_project_metadata,
            project_metadata::update_project_metadata,
            project_metadata::delete_project_metadata
        ))
        .routes(routes!(
            members::list_project_members,
            members::create_project_member
        ))
        .routes(routes!(
            members::get_project_member,
            members::update_project_member,
            members::delete_project_member
        ))
        .routes(routes!(robots::list_robots, robots::create_robot))
        .routes(routes!(
            robots::get_robot,
            robots::update_robot,
            robots::refresh_robot_secret,
            robots::delete_robot
        ))
        .routes(routes!(
            webhooks::list_webhook_policies,
            webhooks::create_webhook_policy
        ))
        .routes(routes!(
            webhooks::get_webhook_policy,
            webhooks::update_webhook_policy,
            webhooks::delete_webhook_policy
        ))
        .routes(routes!(webhooks::list_webhook_executions))
        .routes(routes!(webhooks::list_webhook_tasks))
        .routes(routes!(webhooks::get_webhook_task_log))
        .routes(routes!(webhooks::get_supported_event_types))
        .routes(routes!(repositories::list_all_repositories))
        .routes(routes!(repositories::list_project_artifacts))
        .routes(routes!(repositories::list_repositories))
        .routes(routes!(
            repositories::get_repository,
            repositories::update_repository,
            repositories::delete_repository
        ))
        .routes(routes!(
            repositories::list_artifacts,
            repositories::copy_artifact
        ))
        .routes(routes!(
            repositories::get_artifact,
            repositories::delete_artifact
        ))
        .routes(routes!(repositories::add_artifact_label))
        .routes(routes!(repositories::remove_artifact_label))
        .routes(routes!(labels::list_labels, labels::create_label))
        .routes(routes!(
            labels::get_label,
            labels::update_label,
            labels::delete_label
        ))
        .routes(routes!(repositories::list_tags, repositories::create_tag))
        .routes(routes!(repositories::delete_tag))
        .routes(routes!(
            immutable::list_immutable_rules,
            immutable::create_immutable_rule
        ))
        .routes(routes!(
            immutable::update_immutable_rule,
            immutable::delete_immutable_rule
        ))
        .routes(routes!(retention::get_retention_metadata))
        .routes(routes!(retention::create_retention))
        .routes(routes!(
            retention::get_retention,
            retention::update_retention,
            retention::delete_retention
        ))
        .routes(routes!(
            retention::trigger_retention_execution,
            retention::list_retention_executions
        ))
        .routes(routes!(retention::operate_retention_execution))
        .routes(routes!(retention::list_retention_tasks))
        .routes(routes!(retention::get_retention_task_log))
        .routes(routes!(system_retention::get_configured_retention))
        .routes(routes!(
            system_retention::run_configured_retention,
            system_retention::list_configured_executions
        ))
        .routes(routes!(system_retention::get_configured_execution))
        .routes(routes!(gc::get_gc_history))
        .routes(routes!(
            gc::get_gc_schedule,
            gc::create_gc_schedule,
            gc::update_gc_schedule
        ))
        .routes(routes!(gc::get_gc, gc::stop_gc))
        .routes(routes!(gc::get_gc_log))
        .routes(routes!(audit::list_audit_logs))
        .routes(routes!(audit::list_audit_log_exts))
        .routes(routes!(audit::list_audit_log_event_types))
        .routes(routes!(audit::get_project_logs))
        .routes(routes!(audit::get_project_log_exts))
        .routes(routes!(quotas::list_quotas))
        .routes(routes!(quotas::get_quota, quotas::update_quota))
        .routes(routes!(ldap::ping_ldap))
        .routes(routes!(oidc::ping_oidc))
        .routes(routes!(ldap::search_ldap_users))
        .routes(routes!(ldap::import_ldap_users))
        .routes(routes!(ldap::search_ldap_groups))
        .routes(routes!(ldap::list_user_groups, ldap::create_user_group))
        .routes(routes!(ldap::search_user_groups))
        .routes(routes!(
            ldap::get_user_group,
            ldap::update_user_group,
            ldap::delete_user_group
        ))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::search_users))
        .routes(routes!(
            users::get_user,
            users::update_user_profile,
            users::delete_user
        ))
        .routes(routes!(users::update_user_password))
        .routes(routes!(users::set_user_sys_admin))
        .routes(routes!(users::set_cli_secret))
        .routes(routes!(system::get_current_user_info))
        .routes(routes!(system::get_current_user_permissions))
        .routes(routes!(system::get_system_info))
        .routes(routes!(system::get_volumes))
        .routes(routes!(system::get_health))
        .routes(routes!(system::get_statistic))
        .routes(routes!(system::get_statistic_history))
        .routes(routes!(search::search))
        .routes(routes!(system::get_ping))
        .routes(routes!(
            configurations::get_configurations,
            configurations::update_configurations
        ))
        .routes(routes!(system::get_permissions))
        .split_for_parts();
    let document = Arc::new(doc.to_pretty_json().unwrap_or_default());
    // Harbor's path ends in a slash; its clients (harborapi) leave it out.
    let routes = routes.route(
        "/projects/{project_name_or_id}/metadatas",
        axum::routing::get(project_metadata::list_project_metadatas)
            .post(project_metadata::add_project_metadatas),
    );
    let routes = routes.route(
        "/openapi.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    document.as_str().to_owned(),
                )
            }
        }),
    );
    axum::Router::new()
        .nest(&format!("{prefix}{BASE}"), routes)
        .route(
            &format!("{prefix}{}", BROWSER_PATHS[0]),
            axum::routing::get(oidc::login),
        )
        .route(
            &format!("{prefix}{}", BROWSER_PATHS[1]),
            axum::routing::get(oidc::callback),
        )
        .route(
            &format!("{prefix}{}", BROWSER_PATHS[2]),
            axum::routing::post(sessions::login),
        )
        .route(
            &format!("{prefix}{}", BROWSER_PATHS[3]),
            axum::routing::post(sessions::log_out),
        )
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no management API endpoint at {}", uri.path()),
            )
        })
}

/// Administrators, and robots given `verb` on `resource` at the system level.
pub(crate) fn at_system(
    who: &Identity,
    resource: &str,
    verb: berth_auth::Verb,
) -> Result<(), ApiError> {
    if who.at_system(resource, verb) {
        Ok(())
    } else {
        Err(refused(
            who,
            format!(
                "{} may not {} {resource}; that needs a system administrator",
                who.describe(),
                verb.as_str()
            ),
        ))
    }
}

/// The project a path names by name or id (`X-Is-Resource-Name` honoured), if `who` may
/// do `verb` on `resource` in it (see [`project_for`]).
pub(crate) async fn named_project(
    state: &AppState,
    who: &Identity,
    headers: &axum::http::HeaderMap,
    name_or_id: &str,
    (resource, verb): (berth_auth::Resource, berth_auth::Verb),
) -> Result<ProjectRecord, ApiError> {
    let permission = Permission::new(resource, verb);
    project_for(state, who, &project_ref(headers, name_or_id), permission).await
}

/// The project a request names, if `who` may do `permission` in it. As in Harbor, the
/// permission is checked first: a project one may not see is refused (401 anonymous, 403
/// signed in) rather than reported missing; 404 only for those who could see it.
pub(crate) async fn project_for(
    state: &AppState,
    who: &Identity,
    project: &ProjectRef,
    permission: Permission,
) -> Result<ProjectRecord, ApiError> {
    let found = state.teams.find(project).await?;
    let name = found
        .as_ref()
        .map_or_else(|| project.to_string(), |p| p.name.clone());
    let rights = state.auth.policy().rights(who, &name).await?;
    if !rights.allows(permission) {
        return Err(refused(who, rights.refusal(who, permission)));
    }
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("project {project} not found"),
        )
    })
}

/// 401 for an anonymous caller (sign in first), 403 for a signed-in one.
pub(crate) fn refused(who: &Identity, why: String) -> ApiError {
    if who.is_anonymous() {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            format!("sign in first: {why}"),
        )
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", why)
    }
}

/// Harbor's time format: RFC 3339 in UTC with milliseconds.
pub(crate) fn timestamp(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = berth_meta::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A JSON body; malformed ones are refused with Harbor's error body.
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!(
                    "the request body is not what this endpoint takes: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// Query parameters; malformed ones are refused with Harbor's error body.
pub(crate) struct Params<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        // Clients send parameters they have no value for as `page=` (harborapi does):
        // an empty value is no value.
        let given: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
        let given: Vec<(String, String)> =
            given.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let query = serde_urlencoded::to_string(&given).unwrap_or_default();
        serde_urlencoded::from_str(&query).map(Params).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("invalid query parameters: {e}"),
            )
        })
    }
}

/// Harbor's `X-Is-Resource-Name`: the path's project is a name even if it looks a number.
pub(crate) fn project_ref(headers: &axum::http::HeaderMap, value: &str) -> ProjectRef {
    let is_name = headers
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ProjectRef::parse(value, is_name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(super::timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::timestamp(1_764_633_600_123),
            "2025-12-02T00:00:00.123Z"
        );
    }
}
