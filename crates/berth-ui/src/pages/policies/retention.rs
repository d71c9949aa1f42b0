//! The retention policy: its rules (added and removed here, the policy created with
//! its first rule), its schedule, dry runs, and each run's outcome per artifact.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Rule, Scope, back, refused, state_badge};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::format::{count, short_digest, when};
use crate::layout::{notice, page};
use crate::models::{Project, RetentionRun};
use crate::pages::project::{ProjectView, Tab, open};
use crate::pages::{Csrf, PageError, PageResult, see_other};

/// What a rule may keep: Harbor's templates, with how the form asks for their number.
const TEMPLATES: [(&str, &str); 5] = [
    ("latestPushedK", "the most recently pushed (count)"),
    ("latestPulledN", "the most recently pulled (count)"),
    ("nDaysSinceLastPush", "those pushed within (days)"),
    ("nDaysSinceLastPull", "those pulled within (days)"),
    ("always", "always (number ignored)"),
];

/// What a retention rule keeps, in words.
fn keeps(rule: &Rule) -> String {
    let n = rule
        .params
        .get(&rule.template)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match rule.template.as_str() {
        "latestPushedK" => format!("the {n} most recently pushed"),
        "latestPulledN" => format!("the {n} most recently pulled"),
        "nDaysSinceLastPush" => format!("those pushed in the last {n} days"),
        "nDaysSinceLastPull" => format!("those pulled in the last {n} days"),
        "always" => "all".into(),
        other => other.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RetentionPolicy {
    id: i64,
    rules: Vec<Rule>,
    trigger: Option<Trigger>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Trigger {
    settings: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Task {
    id: i64,
    repository: String,
    status: String,
    total: u64,
    retained: u64,
}

/// The project's retention policy, if it has one.
async fn retention(
    api: &Api<'_>,
    view: &ProjectView,
) -> Result<Option<RetentionPolicy>, ApiFailure> {
    match view.project.metadata.get("retention_id") {
        Some(id) if !id.is_empty() => {
            Ok(Some(api.get(&format!("/retentions/{}", encode(id))).await?))
        }
        _ => Ok(None),
    }
}

fn retentions_path(id: i64) -> String {
    format!("/retentions/{id}")
}

pub(super) async fn section(ui: &Ui, api: &Api<'_>, view: &ProjectView, csrf: &str) -> Markup {
    let policy = retention(api, view).await.unwrap_or_default();
    let runs: Vec<RetentionRun> = match &policy {
        Some(p) => api
            .get(&format!(
                "/retentions/{}/executions?page=1&page_size=10",
                p.id
            ))
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let may_run = view.rights.may("tag-retention", "update");
    let may_create = view.rights.may("tag-retention", "create");
    let cron = policy
        .as_ref()
        .and_then(|p| p.trigger.as_ref())
        .and_then(|t| t.settings.get("cron"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or_default()
        .to_string();
    let may_add = if policy.is_some() {
        may_run
    } else {
        may_create
    };
    let new_rule = html! {
        @if may_add {
            details #new-retention-rule {
                summary { "New rule" }
                form.stack method="post" action=(view.link(ui, "/retention/rules")) {
                    input type="hidden" name="csrf" value=(csrf);
                    (Scope::inputs("retention"))
                    label for="retention-template" { "Keep" }
                    select #retention-template name="template" {
                        @for (id, text) in TEMPLATES { option value=(id) { (text) } }
                    }
                    label for="retention-count" { "Number" }
                    input #retention-count name="count" type="number" min="0" value="10" required;
                    button.primary type="submit" { "Add the rule" }
                }
            }
        }
    };
    html! {
        section.card #retention {
            h2 { "Retention" }
            @match &policy {
                None => {
                    p.muted { "No retention policy: nothing is deleted by age or count." }
                    (new_rule)
                }
                Some(p) => {
                    p { "An artifact stays when any rule keeps it; the others in the repositories the rules cover go. "
                        @if cron.is_empty() { "Runs only when started." } @else { "Runs on schedule " code { (cron) } " (UTC)." }
                    }
                    @if p.rules.is_empty() {
                        p.muted { "The policy has no rules: a run changes nothing." }
                    } @else {
                        div.table-wrap { table {
                            thead { tr { th { "Repositories" } th { "Tags" } th { "Keeps" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                            tbody { @for (n, r) in p.rules.iter().enumerate() { tr {
                                td { (r.repositories()) } td { (r.tags()) } td { (keeps(r)) }
                                td { (state_badge(!r.disabled)) }
                                td.actions { @if may_run {
                                    form method="post" action=(view.link(ui, &format!("/retention/rules/{n}/delete"))) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.danger.small type="submit" aria-label={ "Delete the rule keeping " (keeps(r)) " of " (r.covers()) } { "Delete" }
                                    }
                                } }
                            } } }
                        } }
                    }
                    (new_rule)
                    @if may_run {
                        form.inline method="post" action=(view.link(ui, "/retention/dry-run")) {
                            input type="hidden" name="csrf" value=(csrf);
                            button.primary type="submit" #retention-dry-run { "Dry run" }
                            span.muted { "Shows what the policy would delete now, and deletes nothing." }
                        }
                        form.inline method="post" action=(view.link(ui, "/retention/schedule")) {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="retention-cron" { "Schedule (cron, UTC; empty: only when started)" }
                            input #retention-cron name="cron" value=(cron) placeholder="0 0 3 * * *";
                            button type="submit" { "Save the schedule" }
                        }
                    }
                    h3 { "Runs" }
                    @if runs.is_empty() {
                        p.muted { "The policy has not run yet." }
                    } @else {
                        div.table-wrap { table.runs {
                            thead { tr { th { "Run" } th { "Started" } th { "By" } th { "Status" } } }
                            tbody { @for r in &runs { tr {
                                td { a href=(view.link(ui, &format!("/retention/{}", r.id))) { "#" (r.id) } @if r.dry_run { " " span.badge { "dry run" } } }
                                td { (when(&r.start_time)) }
                                td { (r.trigger.to_lowercase()) }
                                td { span class={ "status " (r.status.to_lowercase()) } { (r.status) } }
                            } } }
                        } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewRule {
    csrf: String,
    template: String,
    count: String,
    #[serde(flatten)]
    scope: Scope,
}

impl NewRule {
    fn rule(&self) -> Result<Value, PageError> {
        if !TEMPLATES.iter().any(|(id, _)| *id == self.template) {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("{:?} is not a kind of retention rule", self.template),
            ));
        }
        let n: i64 = self.count.trim().parse().map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                "the number of a retention rule is a whole number".into(),
            )
        })?;
        let (tag_selectors, scope_selectors) = self.scope.selectors();
        let params = if self.template == "always" {
            json!({})
        } else {
            json!({ self.template.as_str(): n })
        };
        Ok(json!({
            "disabled": false,
            "action": "retain",
            "template": self.template,
            "params": params,
            "tag_selectors": tag_selectors,
            "scope_selectors": scope_selectors,
        }))
    }
}

/// The project and the id of its retention policy, if it has one (the project's
/// `retention_id`): all a change needs, without the project page's other calls.
async fn project_policy(api: &Api<'_>, name: &str) -> Result<(Project, Option<i64>), PageError> {
    let project: Project = api.get(&format!("/projects/{}", encode(name))).await?;
    let id = project
        .metadata
        .get("retention_id")
        .and_then(|id| id.parse().ok());
    Ok((project, id))
}

/// The id of the project's retention policy; a page saying there is none otherwise.
async fn policy_id(api: &Api<'_>, name: &str) -> Result<i64, PageError> {
    project_policy(api, name).await?.1.ok_or_else(|| {
        refused(
            StatusCode::NOT_FOUND,
            format!("project {name} has no retention policy"),
        )
    })
}

/// The project's policy as the API gave it, to be changed and put back whole.
async fn stored_policy(api: &Api<'_>, name: &str) -> Result<(i64, Value), PageError> {
    let id = policy_id(api, name).await?;
    let body: Value = api.get(&retentions_path(id)).await?;
    Ok((id, body))
}

/// Adds a rule; the project's first rule creates its policy.
pub(crate) async fn add_rule(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<NewRule>,
) -> PageResult {
    let rule = form.rule()?;
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    match project_policy(&api, &name).await? {
        (project, None) => {
            let policy = json!({
                "algorithm": "or",
                "rules": [rule],
                "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
                "scope": {"level": "project", "ref": project.project_id},
            });
            api.change(Method::POST, "/retentions", Some(policy))
                .await?;
        }
        (_, Some(id)) => {
            let mut body: Value = api.get(&retentions_path(id)).await?;
            match body["rules"].as_array_mut() {
                Some(rules) => rules.push(rule),
                None => body["rules"] = json!([rule]),
            }
            api.change(Method::PUT, &retentions_path(id), Some(body))
                .await?;
        }
    }
    Ok(back(&ui, &name, "retention"))
}

pub(crate) async fn remove_rule(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, n)): Path<(String, usize)>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let (id, mut body) = stored_policy(&api, &name).await?;
    match body["rules"].as_array_mut() {
        Some(rules) if n < rules.len() => {
            rules.remove(n);
        }
        _ => {
            return Err(refused(
                StatusCode::NOT_FOUND,
                format!("the retention policy of {name} has no rule {}", n + 1),
            ));
        }
    }
    api.change(Method::PUT, &retentions_path(id), Some(body))
        .await?;
    Ok(back(&ui, &name, "retention"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Schedule {
    csrf: String,
    cron: String,
}

pub(crate) async fn schedule(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Schedule>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let (id, mut body) = stored_policy(&api, &name).await?;
    body["trigger"] = json!({"kind": "Schedule", "settings": {"cron": form.cron.trim()}});
    api.change(Method::PUT, &retentions_path(id), Some(body))
        .await?;
    Ok(back(&ui, &name, "retention"))
}

/// Starts a dry run of the project's retention policy, then shows it.
pub(crate) async fn dry_run(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let id = policy_id(&api, &name).await?;
    let started = api
        .change(
            Method::POST,
            &format!("/retentions/{id}/executions"),
            Some(json!({"dry_run": true})),
        )
        .await?;
    // Harbor's answer names the run in `Location`: …/executions/{id}.
    let run = started
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse::<i64>().ok());
    let project = format!("/projects/{}", encode(&name));
    let to = match run {
        Some(run) => format!("{project}/retention/{run}"),
        None => format!("{project}/policies#retention"),
    };
    Ok(see_other(&ui.link(&to)))
}

/// One row of a retention task's log: an artifact and what became of it.
struct Outcome {
    digest: String,
    tags: String,
    verdict: String,
}

/// The rows of a task log's table (`| Digest | Tags | PushedTime | PulledTime | Retention |`).
fn outcomes(log: &str) -> Vec<Outcome> {
    log.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [digest, tags, _, _, verdict] if *digest != "Digest" => Some(Outcome {
                    digest: digest.to_string(),
                    tags: tags.to_string(),
                    verdict: verdict.to_string(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// A retention run: each repository, and what goes and stays in it.
pub(crate) async fn execution(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, run)): Path<(String, i64)>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let policy = retention(&api, &view).await?.ok_or_else(|| {
        PageError(ApiFailure::new(
            StatusCode::NOT_FOUND,
            format!("project {name} has no retention policy"),
        ))
    })?;
    let base = format!("/retentions/{}/executions/{run}", policy.id);
    // Harbor has no GET of one execution: find it among the policy's.
    let runs: Vec<RetentionRun> = api
        .get(&format!(
            "/retentions/{}/executions?page=1&page_size=100",
            policy.id
        ))
        .await?;
    let found = runs.into_iter().find(|r| r.id == run).ok_or_else(|| {
        PageError(ApiFailure::new(
            StatusCode::NOT_FOUND,
            format!("no retention run #{run} in {name}"),
        ))
    })?;
    let tasks: Vec<Task> = api
        .get(&format!("{base}/tasks?page=1&page_size=100"))
        .await?;
    let mut logs = Vec::with_capacity(tasks.len());
    for t in &tasks {
        let log = api
            .call(
                Method::GET,
                &ui.link(&format!("/api/v2.0{base}/tasks/{}", t.id)),
                None,
                None,
            )
            .await?
            .ok()?;
        logs.push(outcomes(&String::from_utf8_lossy(&log.body)));
    }
    let running = found.status == "Running";
    let going: usize = logs.iter().flatten().filter(|o| o.verdict == "DEL").count();
    let verb = if found.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let body = html! {
        (view.header(&ui, Tab::Policies))
        section.card #retention-run {
            p {
                @if found.dry_run { span.badge { "dry run" } " " }
                "Started " (when(&found.start_time))
                @if !found.end_time.is_empty() { ", finished " (when(&found.end_time)) }
                " · " span class={ "status " (found.status.to_lowercase()) } { (found.status) }
            }
            @if running {
                (notice("info", "Still running; this page follows it."))
                span hidden data-refresh="2" {}
            } @else {
                (notice(if going == 0 { "ok" } else { "info" }, &format!("The policy {verb} {} in {}.", count(going as i64, "artifact", "artifacts"), count(tasks.len() as i64, "repository", "repositories"))))
            }
            @for (t, rows) in tasks.iter().zip(&logs) {
                h3 { (t.repository) " " span.muted { (count(t.total as i64, "artifact", "artifacts")) ", " (t.retained) " kept" } }
                @if rows.is_empty() {
                    p.muted { "Nothing to decide." }
                } @else {
                    div.table-wrap { table {
                        thead { tr { th { "Artifact" } th { "Tags" } th { "Outcome" } } }
                        tbody { @for o in rows { tr {
                            td { code { (short_digest(&o.digest)) } }
                            td { @for tag in o.tags.split(',').filter(|t| !t.is_empty()) { span.tag { (tag) } " " } }
                            td { (verdict(&o.verdict, found.dry_run)) }
                        } } }
                    } }
                }
            }
            p { a href=(view.link(&ui, "/policies#retention")) { "← Back to the policies" } }
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · retention run #{run}"),
        &view.crumbs(&ui),
        body,
    ))
}

fn verdict(code: &str, dry_run: bool) -> Markup {
    html! {
        @match code {
            "DEL" => span.status.error { (if dry_run { "would be deleted" } else { "deleted" }) },
            "RETAIN" => span.status.success { "kept" },
            "IMMUTABLE" => span.status.success { "kept: immutable" },
            other => span.status.error { "failed (" (other) ")" },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_logs_read_as_outcomes() {
        let log = "retention of a/b (dry run, execution 3): 2 artifacts, 1 retained\n\
                   | Digest | Tags | PushedTime | PulledTime | Retention |\n\
                   | sha256:aa | v1,v2 | 2026-01-01T00:00:00Z | never | RETAIN |\n\
                   | sha256:bb |  | 2026-01-01T00:00:00Z | never | DEL |\n";
        let rows = super::outcomes(log);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].tags.as_str(), rows[0].verdict.as_str()),
            ("v1,v2", "RETAIN")
        );
        assert_eq!(
            (rows[1].digest.as_str(), rows[1].verdict.as_str()),
            ("sha256:bb", "DEL")
        );
    }

    #[test]
    fn rules_say_what_they_keep() {
        let rule: super::Rule = serde_json::from_value(serde_json::json!({
            "template": "latestPushedK", "params": {"latestPushedK": 3},
        }))
        .unwrap_or_default();
        assert_eq!(super::keeps(&rule), "the 3 most recently pushed");
    }

    #[test]
    fn new_rules_are_checked_before_they_are_sent() {
        let form = |template: &str, count: &str| super::NewRule {
            template: template.into(),
            count: count.into(),
            ..super::NewRule::default()
        };
        assert!(form("latestPushedK", "x").rule().is_err());
        assert!(form("keepEverything", "3").rule().is_err());
        let rule = form("nDaysSinceLastPush", " 7 ")
            .rule()
            .map_err(|e| e.0.message);
        assert_eq!(
            rule.as_ref()
                .map(|r| r["params"]["nDaysSinceLastPush"].clone()),
            Ok(7.into())
        );
        assert_eq!(rule.map(|r| r["action"].clone()), Ok("retain".into()));
    }
}
