//! A project's policies: immutable-tag rules, the retention policy with its runs (a dry
//! run shows what would go before anything does), and webhook policies.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::project::{ProjectView, Tab, open};
use super::{Csrf, PageError, PageResult, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::format::{count, short_digest, when};
use crate::layout::{notice, page};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Selector {
    decoration: String,
    pattern: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Rule {
    disabled: bool,
    template: String,
    params: Map<String, Value>,
    tag_selectors: Vec<Selector>,
    scope_selectors: std::collections::BTreeMap<String, Vec<Selector>>,
}

impl Rule {
    fn repositories(&self) -> String {
        selectors(
            self.scope_selectors
                .get("repository")
                .map_or(&[][..], |s| s),
        )
    }

    fn tags(&self) -> String {
        selectors(&self.tag_selectors)
    }

    /// What a retention rule keeps, in words.
    fn keeps(&self) -> String {
        let n = self
            .params
            .get(&self.template)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        match self.template.as_str() {
            "latestPushedK" => format!("the {n} most recently pushed"),
            "latestPulledN" => format!("the {n} most recently pulled"),
            "nDaysSinceLastPush" => format!("those pushed in the last {n} days"),
            "nDaysSinceLastPull" => format!("those pulled in the last {n} days"),
            "always" => "all".into(),
            other => other.to_string(),
        }
    }
}

/// Selectors as Harbor's UI says them: `matching a/**`, `excluding x`.
fn selectors(list: &[Selector]) -> String {
    if list.is_empty() {
        return "all".into();
    }
    list.iter()
        .map(|s| {
            let verb = if s.decoration.to_lowercase().contains("exclude") {
                "excluding"
            } else {
                "matching"
            };
            format!("{verb} {}", s.pattern)
        })
        .collect::<Vec<_>>()
        .join(", ")
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
struct Execution {
    id: i64,
    start_time: String,
    end_time: String,
    status: String,
    trigger: String,
    dry_run: bool,
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Webhook {
    name: String,
    description: String,
    targets: Vec<WebhookTarget>,
    event_types: Vec<String>,
    enabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebhookTarget {
    #[serde(rename = "type")]
    kind: String,
    address: String,
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

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let project = encode(&name);
    let immutable: Vec<Rule> = api
        .get(&format!("/projects/{project}/immutabletagrules"))
        .await
        .unwrap_or_default();
    let policy = retention(&api, &view).await.unwrap_or_default();
    let runs: Vec<Execution> = match &policy {
        Some(p) => api
            .get(&format!(
                "/retentions/{}/executions?page=1&page_size=10",
                p.id
            ))
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let webhooks: Vec<Webhook> = api
        .get(&format!(
            "/projects/{project}/webhook/policies?page=1&page_size=100"
        ))
        .await
        .unwrap_or_default();
    let may_run = view.rights.may("tag-retention", "update");
    let body = html! {
        (view.header(&ui, Tab::Policies))
        section.card #immutable {
            h2 { "Immutable tags" }
            p.muted { "A tag these rules cover can be pushed once; it never moves to another manifest and is never deleted." }
            @if immutable.is_empty() {
                p.muted { "No rules: every tag can be moved and deleted by those whose role allows it." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Repositories" } th { "Tags" } th { "State" } } }
                    tbody { @for r in &immutable { tr {
                        td { (r.repositories()) } td { (r.tags()) }
                        td { @if r.disabled { span.badge.private { "disabled" } } @else { span.badge { "enabled" } } }
                    } } }
                } }
            }
        }
        section.card #retention {
            h2 { "Retention" }
            @match &policy {
                None => { p.muted { "No retention policy: nothing is deleted by age or count." } }
                Some(p) => {
                    p { "An artifact stays when any rule keeps it; the others go. "
                        @match p.trigger.as_ref().and_then(|t| t.settings.get("cron")).and_then(Value::as_str).filter(|c| !c.is_empty()) {
                            Some(cron) => { "Runs on schedule " code { (cron) } " (UTC)." }
                            None => { "Runs only when started." }
                        }
                    }
                    div.table-wrap { table {
                        thead { tr { th { "Repositories" } th { "Tags" } th { "Keeps" } th { "State" } } }
                        tbody { @for r in &p.rules { tr {
                            td { (r.repositories()) } td { (r.tags()) } td { (r.keeps()) }
                            td { @if r.disabled { span.badge.private { "disabled" } } @else { span.badge { "enabled" } } }
                        } } }
                    } }
                    @if may_run {
                        form.inline method="post" action=(view.link(&ui, "/retention/dry-run")) {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button.primary type="submit" #retention-dry-run { "Dry run" }
                            span.muted { "Shows what the policy would delete now, and deletes nothing." }
                        }
                    }
                    h3 { "Runs" }
                    @if runs.is_empty() {
                        p.muted { "The policy has not run yet." }
                    } @else {
                        div.table-wrap { table.runs {
                            thead { tr { th { "Run" } th { "Started" } th { "By" } th { "Status" } } }
                            tbody { @for r in &runs { tr {
                                td { a href=(view.link(&ui, &format!("/retention/{}", r.id))) { "#" (r.id) } @if r.dry_run { " " span.badge { "dry run" } } }
                                td { (when(&r.start_time)) }
                                td { (r.trigger.to_lowercase()) }
                                td { span class={ "status " (r.status.to_lowercase()) } { (r.status) } }
                            } } }
                        } }
                    }
                }
            }
        }
        section.card #webhooks {
            h2 { "Webhooks" }
            @if webhooks.is_empty() {
                p.muted { "No webhook policies: nothing is told about this project's events." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Sends to" } th { "Events" } th { "State" } } }
                    tbody { @for w in &webhooks { tr {
                        td { (w.name) @if !w.description.is_empty() { br; span.muted { (w.description) } } }
                        td { @for t in &w.targets { code { (t.address) } " " span.muted { (t.kind) } br; } }
                        td { @for e in &w.event_types { span.badge.soft { (e) } " " } }
                        td { @if w.enabled { span.badge { "enabled" } } @else { span.badge.private { "disabled" } } }
                    } } }
                } }
            }
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · policies"),
        &view.crumbs(&ui),
        body,
    ))
}

/// Starts a dry run of the project's retention policy, then shows it.
pub(crate) async fn dry_run(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let view = ProjectView::load(&api, &name).await?;
    let policy = retention(&api, &view).await?.ok_or_else(|| {
        PageError(ApiFailure::new(
            StatusCode::NOT_FOUND,
            format!("project {name} has no retention policy to run"),
        ))
    })?;
    let started = api
        .change(
            Method::POST,
            &format!("/retentions/{}/executions", policy.id),
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
    let to = match run {
        Some(id) => format!("/retention/{id}"),
        None => "/policies#retention".into(),
    };
    Ok(see_other(&view.link(&ui, &to)))
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
    let runs: Vec<Execution> = api
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
    fn rules_read_as_sentences() {
        let rule: super::Rule = serde_json::from_value(serde_json::json!({
            "template": "latestPushedK", "params": {"latestPushedK": 3},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "tmp/**"}]}
        }))
        .unwrap_or_default();
        assert_eq!(rule.keeps(), "the 3 most recently pushed");
        assert_eq!(rule.tags(), "matching v*");
        assert_eq!(rule.repositories(), "excluding tmp/**");
    }
}
