//! The `/v2` API: the access check for a matched route, then the handler for that
//! resource (the route was matched by the front door; names are checked here).

mod blobs;
mod discovery;
mod manifests;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_oci::RepoName;
use berth_storage::ByteStream;
use futures_util::TryStreamExt;

use berth_notify::{Action, Target};

use crate::AppState;
use crate::access::{self, Peer};
use crate::response::{ApiError, ApiResult, all_params, first_param, hv};
use crate::routes::Route;

/// Set on the response of a finished blob upload: its size in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobAccepted(pub u64);

/// Set on a response whose request is a registry event (push, pull, delete, mount); the
/// front door turns it into a notification. `target.url` is a path here.
#[derive(Debug, Clone)]
pub(crate) struct Emit(pub Action, pub Target);

/// Marks `resp` as the event `action` on `target` — built only when notifications or the
/// audit log take it, since pulls are the hottest path.
pub(crate) fn emit(
    ctx: &Ctx,
    mut resp: Response,
    action: Action,
    target: impl FnOnce() -> Target,
) -> Response {
    if ctx.state.events.notifier.listening() || ctx.state.audit.is_some() {
        resp.extensions_mut().insert(Emit(action, target()));
    }
    resp
}

/// The media type Distribution gives blobs in events.
pub(crate) const BLOB_MEDIA_TYPE: &str = "application/octet-stream";

/// Everything a handler may need from the request.
pub(crate) struct Ctx {
    pub state: Arc<AppState>,
    /// Who was signed in for the route's own scopes; handlers ask about anything more.
    pub who: berth_auth::Identity,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Body,
}

impl Ctx {
    pub fn param(&self, key: &str) -> Option<&str> {
        first_param(&self.query, key)
    }

    pub fn params<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        all_params(&self.query, key)
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

pub(crate) fn has_body(headers: &HeaderMap) -> bool {
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

/// Serves one `/v2` request: the access check for what the route needs, then the
/// handler. Returns the response and who was signed in.
pub(crate) async fn serve(
    state: &Arc<AppState>,
    route: Route<'_>,
    parts: axum::http::request::Parts,
    query: Vec<(String, String)>,
    body: Body,
    peer: Option<&Peer>,
) -> (Response, Option<String>) {
    let needs = access::needs(&route, &parts.method);
    let who = match access::check(&state.auth, &parts.headers, peer, &needs, &state.options).await {
        Ok(who) => who,
        Err(refusal) => return (refusal, None),
    };
    let user = who.user.clone();
    let ctx = Ctx {
        state: state.clone(),
        who,
        method: parts.method,
        headers: parts.headers,
        query,
        body,
    };
    let resp = handle(route, ctx)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    (resp, user)
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
