//! `/api/v1/users`: the built-in token service's users over HTTP, for administrators
//! (and `PUT .../password` for users changing their own).
//!
//! | request | who | answer |
//! |---|---|---|
//! | `GET /api/v1/user` | any signed-in user | `{"name", "admin"}` |
//! | `GET /api/v1/users` | admin | `[{"name", "admin", "created_at"}]` |
//! | `POST /api/v1/users` `{"name", "password", "admin"}` | admin | 201 |
//! | `PUT /api/v1/users/<name>/password` `{"password"}` | admin or that user | 204 |
//! | `DELETE /api/v1/users/<name>` | admin | 204 (never the last admin) |

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::{AuthError, Authenticator, Identity, users};
use berth_meta::MetaStore;
use serde::Deserialize;
use serde_json::json;

use crate::ApiOptions;
use crate::access::{self, Peer};
use crate::response::{error_response as error, json};

const MAX_BODY: usize = 16 * 1024;

/// The routes under `/api/v1`, matched on the path after the prefix.
pub fn matches(path: &str) -> bool {
    path == "/api/v1/user" || path == "/api/v1/users" || path.starts_with("/api/v1/users/")
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

fn from_auth_error(e: AuthError) -> Response {
    match e {
        AuthError::User(m) => error(StatusCode::BAD_REQUEST, "INVALID", m),
        other => {
            tracing::error!(error = %other, "user management failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error; the registry log has details",
            )
        }
    }
}

async fn json_body<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            "the body is too large",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID",
            format!("invalid JSON body: {e}"),
        )
    })
}

pub async fn handle(
    auth: &Authenticator,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
    peer: Option<&Peer>,
    options: &ApiOptions,
) -> (Response, Option<String>) {
    let Some(meta) = auth.user_store() else {
        return (
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "user management needs berth's own users (auth.local)",
            ),
            None,
        );
    };
    let who = match access::check(auth, headers, peer, &[], options).await {
        Ok(who) => who,
        Err(refusal) => return (refusal, None),
    };
    let user = who.user.clone();
    (
        serve(meta.as_ref(), &who, path, method, body)
            .await
            .unwrap_or_else(|r| r),
        user,
    )
}

async fn serve(
    meta: &dyn MetaStore,
    who: &Identity,
    path: &str,
    method: &Method,
    body: Body,
) -> Result<Response, Response> {
    let name = who.user.as_deref().unwrap_or_default();
    // Tokens do not carry the admin flag: the database is the authority.
    let is_admin = match meta.user(name).await {
        Ok(u) => u.is_some_and(|u| u.admin),
        Err(e) => return Err(from_auth_error(e.into())),
    };
    let denied = || {
        error(
            StatusCode::FORBIDDEN,
            "DENIED",
            "only administrators may do this",
        )
    };
    let target = path.strip_prefix("/api/v1/users/");
    match (method, path, target) {
        (&Method::GET, "/api/v1/user", _) => Ok(json(
            StatusCode::OK,
            &json!({ "name": name, "admin": is_admin }),
        )),
        (&Method::GET, "/api/v1/users", _) => {
            if !is_admin {
                return Err(denied());
            }
            let list = meta.users().await.map_err(|e| from_auth_error(e.into()))?;
            let out: Vec<_> = list
                .iter()
                .map(|u| json!({ "name": u.name, "admin": u.admin, "created_at": u.created_at_ms / 1000 }))
                .collect();
            Ok(json(StatusCode::OK, &json!(out)))
        }
        (&Method::POST, "/api/v1/users", _) => {
            if !is_admin {
                return Err(denied());
            }
            let new: NewUser = json_body(body).await?;
            users::add(meta, &new.name, &new.password, new.admin)
                .await
                .map_err(|e| match e {
                    AuthError::User(m) if m.contains("exists already") => {
                        error(StatusCode::CONFLICT, "INVALID", m)
                    }
                    other => from_auth_error(other),
                })?;
            tracing::info!(target: "berth::audit", by = name, user = new.name, admin = new.admin, "user created");
            Ok(json(
                StatusCode::CREATED,
                &json!({ "name": new.name, "admin": new.admin }),
            ))
        }
        (&Method::PUT, _, Some(rest)) if rest.ends_with("/password") => {
            let target = rest.trim_end_matches("/password");
            if target != name && !is_admin {
                return Err(denied());
            }
            let new: NewPassword = json_body(body).await?;
            users::set_password(meta, target, &new.password)
                .await
                .map_err(|e| not_found_or(e, target))?;
            tracing::info!(target: "berth::audit", by = name, user = target, "password changed");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (&Method::DELETE, _, Some(target)) if !target.contains('/') => {
            if !is_admin {
                return Err(denied());
            }
            let all = meta.users().await.map_err(|e| from_auth_error(e.into()))?;
            let admins = all.iter().filter(|u| u.admin).count();
            if admins == 1 && all.iter().any(|u| u.admin && u.name == target) {
                return Err(error(
                    StatusCode::CONFLICT,
                    "DENIED",
                    "this is the last administrator; create another one first",
                ));
            }
            users::remove(meta, target)
                .await
                .map_err(|e| not_found_or(e, target))?;
            tracing::info!(target: "berth::audit", by = name, user = target, "user removed");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no user API endpoint for {method} {path}"),
        )),
    }
}

fn not_found_or(e: AuthError, target: &str) -> Response {
    match e {
        AuthError::User(m) if m.starts_with("there is no user") => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("there is no user {target}"),
        ),
        other => from_auth_error(other),
    }
}
