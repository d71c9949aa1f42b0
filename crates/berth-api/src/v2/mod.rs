//! The `/v2` API: one dispatcher that matches the route, checks the repository name, and
//! hands over to the handler for that resource.

mod blobs;
mod discovery;
mod manifests;
mod uploads;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use berth_oci::RepoName;
use berth_storage::ByteStream;
use futures_util::TryStreamExt;

use crate::AppState;
use crate::access::{self, Peer, SignedIn};
use crate::response::{ApiError, ApiResult, hv};
use crate::routes::{self, Route};

/// Everything a handler may need from the request.
pub(crate) struct Ctx {
    pub state: Arc<AppState>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Body,
}

impl Ctx {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn params<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A URL for `path` (which starts with `/v2/`), honouring `http.prefix` and `http.host`.
    pub fn url(&self, path: &str) -> HeaderValue {
        let opts = &self.state.options;
        hv(format!(
            "{}{}{path}",
            opts.base_url.as_deref().unwrap_or(""),
            opts.prefix
        ))
    }

    /// The request body as a stream of chunks.
    pub fn take_body(&mut self) -> ByteStream {
        let body = std::mem::take(&mut self.body);
        Box::pin(body.into_data_stream().map_err(std::io::Error::other))
    }

    /// Whether the request carries a body at all (a final `PUT` often does not).
    pub fn has_body(&self) -> bool {
        has_body(&self.headers)
    }
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    chunked || length.is_some_and(|l| l.trim() != "0")
}

pub(crate) fn repo_name(name: &str) -> Result<RepoName, ApiError> {
    name.parse::<RepoName>()
        .map_err(|e| berth_core::RegistryError::from(e).into())
}

pub(crate) fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "the method is not supported on this endpoint",
    )
}

pub(crate) async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let method = parts.method.clone();
    let peer = parts.extensions.get::<Peer>().cloned();
    let query = parts
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default();
    let local = path.strip_prefix(state.options.prefix.as_str());
    let mut user = None;
    let may_leave_body_unread = has_body(&parts.headers) && parts.version <= Version::HTTP_11;
    let realm = || {
        let opts = &state.options;
        access::default_realm(
            &parts.headers,
            peer.as_ref(),
            opts.base_url.as_deref(),
            &opts.prefix,
        )
    };
    let mut resp = if let Some(api_path) = local.filter(|p| crate::users_api::matches(p)) {
        let (resp, who) = crate::users_api::handle(
            &state.auth,
            api_path,
            &method,
            &parts.headers,
            body,
            peer.as_ref(),
            realm(),
        )
        .await;
        user = who;
        resp
    } else if let Some(endpoint) = local.and_then(crate::token::route) {
        crate::token::handle(
            &state.auth,
            endpoint,
            &method,
            &parts.headers,
            &query,
            body,
            peer.as_ref(),
        )
        .await
    } else {
        let ctx = Ctx {
            state: state.clone(),
            method: method.clone(),
            headers: parts.headers,
            query,
            body,
        };
        let result = match local.and_then(routes::parse) {
            Some(route) => {
                let needs = access::needs(&route, &method, mount_source(&ctx));
                let opts = &state.options;
                let checked =
                    access::check(&state.auth, &ctx.headers, peer.as_ref(), &needs, || {
                        access::default_realm(
                            &ctx.headers,
                            peer.as_ref(),
                            opts.base_url.as_deref(),
                            &opts.prefix,
                        )
                    })
                    .await;
                match checked {
                    Ok(who) => {
                        user = who.user;
                        handle(route, ctx).await
                    }
                    Err(refusal) => Ok(refusal),
                }
            }
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no API endpoint at {path}"),
            )),
        };
        result.unwrap_or_else(IntoResponse::into_response)
    };
    if user.is_none() {
        user = resp.extensions().get::<SignedIn>().map(|s| s.0.clone());
    }
    let failed = resp.status().as_u16() >= 400;
    let headers = resp.headers_mut();
    if may_leave_body_unread && failed {
        // An error may be answered before the body is read (a chunk out of order, an
        // oversized manifest, a refused login). The server then cannot reuse the
        // connection, so say so: a client that sends its next request on it would
        // otherwise see a reset.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    for (name, value) in &state.options.headers {
        headers.append(name, value.clone());
    }
    tracing::info!(
        target: "berth::access",
        %method,
        path,
        status = resp.status().as_u16(),
        user = user.as_deref().unwrap_or("-"),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// `from` of a cross-repository mount (`POST ...?mount=<digest>&from=<repo>`).
fn mount_source(ctx: &Ctx) -> Option<&str> {
    ctx.param("mount").and(ctx.param("from"))
}

async fn handle(route: Route<'_>, ctx: Ctx) -> ApiResult {
    match route {
        Route::Base => match ctx.method {
            Method::GET | Method::HEAD => {
                Ok(([(header::CONTENT_TYPE, "application/json")], "{}").into_response())
            }
            _ => Err(method_not_allowed()),
        },
        Route::Catalog => discovery::catalog(ctx).await,
        Route::Tags { name } => discovery::tags(ctx, repo_name(&name)?).await,
        Route::Referrers { name, digest } => {
            discovery::referrers(ctx, repo_name(&name)?, digest).await
        }
        Route::Manifest { name, reference } => {
            manifests::handle(ctx, repo_name(&name)?, reference).await
        }
        Route::Blob { name, digest } => blobs::handle(ctx, repo_name(&name)?, digest).await,
        Route::UploadStart { name } => uploads::start(ctx, repo_name(&name)?).await,
        Route::Upload { name, id } => uploads::handle(ctx, repo_name(&name)?, id).await,
    }
}

pub(crate) fn parse_digest(s: &str) -> Result<berth_oci::Digest, ApiError> {
    s.parse::<berth_oci::Digest>()
        .map_err(|e| berth_core::RegistryError::from(e).into())
}

/// An empty response with the given status and headers.
pub(crate) fn empty(
    status: StatusCode,
    headers: Vec<(header::HeaderName, HeaderValue)>,
) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    for (name, value) in headers {
        h.insert(name, value);
    }
    resp
}
