//! `/ldap/...` and `/usergroups`: the LDAP directory (ping, user search and import, group
//! search) and the groups berth knows, which hold project roles.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::ldap::{Directory, LdapSettings, Scope};
use berth_auth::users::{self, GROUP_LDAP, GROUP_OIDC};
use berth_meta::{GroupQuery, GroupRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::at_system as system;
use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, refused};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// Harbor's `LdapConf`: settings to try instead of (over) the configured ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct LdapConf {
    ldap_url: Option<String>,
    ldap_search_dn: Option<String>,
    ldap_search_password: Option<String>,
    ldap_base_dn: Option<String>,
    ldap_filter: Option<String>,
    ldap_uid: Option<String>,
    /// 0 base, 1 one level, 2 subtree.
    ldap_scope: Option<i64>,
    /// Seconds.
    ldap_connection_timeout: Option<i64>,
    ldap_verify_cert: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LdapPingResult {
    success: bool,
    message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LdapUser {
    username: String,
    realname: String,
    email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct LdapImportUsers {
    #[serde(default)]
    ldap_uid_list: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LdapFailedImportUser {
    uid: String,
    error: String,
}

/// Harbor's `UserGroup`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct UserGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(default)]
    group_name: String,
    /// 1 LDAP, 2 HTTP, 3 OIDC.
    #[serde(default)]
    group_type: i64,
    #[serde(default)]
    ldap_group_dn: String,
}

impl From<&GroupRecord> for UserGroup {
    fn from(g: &GroupRecord) -> UserGroup {
        UserGroup {
            id: Some(g.id),
            group_name: g.name.clone(),
            group_type: g.kind,
            ldap_group_dn: g.ldap_dn.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchLdapUsersParams {
    /// Users whose uid contains this.
    username: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchLdapGroupsParams {
    groupname: Option<String>,
    groupdn: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListGroupsParams {
    page: Option<i64>,
    page_size: Option<i64>,
    ldap_group_dn: Option<String>,
    /// Groups whose name contains this.
    group_name: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

fn directory(state: &AppState) -> Result<&Arc<Directory>, ApiError> {
    state.auth.directory().ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "no LDAP directory is configured (berth.ldap.url)",
        )
    })
}

/// The configured settings with what `conf` sets laid over them.
fn settings_with(
    current: Option<&LdapSettings>,
    conf: &LdapConf,
) -> Result<LdapSettings, ApiError> {
    let mut s = match (current, &conf.ldap_url) {
        (Some(c), _) => c.clone(),
        (None, Some(url)) => LdapSettings {
            url: url.clone(),
            starttls: false,
            verify_cert: true,
            ca_cert: None,
            search_dn: None,
            search_password: None,
            base_dn: String::new(),
            filter: None,
            uid_attribute: "uid".into(),
            scope: Scope::Subtree,
            timeout: Duration::from_secs(5),
            group: None,
        },
        (None, None) => return Err(bad("no LDAP directory is configured: give ldap_url")),
    };
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    if let Some(url) = given(&conf.ldap_url) {
        s.url = url;
    }
    if let Some(dn) = given(&conf.ldap_search_dn) {
        // Another account needs its own password; the same one keeps the configured one.
        if s.search_dn.as_deref() != Some(dn.as_str()) {
            s.search_password = None;
        }
        s.search_dn = Some(dn);
    }
    if let Some(password) = given(&conf.ldap_search_password) {
        s.search_password = Some(password);
    }
    if let Some(base) = given(&conf.ldap_base_dn) {
        s.base_dn = base;
    }
    if let Some(filter) = given(&conf.ldap_filter) {
        s.filter = Some(filter);
    }
    if let Some(uid) = given(&conf.ldap_uid) {
        s.uid_attribute = uid;
    }
    if let Some(scope) = conf.ldap_scope {
        s.scope = match scope {
            0 => Scope::Base,
            1 => Scope::OneLevel,
            2 => Scope::Subtree,
            other => {
                return Err(bad(format!(
                    "ldap_scope {other} is not 0 (base), 1 (one level) or 2 (subtree)"
                )));
            }
        };
    }
    if let Some(secs) = conf.ldap_connection_timeout.filter(|s| *s > 0) {
        s.timeout = Duration::from_secs(secs.unsigned_abs());
    }
    if let Some(verify) = conf.ldap_verify_cert {
        s.verify_cert = verify;
    }
    Ok(s)
}

/// Whether berth can reach the directory and bind as the search account, with the
/// configured settings or the ones given.
#[utoipa::path(post, path = "/ldap/ping", tag = "Ldap", operation_id = "pingLdap",
    request_body(content = Option<LdapConf>),
    responses((status = 200, body = LdapPingResult), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn ping_ldap(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    body: axum::body::Bytes,
) -> ApiResult {
    system(&who, "configuration", berth_auth::Verb::Update)
        .or_else(|_| system(&who, "ldap-user", berth_auth::Verb::List))?;
    // No body (or `null`): the configured settings.
    let conf: LdapConf = if body.iter().all(u8::is_ascii_whitespace) {
        LdapConf::default()
    } else {
        serde_json::from_slice::<Option<LdapConf>>(&body)
            .map_err(|e| bad(format!("the body is not an LdapConf: {e}")))?
            .unwrap_or_default()
    };
    let current = state.auth.directory().map(|d| d.settings());
    let result = match settings_with(current, &conf)
        .and_then(|s| Directory::new(s).map_err(|e| bad(e.to_string())))
    {
        Ok(directory) => directory.ping().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.message),
    };
    let body = match result {
        Ok(()) => LdapPingResult {
            success: true,
            message: String::new(),
        },
        Err(message) => LdapPingResult {
            success: false,
            message: format!("error: {message}"),
        },
    };
    Ok(axum::Json(body).into_response())
}

/// Users of the directory whose uid contains `username`.
#[utoipa::path(get, path = "/ldap/users/search", tag = "Ldap", operation_id = "searchLdapUser",
    params(SearchLdapUsersParams),
    responses((status = 200, body = [LdapUser]), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 412, body = Errors), (status = 503, body = Errors)))]
pub(super) async fn search_ldap_users(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<SearchLdapUsersParams>,
) -> ApiResult {
    system(&who, "ldap-user", berth_auth::Verb::List)?;
    let found = directory(&state)?
        .search_users(params.username.as_deref())
        .await
        .map_err(berth_auth::AuthError::from)?;
    let users: Vec<LdapUser> = found
        .into_iter()
        .map(|u| LdapUser {
            username: u.username,
            realname: u.realname.unwrap_or_default(),
            email: u.email.unwrap_or_default(),
        })
        .collect();
    Ok(axum::Json(users).into_response())
}

/// Adds directory users to berth before they first sign in (so they can be made project
/// members); `404` with the uids that could not be added, and why.
#[utoipa::path(post, path = "/ldap/users/import", tag = "Ldap", operation_id = "importLdapUser",
    request_body = LdapImportUsers,
    responses((status = 200, description = "All added"), (status = 404, body = [LdapFailedImportUser]),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 412, body = Errors)))]
