//! The built-in token service (Docker token authentication): `GET` with Basic
//! credentials, the OAuth2 `POST` (password and refresh-token grants), and the JWKS of
//! the signing key.

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::scope::parse_scopes;
use berth_auth::{Authenticator, Credentials, Identity, Refusal, TokenResponse};
use serde_json::json;

use crate::access::{Peer, SignedIn, credentials, refusal_response};
use crate::response::{ApiError, all_params, first_param, json, no_store};

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
        (Endpoint::Jwks, &Method::GET) => no_store(json(StatusCode::OK, &issuer.jwks())),
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

/// `GET /auth/token?service=...&scope=...[&offline_token=true]`, Basic credentials or
/// none (anonymous).
async fn get_token(
    auth: &Authenticator,
    headers: &HeaderMap,
    query: &[(String, String)],
    peer: Option<&Peer>,
) -> Response {
    let who = match credentials(headers, peer) {
        // Cookies never reach here (`credentials` reads none).
        Credentials::Anonymous | Credentials::Session(_) => Identity::anonymous(),
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
    let asked = parse_scopes(all_params(query, "scope"));
    let offline = all_params(query, "offline_token").any(|v| v == "true");
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
    let field = |key: &str| first_param(&form, key);
    let asked = parse_scopes(all_params(&form, "scope"));
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
    // Tokens must not be cached by proxies.
    let mut resp = no_store(json(StatusCode::OK, &body));
    if let Some(user) = &who.user {
        // For the access log: who the token was issued to.
        resp.extensions_mut().insert(SignedIn(user.clone()));
    }
    resp
}

fn bad_request(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", message).into_response()
}

/// Token-endpoint refusals: Docker reads the distribution error envelope here too, and
/// a 401 asks for Basic credentials.
fn refused(refusal: Refusal) -> Response {
    refusal_response(refusal, |_| {
        Some("Basic realm=\"berth token service\"".to_string())
    })
}
