//! `/users`: berth's own users in Harbor's shape (administrators manage them; each user
//! reads and changes their own profile and password).

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::users::{self, Profile};
use berth_auth::{Identity, UserRecord, Verb};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::models::{Errors, OidcUserInfo, UserResp};
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, q, refused, timestamp};
use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, ApiResult, hv};

pub(super) fn user_resp(u: &UserRecord) -> UserResp {
    UserResp {
        user_id: u.id,
        username: u.name.clone(),
        email: u.email.clone(),
        realname: u.realname.clone(),
        comment: u.comment.clone(),
        sysadmin_flag: u.admin,
        admin_role_in_auth: u.directory_admin,
        creation_time: Some(timestamp(u.created_at_ms)),
        update_time: Some(timestamp(u.updated_at_ms)),
        oidc_user_meta: (u.origin == berth_meta::UserOrigin::Oidc).then(|| OidcUserInfo {
            user_id: u.id,
            subiss: u.external_id.clone().unwrap_or_default(),
        }),
    }
}

/// Administrators, and system-level robots given `verb` on users.
fn admin_only(who: &Identity, verb: Verb, what: &str) -> Result<(), ApiError> {
    if who.at_system("user", verb) {
        Ok(())
    } else {
        Err(refused(
            who,
            format!(
                "{what} needs a system administrator; {} is not one",
                who.describe()
            ),
        ))
    }
}

/// The user `id`, if `who` may see them: themself, or anyone for an administrator.
async fn user_for(state: &AppState, who: &Identity, id: i64) -> Result<UserRecord, ApiError> {
    let found = state.teams.user_by_id(id).await?;
    let own = found
        .as_ref()
        .is_some_and(|u| who.user.as_deref() == Some(u.name.as_str()));
    if !own && !who.at_system("user", Verb::Read) {
        return Err(refused(
            who,
            format!(
                "only administrators see other users; {} is not one",
                who.describe()
            ),
        ));
    }
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("user {id} not found"),
        )
    })
}

/// Users are berth's own only with `auth.local`.
fn local_users(state: &AppState) -> Result<(), ApiError> {
    if state.auth.user_store().is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "users are kept elsewhere in this authentication mode ({}); berth manages users with auth.local",
                state.auth.mode_name()
            ),
        ))
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListUsersParams {
    /// Harbor's query syntax; `username`, `email` and `user_id` filter.
    q: Option<String>,
    /// Accepted; users are listed by name.
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
    /// Users whose names contain this.
    username: Option<String>,
    /// Users whose e-mail addresses contain this.
    email: Option<String>,
}

fn contains(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

/// Whether `u` passes the `q` term for `key` and the plain parameter beside it.
fn passes(term: Option<&q::Term>, plain: Option<&str>, value: Option<&str>) -> bool {
    let by_term = match term {
        None => true,
        Some(q::Term::Fuzzy(part)) => contains(value, part),
        Some(t) => t.exact().is_some_and(|e| value == Some(e)),
    };
    by_term && plain.is_none_or(|p| contains(value, p))
}

/// List users by name (administrators); as in Harbor, the first administrator (user 1)
/// is listed only when asked for by `user_id`.
#[utoipa::path(get, path = "/users", tag = "user", operation_id = "listUsers",
    params(ListUsersParams),
    responses((status = 200, body = [UserResp], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListUsersParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    admin_only(&who, Verb::List, "listing users")?;
    let page = Page::at(params.page, params.page_size)?;
    let _ = &params.sort;
    let terms = q::parse(params.q.as_deref())?;
    let by_id = terms
        .get("user_id")
        .and_then(|t| t.exact())
        .and_then(|v| v.parse::<i64>().ok());
    let matching: Vec<UserRecord> = state
        .teams
        .users()
        .await?
        .into_iter()
        .filter(|u| by_id.map_or(u.id != 1, |id| u.id == id))
        .filter(|u| {
            passes(
                terms.get("username"),
                params.username.as_deref(),
                Some(&u.name),
            )
        })
        .filter(|u| {
            passes(
                terms.get("email"),
                params.email.as_deref(),
                u.email.as_deref(),
            )
        })
        .collect();
    let total = matching.len() as i64;
    let shown: Vec<UserResp> = matching
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit()).unwrap_or(usize::MAX))
        .map(user_resp)
        .collect();
    Ok(paging::list(&uri, &shown, total, page))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct UserCreationReq {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    realname: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Create a user (administrators).
#[utoipa::path(post, path = "/users", tag = "user", operation_id = "createUser",
    request_body = UserCreationReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<UserCreationReq>,
) -> ApiResult {
    admin_only(&who, Verb::Create, "creating users")?;
    local_users(&state)?;
    let profile = Profile {
        email: req.email,
        realname: req.realname,
        comment: req.comment,
    };
    let id = state
        .teams
        .add_user(&req.username, &req.password, profile)
        .await?;
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), user = req.username, "user created");
    let location = format!("{}/{id}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchUsersParams {
    /// Names containing this.
    username: String,
    page: Option<i64>,
    page_size: Option<i64>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub(super) struct UserSearchRespItem {
    user_id: i64,
    username: String,
}

/// Find users by name, for adding members (any signed-in user); shortest names first.
#[utoipa::path(get, path = "/users/search", tag = "user", operation_id = "searchUsers",
    params(SearchUsersParams),
    responses((status = 200, body = [UserSearchRespItem], headers(("X-Total-Count" = i64))),
        (status = 401, body = Errors)))]
