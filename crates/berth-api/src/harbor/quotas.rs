//! `/quotas`: each project's storage limit (`hard.storage`, bytes; -1 none) and what it
//! holds (`used.storage`, each blob and manifest once). A quota's id is its project's.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use berth_auth::{Identity, Permission, ProjectQuery, ProjectRecord, ProjectRef, Resource, Verb};
use berth_core::quota::STORAGE_LIMIT;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, project_for, refused, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult};

/// Harbor's `Quota`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Quota {
    id: i64,
    #[serde(rename = "ref")]
    reference: QuotaRef,
    hard: BTreeMap<String, i64>,
    used: BTreeMap<String, i64>,
    creation_time: String,
    update_time: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuotaRef {
    id: i64,
    name: String,
    owner_name: String,
}

/// Harbor's `QuotaUpdateReq`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct QuotaUpdateReq {
    hard: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuotasParams {
    page: Option<i64>,
    page_size: Option<i64>,
    /// `project` (the only kind there is).
    reference: Option<String>,
    /// The project's id.
    reference_id: Option<String>,
    /// Accepted and ignored: by project name.
    sort: Option<String>,
}

const QUOTA_READ: Permission = Permission::new(Resource::Quota, Verb::Read);

/// The limit a project's metadata holds (-1: none).
pub(super) fn hard_limit(p: &ProjectRecord) -> i64 {
    p.metadata
        .get(STORAGE_LIMIT)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|l| *l >= 0)
        .unwrap_or(-1)
}

pub(super) async fn quota_of(state: &AppState, p: &ProjectRecord) -> Result<Quota, ApiError> {
    let used = state.teams.storage_used(&p.name).await?;
    Ok(Quota {
        id: p.id,
        reference: QuotaRef {
            id: p.id,
            name: p.name.clone(),
            owner_name: p.owner.clone().unwrap_or_default(),
        },
        hard: [("storage".to_string(), hard_limit(p))].into(),
        used: [("storage".to_string(), used)].into(),
        creation_time: timestamp(p.created_at_ms),
        update_time: timestamp(p.updated_at_ms),
    })
}

fn administrators_only(who: &Identity, verb: Verb) -> Result<(), ApiError> {
    if who.at_system("quota", verb) {
        Ok(())
    } else {
        Err(refused(
            who,
            format!(
                "{} may not {} quotas; that needs a system administrator",
                who.describe(),
                verb.as_str()
            ),
        ))
    }
}

/// The projects' quotas (administrators).
#[utoipa::path(get, path = "/quotas", tag = "quota", operation_id = "listQuotas",
    params(ListQuotasParams),
    responses((status = 200, body = [Quota], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn list_quotas(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListQuotasParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    administrators_only(&who, Verb::List)?;
    let _ = &params.sort;
    let page = Page::at(params.page, params.page_size)?;
    if params.reference.as_deref().is_some_and(|r| r != "project") {
        return Ok(paging::list(&uri, &Vec::<Quota>::new(), 0, page));
    }
    let (projects, total) = match params.reference_id.as_deref() {
        Some(id) => {
            let found = match id.parse::<i64>() {
                Ok(id) => state.teams.find(&ProjectRef::Id(id)).await?,
                Err(_) => None,
            };
            let total = i64::from(found.is_some());
            (found.into_iter().collect::<Vec<_>>(), total)
        }
        None => {
            state
                .teams
                .list(
                    &who,
                    ProjectQuery {
                        offset: page.offset(),
                        limit: page.limit(),
                        ..Default::default()
                    },
                )
                .await?
        }
    };
    let mut quotas = Vec::with_capacity(projects.len());
    for p in &projects {
        quotas.push(quota_of(&state, p).await?);
    }
    Ok(paging::list(&uri, &quotas, total, page))
}

/// One project's quota (its members may read it).
#[utoipa::path(get, path = "/quotas/{id}", tag = "quota", operation_id = "getQuota",
    params(("id" = i64, Path, description = "The quota's (its project's) id")),
    responses((status = 200, body = Quota), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_quota(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let p = project_for(&state, &who, &ProjectRef::Id(id), QUOTA_READ).await?;
    Ok(axum::Json(quota_of(&state, &p).await?).into_response())
}

/// Set a project's storage limit: `{"hard": {"storage": <bytes>}}`, -1 for none.
#[utoipa::path(put, path = "/quotas/{id}", tag = "quota", operation_id = "updateQuota",
    params(("id" = i64, Path, description = "The quota's (its project's) id")),
    request_body = QuotaUpdateReq,
    responses((status = 200, description = "Set"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_quota(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<QuotaUpdateReq>,
) -> ApiResult {
    administrators_only(&who, Verb::Update)?;
    let Some(&storage) = req.hard.get("storage") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "give hard.storage: the limit in bytes, or -1 for none",
        ));
    };
    let p = state.teams.get(&ProjectRef::Id(id)).await?;
    state.teams.set_storage_limit(&p, storage).await?;
    tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), project = p.name, storage, "quota set");
    Ok(StatusCode::OK.into_response())
}
