//! `/api/v1/users`: the built-in token service's users over HTTP, for administrators
//! (and `PUT .../password` for users changing their own). Who may call it is decided by
//! [`access::check_management`]: a password login, or a token issued for management.
//!
//! | request | who | answer |
//! |---|---|---|
//! | `GET /api/v1/user` | any signed-in user | `{"name", "admin"}` |
//! | `GET /api/v1/users` | admin | `[{"name", "admin", "created_at"}]` |
//! | `POST /api/v1/users` `{"name", "password", "admin"}` | admin | 201 |
//! | `PUT /api/v1/users/<name>/password` `{"password", "old_password"}` | that user (with the old password), or an admin for others | 204 |
//! | `DELETE /api/v1/users/<name>` | admin | 204 (never the last admin) |

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::users::{self, UserError};
use berth_auth::{AuthError, Authenticator, Identity, Refusal};
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
    /// Required when users change their own password.
    old_password: Option<String>,
}

/// The answer to a failed user operation: the caller's mistakes by kind, anything else
/// as the server's.
fn from_auth_error(e: AuthError) -> Response {
    let (status, code) = match &e {
        AuthError::User(u) => match u {
            UserError::InvalidName(_) | UserError::PasswordTooShort => {
                (StatusCode::BAD_REQUEST, "INVALID")
            }
            UserError::Exists(_) | UserError::LastAdmin(_) => (StatusCode::CONFLICT, "DENIED"),
            UserError::NoSuchUser(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            UserError::WrongPassword => (StatusCode::FORBIDDEN, "DENIED"),
        },
        AuthError::Meta(m) if m.is_storage_full() => {
            return crate::response::storage_full(&e).into_response();
        }
        AuthError::Meta(m) if m.is_unavailable() => {
            return crate::response::metadata_unavailable(&e).into_response();
        }
        other => {
            tracing::error!(error = %other, "user management failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error; the registry log has details",
            );
        }
    };
    error(status, code, e.to_string())
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
    let who = match access::check_management(auth, headers, peer, options).await {
        Ok(who) => who,
        Err(refusal) => return (refusal, None),
    };
    let user = who.user.clone();
    (
        serve(
            auth,
            meta.as_ref(),
            &who,
            Peer::ip(peer),
            path,
            method,
            body,
        )
        .await
        .unwrap_or_else(|r| r),
        user,
    )
}

async fn serve(
    auth: &Authenticator,
    meta: &dyn MetaStore,
    who: &Identity,
    ip: std::net::IpAddr,
    path: &str,
    method: &Method,
    body: Body,
) -> Result<Response, Response> {
    let name = who.user.as_deref().unwrap_or_default();
    let require_admin = || {
        if who.admin {
            Ok(())
        } else {
            Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "DENIED",
                "only administrators may do this",
            )))
        }
    };
    let target = path.strip_prefix("/api/v1/users/");
    match (method, path, target) {
        (&Method::GET, "/api/v1/user", _) => Ok(json(
            StatusCode::OK,
            &json!({ "name": name, "admin": who.admin }),
        )),
        (&Method::GET, "/api/v1/users", _) => {
            require_admin().map_err(|denied| *denied)?;
            let list = meta.users().await.map_err(|e| from_auth_error(e.into()))?;
            let out: Vec<_> = list
                .iter()
                .map(|u| json!({ "name": u.name, "admin": u.admin, "created_at": u.created_at_ms / 1000 }))
                .collect();
            Ok(json(StatusCode::OK, &json!(out)))
        }
        (&Method::POST, "/api/v1/users", _) => {
            require_admin().map_err(|denied| *denied)?;
            let new: NewUser = json_body(body).await?;
            users::add(meta, &new.name, &new.password, new.admin)
                .await
                .map_err(from_auth_error)?;
            tracing::info!(target: "berth::audit", by = name, user = new.name, admin = new.admin, "user created");
            Ok(json(
                StatusCode::CREATED,
                &json!({ "name": new.name, "admin": new.admin }),
            ))
        }
        (&Method::PUT, _, Some(rest)) if rest.ends_with("/password") => {
            let target = rest.trim_end_matches("/password");
            let own = target == name;
            if !own {
                require_admin().map_err(|denied| *denied)?;
            }
            let new: NewPassword = json_body(body).await?;
            let changed = match (own, new.old_password.as_deref()) {
                (true, Some(old)) => {
                    // Checked as a login: the same limits, the same password-check threads.
                    match auth.login(target, old, ip).await {
                        Ok(_) => users::set_password(meta, target, &new.password).await,
                        Err(Refusal::Unauthenticated(_)) => Err(UserError::WrongPassword.into()),
                        Err(refusal) => {
                            return Err(access::refusal_response(refusal, |_| None));
                        }
                    }
                }
                (true, None) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "INVALID",
                        "to change your own password, send the current one as old_password",
                    ));
                }
                // An administrator resetting someone else's password.
                (false, _) => users::set_password(meta, target, &new.password).await,
            };
            changed.map_err(from_auth_error)?;
            tracing::info!(target: "berth::audit", by = name, user = target, "password changed");
            if let Some(file) = auth.initial_password_file() {
                match users::forget_initial_password(file, target) {
                    Ok(true) => {
                        tracing::info!(file = %file.display(), "removed the initial administrator password file: that password was changed")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not remove the initial administrator password file")
                    }
                }
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (&Method::DELETE, _, Some(target)) if !target.contains('/') => {
            require_admin().map_err(|denied| *denied)?;
            users::remove(meta, target).await.map_err(from_auth_error)?;
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
