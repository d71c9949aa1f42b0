//! `/system/gc`: garbage collection as Harbor's API shows it — the run history (berth's
//! lifecycle runs of kind `gc`), one run and its log, the schedule, and starting a run.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Identity, Verb};
use berth_core::gc::GcReport;
use berth_core::gc_schedule::{GcSchedule, GcScheduleError, ScheduleKind};
use berth_core::lifecycle::{GcProgress, Lifecycle, Trigger};
use berth_meta::LifecycleRun;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, refused, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult};

/// Harbor's `ScheduleObj`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct ScheduleObj {
    /// `Manual` runs now; `Hourly`, `Daily`, `Weekly`, `Custom` (or `Schedule`) set a
    /// cron schedule; `None` removes it.
    #[serde(rename = "type", default)]
    kind: String,
    /// Five fields, or Harbor's six with seconds first (a plain number); empty takes the
    /// type's usual time (`Hourly`: `0 0 * * * *`, `Daily`: `0 0 0 * * *`, `Weekly`:
    /// `0 0 0 * * 0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cron: String,
    /// When the schedule next runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_scheduled_time: Option<String>,
}

/// Harbor's `GCHistory`: one collection.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GcHistory {
    id: i64,
    job_name: String,
    /// `MANUAL` (the API or the command line) or `SCHEDULE`.
    job_kind: String,
    /// The run's parameters as a JSON string.
    job_parameters: String,
    schedule: ScheduleObj,
    /// `Running`, `Success` or `Error`.
    job_status: String,
    deleted: bool,
    creation_time: String,
    update_time: String,
    /// berth's: who started it — `cli`, `api`, `schedule` (background collection) or
    /// `cron` (the schedule set through this API).
    trigger: String,
    /// berth's: what it deleted (or would have), once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    report: Option<Value>,
    /// berth's: why it failed or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// berth's: where it stands while this process runs it (`pass`, `queued`,
    /// `reviewed`, `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    progress: Option<GcProgress>,
}

/// Harbor's `Schedule` as a request body.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ScheduleReq {
    #[serde(default)]
    schedule: ScheduleObj,
    /// `delete_untagged`, `dry_run` (booleans); `workers` (1–10) is accepted and unused;
    /// berth's `grace` (a duration such as `0s`) overrides `berth.gc.grace` for a manual
    /// run.
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HistoryParams {
    /// Accepted and ignored: newest first.
    q: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// A lifecycle run's status in Harbor's words.
pub(super) fn run_status(run: &LifecycleRun) -> &'static str {
    match (run.finished_at_ms, &run.error) {
        (None, _) => "Running",
        (Some(_), Some(_)) if run.stop_requested => "Stopped",
        (Some(_), Some(_)) => "Error",
        (Some(_), None) => "Success",
    }
}

fn history(lifecycle: &Lifecycle, run: &LifecycleRun) -> GcHistory {
    let kind = if Trigger::scheduled(&run.trigger) {
        "SCHEDULE"
    } else {
        "MANUAL"
    };
    GcHistory {
        id: run.id,
        job_name: "GARBAGE_COLLECTION".into(),
        job_kind: kind.into(),
        job_parameters: serde_json::json!({ "dry_run": run.dry_run }).to_string(),
        schedule: ScheduleObj {
            kind: if kind == "SCHEDULE" {
                "Custom"
            } else {
                "Manual"
            }
            .into(),
            cron: String::new(),
            next_scheduled_time: None,
        },
        job_status: run_status(run).into(),
        deleted: false,
        creation_time: timestamp(run.started_at_ms),
        update_time: timestamp(
            run.finished_at_ms
                .or(run.heartbeat_at_ms)
                .unwrap_or(run.started_at_ms),
        ),
        trigger: run.trigger.clone(),
        report: run
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        error: run.error.clone(),
        progress: lifecycle.progress_of(run),
    }
}

/// The lifecycle, if `who` may do `verb` on `what` (garbage collection, the configured
/// retention): administrators.
pub(super) fn lifecycle_for(
    state: &AppState,
    who: &Identity,
    verb: Verb,
    what: &str,
) -> Result<Arc<Lifecycle>, ApiError> {
    if !who.at_system("garbage-collection", verb) {
        return Err(refused(
            who,
            format!(
                "{} may not {} {what}; that needs a system administrator",
                who.describe(),
                verb.as_str()
            ),
        ));
    }
    state.lifecycle.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} is not available here"),
        )
    })
}

fn allowed(state: &AppState, who: &Identity, verb: Verb) -> Result<Arc<Lifecycle>, ApiError> {
    lifecycle_for(state, who, verb, "garbage collection")
}

async fn run_of(lifecycle: &Lifecycle, id: i64) -> Result<LifecycleRun, ApiError> {
    lifecycle.run("gc", id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("there is no garbage collection {id}"),
        )
    })
}

