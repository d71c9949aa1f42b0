//! `/c/oidc/login` and `/c/oidc/callback` (Harbor's paths): signing in through the OpenID
//! Connect provider in a browser. The first sign-in adds the user and shows their CLI
//! secret, which `docker login` takes as their password.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use berth_auth::oidc::Provider;
use berth_auth::users::{self, ExternalUser};
use berth_meta::UserOrigin;
use serde::Deserialize;
use utoipa::ToSchema;

use super::models::Errors;
use super::{Caller, JsonBody, Params, at_system};
use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, ApiResult, hv};

/// The cookie that ties a callback to the sign-in this browser started (CSRF protection
/// of the code flow): `<state>.<nonce>`.
const STATE_COOKIE: &str = "berth_oidc";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn provider(state: &AppState) -> Result<&Arc<Provider>, ApiError> {
    state.oidc.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "OIDC sign-in is not configured (berth.oidc.endpoint)",
        )
    })
}

/// Where the provider sends the browser back.
fn redirect_uri(
    state: &AppState,
    p: &Provider,
    headers: &HeaderMap,
    peer: Option<&Peer>,
) -> String {
    p.settings().redirect_url.clone().unwrap_or_else(|| {
        let base = access::public_base(headers, peer, state.options.base_url.as_deref());
        format!("{base}{}/c/oidc/callback", state.options.prefix)
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title} · berth</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut resp = (status, Html(html)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, hv("no-store"));
    resp
}

/// Start a sign-in: to the provider, with a fresh state and nonce.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> ApiResult {
    let p = provider(&state)?;
    let peer = peer.map(|axum::Extension(p)| p);
    let (st, nonce) = (
        berth_auth::password::generate(32)?,
        berth_auth::password::generate(32)?,
    );
    let redirect = redirect_uri(&state, p, &headers, peer.as_ref());
    let url = p.authorization_url(&redirect, &st, &nonce).await?;
    let secure = if redirect.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={st}.{nonce}; Path={}/c/oidc; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
        state.options.prefix
    );
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, hv(url)),
            (header::SET_COOKIE, hv(cookie)),
        ],
    )
        .into_response())
}

/// The state and nonce this browser's sign-in started with.
fn started(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{STATE_COOKIE}="))
                .map(String::from)
        })
        .find_map(|v| {
            v.split_once('.')
                .map(|(s, n)| (s.to_string(), n.to_string()))
        })
}

/// The provider sends the browser back here with a code.
pub(crate) async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    Params(params): Params<CallbackParams>,
) -> Response {
    match finish(&state, &headers, peer.map(|axum::Extension(p)| p), params).await {
        Ok(resp) => resp,
        Err(e) => page(
            e.status,
            "Sign-in failed",
            &format!(
                "<p>{}</p><p><a href=\"{}/c/oidc/login\">Try again</a></p>",
                escape(&e.message),
                state.options.prefix
            ),
        ),
    }
}