pub(super) async fn import_ldap_users(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<LdapImportUsers>,
) -> ApiResult {
    system(&who, "ldap-user", berth_auth::Verb::Create)?;
    let directory = directory(&state)?;
    let Some(meta) = state.auth.user_store() else {
        return Err(bad("users are not berth's own in this authentication mode"));
    };
    let mut failed = Vec::new();
    for uid in &req.ldap_uid_list {
        let outcome = match directory.find_user(uid).await {
            Ok(Some(found)) => users::adopt(meta.as_ref(), &(&found).into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Ok(None) => Err("not found in the directory".to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = outcome {
            failed.push(LdapFailedImportUser {
                uid: uid.clone(),
                error,
            });
        }
    }
    if failed.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        Ok((StatusCode::NOT_FOUND, axum::Json(failed)).into_response())
    }
}

/// Groups of the directory by name (contains) or by DN.
#[utoipa::path(get, path = "/ldap/groups/search", tag = "Ldap", operation_id = "searchLdapGroup",
    params(SearchLdapGroupsParams),
    responses((status = 200, body = [UserGroup]), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors), (status = 412, body = Errors)))]
pub(super) async fn search_ldap_groups(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<SearchLdapGroupsParams>,
) -> ApiResult {
    system(&who, "ldap-user", berth_auth::Verb::List)?;
    let found = directory(&state)?
        .search_groups(params.groupname.as_deref(), params.groupdn.as_deref())
        .await
        .map_err(berth_auth::AuthError::from)?;
    if found.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "no LDAP group named like {:?} or with DN {:?}",
                params.groupname.unwrap_or_default(),
                params.groupdn.unwrap_or_default()
            ),
        ));
    }
    let groups: Vec<UserGroup> = found
        .into_iter()
        .map(|g| UserGroup {
            id: None,
            group_name: g.name,
            group_type: GROUP_LDAP,
            ldap_group_dn: g.dn,
        })
        .collect();
    Ok(axum::Json(groups).into_response())
}

