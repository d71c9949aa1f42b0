//! `/projects`: list, look up, create, update, delete; deletability and summary.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::projects::STORAGE_LIMIT_KEY;
use berth_auth::{Identity, Permission, ProjectQuery, ProjectRecord, Resource, Role, Verb};
use serde::Deserialize;
use utoipa::IntoParams;

use super::models::{
    Errors, Project, ProjectDeletable, ProjectMetadata, ProjectReq, ProjectSummary,
    ProjectSummaryQuota,
};
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, project_for, project_ref, q, refused, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListProjectsParams {
    /// Harbor's query syntax; `name`, `public`, `owner` and `project_id` filter.
    q: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
    /// Accepted; projects are listed by name.
    sort: Option<String>,
    /// Projects whose names contain this.
    name: Option<String>,
    public: Option<bool>,
    /// The user who created the project.
    owner: Option<String>,
    /// `false` leaves out each project's metadata and owner name.
    with_detail: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HeadProjectParams {
    project_name: String,
}

/// What a listing looks up once for its whole page, not once per project.
struct PageFacts {
    repository_counts: HashMap<String, i64>,
    /// The caller's roles, by project id.
    roles: HashMap<i64, Vec<Role>>,
    /// By owner name: the owner's id and name.
    owners: HashMap<String, Option<(i64, String)>>,
}

impl PageFacts {
    async fn of(
        state: &AppState,
        who: &Identity,
        projects: &[ProjectRecord],
    ) -> Result<PageFacts, ApiError> {
        let mut owners = HashMap::new();
        for name in projects.iter().filter_map(|p| p.owner.as_deref()) {
            if !owners.contains_key(name) {
                let found = state.teams.user(name).await?.map(|u| (u.id, u.name));
                owners.insert(name.to_string(), found);
            }
        }
        Ok(PageFacts {
            repository_counts: state.teams.repository_counts(projects).await?,
            roles: state.auth.policy().roles_in(who, projects).await?,
            owners,
        })
    }
}

/// A project as the caller sees it: their roles in it, its repositories, its owner.
fn view(p: &ProjectRecord, detail: bool, facts: &PageFacts) -> Project {
    let held = facts
        .roles
        .get(&p.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut roles: Vec<i64> = held.iter().map(|r| r.id()).collect();
    roles.sort_unstable();
    let strongest = [
        Role::ProjectAdmin,
        Role::Maintainer,
        Role::Developer,
        Role::Guest,
        Role::LimitedGuest,
    ]
    .into_iter()
    .find(|r| held.contains(r))
    .map(Role::id);
    let owner = p
        .owner
        .as_ref()
        .and_then(|name| facts.owners.get(name).cloned().flatten());
    Project {
        project_id: p.id,
        owner_id: owner.as_ref().map(|o| o.0),
        name: p.name.clone(),
        creation_time: timestamp(p.created_at_ms),
        update_time: timestamp(p.updated_at_ms),
        owner_name: owner.filter(|_| detail).map(|o| o.1),
        current_user_role_id: strongest,
        current_user_role_ids: (!roles.is_empty()).then_some(roles),
        repo_count: facts.repository_counts.get(&p.name).copied().unwrap_or(0),
        // Visibility is the project's own column; the metadata's copy follows it.
        metadata: detail.then(|| ProjectMetadata {
            public: Some(p.public.to_string()),
            ..ProjectMetadata::from_map(&p.metadata)
        }),
    }
}

/// List projects: public ones and the caller's own; every project for administrators.
#[utoipa::path(get, path = "/projects", tag = "project", operation_id = "listProjects",
    params(ListProjectsParams),
    responses(
        (status = 200, description = "The projects", body = [Project],
            headers(("X-Total-Count" = i64, description = "How many match"), ("Link" = String, description = "The previous and next pages"))),
        (status = 400, body = Errors), (status = 422, body = Errors)))]
