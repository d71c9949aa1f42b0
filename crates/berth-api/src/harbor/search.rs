//! `/search`: the projects and repositories whose names contain a text, among those the
//! caller sees.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use berth_auth::{ProjectQuery, Teams};
use berth_meta::{Order, RepositoryKey, RepositoryQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::{Errors, Project};
use super::{Caller, Params, projects};
use crate::AppState;
use crate::response::{ApiError, ApiResult};

/// How many projects and how many repositories a search returns at most, by name. Harbor
/// returns every match; on a registry of thousands that is megabytes for a search box.
const MOST: i64 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// The text that names must contain.
    q: Option<String>,
}

/// Harbor's `Search`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Search {
    project: Vec<Project>,
    repository: Vec<SearchRepository>,
}

/// Harbor's `SearchRepository`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SearchRepository {
    project_id: i64,
    project_name: String,
    project_public: bool,
    repository_name: String,
    pull_count: i64,
    artifact_count: i64,
}

/// Projects and repositories whose names contain `q` (at most 100 of each, by name).
#[utoipa::path(get, path = "/search", tag = "search", operation_id = "search",
    params(SearchParams),
    responses((status = 200, body = Search), (status = 422, body = Errors)))]
pub(super) async fn search(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<SearchParams>,
) -> ApiResult {
    let Some(text) = params.q else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "q is required: the text that project and repository names must contain",
        ));
    };
    let part = Some(text).filter(|t| !t.is_empty());
    let query = ProjectQuery {
        name_contains: part.clone(),
        limit: MOST,
        ..ProjectQuery::default()
    };
    let (found, _) = state.teams.list(&who, query).await?;
    let project = projects::views(&state, &who, &found, true).await?;
    let query = RepositoryQuery {
        name_contains: part,
        visible: Teams::visibility(&who),
        order: Order {
            key: RepositoryKey::Name,
            descending: false,
        },
        limit: MOST,
        ..RepositoryQuery::default()
    };
    let (rows, _) = state.registry.repositories(&query).await?;
    let repository = rows
        .into_iter()
        .map(|r| SearchRepository {
            project_id: r.project_id,
            project_name: r.name.split('/').next().unwrap_or_default().to_string(),
            project_public: r.project_public,
            repository_name: r.name,
            pull_count: r.pull_count,
            artifact_count: r.artifact_count,
        })
        .collect();
    Ok(axum::Json(Search {
        project,
        repository,
    })
    .into_response())
}
