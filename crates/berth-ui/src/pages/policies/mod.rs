//! A project's policies tab: immutable-tag rules, the retention policy with its runs,
//! and webhook policies, each in its own module with its forms. What they share lives
//! here: Harbor's selectors read as words, and the form fields that write them.

pub(crate) mod immutable;
pub(crate) mod retention;
pub(crate) mod webhooks;

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::project::{Tab, open};
use super::{PageError, PageResult, see_other};
use crate::Ui;
use crate::api::{ApiFailure, encode};
use crate::layout::page;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Selector {
    decoration: String,
    pattern: String,
}

/// A rule as Harbor's immutable-tag and retention APIs both describe it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Rule {
    id: i64,
    disabled: bool,
    template: String,
    params: Map<String, Value>,
    tag_selectors: Vec<Selector>,
    scope_selectors: BTreeMap<String, Vec<Selector>>,
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

    /// What the rule covers, as a phrase: `tags matching v* in all repositories`.
    fn covers(&self) -> String {
        let phrase = |said: String, noun: &str| match said.as_str() {
            "all" => format!("all {noun}"),
            _ => format!("{noun} {said}"),
        };
        format!(
            "{} in {}",
            phrase(self.tags(), "tags"),
            phrase(self.repositories(), "repositories")
        )
    }
}

/// Selectors as Harbor's UI says them: `matching a/**`, `excluding x`.
fn selectors(list: &[Selector]) -> String {
    let everything = |s: &Selector| s.pattern == "**" && !s.decoration.contains("xclude");
    if list.is_empty() || (list.len() == 1 && everything(&list[0])) {
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

fn state_badge(enabled: bool) -> Markup {
    html! {
        @if enabled { span.badge { "enabled" } } @else { span.badge.private { "disabled" } }
    }
}

/// The repositories and tags a new rule covers, as its form sends them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Scope {
    repositories: String,
    /// `matching` or `excluding`.
    repositories_mode: String,
    tags: String,
    tags_mode: String,
}

/// A pattern left empty means everything.
fn pattern(text: &str) -> &str {
    match text.trim() {
        "" => "**",
        p => p,
    }
}

impl Scope {
    /// Harbor's `tag_selectors` and `scope_selectors` for this scope.
    fn selectors(&self) -> (Value, Value) {
        let excluding = |mode: &str| mode == "excluding";
        let tags = json!([{
            "kind": "doublestar",
            "decoration": if excluding(&self.tags_mode) { "excludes" } else { "matches" },
            "pattern": pattern(&self.tags),
        }]);
        let repositories = json!({"repository": [{
            "kind": "doublestar",
            "decoration": if excluding(&self.repositories_mode) { "repoExcludes" } else { "repoMatches" },
            "pattern": pattern(&self.repositories),
        }]});
        (tags, repositories)
    }

    /// The form's fields for a scope; `id` keeps the labels of two forms apart.
    fn inputs(id: &str) -> Markup {
        let field = |what: &str, name: &str, hint: &str| {
            let mode = format!("{name}_mode");
            html! {
                div.scope-row {
                    label for={ (id) "-" (name) } { (what) }
                    select name=(mode) aria-label={ (what) ": matching or excluding" } {
                        option value="matching" { "matching" }
                        option value="excluding" { "excluding" }
                    }
                    input id={ (id) "-" (name) } name=(name) placeholder=(hint);
                }
            }
        };
        html! {
            (field("Repositories", "repositories", "** (all), app/*, tools/**"))
            (field("Tags", "tags", "** (all), v*, release-?"))
            p.muted.small { "Patterns: " code { "*" } " within a name segment, " code { "**" } " across " code { "/" } ", " code { "?" } " one character, " code { "{a,b}" } " either. Empty means all." }
        }
    }
}

/// A button that switches a rule or policy on or off (`on=true|false`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Switch {
    csrf: String,
    on: String,
}

impl Switch {
    fn on(&self) -> bool {
        self.on == "true"
    }
}

/// A failure of the page's own making (an unknown rule, a form that says nothing).
fn refused(status: axum::http::StatusCode, message: String) -> PageError {
    PageError(ApiFailure::new(status, message))
}

/// The tab's path, at `section`.
fn section_of(project: &str, section: &str) -> String {
    format!("/projects/{}/policies#{section}", encode(project))
}

/// Back to the tab, at `section`.
fn back(ui: &Ui, project: &str, section: &str) -> axum::response::Response {
    see_other(&ui.link(&section_of(project, section)))
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let (immutable, retention, webhooks) = futures_util::future::join3(
        immutable::section(&ui, &api, &view, &viewer.csrf),
        retention::section(&ui, &api, &view, &viewer.csrf),
        webhooks::section(&ui, &api, &view, &viewer.csrf),
    )
    .await;
    let body = html! {
        (view.header(&ui, Tab::Policies))
        (immutable)
        (retention)
        (webhooks)
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · policies"),
        &view.crumbs(&ui),
        body,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_read_as_sentences() {
        let rule: super::Rule = serde_json::from_value(serde_json::json!({
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "tmp/**"}]}
        }))
        .unwrap_or_default();
        assert_eq!(rule.tags(), "matching v*");
        assert_eq!(rule.repositories(), "excluding tmp/**");
        assert_eq!(
            rule.covers(),
            "tags matching v* in repositories excluding tmp/**"
        );
        assert_eq!(super::selectors(&[]), "all");
        let everything: super::Rule = serde_json::from_value(serde_json::json!({
            "tag_selectors": [{"decoration": "matches", "pattern": "**"}],
        }))
        .unwrap_or_default();
        assert_eq!(everything.covers(), "all tags in all repositories");
    }

    #[test]
    fn scopes_become_harbor_selectors() {
        let scope = super::Scope {
            repositories: " ".into(),
            repositories_mode: "matching".into(),
            tags: "tmp-*".into(),
            tags_mode: "excluding".into(),
        };
        let (tags, repositories) = scope.selectors();
        assert_eq!(tags[0]["decoration"], "excludes");
        assert_eq!(tags[0]["pattern"], "tmp-*");
        assert_eq!(repositories["repository"][0]["decoration"], "repoMatches");
        assert_eq!(repositories["repository"][0]["pattern"], "**");
    }
}
