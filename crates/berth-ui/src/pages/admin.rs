//! Administration (system administrators): the users, and garbage collection — run it
//! now or as a dry run, and its history with the progress of the run going on.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PageResult, see_other};
use crate::Ui;
use crate::api::{Api, encode};
use crate::format::{bytes, when};
use crate::layout::{page, pager};
use crate::models::{GcRun, User};
use crate::viewer::Viewer;

const PAGE_SIZE: u64 = 25;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct UserSearch {
    name: String,
    page: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GcSchedule {
    schedule: Option<ScheduleShown>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScheduleShown {
    #[serde(rename = "type")]
    kind: String,
    cron: String,
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(search): Query<UserSearch>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let api = Api::new(&ui, &headers);
    let page_no = search.page.unwrap_or(1).max(1);
    let mut path = format!("/users?page={page_no}&page_size={PAGE_SIZE}&sort=username");
    if !search.name.is_empty() {
        path.push_str(&format!(
            "&q={}",
            encode(&format!("username=~{}", search.name))
        ));
    }
    // The users listing is for administrators only: its refusal is the page's.
    let (users, total) = api.listing::<Vec<User>>(&path).await?;
    let total = total.unwrap_or(users.len() as u64);
    let runs: Vec<GcRun> = api.get("/system/gc?page=1&page_size=10").await?;
    let schedule: GcSchedule = api.get("/system/gc/schedule").await.unwrap_or_default();
    let running = runs.iter().any(|r| r.job_status == "Running");
    let link = |n: u64| ui.link(&format!("/admin?name={}&page={n}", encode(&search.name)));
    let body = html! {
        section.card #gc {
            h2 { "Garbage collection" }
            p {
                "Collection removes what no tag reaches any more — untagged manifests and the layers only they used — and returns their space. "
                @match schedule.schedule.as_ref().map(|s| (s.kind.as_str(), s.cron.as_str())) {
                    Some((kind, cron)) if !kind.is_empty() && kind != "None" => {
                        "Scheduled: " strong { (kind) } @if !cron.is_empty() { " (" code { (cron) } ")" } "."
                    }
                    _ => { "No schedule is set; the configuration's background collection still runs if it is on." }
                }
            }
            form.inline method="post" action=(ui.link("/admin/gc")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                button.primary type="submit" name="mode" value="run" disabled[running] { "Run now" }
                button type="submit" name="mode" value="dry-run" disabled[running] { "Dry run" }
                @if running { span.muted { "A collection is running; this page follows it." } }
            }
            (runs_table(&runs))
            @if running {
                // app.js reloads the page while this is here, so the progress moves.
                span hidden data-refresh="3" {}
            }
        }
        section.card #users {
            h2 { "Users" }
            form.toolbar role="search" method="get" action=(ui.link("/admin")) {
                label.visually-hidden for="user-name" { "User name contains" }
                input #user-name type="search" name="name" value=(search.name) placeholder="Filter users";
                button type="submit" { "Apply" }
            }
            @if users.is_empty() {
                p.muted { "No users match." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "User" } th { "Name" } th { "E-mail" } th { "Role" } th { "Since" } } }
                        tbody {
                            @for u in &users {
                                tr {
                                    td { (u.username) }
                                    td { (u.realname) }
                                    td { (u.email) }
                                    td { @if u.sysadmin_flag { span.badge { "administrator" } } @else { "user" } }
                                    td { (when(&u.creation_time)) }
                                }
                            }
                        }
                    }
                }
                (pager(page_no, PAGE_SIZE, total, link))
            }
        }
    };
    Ok(page(&ui, &viewer, "Administration", &[], body))
}

/// One collection's outcome in a few words.
fn outcome(run: &GcRun) -> Markup {
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
    html! {
        @if let Some(p) = run.progress.as_ref().filter(|_| run.job_status == "Running") {
            @let queued = number(p, "queued");
            @let reviewed = number(p, "reviewed");
            span { (p.get("pass").and_then(Value::as_str).unwrap_or("")) " pass: " (reviewed) " of " (queued) " reviewed" }
            meter min="0" max=(queued.max(1)) value=(reviewed) aria-label="Progress of the pass" {}
        } @else if let Some(r) = &run.report {
            @let dry = r.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
            (if dry { "would free " } else { "freed " })
            (bytes(number(r, "bytes_freed")))
            " · " (number(r, "manifests_deleted")) " manifests, " (number(r, "blobs_deleted")) " blobs"
        } @else if let Some(e) = &run.error {
            span.error-text { (e) }
        }
    }
}

/// The collections, newest first (also on the dashboard).
pub(crate) fn runs_table(runs: &[GcRun]) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { "No collection has run yet." }
        } @else {
            div.table-wrap {
                table.runs {
                    thead { tr { th { "Run" } th { "Started" } th { "By" } th { "Status" } th { "Outcome" } } }
                    tbody {
                        @for r in runs {
                            @let dry = r.job_parameters.contains("\"dry_run\":true");
                            tr {
                                td { "#" (r.id) @if dry { " " span.badge { "dry run" } } }
                                td { (when(&r.creation_time)) }
                                td { (r.trigger) }
                                td { span class={ "status " (r.job_status.to_lowercase()) } { (r.job_status) } }
                                td { (outcome(r)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RunGc {
    csrf: String,
    mode: String,
}

pub(crate) async fn run_gc(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<RunGc>,
) -> PageResult {
    let body = json!({
        "schedule": {"type": "Manual"},
        "parameters": {"dry_run": form.mode == "dry-run"},
    });
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(Method::POST, "/system/gc/schedule", Some(body))
        .await?;
    Ok(see_other(&ui.link("/admin#gc")))
}
