//! The front door: every request on the main listener comes through here. It picks the
//! endpoint (the `/v2` API, the token service, the users API, health), and does what all
//! of them share: a request id, metrics, common headers, the access log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use berth_notify::{Actor, Event, RequestInfo};

use crate::AppState;
use crate::access::{self, Peer, SignedIn};
use crate::response::{ApiError, hv};
use crate::routes::{self, Route};

/// Which endpoint a path names; also the `handler` label of the metrics.
enum Endpoint<'a> {
    V2(Route<'a>),
    Token(crate::token::Endpoint),
    /// Harbor's `/api/v2.0`.
    Management,
    Health(crate::health::Probe),
    Metrics,
    /// The web interface's pages.
    Ui,
    Unknown,
}

impl Endpoint<'_> {
    fn label(&self) -> &'static str {
        match self {
            Endpoint::V2(route) => route.label(),
            Endpoint::Token(_) => "token",
            Endpoint::Management => "management",
            Endpoint::Health(_) => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::Ui => "ui",
            Endpoint::Unknown => "unknown",
        }
    }
}

fn classify<'a>(path: &'a str, prefix: &str, metrics: bool, ui: bool) -> Endpoint<'a> {
    // Probes (and metrics) answer at the root as well, where orchestrators look for them.
    if let Some(probe) = crate::health::route(path) {
        return Endpoint::Health(probe);
    }
    if metrics && path == "/metrics" {
        return Endpoint::Metrics;
    }
    let Some(local) = path.strip_prefix(prefix) else {
        return Endpoint::Unknown;
    };
    if let Some(probe) = crate::health::route(local) {
        return Endpoint::Health(probe);
    }
    if crate::harbor::matches(local) {
        return Endpoint::Management;
    }
    if let Some(e) = crate::token::route(local) {
        return Endpoint::Token(e);
    }
    if ui && berth_ui::matches(local) {
        return Endpoint::Ui;
    }
    routes::parse(local).map_or(Endpoint::Unknown, Endpoint::V2)
}

/// HTTP/2 clients name the host in the `:authority` pseudo-header and send no `Host`:
/// give every handler (token realms, event URLs) one place to find it, as in HTTP/1.1.
fn host_from_authority(req: &mut Request) {
    if req.headers().contains_key(header::HOST) {
        return;
    }
    if let Some(value) = req
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(header::HOST, value);
    }
}

/// What the audit log records of a request to `endpoint`, if anything: registry events,
/// sign-ins at the token service, and changes through the management API (not tests of
/// settings or searches, which change nothing).
fn audit_kind(
    endpoint: &Endpoint,
    path: &str,
    prefix: &str,
    method: &Method,
) -> Option<crate::audit::Kind> {
    use crate::audit::Kind;
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    match endpoint {
        Endpoint::V2(_) => Some(Kind::Registry),
        Endpoint::Token(_) => Some(Kind::SignIn),
        Endpoint::Management if changes => {
            let local = path.strip_prefix(prefix).unwrap_or(path);
            // Sessions begin and end at `/c/...`; they change nothing the log follows.
            if crate::harbor::BROWSER_PATHS.contains(&local) {
                return None;
            }
            let below = local
                .strip_prefix(crate::harbor::BASE)
                .unwrap_or(local)
                .to_string();
            let inert = below.ends_with("/ping") || below.ends_with("/search");
            (!inert).then_some(Kind::Change { path: below })
        }
        _ => None,
    }
}

/// A request id: the client's `X-Request-Id` when it is short and plain, else a new one.
fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map(String::from)
        .unwrap_or_else(new_request_id)
}

/// A random instance prefix and a counter: unique, and no system call per request.
fn new_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_string());
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}{:016x}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(crate) async fn dispatch(State(state): State<Arc<AppState>>, mut req: Request) -> Response {
    host_from_authority(&mut req);
    let id = request_id(req.headers());
    let span = tracing::info_span!("request", id = %id);
    let mut resp = serve(state, req, id.clone()).instrument(span).await;
    resp.headers_mut().insert("x-request-id", hv(&id));
    resp
}

