//! Turns a loaded [`Config`] into what `serve` needs, refusing configurations berth cannot
//! honour safely (another storage driver, an access controller it does not enforce yet).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use berth_api::server::TlsSettings;
use berth_config::{AuthConfig, Config, LoadedConfig, StorageDriver, TlsVersion};

pub struct ServeSettings {
    pub root: PathBuf,
    pub metadata: PathBuf,
    pub delete_enabled: bool,
    pub addr: String,
    pub prefix: String,
    pub base_url: Option<String>,
    pub headers: Vec<(String, Vec<String>)>,
    pub tls: Option<TlsSettings>,
    pub drain: Duration,
    pub log: LogSettings,
    pub authenticated: bool,
    pub warnings: Vec<String>,
}

pub struct LogSettings {
    pub level: &'static str,
    pub json: bool,
    pub fields: Vec<(String, String)>,
    pub access_log: bool,
}

/// Loads CONFIG (or berth's no-file default) with `REGISTRY_*` overrides applied.
pub fn load_config(config: Option<&Path>) -> anyhow::Result<LoadedConfig> {
    let env = std::env::vars();
    Ok(match config {
        Some(path) => Config::load(path, env)?,
        None => Config::default_with_env(env)?,
    })
}

/// `:5000` means every interface, as in Go's net.Listen.
fn listen_addr(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    }
}

fn tls_settings(config: &Config) -> Option<TlsSettings> {
    let tls = &config.http.tls;
    let certificate = tls.certificate.clone().filter(|_| tls.enabled())?;
    Some(TlsSettings {
        key: tls.key.clone().unwrap_or_else(|| certificate.clone()),
        certificate,
        client_cas: tls.clientcas.clone(),
        tls13_only: tls.minimumtls == TlsVersion::Tls13,
    })
}

pub fn load(config: Option<&Path>) -> anyhow::Result<ServeSettings> {
    let LoadedConfig { config, warnings } = load_config(config)?;
    let root = match config.storage.driver() {
        StorageDriver::Filesystem { rootdirectory, .. } => rootdirectory.clone(),
        other => bail!(
            "storage.{}: berth stores blobs on the filesystem only for now; \
             configure storage.filesystem.rootdirectory",
            other.name()
        ),
    };
    if !matches!(config.auth, AuthConfig::None) {
        bail!(
            "auth.{}: berth does not enforce this access controller yet, and refuses to \
             serve an open registry in its place. Remove the auth section (or set \
             `auth: none`) to run without authentication on a trusted network",
            config.auth.name()
        );
    }
    let metadata = config
        .metadata_path()
        .context("berth.metadata.path: set where the metadata database lives")?;
    Ok(ServeSettings {
        metadata,
        root,
        delete_enabled: config.storage.delete_enabled(),
        addr: listen_addr(&config.http.addr),
        prefix: config.http.prefix.clone(),
        base_url: config.http.base_url().map(String::from),
        headers: config.http.headers.clone(),
        tls: tls_settings(&config),
        drain: config.http.drain_timeout(),
        log: LogSettings {
            level: config.log.level.as_str(),
            json: config.log.formatter.is_json(),
            fields: config.log.fields.clone(),
            access_log: !config.log.accesslog.disabled,
        },
        authenticated: false,
        warnings,
    })
}

/// `berth config check`: warnings go to stderr, the verdict to stdout; errors fail.
pub fn check(config: &Path) -> anyhow::Result<()> {
    let loaded = load_config(Some(config))?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: OK ({} warning{})",
        config.display(),
        loaded.warnings.len(),
        if loaded.warnings.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
