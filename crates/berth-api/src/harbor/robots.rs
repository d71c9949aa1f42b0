//! `/robots`: robot accounts, system-level and project-level (Harbor's v2 robots).

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::robots::{Level, RobotPermission, RobotSpec, RobotUpdate, RobotView};
use berth_auth::{Identity, Permission, ProjectRecord, ProjectRef, Resource, Verb};
use berth_meta::RobotQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, project_for, q, refused, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// A robot as Harbor shows it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Robot {
    id: i64,
    name: String,
    description: String,
    level: String,
    duration: i64,
    editable: bool,
    disable: bool,
    expires_at: i64,
    permissions: Vec<RobotPermission>,
    creator_type: String,
    creator_ref: i64,
    creation_time: String,
    update_time: String,
}

impl From<&RobotView> for Robot {
    fn from(v: &RobotView) -> Robot {
        let r = &v.record;
        Robot {
            id: r.id,
            name: r.name.clone(),
            description: r.description.clone(),
            level: v.level.as_str().into(),
            duration: r.duration_days,
            editable: true,
            disable: r.disabled,
            expires_at: r.expires_at,
            permissions: v.permissions.clone(),
            creator_type: r.creator_type.clone(),
            creator_ref: r.creator_ref,
            creation_time: timestamp(r.created_at_ms),
            update_time: timestamp(r.updated_at_ms),
        }
    }
}

/// Harbor's `RobotCreate`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RobotCreate {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    duration: i64,
    #[serde(default)]
    permissions: Vec<RobotPermission>,
}

/// Harbor's `RobotCreated`: the only answer that holds the secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotCreated {
    id: i64,
    name: String,
    secret: String,
    creation_time: String,
    expires_at: i64,
}

/// Harbor's `Robot` as a `PUT` body: what may change, and the name and level that may not.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RobotChange {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    level: String,
    duration: Option<i64>,
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    permissions: Vec<RobotPermission>,
}

/// Harbor's `RobotSec`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct RobotSec {
    #[serde(default)]
    secret: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListRobotsParams {
    /// `Level=system` (the default) or `Level=project,ProjectID=<id>`; `name=~part`.
    q: Option<String>,
    /// Accepted and ignored: robots are listed by id.
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

const fn robot(verb: Verb) -> Permission {
    Permission::new(Resource::Robot, verb)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// Whether `who` may do `verb` on system-level robots.
fn system_robots(who: &Identity, verb: Verb) -> Result<(), ApiError> {
    if who.at_system("robot", verb) {
        Ok(())
    } else {
        Err(refused(
            who,
            format!(
                "{} may not {} system-level robots; that needs a system administrator",
                who.describe(),
                verb.as_str()
            ),
        ))
    }
}

/// The robot `id`, if `who` may do `verb` on it (in its project, or at the system level),
/// and its project. As in Harbor, a missing robot is a 404 before any check.
async fn robot_for(
    state: &AppState,
    who: &Identity,
    id: i64,
    verb: Verb,
) -> Result<(RobotView, Option<ProjectRecord>), ApiError> {
    let view = state.robots.get(id).await?;
    let project = match view.record.project_id {
        Some(project) => {
            Some(project_for(state, who, &ProjectRef::Id(project), robot(verb)).await?)
        }
        None => {
            system_robots(who, verb)?;
            None
        }
    };
    Ok((view, project))
}

/// The robots of one level: system-level ones, or one project's.
#[utoipa::path(get, path = "/robots", tag = "robot", operation_id = "ListRobot",
    params(ListRobotsParams),
    responses((status = 200, body = [Robot], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 422, body = Errors)))]
pub(super) async fn list_robots(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListRobotsParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = &params.sort;
    if who.is_anonymous() {
        return Err(refused(
            &who,
            "listing robots needs a signed-in user".into(),
        ));
    }
    let terms = q::parse(params.q.as_deref())?;
    let level = match terms.get("Level") {
        None => Level::System,
        Some(t) => Level::parse(t.exact().unwrap_or_default())
            .map_err(|_| bad("bad request error level input: use Level=system or Level=project"))?,
    };
    let project_id = match level {
        Level::System => {
            system_robots(&who, Verb::List)?;
            None
        }
        Level::Project => {
            let id = terms
                .get("ProjectID")
                .ok_or_else(|| bad("must with project ID when to query project robots: add ProjectID=<id> to q"))?
                .exact()
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|id| *id > 0)
                .ok_or_else(|| bad("ProjectID must be a positive integer"))?;
            let p = project_for(&state, &who, &ProjectRef::Id(id), robot(Verb::List)).await?;
            Some(p.id)
        }
    };
    let name_contains = terms.get("name").map(|t| match t {
        q::Term::Fuzzy(part) => part.clone(),
        t => t.exact().unwrap_or_default().to_string(),
    });
    let (robots, total) = state
        .robots
        .list(&RobotQuery {
            project_id,
            name_contains,
            offset: page.offset(),
            limit: page.limit(),
        })
        .await?;
    let shown: Vec<Robot> = robots.iter().map(Robot::from).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// Create a robot; the answer holds its secret, which is never shown again.
