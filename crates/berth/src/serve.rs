//! `berth serve`: load the configuration, open storage and metadata, import a registry:2
//! tree on first start, and serve until SIGTERM/SIGINT.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::http::{HeaderName, HeaderValue};
use berth_api::debug::DebugOptions;
use berth_api::health::PeriodicChecks;
use berth_api::metered_store::MeteredStore;
use berth_api::metrics::Metrics;
use berth_api::{ApiOptions, AppState, Events};
use berth_core::lifecycle::{Lifecycle, LifecycleMetrics};
use berth_core::{Options, Registry};
use berth_jobs::Jobs;
use berth_meta::MetaStore;
use berth_notify::{Notifier, NotifyMetrics, Source};
use berth_storage::BlobStore;
use tokio::net::TcpListener;

use crate::settings::{self, ServeSettings};

pub fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let s = settings::load(config)?;
    crate::logging::init(&s.log);
    for warning in &s.warnings {
        tracing::warn!("config: {warning}");
    }
    crate::runtime()?.block_on(serve(s))
}

fn api_options(s: &ServeSettings) -> anyhow::Result<ApiOptions> {
    let mut headers = Vec::new();
    for (name, values) in &s.headers {
        let name = HeaderName::try_from(name.as_str())
            .with_context(|| format!("http.headers: {name:?} is not a valid header name"))?;
        for v in values {
            let value = HeaderValue::try_from(v.as_str())
                .with_context(|| format!("http.headers.{name}: {v:?} is not a valid value"))?;
            headers.push((name.clone(), value));
        }
    }
    Ok(ApiOptions {
        prefix: s.prefix.trim_end_matches('/').to_string(),
        base_url: s.base_url.clone(),
        headers,
        metrics_on_main_port: s.metrics_on_main_port,
        ui: s.ui.enabled,
    })
}

/// Opens the blob store and the metadata database, importing a registry:2 tree the first
/// time berth sees it.
pub async fn open_storage(s: &ServeSettings) -> anyhow::Result<Storage> {
    let (blobs, tree) = s.storage.open()?;
    let meta = s.metadata.open().await?;
    crate::import::import_if_new(tree.as_ref(), blobs.as_ref(), &meta).await?;
    Ok(Storage { blobs, meta })
}

/// The opened blob store and metadata.
pub struct Storage {
    pub blobs: Arc<dyn BlobStore>,
    pub meta: Arc<dyn MetaStore>,
}

pub fn registry_options(s: &ServeSettings) -> Options {
    Options {
        delete_enabled: s.delete_enabled,
        immutable: s.immutable.clone(),
        grace: s.gc.options.grace,
        redirect: s.redirect,
    }
}

/// Claims `path` for this `berth serve` for as long as the returned file stays open: a
/// second server on the same data would run its own garbage collection and upload state
/// beside this one's (with SQLite metadata; shared metadata needs PostgreSQL). The file
/// says which process holds it.
/// [`claim`]s a SQLite metadata file, as `berth serve` does for as long as it runs.
pub fn claim_sqlite(metadata: &Path) -> anyhow::Result<std::fs::File> {
    claim(
        &berth_meta::beside(metadata, ".serve-lock"),
        &format!("the metadata database {}", metadata.display()),
    )
}

fn claim(path: &Path, what: &str) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            anyhow::bail!(
                "another berth serve ({}) is already using {what}; stop it first, or give \
                 this one its own storage root and metadata (several servers on one registry \
                 need S3 storage and PostgreSQL metadata, see docs/deployment.md)",
                if holder.is_empty() {
                    "unknown process"
                } else {
                    holder
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "pid {}", std::process::id())?;
    Ok(file)
}