pub(super) async fn search_users(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<SearchUsersParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(
            &who,
            "searching users needs a signed-in user".into(),
        ));
    }
    let page = Page::at(params.page, params.page_size)?;
    let mut found: Vec<UserRecord> = state
        .teams
        .users()
        .await?
        .into_iter()
        .filter(|u| contains(Some(&u.name), &params.username))
        .collect();
    found.sort_by(|a, b| (a.name.len(), &a.name).cmp(&(b.name.len(), &b.name)));
    let total = found.len() as i64;
    let items: Vec<UserSearchRespItem> = found
        .into_iter()
        .take(usize::try_from(page.limit()).unwrap_or(usize::MAX))
        .map(|u| UserSearchRespItem {
            user_id: u.id,
            username: u.name,
        })
        .collect();
    Ok(paging::list(&uri, &items, total, page))
}

/// One user's profile: one's own, or anyone's for administrators.
#[utoipa::path(get, path = "/users/{user_id}", tag = "user", operation_id = "getUser",
    params(("user_id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = UserResp), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let user = user_for(&state, &who, id).await?;
    Ok(axum::Json(user_resp(&user)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct UserProfile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    realname: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Change e-mail, real name and comment.
#[utoipa::path(put, path = "/users/{user_id}", tag = "user", operation_id = "updateUserProfile",
    params(("user_id" = i64, Path, description = "The user's id")), request_body = UserProfile,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_user_profile(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<UserProfile>,
) -> ApiResult {
    let user = user_for(&state, &who, id).await?;
    let profile = Profile {
        email: req.email,
        realname: req.realname,
        comment: req.comment,
    };
    state.teams.set_profile(&user.name, &profile).await?;
    Ok(StatusCode::OK.into_response())
}

/// Remove a user and their memberships (administrators; never oneself, never the last
/// administrator).
#[utoipa::path(delete, path = "/users/{user_id}", tag = "user", operation_id = "deleteUser",
    params(("user_id" = i64, Path, description = "The user's id")),
    responses((status = 200, description = "Removed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    admin_only(&who, Verb::Delete, "removing users")?;
    let user = user_for(&state, &who, id).await?;
    if who.user.as_deref() == Some(user.name.as_str()) {
        return Err(berth_auth::AuthError::from(users::UserError::DeletingSelf).into());
    }
    state.teams.remove_user(&user.name).await?;
    // Their browser sessions end with them (they would no longer sign anyone in).
    if let Some(sessions) = state.auth.sessions() {
        sessions.end_all_of(&user.name).await?;
    }
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), user = user.name, "user removed");
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct PasswordReq {
    /// The current password: needed to change one's own.
    #[serde(default)]
    old_password: Option<String>,
    new_password: String,
}

/// Change a password: one's own with the current one, anyone's as an administrator.
#[utoipa::path(put, path = "/users/{user_id}/password", tag = "user", operation_id = "updateUserPassword",
    params(("user_id" = i64, Path, description = "The user's id")), request_body = PasswordReq,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn update_user_password(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    peer: Option<axum::Extension<Peer>>,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<PasswordReq>,
) -> ApiResult {
    local_users(&state)?;
    let user = user_for(&state, &who, id).await?;
    let addr = Peer::ip(peer.as_ref().map(|p| &p.0));
    let changed = state
        .auth
        .change_password(
            &who,
            &user.name,
            req.old_password.as_deref(),
            &req.new_password,
            addr,
        )
        .await;
    match changed {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(berth_auth::Refusal::Internal(e)) => Err(e.into()),
        Err(refusal) => Ok(access::refusal_response(refusal, |_| None)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct UserSysAdminFlag {
    sysadmin_flag: bool,
}

/// Make a user a system administrator, or not (never the last one).
#[utoipa::path(put, path = "/users/{user_id}/sysadmin", tag = "user", operation_id = "setUserSysAdmin",
    params(("user_id" = i64, Path, description = "The user's id")), request_body = UserSysAdminFlag,
    responses((status = 200, description = "Changed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn set_user_sys_admin(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<UserSysAdminFlag>,
) -> ApiResult {
    admin_only(&who, Verb::Update, "changing administrators")?;
    let user = user_for(&state, &who, id).await?;
    state.teams.set_admin(&user.name, req.sysadmin_flag).await?;
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), user = user.name, admin = req.sysadmin_flag, "administration changed");
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct OidcCliSecretReq {
    secret: String,
}

/// Set an identity provider's user's CLI secret (what `docker login` takes for them):
/// one's own, or anyone's as an administrator.
#[utoipa::path(put, path = "/users/{user_id}/cli_secret", tag = "user", operation_id = "setCliSecret",
    params(("user_id" = i64, Path, description = "The user's id")), request_body = OidcCliSecretReq,
    responses((status = 200, description = "Set"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 412, body = Errors)))]
pub(super) async fn set_cli_secret(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<OidcCliSecretReq>,
) -> ApiResult {
    let user = user_for(&state, &who, id).await?;
    if user.origin != berth_meta::UserOrigin::Oidc {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            format!(
                "{} does not sign in through OIDC: CLI secrets are for those who do",
                user.name
            ),
        ));
    }
    let Some(meta) = state.auth.user_store() else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "users are not berth's own here",
        ));
    };
    users::set_cli_secret(meta.as_ref(), &user.name, &req.secret).await?;
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), user = user.name, "CLI secret set");
    Ok(StatusCode::OK.into_response())
}
