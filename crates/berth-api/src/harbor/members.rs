//! `/projects/{project}/members`: who holds which role in a project.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{MemberEntity, MemberRecord, MemberRef, Permission, Resource, Role, Verb};
use serde::Deserialize;
use utoipa::IntoParams;

use super::models::{Errors, ProjectMember, ProjectMemberEntity, RoleRequest};
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, project_for, project_ref};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListMembersParams {
    page: Option<i64>,
    page_size: Option<i64>,
    /// Only the member of this name (a user or a group).
    entityname: Option<String>,
}

const fn member(verb: Verb) -> Permission {
    Permission::new(Resource::Member, verb)
}

fn entity(m: &MemberRecord) -> ProjectMemberEntity {
    let (entity_id, entity_name, entity_type) = match &m.entity {
        MemberEntity::User { id, name } => (*id, name.clone(), "u"),
        MemberEntity::Group { id, name } => (*id, name.clone(), "g"),
    };
    ProjectMemberEntity {
        id: m.id,
        project_id: m.project_id,
        entity_name,
        role_name: Role::from_id(m.role)
            .map_or("unknown", Role::name)
            .to_string(),
        role_id: m.role,
        entity_id,
        entity_type: entity_type.into(),
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// The members of a project, by name.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/members", tag = "member",
    operation_id = "listProjectMembers",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number"),
        ListMembersParams),
    responses((status = 200, body = [ProjectMemberEntity],
            headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_project_members(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
    Params(params): Params<ListMembersParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let p = project_for(
        &state,
        &who,
        &project_ref(&headers, &project),
        member(Verb::List),
    )
    .await?;
    let (members, total) = state
        .teams
        .members(
            &p,
            params.entityname.as_deref(),
            page.offset(),
            page.limit(),
        )
        .await?;
    let entities: Vec<ProjectMemberEntity> = members.iter().map(entity).collect();
    Ok(paging::list(&uri, &entities, total, page))
}

/// Give a user or a group a role in the project.
#[utoipa::path(post, path = "/projects/{project_name_or_id}/members", tag = "member",
    operation_id = "createProjectMember",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    request_body = ProjectMember,
    responses((status = 201, description = "Added", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn create_project_member(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<ProjectMember>,
) -> ApiResult {
    let p = project_for(
        &state,
        &who,
        &project_ref(&headers, &project),
        member(Verb::Create),
    )
    .await?;
    let user = req.member_user.unwrap_or_default();
    let group = req.member_group.unwrap_or_default();
    let target = if let Some(id) = user.user_id.filter(|id| *id > 0) {
        MemberRef::UserId(id)
    } else if let Some(id) = group.id.filter(|id| *id > 0) {
        MemberRef::GroupId(id)
    } else if let Some(name) = user.username.filter(|n| !n.is_empty()) {
        MemberRef::UserName(name)
    } else if let Some(name) = group.group_name.filter(|n| !n.is_empty()) {
        MemberRef::GroupName {
            kind: group.group_type.unwrap_or(0),
            name,
            ldap_dn: group.ldap_group_dn,
        }
    } else {
        return Err(bad(
            "name the member: member_user (user_id or username) or member_group (id, or group_name with group_type)",
        ));
    };
    let id = state.teams.add_member(&p, &target, req.role_id).await?;
    let location = format!("{}/{id}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// One membership.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/members/{mid}", tag = "member",
    operation_id = "getProjectMember",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("mid" = i64, Path, description = "The member's id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, body = ProjectMemberEntity), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_project_member(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project, mid)): Path<(String, i64)>,
) -> ApiResult {
    let p = project_for(
        &state,
        &who,
        &project_ref(&headers, &project),
        member(Verb::Read),
    )
    .await?;
    let m = state.teams.member(&p, mid).await?;
    Ok(axum::Json(entity(&m)).into_response())
}

/// Change a member's role.
#[utoipa::path(put, path = "/projects/{project_name_or_id}/members/{mid}", tag = "member",
    operation_id = "updateProjectMember",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("mid" = i64, Path, description = "The member's id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    request_body = RoleRequest,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_project_member(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project, mid)): Path<(String, i64)>,
    JsonBody(req): JsonBody<RoleRequest>,
) -> ApiResult {
    let p = project_for(
        &state,
        &who,
        &project_ref(&headers, &project),
        member(Verb::Update),
    )
    .await?;
    state.teams.set_role(&p, mid, req.role_id).await?;
    Ok(StatusCode::OK.into_response())
}

/// Take a member's role away.
#[utoipa::path(delete, path = "/projects/{project_name_or_id}/members/{mid}", tag = "member",
    operation_id = "deleteProjectMember",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("mid" = i64, Path, description = "The member's id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, description = "Removed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_project_member(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project, mid)): Path<(String, i64)>,
) -> ApiResult {
    let p = project_for(
        &state,
        &who,
        &project_ref(&headers, &project),
        member(Verb::Delete),
    )
    .await?;
    state.teams.remove_member(&p, mid).await?;
    Ok(StatusCode::OK.into_response())
}
