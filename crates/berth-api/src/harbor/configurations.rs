//! `/configurations`: Harbor's system settings as berth's configuration answers them.
//! They come from `config.yml` and `REGISTRY_*` variables, so every item is reported
//! `editable: false`; a `PUT` that restates the current values succeeds (declarative
//! tools re-apply them), one that would change a value is refused naming the key to edit.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use berth_auth::Verb;
use serde_json::{Map, Value, json};

use super::models::Errors;
use super::{Caller, JsonBody, at_system, system};
use crate::response::{ApiError, ApiResult};
use crate::{AppState, ConfigurationItem};

/// Every item, `auth_mode` first: what berth's configuration says.
fn items(state: &AppState) -> Vec<ConfigurationItem> {
    let mut all = vec![
        ConfigurationItem {
            key: "auth_mode",
            value: json!(system::auth_mode(state)),
            set_by: "auth, berth.ldap, berth.oidc",
        },
        ConfigurationItem {
            key: "primary_auth_mode",
            value: json!(false),
            set_by: "(berth's own users always sign in too)",
        },
    ];
    all.extend(state.configurations.iter().cloned());
    all
}

/// The same value, allowing for clients that send numbers and booleans as strings.
fn same(current: &Value, given: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    current == given || text(current) == text(given)
}

/// The system settings, each as `{"value": …, "editable": false}`.
#[utoipa::path(get, path = "/configurations", tag = "configure", operation_id = "getConfigurations",
    responses((status = 200, body = Object), (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn get_configurations(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
) -> ApiResult {
    at_system(&who, "configuration", Verb::Read)?;
    let shown: Map<String, Value> = items(&state)
        .into_iter()
        .map(|i| {
            (
                i.key.to_string(),
                json!({"value": i.value, "editable": false}),
            )
        })
        .collect();
    Ok(axum::Json(shown).into_response())
}

/// Restating the current values succeeds and changes nothing; a different value, or a
/// setting berth does not have, is `400` naming what to do instead.
#[utoipa::path(put, path = "/configurations", tag = "configure", operation_id = "updateConfigurations",
    request_body = Object,
    responses((status = 200, description = "The values are the current ones"),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn update_configurations(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult {
    at_system(&who, "configuration", Verb::Update)?;
    let known = items(&state);
    for (key, given) in &body {
        let Some(item) = known.iter().find(|i| i.key == key) else {
            return Err(bad(format!(
                "berth has no setting {key:?}; GET /configurations lists the ones it has"
            )));
        };
        if !same(&item.value, given) {
            return Err(bad(format!(
                "{key} is {} here and comes from the configuration ({}); change it in \
                 config.yml (or its REGISTRY_* variable) and restart",
                item.value, item.set_by
            )));
        }
    }
    Ok(StatusCode::OK.into_response())
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}
