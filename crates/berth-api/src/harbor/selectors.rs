//! Harbor's doublestar selectors: the same shape in immutable-tag rules and in retention
//! rules (Harbor's `ImmutableSelector` and `RetentionSelector`), one tag selector and one
//! repository selector per rule.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::response::ApiError;

/// Harbor's `ImmutableSelector` / `RetentionSelector`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct Selector {
    /// `doublestar` (the only kind).
    #[serde(default)]
    pub kind: String,
    /// Tags: `matches` or `excludes`; repositories: `repoMatches` or `repoExcludes`.
    #[serde(default)]
    pub decoration: String,
    /// A doublestar pattern (`*`, `**`, `?`, `{a,b}`); repositories are matched below
    /// the project.
    #[serde(default)]
    pub pattern: String,
    /// Retention's tag selectors: `{"untagged":true}` also chooses untagged artifacts.
    #[serde(default)]
    pub extras: String,
}

/// Harbor's `ImmutableRule` / `RetentionRule` (the same shape): what the rule does to
/// what its selectors choose.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(super) struct SelectorRule {
    /// Its id (immutable rules) or position (retention rules).
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub disabled: bool,
    /// `immutable` or `retain`.
    #[serde(default)]
    pub action: String,
    /// `immutable_template`, or a retention template (`latestPushedK`, `latestPulledN`,
    /// `nDaysSinceLastPush`, `nDaysSinceLastPull`, `always`).
    #[serde(default)]
    pub template: String,
    /// A retention template's number under the template's id, e.g. `{"latestPushedK": 3}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub tag_selectors: Vec<Selector>,
    #[serde(default)]
    pub scope_selectors: BTreeMap<String, Vec<Selector>>,
}

pub(super) fn selector(decoration: &str, pattern: &str, extras: String) -> Selector {
    Selector {
        kind: "doublestar".into(),
        decoration: decoration.into(),
        pattern: pattern.into(),
        extras,
    }
}

/// A rule's `scope_selectors` with its one repository selector.
pub(super) fn repository_scope(repository: Selector) -> BTreeMap<String, Vec<Selector>> {
    BTreeMap::from([("repository".to_string(), vec![repository])])
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// The one selector of a list, of kind doublestar; `context` starts the error messages
/// (e.g. `rule 2: `).
pub(super) fn only<'a>(
    selectors: &'a [Selector],
    what: &str,
    context: &str,
) -> Result<&'a Selector, ApiError> {
    match selectors {
        [s] if s.kind.is_empty() || s.kind == "doublestar" => Ok(s),
        [s] => Err(bad(format!(
            "{context}{what} selector kind {:?} is not supported: use doublestar",
            s.kind
        ))),
        _ => Err(bad(format!("{context}give exactly one {what} selector"))),
    }
}

/// The one repository selector of a rule's `scope_selectors` (the only scope Harbor has).
pub(super) fn repository_of<'a>(
    scope: &'a BTreeMap<String, Vec<Selector>>,
    context: &str,
) -> Result<&'a Selector, ApiError> {
    if let Some(other) = scope.keys().find(|k| *k != "repository") {
        return Err(bad(format!(
            "{context}scope selector {other:?} is not supported: use repository"
        )));
    }
    let repositories = scope
        .get("repository")
        .map(Vec::as_slice)
        .unwrap_or_default();
    only(repositories, "repository", context)
}