pub(super) async fn list_projects(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListProjectsParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = &params.sort;
    let terms = q::parse(params.q.as_deref())?;
    let mut query = ProjectQuery {
        name_contains: params.name.clone(),
        public: params.public,
        owner: params.owner.clone(),
        offset: page.offset(),
        limit: page.limit(),
        ..Default::default()
    };
    if let Some(term) = terms.get("name") {
        match term {
            q::Term::Fuzzy(part) => query.name_contains = Some(part.clone()),
            t => query.name = t.exact().map(String::from),
        }
    }
    if let Some(public) = terms.get("public").and_then(|t| t.exact()) {
        query.public = Some(public == "true");
    }
    if let Some(owner) = terms.get("owner").and_then(|t| t.exact()) {
        query.owner = Some(owner.into());
    }
    let (projects, total) = state.teams.list(&who, query).await?;
    let detail = params.with_detail.unwrap_or(true);
    let views = views(&state, &who, &projects, detail).await?;
    Ok(paging::list(&uri, &views, total, page))
}

/// A page of projects as `who` sees them (see [`view`]).
pub(super) async fn views(
    state: &AppState,
    who: &Identity,
    projects: &[ProjectRecord],
    detail: bool,
) -> Result<Vec<Project>, ApiError> {
    let facts = PageFacts::of(state, who, projects).await?;
    Ok(projects.iter().map(|p| view(p, detail, &facts)).collect())
}

/// Whether a project of that name exists.
#[utoipa::path(head, path = "/projects", tag = "project", operation_id = "headProject",
    params(HeadProjectParams),
    responses((status = 200, description = "It exists"), (status = 404, description = "It does not"),
        (status = 401, description = "Sign in first")))]
pub(super) async fn head_project(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<HeadProjectParams>,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(
            &who,
            "checking project names needs a signed-in user".into(),
        ));
    }
    let found = state
        .teams
        .find(&berth_auth::ProjectRef::Name(params.project_name))
        .await?;
    Ok(if found.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response())
}

/// Create a project; a creator who is not a system administrator becomes its project
/// admin.
#[utoipa::path(post, path = "/projects", tag = "project", operation_id = "createProject",
    request_body = ProjectReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn create_project(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<ProjectReq>,
) -> ApiResult {
    if who.is_anonymous() {
        return Err(refused(
            &who,
            "creating a project needs a signed-in user".into(),
        ));
    }
    not_supported_yet(&req)?;
    let name = req.project_name.clone().unwrap_or_default();
    let metadata = req.metadata.clone().unwrap_or_default();
    let public = match metadata.public.as_deref() {
        Some("true") => true,
        Some("false") | None => req.public.unwrap_or(false),
        Some(other) => {
            return Err(bad(format!(
                "metadata.public must be \"true\" or \"false\", not {other:?}"
            )));
        }
    };
    if req.storage_limit.is_some_and(|l| l < -1) {
        return Err(bad(
            "storage_limit is a number of bytes, or -1 for no limit".into(),
        ));
    }
    let mut settings = metadata.to_map();
    if let Some(limit) = req.storage_limit.filter(|l| *l >= 0) {
        if !who.at_system("quota", Verb::Update) {
            return Err(refused(
                &who,
                format!(
                    "only system administrators set a storage_limit; {} is not one (leave it out, or -1)",
                    who.describe()
                ),
            ));
        }
        settings.insert(STORAGE_LIMIT_KEY.into(), limit.to_string());
    }
    let created = state.teams.create(&who, &name, public, settings).await?;
    let by_name = headers
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let location = format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        if by_name {
            created.name.clone()
        } else {
            created.id.to_string()
        }
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// What a request asks of features that arrive later (proxy caches, CVE
/// allowlists): refused clearly rather than ignored.
fn not_supported_yet(req: &ProjectReq) -> Result<(), ApiError> {
    if req.registry_id.is_some() {
        return Err(bad(
            "proxy-cache projects (registry_id) are not supported yet".into(),
        ));
    }
    if req
        .cve_allowlist
        .as_ref()
        .is_some_and(|a| !a.items.is_empty())
    {
        return Err(bad(
            "CVE allowlists are not supported yet; send an empty one or none".into(),
        ));
    }
    Ok(())
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

const READ: Permission = Permission::new(Resource::Project, Verb::Read);
const UPDATE: Permission = Permission::new(Resource::Project, Verb::Update);
const DELETE: Permission = Permission::new(Resource::Project, Verb::Delete);

/// One project.
#[utoipa::path(get, path = "/projects/{project_name_or_id}", tag = "project", operation_id = "getProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, body = Project), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn get_project(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), READ).await?;
    let facts = PageFacts::of(&state, &who, std::slice::from_ref(&p)).await?;
    Ok(axum::Json(view(&p, true, &facts)).into_response())
}

/// Change a project's visibility and metadata (its name stays).
#[utoipa::path(put, path = "/projects/{project_name_or_id}", tag = "project", operation_id = "updateProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    request_body = ProjectReq,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_project(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
    JsonBody(req): JsonBody<ProjectReq>,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), UPDATE).await?;
    not_supported_yet(&req)?;
    let metadata = req.metadata.unwrap_or_default().to_map();
    state.teams.update(&p, req.public, metadata).await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete a project that holds no repositories (412 while it does).