/// The groups berth knows (from sign-ins, imports and members added by name).
#[utoipa::path(get, path = "/usergroups", tag = "usergroup", operation_id = "listUserGroups",
    params(ListGroupsParams),
    responses((status = 200, body = [UserGroup], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn list_user_groups(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListGroupsParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    system(&who, "user-group", berth_auth::Verb::List)?;
    let page = Page::at(params.page, params.page_size)?;
    let (groups, total) = state
        .teams
        .groups(&GroupQuery {
            kind: None,
            name_contains: params.group_name.filter(|n| !n.is_empty()),
            ldap_dn: params.ldap_group_dn.filter(|d| !d.is_empty()),
            offset: page.offset(),
            limit: page.limit(),
        })
        .await?;
    let shown: Vec<UserGroup> = groups.iter().map(UserGroup::from).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// Adds an LDAP group by its DN (its name read from the directory when not given).
#[utoipa::path(post, path = "/usergroups", tag = "usergroup", operation_id = "createUserGroup",
    request_body = UserGroup,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors), (status = 412, body = Errors)))]
pub(super) async fn create_user_group(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<UserGroup>,
) -> ApiResult {
    system(&who, "user-group", berth_auth::Verb::Create)?;
    let (name, dn) = match req.group_type {
        GROUP_LDAP => directory_group(&state, &req).await?,
        // Groups of the identity provider's groups claim, added before anyone in them
        // signs in so that they can hold roles at once.
        GROUP_OIDC if state.oidc.is_none() => {
            return Err(bad(
                "OIDC groups (group_type 3) need an identity provider: configure berth.oidc",
            ));
        }
        GROUP_OIDC if req.group_name.trim().is_empty() => {
            return Err(bad(
                "an OIDC group needs its group_name, as the groups claim spells it",
            ));
        }
        GROUP_OIDC => (req.group_name.trim().to_string(), None),
        other => {
            return Err(bad(format!(
                "group_type {other} is not served: berth's groups come from LDAP (1) or OIDC (3)"
            )));
        }
    };
    let (existing, _) = state
        .teams
        .groups(&GroupQuery {
            kind: Some(req.group_type),
            ldap_dn: dn.clone(),
            name_contains: dn.is_none().then(|| name.clone()),
            limit: i64::MAX,
            ..Default::default()
        })
        .await?;
    if existing.iter().any(|g| dn.is_some() || g.name == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!(
                "the group {} exists already",
                dn.as_deref().unwrap_or(&name)
            ),
        ));
    }
    let created = state
        .teams
        .ensure_group(req.group_type, &name, dn.as_deref())
        .await?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// The directory's group `req` names by DN, and the name it gets (the directory's unless