/// The collections run so far, newest first.
#[utoipa::path(get, path = "/system/gc", tag = "gc", operation_id = "getGCHistory",
    params(HistoryParams),
    responses((status = 200, body = [GcHistory], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn get_gc_history(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<HistoryParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = (&params.q, &params.sort);
    let lifecycle = allowed(&state, &who, Verb::List)?;
    let (runs, total) = lifecycle.runs("gc", 0, page.offset(), page.limit()).await?;
    let shown: Vec<GcHistory> = runs.iter().map(|r| history(&lifecycle, r)).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// One collection.
#[utoipa::path(get, path = "/system/gc/{gc_id}", tag = "gc", operation_id = "getGC",
    params(("gc_id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = GcHistory), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_gc(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let lifecycle = allowed(&state, &who, Verb::Read)?;
    let run = run_of(&lifecycle, id).await?;
    Ok(axum::Json(history(&lifecycle, &run)).into_response())
}

/// What one collection did, as text.
#[utoipa::path(get, path = "/system/gc/{gc_id}/log", tag = "gc", operation_id = "getGCLog",
    params(("gc_id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_gc_log(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let lifecycle = allowed(&state, &who, Verb::Read)?;
    let run = run_of(&lifecycle, id).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        log_text(&run),
    )
        .into_response())
}

fn log_text(run: &LifecycleRun) -> String {
    let mut log = format!(
        "{} garbage collection {} started ({}{})\n",
        timestamp(run.started_at_ms),
        run.id,
        run.trigger,
        if run.dry_run { ", dry run" } else { "" }
    );
    let report: Option<GcReport> = run
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    if let Some(r) = report {
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        log.push_str(&format!(
            "{verb} {} manifests and {} blobs, {} bytes\n",
            r.manifests_deleted, r.blobs_deleted, r.bytes_freed
        ));
        for m in &r.manifests {
            log.push_str(&format!("manifest {m}\n"));
        }
        for b in &r.blobs {
            log.push_str(&format!("blob {b}\n"));
        }
        if r.waiting_manifests + r.waiting_blobs > 0 {
            log.push_str(&format!(
                "{} manifests and {} blobs wait for their grace period\n",
                r.waiting_manifests, r.waiting_blobs
            ));
        }
    }
    if let Some(error) = &run.error {
        log.push_str(&format!("failed: {error}\n"));
    }
    match run.finished_at_ms {
        Some(at) => log.push_str(&format!("{} finished\n", timestamp(at))),
        None => log.push_str("still running\n"),
    }
    log
}

/// The schedule set through this API (with its parameters and next time); without one,
/// `Custom` with `cron: "@every <seconds>s"` when the configuration's background
/// collection runs (`berth.gc.enabled`, `berth.gc.interval`), else `None`.
#[utoipa::path(get, path = "/system/gc/schedule", tag = "gc", operation_id = "getGCSchedule",
    responses((status = 200, body = GcHistory), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub(super) async fn get_gc_schedule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    let lifecycle = allowed(&state, &who, Verb::Read)?;
    let (schedule, delete_untagged, dry_run) = match lifecycle.gc_schedule().await? {
        Some(set) => (
            ScheduleObj {
                kind: set.kind.as_str().into(),
                cron: set.cron.clone(),
                next_scheduled_time: set.next_after_ms(berth_meta::now_ms()).map(timestamp),
            },
            set.delete_untagged,
            set.dry_run,
        ),
        None => (
            match lifecycle.gc_every {
                Some(every) => ScheduleObj {
                    kind: "Custom".into(),
                    cron: format!("@every {}s", every.as_secs()),
                    next_scheduled_time: None,
                },
                None => ScheduleObj {
                    kind: "None".into(),
                    ..ScheduleObj::default()
                },
            },
            lifecycle.gc.rules.delete_untagged,
            false,
        ),
    };
    let parameters = serde_json::json!({
        "delete_untagged": delete_untagged,
        "dry_run": dry_run,
    });
    Ok(axum::Json(serde_json::json!({
        "job_name": "GARBAGE_COLLECTION",
        "job_parameters": parameters.to_string(),
        "schedule": schedule,
    }))
    .into_response())
}

fn flag(parameters: &Map<String, Value>, key: &str, default: bool) -> Result<bool, ApiError> {
    match parameters.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!(
            "parameters.{key} is {other}: use true or false"
        ))),
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// berth's `grace` parameter: how long an unreferenced manifest or blob is kept (a Go
/// duration, e.g. `24h`, `0s`), instead of the configuration's `berth.gc.grace`.
fn grace(parameters: &Map<String, Value>) -> Result<Option<std::time::Duration>, ApiError> {
    match parameters.get("grace") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => berth_config::parse_go_duration(text)
            .map(Some)
            .map_err(|e| {
                bad(format!(
                    "parameters.grace {text:?}: {e} (e.g. 24h, 30m, 0s)"
                ))
            }),
        Some(other) => Err(bad(format!(
            "parameters.grace is {other}: give a duration such as \"24h\" or \"0s\""
        ))),
    }
}

/// Harbor's `workers`: accepted from 1 to 10, and unused (berth's collection is one pass
/// over queues in the database).
fn check_workers(parameters: &Map<String, Value>) -> Result<(), ApiError> {
    match parameters.get("workers") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|w| (1..=10).contains(&w)) => Ok(()),
        Some(other) => Err(bad(format!(
            "Error: Invalid number of workers:{other}. Workers must be greater than 0 and less than or equal to 10."
        ))),
    }
}

