//! The built-in token service (Docker token authentication): `GET` with Basic
//! credentials, the OAuth2 `POST` (password and refresh-token grants), and the JWKS of
//! the signing key.

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::scope::parse_scopes;
use berth_auth::{Authenticator, Credentials, Identity, Refusal, TokenResponse};
use serde_json::json;

use crate::access::{Peer, SignedIn, credentials};
use crate::response::{ApiError, hv};

/// Form bodies are a few hundred bytes; anything near this is not a token request.
const MAX_FORM: usize = 64 * 1024;

pub enum Endpoint {
    Token,
    Jwks,
}

pub fn route(path: &str) -> Option<Endpoint> {
    match path {
        "/auth/token" => Some(Endpoint::Token),
        "/auth/jwks" => Some(Endpoint::Jwks),
        _ => None,
    }
}

pub async fn handle(
    auth: &Authenticator,
    endpoint: Endpoint,
    method: &Method,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: Body,
    peer: Option<&Peer>,
) -> Response {
    let Some(issuer) = auth.issuer() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "this registry does not run the built-in token service (auth.local)",
        )
        .into_response();
    };
    match (endpoint, method) {
        (Endpoint::Jwks, &Method::GET) => json_response(StatusCode::OK, issuer.jwks().to_string()),
        (Endpoint::Token, &Method::GET) => get_token(auth, headers, query, peer).await,
        (Endpoint::Token, &Method::POST) => post_token(auth, body, peer).await,
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the token endpoint takes GET and POST",
        )
        .into_response(),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, hv("application/json"));
    // Tokens must not be cached by proxies.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, hv("no-store"));
    resp
}

fn values<'a>(query: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> {
    query
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn first<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `GET /auth/token?service=...&scope=...[&offline_token=true]`, Basic credentials or
/// none (anonymous).
async fn get_token(
    auth: &Authenticator,
    headers: &HeaderMap,
    query: &[(String, String)],
    peer: Option<&Peer>,
) -> Response {
    let who = match credentials(headers, peer) {
        Credentials::Anonymous => Identity::anonymous(),
        Credentials::Certificate(user) => Identity::user(user, false),
        Credentials::Basic { user, password } => {
            match auth.login(&user, &password, Peer::ip(peer)).await {
                Ok(who) => who,
                Err(refusal) => return refused(refusal),
            }
        }
        Credentials::Bearer(_) | Credentials::Malformed => {
            return refused(Refusal::Unauthenticated(
                "the token endpoint takes a user name and password (Basic)".into(),
            ));
        }
    };
    let asked = parse_scopes(values(query, "scope"));
    let offline = values(query, "offline_token").any(|v| v == "true");
    match auth.issue(&who, &asked, offline).await {
        Ok(t) => token_json(&t, &who),
        Err(refusal) => refused(refusal),
    }
}

/// `POST /auth/token` with an OAuth2 form: `grant_type=password` (username, password)
/// or `grant_type=refresh_token` (refresh_token); `scope`, `service`, `client_id`,
/// `access_type=offline`.
async fn post_token(auth: &Authenticator, body: Body, peer: Option<&Peer>) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return bad_request("the form body is too large or could not be read");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) else {
        return bad_request("the body must be application/x-www-form-urlencoded");
    };
    let field = |key: &str| first(&form, key);
    let asked = parse_scopes(values(&form, "scope"));
    let who = match field("grant_type") {
        Some("password") => {
            let (Some(user), Some(password)) = (field("username"), field("password")) else {
                return bad_request("the password grant needs username and password");
            };
            auth.login(user, password, Peer::ip(peer)).await
        }
        Some("refresh_token") => match field("refresh_token") {
            Some(token) => auth.refresh(token).await,
            None => return bad_request("the refresh_token grant needs refresh_token"),
        },
        other => {
            return bad_request(&format!(
                "grant_type {other:?} is not supported; use password or refresh_token"
            ));
        }
    };
    let who = match who {
        Ok(who) => who,
        Err(refusal) => return refused(refusal),
    };
    let offline =
        field("access_type") == Some("offline") || field("grant_type") == Some("refresh_token");
    match auth.issue(&who, &asked, offline).await {
        Ok(t) => token_json(&t, &who),
        Err(refusal) => refused(refusal),
    }
}

fn token_json(t: &TokenResponse, who: &Identity) -> Response {
    let mut body = json!({
        "token": t.token,
        "access_token": t.token,
        "expires_in": t.expires_in,
        "issued_at": berth_notify::time::rfc3339(t.issued_at),
    });
    if let Some(r) = &t.refresh_token {
        body["refresh_token"] = json!(r);
    }
    let mut resp = json_response(StatusCode::OK, body.to_string());
    if let Some(user) = &who.user {
        // For the access log: who the token was issued to.
        resp.extensions_mut().insert(SignedIn(user.clone()));
    }
    resp
}

fn bad_request(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", message).into_response()
}

/// Token-endpoint refusals: Docker reads the distribution error envelope here too.
fn refused(refusal: Refusal) -> Response {
    let (status, code) = match &refusal {
        Refusal::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
        Refusal::Denied(_) => (StatusCode::FORBIDDEN, "DENIED"),
        Refusal::Internal(e) => {
            tracing::error!(error = %e, "token service failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error; the registry log has details",
            )
            .into_response();
        }
        _ => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
    };
    let mut err = ApiError::new(status, code, refusal.to_string());
    if let Refusal::TooManyAttempts { retry_after } = refusal {
        err = err.with_header(
            header::RETRY_AFTER,
            hv(retry_after.as_secs().max(1).to_string()),
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        err = err.with_header(
            header::WWW_AUTHENTICATE,
            hv("Basic realm=\"berth token service\""),
        );
    }
    err.into_response()
}