/// `req` gives one).
async fn directory_group(
    state: &AppState,
    req: &UserGroup,
) -> Result<(String, Option<String>), ApiError> {
    if req.ldap_group_dn.is_empty() {
        return Err(bad("an LDAP group needs its ldap_group_dn"));
    }
    let found = directory(state)?
        .search_groups(None, Some(&req.ldap_group_dn))
        .await
        .map_err(berth_auth::AuthError::from)?;
    let Some(group) = found.into_iter().next() else {
        return Err(bad(format!(
            "the directory has no group {} under berth.ldap.group.basedn",
            req.ldap_group_dn
        )));
    };
    let name = if req.group_name.is_empty() {
        group.name
    } else {
        req.group_name.clone()
    };
    Ok((name, Some(group.dn)))
}

async fn group_for(state: &AppState, id: i64) -> Result<GroupRecord, ApiError> {
    state.teams.group(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("there is no user group {id}"),
        )
    })
}

/// One group.
#[utoipa::path(get, path = "/usergroups/{group_id}", tag = "usergroup", operation_id = "getUserGroup",
    params(("group_id" = i64, Path, description = "The group's id")),
    responses((status = 200, body = UserGroup), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_user_group(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    system(&who, "user-group", berth_auth::Verb::Read)?;
    let group = group_for(&state, id).await?;
    Ok(axum::Json(UserGroup::from(&group)).into_response())
}

/// Rename a group (Harbor lets only the name change).
#[utoipa::path(put, path = "/usergroups/{group_id}", tag = "usergroup", operation_id = "updateUserGroup",
    params(("group_id" = i64, Path, description = "The group's id")),
    request_body = UserGroup,
    responses((status = 200, description = "Renamed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn update_user_group(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<UserGroup>,
) -> ApiResult {
    system(&who, "user-group", berth_auth::Verb::Update)?;
    let group = group_for(&state, id).await?;
    state.teams.rename_group(group.id, &req.group_name).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchGroupsParams {
    page: Option<i64>,
    page_size: Option<i64>,
    /// Groups whose name contains this.
    groupname: String,
}

/// Harbor's `UserGroupSearchItem`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserGroupSearchItem {
    id: i64,
    group_name: String,
    group_type: i64,
}

/// Groups by name, for anyone signed in (to add one as a member).
#[utoipa::path(get, path = "/usergroups/search", tag = "usergroup", operation_id = "searchUserGroups",
    params(SearchGroupsParams),
    responses((status = 200, body = [UserGroupSearchItem], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors)))]
pub(super) async fn search_user_groups(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<SearchGroupsParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(
            &who,
            "searching groups needs a signed-in user".into(),
        ));
    }
    if params.groupname.is_empty() {
        return Err(bad("groupname is required"));
    }
    let page = Page::at(params.page, params.page_size)?;
    let (groups, total) = state
        .teams
        .groups(&GroupQuery {
            name_contains: Some(params.groupname),
            offset: page.offset(),
            limit: page.limit(),
            ..Default::default()
        })
        .await?;
    let found: Vec<UserGroupSearchItem> = groups
        .iter()
        .map(|g| UserGroupSearchItem {
            id: g.id,
            group_name: g.name.clone(),
            group_type: g.kind,
        })
        .collect();
    Ok(paging::list(&uri, &found, total, page))
}

/// Remove a group and the roles it holds.
#[utoipa::path(delete, path = "/usergroups/{group_id}", tag = "usergroup", operation_id = "deleteUserGroup",
    params(("group_id" = i64, Path, description = "The group's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_user_group(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    system(&who, "user-group", berth_auth::Verb::Delete)?;
    let group = group_for(&state, id).await?;
    state.teams.delete_group(group.id).await?;
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), group = group.name, "user group deleted");
    Ok(StatusCode::OK.into_response())
}