pub(crate) async fn serve(state: Arc<AppState>, req: Request, request_id: String) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let peer = parts.extensions.get::<Peer>().cloned();
    let query = parts
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default();
    let may_leave_body_unread =
        crate::v2::has_body(&parts.headers) && parts.version <= Version::HTTP_11;
    let opts = &state.options;
    // What an event needs from the request, kept before the parts move into the
    // handler — only when someone listens.
    let event_request = state.events.notifier.listening().then(|| EventRequest {
        base: access::public_base(&parts.headers, peer.as_ref(), opts.base_url.as_deref()),
        host: header_text(&parts.headers, header::HOST),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
    });
    let endpoint = classify(&path, &opts.prefix, opts.metrics_on_main_port, opts.ui);
    let label = endpoint.label();
    let audit_request = match (
        &state.audit,
        audit_kind(&endpoint, &path, &opts.prefix, &method),
    ) {
        (Some(_), Some(kind)) => Some(
            crate::audit::Request::new(&state, kind, &method, &parts.headers, peer.as_ref()).await,
        ),
        _ => None,
    };
    let in_flight = state.metrics.in_flight(label);
    let (mut resp, mut user) = match endpoint {
        Endpoint::V2(route) => {
            crate::v2::serve(&state, route, parts, query, body, peer.as_ref()).await
        }
        Endpoint::Token(e) => {
            let resp = crate::token::handle(
                &state.auth,
                e,
                &method,
                &parts.headers,
                &query,
                body,
                peer.as_ref(),
            )
            .await;
            (resp, None)
        }
        Endpoint::Management => {
            use tower::ServiceExt;
            let slot = crate::harbor::SignedInSlot::default();
            let mut req = Request::from_parts(parts, body);
            req.extensions_mut().insert(slot.clone());
            let routes = state
                .management
                .routes(&opts.prefix)
                .with_state(state.clone());
            let resp = match routes.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            (resp, slot.take())
        }
        Endpoint::Health(probe) => (crate::health::answer(&state, probe, &method).await, None),
        Endpoint::Metrics => (crate::debug::metrics_response(&state).await, None),
        Endpoint::Ui => {
            let req = Request::from_parts(parts, body);
            let resp = crate::interface::serve(&state, peer.clone(), &request_id, req).await;
            (resp, None)
        }
        Endpoint::Unknown => (
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no API endpoint at {path}"),
            )
            .into_response(),
            None,
        ),
    };
    drop(in_flight);
    if user.is_none() {
        user = resp.extensions().get::<SignedIn>().map(|s| s.0.clone());
    }
    let emitted: Option<crate::v2::Emit> = resp.extensions_mut().remove();
    if let (Some(auditor), Some(request)) = (&state.audit, audit_request) {
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let status = resp.status();
        crate::audit::after(
            &state,
            auditor,
            request,
            status,
            location,
            user.as_deref(),
            emitted.as_ref(),
        )
        .await;
    }
    let events = &state.events;
    if let Some(seen) = event_request
        && let Some(crate::v2::Emit(action, target)) = emitted
    {
        let request = RequestInfo {
            id: request_id,
            addr: peer
                .as_ref()
                .map(|p| p.addr.to_string())
                .unwrap_or_default(),
            host: seen.host,
            method: method.to_string(),
            useragent: seen.user_agent,
        };
        let mut target = target;
        target.url = format!("{}{}{}", seen.base, opts.prefix, target.url);
        let actor = Actor {
            name: user.clone().unwrap_or_default(),
        };
        events.notifier.publish(Event::new(
            action,
            target,
            request,
            actor,
            events.source.clone(),
        ));
    }
    let status = resp.status();
    record(&state, &method, label, &resp);
    let headers = resp.headers_mut();
    if may_leave_body_unread && status.as_u16() >= 400 {
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
    state
        .metrics
        .observe(&method, label, status.as_u16(), started.elapsed());
    let bytes = body_bytes(&method, &resp);
    tracing::info!(
        target: "berth::access",
        %method,
        path,
        status = status.as_u16(),
        bytes,
        user = user.as_deref().unwrap_or("-"),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// Bytes of the response body: none for HEAD; else its declared length (streamed blobs),
/// or what the body itself says it holds.
fn body_bytes(method: &Method, resp: &Response) -> u64 {
    if *method == Method::HEAD {
        return 0;
    }
    content_length(resp)
        .or_else(|| axum::body::HttpBody::size_hint(resp.body()).exact())
        .unwrap_or(0)
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The request details an event reports.
struct EventRequest {
    base: String,
    host: String,
    user_agent: String,
}

fn header_text(headers: &axum::http::HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Counters that depend on what was answered: auth refusals, blob bytes.
fn record(state: &AppState, method: &Method, label: &'static str, resp: &Response) {
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        let reason = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "denied",
            _ => "too_many_attempts",
        };
        state.metrics.auth_failure(reason);
    }
    if label == "blob"
        && *method == Method::GET
        && status.is_success()
        && let Some(n) = content_length(resp)
    {
        state.metrics.blob_bytes("pulled", n);
    }
    if let Some(size) = resp.extensions().get::<crate::v2::BlobAccepted>() {
        state.metrics.blob_bytes("pushed", size.0);
    }
}
