//! Administration (system administrators): garbage collection — run it now or as a dry
//! run, and its history with the progress of the run going on —, sign-in tests, the
//! users, the access sections of [`super::system_access`], and the settings.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{PageResult, see_other};
use crate::Ui;
use crate::api::{Api, encode};
use crate::format::{bytes, when};
use crate::layout::{notice, page, pager};
use crate::models::SystemInfo;
use crate::models::{GcRun, Quota, User};
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct Setting {
    value: Value,
}

fn auth_mode_text(mode: &str) -> &'static str {
    match mode {
        "db_auth" => "berth's own users and passwords",
        "ldap_auth" => "berth's own users and the LDAP directory",
        "oidc_auth" => "berth's own users and the OIDC provider (single sign-on)",
        "htpasswd" => "the htpasswd file",
        _ => "no passwords (authentication is off or external)",
    }
}

fn setting_text(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "—".into(),
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
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
    let info: SystemInfo = api.get("/systeminfo").await.unwrap_or_default();
    let (groups, robots) = futures_util::future::join(
        super::system_access::groups(&ui, &api, &info.auth_mode, &viewer.csrf),
        super::system_access::robots(&ui, &api, &viewer.csrf),
    )
    .await;
    let settings: BTreeMap<String, Setting> = api.get("/configurations").await.unwrap_or_default();
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
            p { a href=(ui.link("/admin/storage")) { "Storage by project →" } }
            @if running {
                // app.js reloads the page while this is here, so the progress moves.
                span hidden data-refresh="3" {}
            }
        }
        section.card #sign-in-methods {
            h2 { "Sign-in" }
            p { "People sign in with " strong { (auth_mode_text(&info.auth_mode)) } "." }
            @if info.auth_mode == "ldap_auth" || info.auth_mode == "oidc_auth" {
                form.inline method="post" action=(ui.link("/admin/test-sign-in")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    @if info.auth_mode == "ldap_auth" {
                        button type="submit" name="what" value="ldap" #test-ldap { "Test the LDAP connection" }
                    } @else {
                        button type="submit" name="what" value="oidc" #test-oidc { "Test the OIDC provider" }
                    }
                }
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
                p.muted {
                    @if search.name.is_empty() { "No users besides the first administrator (whom Harbor's listing leaves out too)." }
                    @else { "No users match." }
                }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "User" } th { "Name" } th { "E-mail" } th { "Role" } th { "Since" } th { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for u in &users {
                                tr {
                                    td { (u.username) }
                                    td { (u.realname) }
                                    td { (u.email) }
                                    td { @if u.sysadmin_flag { span.badge { "administrator" } } @else { "user" } }
                                    td { (when(&u.creation_time)) }
                                    td.actions {
                                        form method="post" action=(ui.link(&format!("/admin/users/{}/admin", u.user_id))) {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            @if u.sysadmin_flag {
                                                button.small type="submit" name="admin" value="false" aria-label={ "Make " (u.username) " a user" } { "Make user" }
                                            } @else {
                                                button.small type="submit" name="admin" value="true" aria-label={ "Make " (u.username) " an administrator" } { "Make administrator" }
                                            }
                                        }
                                        " "
                                        form method="post" action=(ui.link(&format!("/admin/users/{}/delete", u.user_id))) {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button.danger.small type="submit" aria-label={ "Remove " (u.username) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                (pager(page_no, PAGE_SIZE, total, link))
            }
            @if info.auth_mode != "htpasswd" {
                details #new-user {
                    summary { "New user" }
                    form.stack method="post" action=(ui.link("/admin/users")) {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        label for="new-username" { "User name" }
                        input #new-username name="username" required maxlength="64" autocomplete="off";
                        label for="new-email" { "E-mail" }
                        input #new-email name="email" type="email";
                        label for="new-realname" { "Full name" }
                        input #new-realname name="realname";
                        label for="new-user-password" { "Password" }
                        input #new-user-password name="password" type="password" required minlength="8" autocomplete="new-password";
                        button.primary type="submit" { "Create user" }
                    }
                }
            }
        }
        (groups)
        (robots)
        section.card #settings {
            h2 { "Settings" }
            p.muted { "As Harbor's configuration API reports them. They are set in config.yml; none is changed here." }
            div.table-wrap { table {
                thead { tr { th { "Setting" } th { "Value" } } }
                tbody { @for (key, s) in &settings { tr {
                    td { code { (key) } }
                    td { (setting_text(&s.value)) }
                } } }
            } }
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TestSignIn {
    csrf: String,
    what: String,
}

/// Tests the directory or the identity provider and says how it went.
pub(crate) async fn test_sign_in(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<TestSignIn>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let (ok, message) = if form.what == "ldap" {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Ping {
            success: bool,
            message: String,
        }
        let ping: Ping = api
            .change(Method::POST, "/ldap/ping", Some(json!({})))
            .await?
            .json()?;
        (ping.success, ping.message)
    } else {
        let settings: BTreeMap<String, Setting> = api.get("/configurations").await?;
        let endpoint = settings
            .get("oidc_endpoint")
            .map(|s| setting_text(&s.value))
            .unwrap_or_default();
        match api
            .change(
                Method::POST,
                "/system/oidc/ping",
                Some(json!({"url": endpoint})),
            )
            .await
        {
            Ok(_) => (
                true,
                format!("The provider at {endpoint} answers and its keys were read."),
            ),
            Err(e) => (false, e.message),
        }
    };
    let what = if form.what == "ldap" {
        "LDAP directory"
    } else {
        "OIDC provider"
    };
    let body = html! {
        (notice(if ok { "ok" } else { "error" }, &if ok { format!("The {what} works. {message}") } else { format!("The {what} does not work: {message}") }))
        p { a href=(ui.link("/admin#sign-in-methods")) { "← Back to administration" } }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("Testing the {what}"),
        &[],
        body,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewUser {
    csrf: String,
    username: String,
    email: String,
    realname: String,
    password: String,
}

pub(crate) async fn create_user(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<NewUser>,
) -> PageResult {
    let name = super::required(&form.username, "the user name")?;
    let mut body = json!({"username": name, "password": form.password});
    // Profile fields left empty are left out, not sent as empty values.
    for (key, value) in [("email", &form.email), ("realname", &form.realname)] {
        if !value.trim().is_empty() {
            body[key] = json!(value.trim());
        }
    }
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(Method::POST, "/users", Some(body))
        .await?;
    Ok(see_other(
        &ui.link(&format!("/admin?name={}#users", encode(name))),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AdminFlag {
    csrf: String,
    admin: String,
}

pub(crate) async fn set_admin(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<AdminFlag>,
) -> PageResult {
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(
            Method::PUT,
            &format!("/users/{id}/sysadmin"),
            Some(json!({"sysadmin_flag": form.admin == "true"})),
        )
        .await?;
    Ok(see_other(&ui.link("/admin#users")))
}

pub(crate) async fn delete_user(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<super::Csrf>,
) -> PageResult {
    let to = "/admin#users";
    super::delete_then(&ui, &headers, &form.csrf, &format!("/users/{id}"), to).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Paging {
    page: Option<u64>,
}

/// Every project's storage against its limit, a page at a time (usage is computed per
/// project when asked for).
pub(crate) async fn storage(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let api = Api::new(&ui, &headers);
    let page_no = paging.page.unwrap_or(1).max(1);
    let (quotas, total) = api
        .listing::<Vec<Quota>>(&format!("/quotas?page={page_no}&page_size={PAGE_SIZE}"))
        .await?;
    let total = total.unwrap_or(quotas.len() as u64);
    let body = html! {
        section.card #storage {
            p.muted { "Each project's layers counted once, however many of its repositories share them; a layer shared by two projects counts in both." }
            @if quotas.is_empty() {
                p.muted { "No projects yet." }
            } @else {
                (super::dashboard::storage_plot(&quotas))
                div.table-wrap { table {
                    thead { tr { th { "Project" } th.num { "Used" } th.num { "Limit" } } }
                    tbody { @for q in &quotas {
                        @let used = q.used.get("storage").copied().unwrap_or(0);
                        @let hard = q.hard.get("storage").copied().unwrap_or(-1);
                        tr {
                            td { a href=(ui.link(&format!("/projects/{}", encode(&q.reference.name)))) { (q.reference.name) } }
                            td.num { (bytes(used)) }
                            td.num { @if hard > 0 { (bytes(hard)) " " meter min="0" max=(hard) value=(used) aria-label={ "Storage of " (q.reference.name) } {} } @else { "none" } }
                        }
                    } }
                } }
                (pager(page_no, PAGE_SIZE, total, |n| ui.link(&format!("/admin/storage?page={n}"))))
            }
        }
    };
    let crumbs = [crate::layout::crumb("Administration", ui.link("/admin"))];
    Ok(page(&ui, &viewer, "Storage by project", &crumbs, body))
}