#[utoipa::path(delete, path = "/projects/{project_name_or_id}", tag = "project", operation_id = "deleteProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 412, description = "It still holds repositories", body = Errors)))]
pub(super) async fn delete_project(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), DELETE).await?;
    state.teams.delete(&p).await?;
    Ok(StatusCode::OK.into_response())
}

/// Whether the project could be deleted now, and if not why.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/_deletable", tag = "project",
    operation_id = "getProjectDeletable",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, body = ProjectDeletable), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn get_project_deletable(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult {
    let p = project_for(&state, &who, &project_ref(&headers, &project), DELETE).await?;
    let count = state.teams.repository_count(&p).await?;
    let answer = ProjectDeletable {
        deletable: count == 0,
        message: (count > 0)
            .then(|| format!("the project contains {count} repositories, can not be deleted")),
    };
    Ok(axum::Json(answer).into_response())
}

/// Repositories and members by role.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/summary", tag = "project",
    operation_id = "getProjectSummary",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("X-Is-Resource-Name" = Option<bool>, Header, description = "The path names the project even if it looks a number")),
    responses((status = 200, body = ProjectSummary), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn get_project_summary(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let p = project_for(&state, &who, &project_ref(&headers, &project), READ).await?;
    let mut summary = ProjectSummary {
        repo_count: state.teams.repository_count(&p).await?,
        ..Default::default()
    };
    let rights = state.auth.policy().rights(&who, &p.name).await?;
    if rights.allows(Permission::new(Resource::Member, Verb::List)) {
        let (members, _) = state.teams.members(&p, None, 0, i64::MAX).await?;
        let count = |role: Role| {
            let n = members.iter().filter(|m| m.role == role.id()).count() as i64;
            (n > 0).then_some(n)
        };
        summary.project_admin_count = count(Role::ProjectAdmin);
        summary.maintainer_count = count(Role::Maintainer);
        summary.developer_count = count(Role::Developer);
        summary.guest_count = count(Role::Guest);
        summary.limited_guest_count = count(Role::LimitedGuest);
    }
    if rights.allows(Permission::new(Resource::Quota, Verb::Read)) {
        summary.quota = Some(ProjectSummaryQuota {
            hard: [("storage".to_string(), super::quotas::hard_limit(&p))].into(),
            used: [(
                "storage".to_string(),
                state.teams.storage_used(&p.name).await?,
            )]
            .into(),
        });
    }
    Ok(axum::Json(summary).into_response())
}
