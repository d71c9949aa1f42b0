//! The access check in front of every `/v2` request: which scopes a route needs, asking
//! the authenticator, and answering a refusal the way Docker clients expect.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::{Action, Authenticator, Credentials, Identity, Refusal, Scope};

use crate::ApiOptions;
use crate::response::{ApiError, hv};
use crate::routes::Route;

/// The connection a request came in on (set by the server for each connection).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// The common name of a client certificate verified against `http.tls.clientcas`.
    pub client_user: Option<Arc<str>>,
}

impl Peer {
    pub fn plain(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            tls: false,
            client_user: None,
        }
    }

    pub fn tls(addr: SocketAddr, client_user: Option<String>) -> Peer {
        Peer {
            addr,
            tls: true,
            client_user: client_user.map(Arc::from),
        }
    }

    pub fn ip(peer: Option<&Peer>) -> IpAddr {
        peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.addr.ip())
    }
}

/// Set on a response by endpoints that sign a user in themselves (the token service),
/// so the access log can name them.
#[derive(Debug, Clone)]
pub struct SignedIn(pub String);

/// What a request must be allowed to do, as Distribution's token scopes name it: reads
/// need `pull`, writes `pull,push`, deletes `delete`. A cross-repository mount's source is
/// not required: the upload handler mounts only from a source the caller may read, and
/// otherwise opens an ordinary upload (as the spec allows).
pub fn needs(route: &Route<'_>, method: &Method) -> Vec<Scope> {
    const READ: &[Action] = &[Action::Pull];
    const WRITE: &[Action] = &[Action::Pull, Action::Push];
    const DELETE: &[Action] = &[Action::Delete];
    let by_method = |name: &str| {
        let actions = match *method {
            Method::GET | Method::HEAD => READ,
            Method::DELETE => DELETE,
            _ => WRITE,
        };
        vec![Scope::repository(name, actions)]
    };
    match route {
        Route::Base => Vec::new(),
        Route::Catalog => vec![Scope::catalog()],
        Route::Tags { name } | Route::Referrers { name, .. } => {
            vec![Scope::repository(name, READ)]
        }
        Route::Manifest { name, .. } | Route::Blob { name, .. } => by_method(name),
        Route::UploadStart { name } | Route::Upload { name, .. } => {
            vec![Scope::repository(name, WRITE)]
        }
    }
}

/// This registry's base URL as the client addressed it: `http.host` when configured,
/// else what a proxy in front says the client used (`X-Forwarded-Proto`,
/// `X-Forwarded-Host`, as Distribution honours them: nginx terminating TLS), else the
/// scheme of the connection and the `Host` the client sent.
pub fn public_base(headers: &HeaderMap, peer: Option<&Peer>, base_url: Option<&str>) -> String {
    if let Some(b) = base_url {
        return b.trim_end_matches('/').to_string();
    }
    // The first value: the proxy nearest the client appends, the client's comes first.
    let forwarded = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match forwarded("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if peer.is_some_and(|p| p.tls) => "https",
        _ => "http",
    };
    let host = forwarded("x-forwarded-host")
        .filter(|h| valid_host(h))
        .map(String::from)
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(String::from)
        })
        .or_else(|| peer.map(|p| p.addr.to_string()))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// A host, optionally with a port, and nothing that could break out of a URL.