async fn serve(s: ServeSettings) -> anyhow::Result<()> {
    // Replicas share S3 storage and PostgreSQL metadata. A filesystem root is one
    // server's: its uploads are files that one process at a time writes. With SQLite
    // metadata the storage is one server's too: a second would index the same blobs into
    // metadata of its own.
    let storage_lock = match (s.storage.filesystem_root(), s.metadata.sqlite_path()) {
        (Some(root), _) => {
            Some(berth_storage::distribution::v2_dir(root).join("_berth/serve.lock"))
        }
        (None, Some(_)) => Some(s.root.join("berth/serve.lock")),
        (None, None) => None,
    };
    let _storage_claim = storage_lock
        .map(|path| claim(&path, &format!("the storage {}", s.storage.describe())))
        .transpose()?;
    let _metadata_claim = s.metadata.sqlite_path().map(claim_sqlite).transpose()?;
    let Storage { blobs, meta } = open_storage(&s).await?;
    let jobs = Jobs::new(meta.clone(), s.job_lease);

    let auth = Arc::new(crate::auth::authenticator(&s, meta.clone()).await?);
    let mut metrics = Metrics::new();
    let notify_metrics = NotifyMetrics::default();
    metrics.register_notifications(&notify_metrics);
    let lifecycle_metrics = LifecycleMetrics::default();
    metrics.register_lifecycle(&lifecycle_metrics);
    let metrics = Arc::new(metrics);
    for e in &s.endpoints {
        tracing::info!(endpoint = e.name, url = e.url, "sending notifications");
    }
    // Always running: projects' webhook policies may be created at any time.
    let events = Events {
        notifier: Notifier::start(
            meta.clone(),
            &jobs,
            s.endpoints.clone(),
            s.include_references,
            notify_metrics,
        ),
        source: Source {
            addr: s.addr.clone(),
            instance_id: uuid::Uuid::new_v4().to_string(),
        },
    };
    let driver = if s.storage.filesystem_root().is_some() {
        "filesystem"
    } else {
        "s3"
    };
    let store = Arc::new(MeteredStore::new(blobs, driver, metrics.clone()));
    let registry = Arc::new(
        Registry::new(store, meta.clone(), registry_options(&s)).with_events(Arc::new(
            berth_api::domain_events::WebhookSink(events.notifier.clone()),
        )),
    );
    let watcher = registry.clone();
    tokio::spawn(async move { watcher.watch_other_writers().await });
    let lifecycle = Arc::new(
        Lifecycle::new(
            registry.clone(),
            s.gc.options,
            s.retention.policies.clone(),
            lifecycle_metrics,
            jobs.clone(),
        )
        .with_gc_schedule(s.gc.background.then_some(s.gc.interval)),
    );
    lifecycle
        .watch_other_runs()
        .await
        .context("reading the lifecycle run history")?;
    crate::background::start(&jobs, lifecycle.clone(), &s);
    let pulls = registry.clone();
    let periodic_checks = PeriodicChecks::start(s.checks.clone(), registry.clone());
    let audit_syslog = match &s.audit.syslog {
        Some(c) => Some(
            c.target()
                .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?,
        ),
        None => None,
    };
    let state = Arc::new(AppState {
        periodic_checks,
        registry,
        auth: auth.clone(),
        options: api_options(&s)?,
        metrics,
        events,
        lifecycle: Some(lifecycle),
        teams: Arc::new(berth_auth::Teams::new(
            meta.clone(),
            match s.projects.creation {
                berth_config::ProjectCreation::Everyone => {
                    berth_auth::CreationRestriction::Everyone
                }
                berth_config::ProjectCreation::Adminonly => {
                    berth_auth::CreationRestriction::AdminOnly
                }
            },
        )),
        robots: Arc::new(berth_auth::Robots::new(meta.clone())),
        oidc: crate::auth::oidc_provider(&s.oidc)?,
        // Who did what is only worth recording when requests say who they are.
        audit: (!auth.is_open()).then(|| {
            berth_api::audit::Auditor::start(
                meta.clone(),
                berth_api::audit::AuditSettings {
                    pulls: s.audit.pulls,
                    retention: s.audit.retention,
                    file: s.audit.file.clone(),
                    syslog: audit_syslog,
                },
            )
        }),
        management: Default::default(),
        configurations: crate::configurations::harbor_view(&s),
        ui: Default::default(),
    });
    let app = berth_api::router(state.clone());
    if let Some(addr) = &s.debug_addr {
        start_debug_listener(addr, state, s.metrics_path.clone()).await?;
    }
    let tls = s
        .tls
        .as_ref()
        .map(berth_api::server::tls_config)
        .transpose()
        .context("http.tls")?;
    let listener = TcpListener::bind(&s.addr)
        .await
        .with_context(|| format!("cannot listen on {} (http.addr)", s.addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls.is_some(),
        storage = %s.storage.describe(),
        metadata = %s.metadata.describe(),
        "berth is serving"
    );
    let local = listener.local_addr()?;
    if tls.is_none() && !auth.is_open() && !local.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on {local} with password logins: passwords and tokens cross \
             the network unencrypted, and Docker and podman refuse plain HTTP from other hosts \
             unless told the registry is insecure; configure http.tls (see the README's TLS \
             section) or put a TLS proxy in front"
        );
    }
    if auth.is_open() {
        tracing::warn!(
            "AUTHENTICATION IS OFF: anyone who can reach {} can push, pull and delete \
             (add an auth section to the config: local, htpasswd or token)",
            s.addr
        );
    } else {
        tracing::info!(
            mode = auth.mode_name(),
            anonymous_pull = s.anonymous_pull,
            "authentication on"
        );
    }
    berth_api::server::serve(listener, app, tls, shutdown_signal(), s.drain).await?;
    // Hands running jobs' leases back, so another replica carries on at once.
    jobs.shutdown().await;
    if let Err(e) = pulls.flush_pulls().await {
        tracing::warn!(error = %e, "could not record the last pull times");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The debug listener runs until the process ends; it holds no state worth draining.
async fn start_debug_listener(
    addr: &str,
    state: Arc<AppState>,
    metrics_path: Option<String>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (http.debug.addr)"))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        metrics = metrics_path.as_deref().unwrap_or("off"),
        "debug listener: /debug/health and metrics"
    );
    let app = berth_api::debug::router(state, DebugOptions { metrics_path });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "debug listener stopped");
        }
    });
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
