//! `/labels` and `/projects/{p}/repositories/{r}/artifacts/{ref}/labels`: Harbor's labels,
//! registry-wide (`scope` `g`, managed by administrators) or a project's (`p`, managed by
//! its project admins and maintainers), and putting them on artifacts.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Identity, Permission, ProjectRef, Resource, Verb};
use berth_core::labels::{LabelError, LabelSpec};
use berth_meta::{LabelQuery, LabelRecord, LabelScope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, at_system, project_for, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// Harbor's `Label`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct Label {
    #[serde(default)]
    pub(super) id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    color: String,
    /// `g` (registry-wide) or `p` (a project's).
    #[serde(default)]
    scope: String,
    /// The project of a `p` label.
    #[serde(default)]
    project_id: i64,
    #[serde(default, skip_deserializing)]
    creation_time: String,
    #[serde(default, skip_deserializing)]
    update_time: String,
}

pub(super) fn label_view(l: &LabelRecord) -> Label {
    Label {
        id: l.id,
        name: l.name.clone(),
        description: l.description.clone(),
        color: l.color.clone(),
        scope: l.scope.as_str().into(),
        project_id: l.project_id,
        creation_time: timestamp(l.created_at_ms),
        update_time: timestamp(l.updated_at_ms),
    }
}

impl From<LabelError> for ApiError {
    fn from(err: LabelError) -> ApiError {
        let (status, code) = match err {
            LabelError::Registry(e) => return e.into(),
            LabelError::Invalid(_)
            | LabelError::NoSuchProject(_)
            | LabelError::OtherProject { .. } => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            LabelError::NameTaken(_) | LabelError::AlreadyThere(_) => {
                (StatusCode::CONFLICT, "CONFLICT")
            }
            LabelError::NoSuchLabel(_) | LabelError::NotCarried(_) => {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

fn spec(label: &Label) -> LabelSpec {
    LabelSpec {
        name: label.name.clone(),
        description: label.description.clone(),
        color: label.color.clone(),
    }
}

/// Whether `who` may do `verb` to labels of `scope` (of project `project_id`): system
/// administrators for registry-wide ones, the project's roles for its own.
async fn may(
    state: &AppState,
    who: &Identity,
    scope: LabelScope,
    project_id: i64,
    verb: Verb,
) -> Result<(), ApiError> {
    match scope {
        LabelScope::Global => at_system(who, "label", verb),
        LabelScope::Project => {
            let permission = Permission::new(Resource::Label, verb);
            project_for(state, who, &ProjectRef::Id(project_id), permission)
                .await
                .map(|_| ())
        }
    }
}

/// The label, if `who` may do `verb` to it.
async fn label_for(
    state: &AppState,
    who: &Identity,
    id: i64,
    verb: Verb,
) -> Result<LabelRecord, ApiError> {
    let label = state.registry.label(id).await?;
    may(state, who, label.scope, label.project_id, verb).await?;
    Ok(label)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListLabelsParams {
    /// `g` for registry-wide labels, `p` for a project's (with `project_id`).
    scope: Option<String>,
    project_id: Option<i64>,
    /// Labels whose names contain this.
    name: Option<String>,
    /// Accepted and ignored: labels are listed by name.
    q: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// Registry-wide labels (anyone may list them, as in Harbor) or a project's.
#[utoipa::path(get, path = "/labels", tag = "label", operation_id = "ListLabels",
    params(ListLabelsParams),
    responses((status = 200, body = [Label], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn list_labels(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListLabelsParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = (&params.q, &params.sort);
    let given = params.scope.as_deref().unwrap_or_default();
    let scope = LabelScope::parse(given).ok_or_else(|| {
        bad(format!(
            "invalid scope {given:?}: g for registry-wide labels, p for a project's"
        ))
    })?;
    let project_id = match scope {
        LabelScope::Global => 0,
        LabelScope::Project => {
            let id = params
                .project_id
                .filter(|id| *id > 0)
                .ok_or_else(|| bad("a project's labels (scope p) need its project_id"))?;
            may(&state, &who, scope, id, Verb::List).await?;
            id
        }
    };
    let query = LabelQuery {
        scope,
        project_id,
        name_contains: params.name.clone(),
        offset: page.offset(),
        limit: page.limit(),
    };
    let (labels, total) = state.registry.labels(&query).await?;
    let shown: Vec<Label> = labels.iter().map(label_view).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// A new label: `scope` `g` (system administrators) or `p` with `project_id`.
#[utoipa::path(post, path = "/labels", tag = "label", operation_id = "CreateLabel",
    request_body = Label,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn create_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<Label>,
) -> ApiResult {
    let scope = LabelScope::parse(&req.scope).ok_or_else(|| {
        bad(format!(
            "invalid scope {:?}: g for a registry-wide label, p for a project's",
            req.scope
        ))
    })?;
    let project = match scope {
        LabelScope::Global => None,
        LabelScope::Project if req.project_id <= 0 => {
            return Err(bad("a project's label (scope p) needs its project_id"));
        }
        LabelScope::Project => Some(req.project_id),
    };
    may(&state, &who, scope, req.project_id, Verb::Create).await?;
    let created = state.registry.create_label(&spec(&req), project).await?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// One label.
#[utoipa::path(get, path = "/labels/{label_id}", tag = "label", operation_id = "GetLabelByID",
    params(("label_id" = i64, Path, description = "The label's id")),
    responses((status = 200, body = Label), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let label = label_for(&state, &who, id, Verb::Read).await?;
    Ok(axum::Json(label_view(&label)).into_response())
}

/// Change a label's name, description and colour (its scope and project stay).
#[utoipa::path(put, path = "/labels/{label_id}", tag = "label", operation_id = "UpdateLabel",
    params(("label_id" = i64, Path, description = "The label's id")),
    request_body = Label,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn update_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<Label>,
) -> ApiResult {
    label_for(&state, &who, id, Verb::Update).await?;
    state.registry.update_label(id, &spec(&req)).await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete a label; the artifacts that carried it lose it.
#[utoipa::path(delete, path = "/labels/{label_id}", tag = "label", operation_id = "DeleteLabel",
    params(("label_id" = i64, Path, description = "The label's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    label_for(&state, &who, id, Verb::Delete).await?;
    state.registry.delete_label(id).await?;
    Ok(StatusCode::OK.into_response())
}
