//! `/projects/{p}/metadatas`: a project's Harbor settings one key at a time (`public`,
//! `auto_scan`, `prevent_vul`, `severity`, …); the rules are `berth_auth::projects`'.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use berth_auth::{ProjectRecord, Resource, Verb};

use super::models::{Errors, ProjectMetadata};
use super::{Caller, JsonBody, named_project};
use crate::AppState;
use crate::response::{ApiError, ApiResult};

/// The project's settings as Harbor names them (berth's own keys left out; `public`
/// from the project's visibility).
fn settings(p: &ProjectRecord) -> BTreeMap<String, String> {
    ProjectMetadata {
        public: Some(p.public.to_string()),
        ..ProjectMetadata::from_map(&p.metadata)
    }
    .to_map()
}

/// The one key and value a body names (Harbor takes exactly one per request).
fn one_pair(body: BTreeMap<String, String>) -> Result<(String, String), ApiError> {
    let mut pairs = body.into_iter();
    match (pairs.next(), pairs.next()) {
        (Some(pair), None) => Ok(pair),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "give exactly one key and its value, e.g. {\"auto_scan\": \"true\"}",
        )),
    }
}

/// The project's settings.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/metadatas/", tag = "projectMetadata",
    operation_id = "listProjectMetadatas",
    params(("project_name_or_id" = String, Path, description = "The project's name or id")),
    responses((status = 200, body = BTreeMap<String, String>), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_project_metadatas(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Metadata, Verb::List),
    )
    .await?;
    Ok(axum::Json(settings(&p)).into_response())
}

/// Add a setting the project does not have yet (`409` if it does).
#[utoipa::path(post, path = "/projects/{project_name_or_id}/metadatas/", tag = "projectMetadata",
    operation_id = "addProjectMetadatas",
    params(("project_name_or_id" = String, Path, description = "The project's name or id")),
    request_body = BTreeMap<String, String>,
    responses((status = 200, description = "Added"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn add_project_metadatas(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    JsonBody(body): JsonBody<BTreeMap<String, String>>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Metadata, Verb::Create),
    )
    .await?;
    let (key, value) = one_pair(body)?;
    state.teams.set_metadata(&p, &key, &value, true).await?;
    Ok(StatusCode::OK.into_response())
}

/// One setting, as `{key: value}`.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/metadatas/{meta_name}",
    tag = "projectMetadata", operation_id = "getProjectMetadata",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("meta_name" = String, Path, description = "The setting's key")),
    responses((status = 200, body = BTreeMap<String, String>), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_project_metadata(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, key)): Path<(String, String)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Metadata, Verb::Read),
    )
    .await?;
    let Some(value) = settings(&p).remove(&key) else {
        return Err(
            berth_auth::AuthError::from(berth_auth::ProjectError::NoSuchMetadata {
                project: p.name,
                key,
            })
            .into(),
        );
    };
    Ok(axum::Json(BTreeMap::from([(key, value)])).into_response())
}

/// Change one setting: the body is `{key: value}` with the path's key.
#[utoipa::path(put, path = "/projects/{project_name_or_id}/metadatas/{meta_name}",
    tag = "projectMetadata", operation_id = "updateProjectMetadata",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("meta_name" = String, Path, description = "The setting's key")),
    request_body = BTreeMap<String, String>,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_project_metadata(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, key)): Path<(String, String)>,
    JsonBody(mut body): JsonBody<BTreeMap<String, String>>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Metadata, Verb::Update),
    )
    .await?;
    let Some(value) = body.remove(&key) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("the body must give {key}'s new value: {{\"{key}\": \"…\"}}"),
        ));
    };
    state.teams.set_metadata(&p, &key, &value, false).await?;
    Ok(StatusCode::OK.into_response())
}

/// Remove one setting (`public` stays: set it instead).
#[utoipa::path(delete, path = "/projects/{project_name_or_id}/metadatas/{meta_name}",
    tag = "projectMetadata", operation_id = "deleteProjectMetadata",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("meta_name" = String, Path, description = "The setting's key")),
    responses((status = 200, description = "Removed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_project_metadata(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, key)): Path<(String, String)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Metadata, Verb::Delete),
    )
    .await?;
    state.teams.remove_metadata(&p, &key).await?;
    Ok(StatusCode::OK.into_response())
}
