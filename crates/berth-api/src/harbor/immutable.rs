//! `/projects/{p}/immutabletagrules`: a project's immutable-tag rules in Harbor's shape.
//! A tag they cover may be pushed once and then neither moved nor deleted, through `/v2`,
//! this API and retention alike.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Resource, Verb};
use berth_core::tag_rules::{RuleError, RuleSpec};
use berth_meta::ImmutableRuleRecord;
use serde::Deserialize;
use serde_json::Map;
use utoipa::IntoParams;

use super::models::Errors;
use super::paging::{self, Page};
use super::selectors::{SelectorRule, only, repository_of, repository_scope, selector};
use super::{Caller, JsonBody, Params, named_project};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// Harbor's `ImmutableRule`.
pub(super) type ImmutableRule = SelectorRule;

impl From<&ImmutableRuleRecord> for SelectorRule {
    fn from(r: &ImmutableRuleRecord) -> SelectorRule {
        SelectorRule {
            id: r.id,
            priority: r.priority,
            disabled: r.disabled,
            action: "immutable".into(),
            template: "immutable_template".into(),
            params: Map::new(),
            tag_selectors: vec![selector(&r.tag_decoration, &r.tag_pattern, String::new())],
            scope_selectors: repository_scope(selector(
                &r.repository_decoration,
                &r.repository_pattern,
                String::new(),
            )),
        }
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

impl TryFrom<SelectorRule> for RuleSpec {
    type Error = ApiError;

    fn try_from(rule: SelectorRule) -> Result<RuleSpec, ApiError> {
        if !matches!(rule.action.as_str(), "" | "immutable") {
            return Err(bad(format!(
                "action {:?} is not valid: use immutable",
                rule.action
            )));
        }
        if !matches!(rule.template.as_str(), "" | "immutable_template") {
            return Err(bad(format!(
                "template {:?} is not valid: use immutable_template",
                rule.template
            )));
        }
        let repository = repository_of(&rule.scope_selectors, "")?;
        let tag = only(&rule.tag_selectors, "tag", "")?;
        Ok(RuleSpec {
            priority: rule.priority,
            disabled: rule.disabled,
            repository_decoration: repository.decoration.clone(),
            repository_pattern: repository.pattern.clone(),
            tag_decoration: tag.decoration.clone(),
            tag_pattern: tag.pattern.clone(),
        })
    }
}

impl From<RuleError> for ApiError {
    fn from(err: RuleError) -> ApiError {
        let (status, code) = match &err {
            RuleError::Meta(m) => return crate::response::meta_error(m),
            RuleError::Invalid(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            RuleError::Duplicate(_) => (StatusCode::CONFLICT, "CONFLICT"),
            RuleError::TooMany => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            RuleError::NoSuchRule(_) | RuleError::NoSuchProject => {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    /// Accepted and ignored: by id.
    q: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// A project's immutable-tag rules.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/immutabletagrules", tag = "immutable",
    operation_id = "ListImmuRules",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"), ListParams),
    responses((status = 200, body = [ImmutableRule], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_immutable_rules(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = (&params.q, &params.sort);
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::ImmutableTag, Verb::List),
    )
    .await?;
    let rules = state.registry.immutable_rules(p.id).await?;
    let shown: Vec<ImmutableRule> = rules
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(ImmutableRule::from)
        .collect();
    Ok(paging::list(&uri, &shown, rules.len() as i64, page))
}

/// Add an immutable-tag rule.
#[utoipa::path(post, path = "/projects/{project_name_or_id}/immutabletagrules", tag = "immutable",
    operation_id = "CreateImmuRule",
    params(("project_name_or_id" = String, Path, description = "The project's name or id")),
    request_body = ImmutableRule,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn create_immutable_rule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    JsonBody(rule): JsonBody<ImmutableRule>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::ImmutableTag, Verb::Create),
    )
    .await?;
    let id = state
        .registry
        .create_immutable_rule(p.id, rule.try_into()?)
        .await?;
    let location = format!("{}/{id}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// Replace an immutable-tag rule; a body whose `disabled` differs from the rule's only
/// switches it, as in Harbor. The body's `id`, when given, must be the path's.
#[utoipa::path(put, path = "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", operation_id = "UpdateImmuRule",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("immutable_rule_id" = i64, Path, description = "The rule's id")),
    request_body = ImmutableRule,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn update_immutable_rule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
    JsonBody(rule): JsonBody<ImmutableRule>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::ImmutableTag, Verb::Update),
    )
    .await?;
    if rule.id != 0 && rule.id != id {
        return Err(bad(format!(
            "the body's id {} is not the path's rule {id}",
            rule.id
        )));
    }
    let stored = state
        .registry
        .immutable_rules(p.id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(RuleError::NoSuchRule(id))?;
    if rule.disabled != stored.disabled {
        state
            .registry
            .switch_immutable_rule(p.id, id, rule.disabled)
            .await?;
    } else {
        state
            .registry
            .update_immutable_rule(p.id, id, rule.try_into()?)
            .await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// Delete an immutable-tag rule.
#[utoipa::path(delete, path = "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", operation_id = "DeleteImmuRule",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ("immutable_rule_id" = i64, Path, description = "The rule's id")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_immutable_rule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((name_or_id, id)): Path<(String, i64)>,
) -> ApiResult {
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::ImmutableTag, Verb::Delete),
    )
    .await?;
    state.registry.delete_immutable_rule(p.id, id).await?;
    Ok(StatusCode::OK.into_response())
}