fn valid_host(h: &str) -> bool {
    h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The token endpoint on the address the client used, for challenges.
pub fn default_realm(headers: &HeaderMap, peer: Option<&Peer>, options: &ApiOptions) -> String {
    format!(
        "{}{}/auth/token",
        public_base(headers, peer, options.base_url.as_deref()),
        options.prefix
    )
}

/// The request's credentials: its `Authorization` header, else a verified client
/// certificate (as good as a password: its CA is one the operator chose to trust).
pub fn credentials(headers: &HeaderMap, peer: Option<&Peer>) -> Credentials {
    let creds = Credentials::parse(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    match peer.and_then(|p| p.client_user.as_deref()) {
        Some(user) if creds == Credentials::Anonymous => Credentials::Certificate(user.into()),
        _ => creds,
    }
}

/// The request's credentials; when it brings none, the browser session its cookie names.
/// Only reads and the management API take sessions (the latter with a CSRF token for
/// changes): a cookie is sent with requests other sites make.
pub fn credentials_or_session(headers: &HeaderMap, peer: Option<&Peer>) -> Credentials {
    match credentials(headers, peer) {
        Credentials::Anonymous => {
            session_cookie(headers).map_or(Credentials::Anonymous, Credentials::Session)
        }
        given => given,
    }
}

/// The session id of the request's session cookie, if it has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, berth_auth::sessions::COOKIE)
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let values = headers.get_all(header::COOKIE);
    berth_auth::sessions::cookie_value(values.iter().filter_map(|v| v.to_str().ok()), name)
}

/// Checks the request; `Err` is the response to send instead.
pub async fn check(
    auth: &Authenticator,
    headers: &HeaderMap,
    peer: Option<&Peer>,
    needs: &[Scope],
    options: &ApiOptions,
) -> Result<Identity, Response> {
    if auth.is_open() {
        return Ok(Identity::anonymous());
    }
    let credentials = if needs.iter().any(Scope::changes_something) {
        credentials(headers, peer)
    } else {
        credentials_or_session(headers, peer)
    };
    auth.authorize(&credentials, Peer::ip(peer), needs)
        .await
        .map_err(|refusal| {
            let realm = default_realm(headers, peer, options);
            refuse(auth, refusal, needs, &realm)
        })
}

/// A refusal on `/v2` as the distribution spec and Docker's token flow expect it: the
/// challenge names the scopes needed and, for bearer tokens, what was wrong.
pub fn refuse(auth: &Authenticator, refusal: Refusal, needs: &[Scope], realm: &str) -> Response {
    refusal_response(refusal, |error| auth.challenge(realm, needs, error))
}

/// Any refusal as a response: its status and code, `Retry-After` when limited, and the
/// `WWW-Authenticate` value `challenge` gives for 401s and insufficient scope (its
/// argument is the bearer `error`, if there is one).
pub fn refusal_response(
    refusal: Refusal,
    challenge: impl FnOnce(Option<&str>) -> Option<String>,
) -> Response {
    let (status, code, bearer_error) = match &refusal {
        Refusal::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", None),
        Refusal::InvalidToken(_) => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            Some("invalid_token"),
        ),
        Refusal::InsufficientScope {
            signed_in: true, ..
        } => (StatusCode::FORBIDDEN, "DENIED", Some("insufficient_scope")),
        Refusal::InsufficientScope {
            signed_in: false, ..
        } => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            Some("insufficient_scope"),
        ),
        Refusal::Denied(_) => (StatusCode::FORBIDDEN, "DENIED", None),
        Refusal::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", None),
        Refusal::Internal(berth_auth::AuthError::Meta(m)) if m.is_unavailable() => {
            return crate::response::metadata_unavailable(m).into_response();
        }
        Refusal::Internal(e @ berth_auth::AuthError::Ldap(_)) => {
            tracing::warn!(error = %e, "a sign-in could not reach the LDAP directory");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("sign-in is unavailable: {e}"),
            )
            .into_response();
        }
        Refusal::Internal(e) => {
            tracing::error!(error = %e, "authentication failed internally");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal server error; the registry log has details",
            )
            .into_response();
        }
    };
    let mut err = ApiError::new(status, code, refusal.to_string());
    if let Refusal::TooManyAttempts { retry_after } = refusal {
        err = err.with_header(
            header::RETRY_AFTER,
            hv(retry_after.as_secs().max(1).to_string()),
        );
    }
    // 401s say how to sign in; a 403 for too little scope says which scope to ask for.
    if (status == StatusCode::UNAUTHORIZED || bearer_error.is_some())
        && let Some(value) = challenge(bearer_error).and_then(|c| HeaderValue::from_str(&c).ok())
    {
        err = err.with_header(header::WWW_AUTHENTICATE, value);
    }
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_in_front_names_the_public_base() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("10.0.0.5:5000"));
        assert_eq!(public_base(&h, None, None), "http://10.0.0.5:5000");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("registry.example.com, 10.0.0.1"),
        );
        assert_eq!(public_base(&h, None, None), "https://registry.example.com");
        h.insert("x-forwarded-host", HeaderValue::from_static("evil/path?x"));
        assert_eq!(public_base(&h, None, None), "https://10.0.0.5:5000");
        assert_eq!(
            public_base(&h, None, Some("https://fixed.example/")),
            "https://fixed.example"
        );
    }

    #[test]
    fn routes_need_docker_scopes() {
        let m = Route::Manifest {
            name: "a/b".into(),
            reference: "v1",
        };
        assert_eq!(
            needs(&m, &Method::GET)[0].to_string(),
            "repository:a/b:pull"
        );
        assert_eq!(
            needs(&m, &Method::PUT)[0].to_string(),
            "repository:a/b:pull,push"
        );
        assert_eq!(
            needs(&m, &Method::DELETE)[0].to_string(),
            "repository:a/b:delete"
        );
        let start = Route::UploadStart { name: "a".into() };
        assert_eq!(
            needs(&start, &Method::POST),
            vec![Scope::repository("a", &[Action::Pull, Action::Push])]
        );
        assert!(needs(&Route::Base, &Method::GET).is_empty());
        assert_eq!(
            needs(&Route::Catalog, &Method::GET)[0].to_string(),
            "registry:catalog:*"
        );
    }
}