async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Peer>,
    params: CallbackParams,
) -> Result<Response, ApiError> {
    let p = provider(state)?;
    let unauthorized =
        |message: String| ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    if let Some(error) = params.error {
        return Err(unauthorized(format!(
            "the provider said {error}: {}",
            params.error_description.unwrap_or_default()
        )));
    }
    let Some((expected, nonce)) = started(headers) else {
        return Err(unauthorized(
            "this browser did not start a sign-in here (no sign-in cookie); start at /c/oidc/login"
                .into(),
        ));
    };
    if params.state.as_deref() != Some(expected.as_str()) {
        return Err(unauthorized(
            "the sign-in's state does not match the one this browser started; start again".into(),
        ));
    }
    let code = params
        .code
        .ok_or_else(|| unauthorized("the provider sent no code".into()))?;
    let redirect = redirect_uri(state, p, headers, peer.as_ref());
    let signed_in = p.sign_in(&code, &redirect, &nonce).await?;
    let Some(meta) = state.auth.user_store() else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION",
            "OIDC sign-in needs berth's own users (auth.local)",
        ));
    };
    let found = ExternalUser {
        origin: UserOrigin::Oidc,
        username: signed_in.username.clone(),
        email: signed_in.email.clone(),
        realname: signed_in.realname.clone(),
        external_id: Some(signed_in.external_id.clone()),
        groups: signed_in.groups.iter().map(|g| (g.clone(), None)).collect(),
        admin: signed_in.admin,
    };
    let (who, _) = users::adopt(meta.as_ref(), &found).await?;
    let name = who.user.clone().unwrap_or_default();
    let record = meta
        .user(&name)
        .await
        .map_err(berth_auth::AuthError::from)?;
    let user_id = record.as_ref().map_or(0, |u| u.id);
    // A CLI secret is made once, shown once, and kept as a hash; later sign-ins leave it.
    let new_secret = if record.is_some_and(|u| u.password_hash.is_empty()) {
        let secret = berth_auth::robots::generate_secret()?;
        users::set_cli_secret(meta.as_ref(), &name, &secret).await?;
        Some(secret)
    } else {
        None
    };
    tracing::info!(target: "berth::audit", user = name, "signed in through OIDC");
    let host = access::public_base(headers, peer.as_ref(), state.options.base_url.as_deref());
    let host = host.split_once("://").map_or(host.as_str(), |(_, h)| h);
    let session = state.auth.start_session(&name).await?;
    let continue_to = format!("{}/", state.options.prefix);
    let mut resp = match new_secret {
        Some(secret) => page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "<p>Signed in as <strong>{user}</strong>.</p>\
                 <p>Your CLI secret, for <code>docker login</code> (shown this once; keep it like a password):</p>\
                 <p><code id=\"cli-secret\">{secret}</code></p>\
                 <pre>docker login {host} -u {user}</pre>\
                 <p><a href=\"{to}\">Continue to berth</a></p>",
                user = escape(&name),
                host = escape(host),
                to = escape(&continue_to),
            ),
        ),
        // Signed in before: straight to the web interface (the profile page sets a new
        // CLI secret).
        None if session.is_some() => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, hv(&continue_to))],
        )
            .into_response(),
        None => page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "<p>Signed in as <strong>{user}</strong>.</p>\
                 <p>Your CLI secret was shown when it was made. To set another, <code>PUT {prefix}/api/v2.0/users/{user_id}/cli_secret</code> with <code>{{\"secret\": \"…\"}}</code>, signed in with the current one.</p>",
                user = escape(&name),
                prefix = escape(&state.options.prefix),
            ),
        ),
    };
    let forget = format!(
        "{STATE_COOKIE}=; Path={}/c/oidc; Max-Age=0; HttpOnly; SameSite=Lax",
        state.options.prefix
    );
    resp.headers_mut().append(header::SET_COOKIE, hv(forget));
    if let Some(id) = session {
        let cookie = super::session_cookie(state, headers, peer.as_ref(), &id);
        resp.headers_mut().append(header::SET_COOKIE, hv(cookie));
    }
    Ok(resp)
}

/// The endpoint `POST /system/oidc/ping` tests.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct OidcEndpoint {
    /// The provider's URL (its issuer).
    #[serde(default)]
    url: String,
    /// Whether its certificate must verify (default `true`).
    #[serde(default)]
    verify_cert: Option<bool>,
}

/// Whether an OpenID Connect provider answers at `url`: its discovery document and keys
/// read, and it calls itself by that URL. `400` with the reason when not.
#[utoipa::path(post, path = "/system/oidc/ping", tag = "oidc", operation_id = "pingOIDC",
    request_body = OidcEndpoint,
    responses((status = 200, description = "The provider answers"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub(super) async fn ping_oidc(
    Caller(who): Caller,
    JsonBody(endpoint): JsonBody<OidcEndpoint>,
) -> ApiResult {
    at_system(&who, "configuration", berth_auth::Verb::Update)?;
    berth_auth::oidc::ping(&endpoint.url, endpoint.verify_cert.unwrap_or(true))
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()))?;
    Ok(StatusCode::OK.into_response())
}
