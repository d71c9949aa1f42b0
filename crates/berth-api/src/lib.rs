//! HTTP: the `/v2` distribution API on top of berth-core, the access check in front of
//! it, the built-in token service, and the server that carries it all (plain TCP or
//! rustls; HTTP/1.1 and HTTP/2).

pub mod access;
pub mod audit;
mod audit_syslog;
mod cert_reload;
mod client_cert;
pub mod debug;
pub mod domain_events;
mod front;
mod harbor;
pub mod health;
mod interface;
pub mod metered_store;
pub mod metrics;
mod response;
mod routes;
pub mod server;
mod token;
mod v2;

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use berth_auth::Authenticator;
use berth_core::Registry;
use metrics::Metrics;

/// What the HTTP layer needs to know beyond the registry itself.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// `http.prefix`, without a trailing slash (e.g. `/registry`); empty for none.
    pub prefix: String,
    /// `http.host`: when set, `Location` headers are absolute URLs on this base.
    pub base_url: Option<String>,
    /// `http.headers`: added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `berth.metrics.mainport`: also serve `/metrics` on the main listener.
    pub metrics_on_main_port: bool,
    /// `berth.ui.enabled`: serve the web interface at the prefix's root.
    pub ui: bool,
}

pub struct AppState {
    pub registry: Arc<Registry>,
    pub auth: Arc<Authenticator>,
    pub options: ApiOptions,
    pub metrics: Arc<Metrics>,
    /// Where registry events go: configured endpoints and projects' webhook policies.
    pub events: Events,
    /// The `health` section's checks, part of readiness.
    pub periodic_checks: health::PeriodicChecks,
    /// Garbage collection and retention runs, for `/system/gc`, `/retentions` and
    /// `/system/retention`.
    pub lifecycle: Option<Arc<berth_core::lifecycle::Lifecycle>>,
    /// Projects and their members, for the management API.
    pub teams: Arc<berth_auth::Teams>,
    /// Robot accounts, for the management API.
    pub robots: Arc<berth_auth::Robots>,
    /// The audit log's recorder (none in modes without berth's own users).
    pub audit: Option<Arc<audit::Auditor>>,
    /// The OpenID Connect provider people sign in with (`berth.oidc`), if any.
    pub oidc: Option<Arc<berth_auth::oidc::Provider>>,
    /// The management API's routes, built on first use.
    pub management: ManagementApi,
    /// What `GET /api/v2.0/configurations` reports.
    pub configurations: Vec<ConfigurationItem>,
    /// The web interface's routes, built on first use.
    pub ui: berth_ui::Interface,
}

/// One of Harbor's system settings as berth's configuration answers it.
#[derive(Debug, Clone)]
pub struct ConfigurationItem {
    /// Harbor's name (`project_creation_restriction`).
    pub key: &'static str,
    pub value: serde_json::Value,
    /// The `config.yml` key that sets it, or why nothing does (`(fixed)`).
    pub set_by: &'static str,
}

/// Harbor's `/api/v2.0`, routed by axum (built once, given the state per request).
#[derive(Default)]
pub struct ManagementApi(std::sync::OnceLock<axum::Router<Arc<AppState>>>);

impl ManagementApi {
    fn routes(&self, prefix: &str) -> axum::Router<Arc<AppState>> {
        self.0.get_or_init(|| harbor::router(prefix)).clone()
    }
}

/// The notification side of the registry: who receives events, and how this instance
/// names itself in them.
pub struct Events {
    pub notifier: Arc<berth_notify::Notifier>,
    pub source: berth_notify::Source,
}

/// The application: every request goes through one dispatcher, because repository names
/// contain slashes and are matched from the right, as Distribution does.
pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .fallback(front::dispatch)
        .with_state(state)
}