#[utoipa::path(post, path = "/robots", tag = "robot", operation_id = "CreateRobot",
    request_body = RobotCreate,
    responses((status = 201, body = RobotCreated, headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn create_robot(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<RobotCreate>,
) -> ApiResult {
    let level = Level::parse(&req.level)?;
    let project = match level {
        Level::System => {
            system_robots(&who, Verb::Create)?;
            None
        }
        Level::Project => {
            let name = berth_auth::Robots::project_named(&req.permissions)
                .ok_or(berth_auth::RobotError::NoPermissions)?;
            let project_ref = ProjectRef::Name(name.to_string());
            Some(project_for(&state, &who, &project_ref, robot(Verb::Create)).await?)
        }
    };
    let spec = RobotSpec {
        name: req.name,
        description: req.description,
        level,
        duration: req.duration,
        disable: req.disable,
        permissions: req.permissions,
    };
    let (view, secret) = state.robots.create(&who, &spec, project.as_ref()).await?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), view.record.id);
    let body = RobotCreated {
        id: view.record.id,
        name: view.record.name.clone(),
        secret,
        creation_time: timestamp(view.record.created_at_ms),
        expires_at: view.record.expires_at,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, hv(location))],
        axum::Json(body),
    )
        .into_response())
}

/// One robot.
#[utoipa::path(get, path = "/robots/{robot_id}", tag = "robot", operation_id = "GetRobotByID",
    params(("robot_id" = i64, Path, description = "The robot's id")),
    responses((status = 200, body = Robot), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_robot(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let (view, _) = robot_for(&state, &who, id, Verb::Read).await?;
    Ok(axum::Json(Robot::from(&view)).into_response())
}

/// Change a robot's description, duration, switch and permissions (its name, level and
/// project stay).
#[utoipa::path(put, path = "/robots/{robot_id}", tag = "robot", operation_id = "UpdateRobot",
    params(("robot_id" = i64, Path, description = "The robot's id")),
    request_body = RobotChange,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_robot(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<RobotChange>,
) -> ApiResult {
    let (view, project) = robot_for(&state, &who, id, Verb::Update).await?;
    let change = RobotUpdate {
        name: req.name,
        level: req.level,
        description: req.description,
        duration: req.duration,
        disable: req.disable,
        permissions: req.permissions,
    };
    state
        .robots
        .update(&who, &view, &change, project.as_ref())
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// A new secret: the one given (8-128 characters with upper- and lower-case letters and a
/// digit; the answer's `secret` is then empty), or a generated one, returned.
#[utoipa::path(patch, path = "/robots/{robot_id}", tag = "robot", operation_id = "RefreshSec",
    params(("robot_id" = i64, Path, description = "The robot's id")),
    request_body = RobotSec,
    responses((status = 200, body = RobotSec), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn refresh_robot_secret(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<RobotSec>,
) -> ApiResult {
    let (view, _) = robot_for(&state, &who, id, Verb::Update).await?;
    let shown = state
        .robots
        .refresh_secret(&who, &view.record, Some(req.secret.as_str()))
        .await?;
    Ok(axum::Json(RobotSec {
        secret: shown.unwrap_or_default(),
    })
    .into_response())
}

/// Delete a robot; it cannot sign in again and its tokens stop at their next write.
#[utoipa::path(delete, path = "/robots/{robot_id}", tag = "robot", operation_id = "DeleteRobot",
    params(("robot_id" = i64, Path, description = "The robot's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_robot(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let (view, _) = robot_for(&state, &who, id, Verb::Delete).await?;
    state.robots.delete(&who, &view.record).await?;
    Ok(StatusCode::OK.into_response())
}