impl From<GcScheduleError> for ApiError {
    fn from(err: GcScheduleError) -> ApiError {
        match err {
            GcScheduleError::Registry(e) => e.into(),
            cron @ GcScheduleError::Cron(_) => bad(cron.to_string()),
        }
    }
}

/// What a schedule request did.
enum Kicked {
    Started(i64),
    Scheduled,
}

/// Harbor's one handling of `POST` and `PUT /system/gc/schedule`: `Manual` runs now,
/// `None` removes the schedule, the others set it.
async fn kick(
    state: &AppState,
    who: &Identity,
    verb: Verb,
    req: ScheduleReq,
) -> Result<Kicked, ApiError> {
    let lifecycle = allowed(state, who, verb)?;
    check_workers(&req.parameters)?;
    let dry_run = flag(&req.parameters, "dry_run", false)?;
    let delete_untagged = flag(
        &req.parameters,
        "delete_untagged",
        lifecycle.gc.rules.delete_untagged,
    )?;
    match req.schedule.kind.as_str() {
        "Manual" => {
            if lifecycle.gc_running() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    "a garbage collection is running; wait for it to finish",
                ));
            }
            let mut options = lifecycle.gc;
            options.dry_run = dry_run;
            options.rules.delete_untagged = delete_untagged;
            if let Some(grace) = grace(&req.parameters)? {
                options.grace = grace;
            }
            let id = lifecycle.start_collection(options, Trigger::Api).await?;
            Ok(Kicked::Started(id))
        }
        "None" => {
            lifecycle.set_gc_schedule(None).await?;
            Ok(Kicked::Scheduled)
        }
        other => {
            let kind = ScheduleKind::parse(other).ok_or_else(|| {
                bad(format!(
                    "schedule type {other:?} is not valid: use Manual, Hourly, Daily, Weekly, Custom or None"
                ))
            })?;
            let schedule = GcSchedule::new(kind, &req.schedule.cron, delete_untagged, dry_run)?;
            lifecycle.set_gc_schedule(Some(&schedule)).await?;
            Ok(Kicked::Scheduled)
        }
    }
}

/// Start a collection now (`schedule.type: Manual`: `201` with `Location` naming the run,
/// which goes on in the background; `409` while one runs) or set the schedule (`Hourly`,
/// `Daily`, `Weekly`, `Custom`; `None` removes it).
#[utoipa::path(post, path = "/system/gc/schedule", tag = "gc", operation_id = "createGCSchedule",
    request_body = ScheduleReq,
    responses((status = 201, description = "Started or scheduled", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn create_gc_schedule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    OriginalUri(uri): OriginalUri,
    JsonBody(req): JsonBody<ScheduleReq>,
) -> ApiResult {
    match kick(&state, &who, Verb::Create, req).await? {
        Kicked::Started(id) => {
            let gc = uri
                .path()
                .trim_end_matches('/')
                .trim_end_matches("/schedule");
            let location = format!("{gc}/{id}");
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, crate::response::hv(location))],
            )
                .into_response())
        }
        Kicked::Scheduled => Ok(StatusCode::CREATED.into_response()),
    }
}

/// As `POST`: `Manual` runs now, the other types set or remove the schedule; `200`.
#[utoipa::path(put, path = "/system/gc/schedule", tag = "gc", operation_id = "updateGCSchedule",
    request_body = ScheduleReq,
    responses((status = 200, description = "Started or scheduled"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn update_gc_schedule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<ScheduleReq>,
) -> ApiResult {
    kick(&state, &who, Verb::Update, req).await?;
    Ok(StatusCode::OK.into_response())
}

/// Stop a running collection: it stops after the batch at hand (what it deleted stays
/// deleted) and shows `Stopped`. A finished one has nothing to stop.
#[utoipa::path(put, path = "/system/gc/{gc_id}", tag = "gc", operation_id = "stopGC",
    params(("gc_id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "Asked to stop"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn stop_gc(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    let lifecycle = allowed(&state, &who, Verb::Stop)?;
    run_of(&lifecycle, id).await?;
    lifecycle.stop_run("gc", id).await?;
    Ok(StatusCode::OK.into_response())
}
