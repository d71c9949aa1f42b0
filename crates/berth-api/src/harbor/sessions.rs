//! `POST /c/login` and `POST /c/log_out` (Harbor's paths): browser sessions. A sign-in
//! checks the password as every other sign-in does (limits, directory, robots refused)
//! and answers with an HttpOnly, SameSite cookie; the web UI signs in through here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::sessions::{COOKIE, CSRF_HEADER, csrf_matches};
use serde::Deserialize;

use super::SignedInSlot;
use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, hv};

/// Harbor's sign-in form.
#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    principal: String,
    #[serde(default)]
    password: String,
}

/// The `Set-Cookie` value that holds session `id` (or, empty, removes the cookie).
pub(crate) fn session_cookie(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&Peer>,
    id: &str,
) -> String {
    let base = access::public_base(headers, peer, state.options.base_url.as_deref());
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = if id.is_empty() { "; Max-Age=0" } else { "" };
    format!(
        "{COOKIE}={id}; Path={}/; HttpOnly; SameSite=Lax{secure}{max_age}",
        state.options.prefix
    )
}

/// `POST /c/login` with `principal` and `password` (a form): 200 and the session cookie,
/// or the refusal (401 wrong password, 429 too many, 403 a robot).
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    slot: Option<axum::Extension<SignedInSlot>>,
    body: axum::body::Bytes,
) -> Response {
    let peer = peer.map(|axum::Extension(p)| p);
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "sign in with a form: principal=<user>&password=<password>",
        )
        .into_response();
    };
    if form.principal.is_empty() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "principal (the user name) is empty",
        )
        .into_response();
    }
    match state
        .auth
        .sign_in(&form.principal, &form.password, Peer::ip(peer.as_ref()))
        .await
    {
        Ok((who, id)) => {
            let name = who.user.clone().unwrap_or_default();
            if let Some(axum::Extension(slot)) = slot {
                slot.set(&name);
            }
            tracing::info!(target: "berth::audit", user = name, "signed in to the web interface");
            let cookie = session_cookie(&state, &headers, peer.as_ref(), &id);
            (
                StatusCode::OK,
                [
                    (header::SET_COOKIE, hv(cookie)),
                    (header::CACHE_CONTROL, hv("no-store")),
                ],
            )
                .into_response()
        }
        Err(refusal) => access::refusal_response(refusal, |_| None),
    }
}

/// `POST /c/log_out`: ends the session the cookie names (with its CSRF token) and removes
/// the cookie. Without a session there is nothing to end: 200 all the same.
pub(super) async fn log_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> Response {
    let peer = peer.map(|axum::Extension(p)| p);
    if let Some(id) = access::session_cookie(&headers) {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !csrf_matches(&id, given) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("signing out needs the session's CSRF token in {CSRF_HEADER}"),
            )
            .into_response();
        }
        if let Some(store) = state.auth.sessions()
            && let Err(e) = store.end(&id).await
        {
            return ApiError::from(e).into_response();
        }
    }
    let cookie = session_cookie(&state, &headers, peer.as_ref(), "");
    (StatusCode::OK, [(header::SET_COOKIE, hv(cookie))]).into_response()
}
