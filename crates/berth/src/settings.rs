//! Turns a loaded [`Config`] into what `serve` needs, refusing configurations berth cannot
//! honour safely (another storage driver, an access controller it does not have).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use berth_api::health::{CheckKind, CheckSpec};
use berth_api::server::TlsSettings;
use berth_config::{AuthConfig, Config, LoadedConfig, TlsVersion};

pub struct ServeSettings {
    /// The local directory for berth's own files (`berth.statedirectory`, else the
    /// filesystem storage root): token signing key, first password, SQLite metadata.
    pub root: PathBuf,
    /// Where the blobs are.
    pub storage: crate::blob_location::BlobLocation,
    pub metadata: crate::metadata::MetadataLocation,
    pub delete_enabled: bool,
    /// `storage.redirect.disable` off: blob GETs go to the store where it can.
    pub redirect: bool,
    pub immutable: Vec<berth_core::policy::ImmutableRule>,
    pub addr: String,
    pub prefix: String,
    pub base_url: Option<String>,
    pub headers: Vec<(String, Vec<String>)>,
    pub tls: Option<TlsSettings>,
    pub drain: Duration,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub anonymous_pull: bool,
    /// `berth.projects`.
    pub projects: berth_config::ProjectsConfig,
    /// `berth.ldap`.
    pub ldap: berth_config::LdapConfig,
    /// `berth.oidc`.
    pub oidc: berth_config::OidcConfig,
    /// `berth.audit`.
    pub audit: berth_config::AuditConfig,
    /// `berth.ui`.
    pub ui: berth_config::UiConfig,
    /// `http.debug.addr`, resolved like `http.addr`.
    pub debug_addr: Option<String>,
    /// `http.debug.prometheus.path` when enabled.
    pub metrics_path: Option<String>,
    /// `berth.metrics.mainport`.
    pub metrics_on_main_port: bool,
    /// `storage.maintenance.uploadpurging`, when enabled.
    pub upload_purging: Option<UploadPurging>,
    /// `notifications.endpoints`, the enabled ones.
    pub endpoints: Vec<berth_notify::EndpointSettings>,
    /// `notifications.events.includereferences`.
    pub include_references: bool,
    /// The `health` section's periodic checks.
    pub checks: Vec<CheckSpec>,
    /// `berth.gc`.
    pub gc: GcSettings,
    /// `berth.retention`.
    pub retention: RetentionSettings,
    /// `berth.jobs.lease`.
    pub job_lease: Duration,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GcSettings {
    /// Collect in the background while serving.
    pub background: bool,
    pub interval: Duration,
    pub options: berth_core::gc::GcOptions,
}

#[derive(Debug, Clone)]
pub struct RetentionSettings {
    pub schedule: Option<berth_jobs::Schedule>,
    pub dry_run: bool,
    pub policies: Vec<berth_core::retention::RetentionPolicy>,
}

#[derive(Debug, Clone)]
pub struct UploadPurging {
    pub age: Duration,
    pub interval: Duration,
    pub dry_run: bool,
}

/// The access controller to run, with every default resolved.
pub enum AuthSettings {
    /// Open registry: no `auth` section in a config file, or `auth: none`.
    None,
    Htpasswd {
        path: PathBuf,
        realm: String,
    },
    Local {
        realm: Option<String>,
        service: String,
        issuer: String,
        token_ttl: Duration,
        signing_key: PathBuf,
        /// Where the first start writes the generated admin password.
        initial_password_file: PathBuf,
        refresh_tokens: bool,
    },
    Token {
        realm: String,
        service: String,
        issuer: String,
        rootcertbundle: Option<PathBuf>,
        jwks: Option<PathBuf>,
        algorithms: Vec<String>,
    },
}

const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

fn auth_settings(auth: &AuthConfig, root: &Path) -> anyhow::Result<AuthSettings> {
    Ok(match auth {
        AuthConfig::None => AuthSettings::None,
        AuthConfig::Htpasswd { realm, path } => AuthSettings::Htpasswd {
            path: path.clone().context(
                "auth.htpasswd.path: set the htpasswd file (create it with `htpasswd -Bc FILE USER`)",
            )?,
            realm: realm.clone().unwrap_or_else(|| "berth".into()),
        },
        AuthConfig::Local(l) => AuthSettings::Local {
            realm: l.realm.clone(),
            service: l.service.clone().unwrap_or_else(|| "berth".into()),
            issuer: l.issuer.clone().unwrap_or_else(|| "berth".into()),
            token_ttl: l.tokenttl.unwrap_or(DEFAULT_TOKEN_TTL),
            signing_key: l
                .signingkey
                .clone()
                .unwrap_or_else(|| root.join("berth").join("token-key.pem")),
            initial_password_file: root.join(berth_auth::users::INITIAL_PASSWORD_FILE),
            refresh_tokens: l.refreshtokens,
        },
        AuthConfig::Token(t) => {
            let need = |v: &Option<String>, key: &str| {
                v.clone()
                    .with_context(|| format!("auth.token.{key} is required for token authentication"))
            };
            if t.rootcertbundle.is_none() && t.jwks.is_none() {
                bail!("auth.token: set rootcertbundle or jwks, the keys that sign the tokens");
            }
            AuthSettings::Token {
                realm: need(&t.realm, "realm")?,
                service: need(&t.service, "service")?,
                issuer: need(&t.issuer, "issuer")?,
                rootcertbundle: t.rootcertbundle.clone(),
                jwks: t.jwks.clone(),
                algorithms: t.signingalgorithms.clone(),
            }
        }
        AuthConfig::Silly { .. } | AuthConfig::Other { .. } => bail!(
            "auth.{}: berth does not have this access controller, and refuses to serve an \
             open registry in its place. Use htpasswd, token, local (berth's users and \
             token service) or none",
            auth.name()
        ),
    })
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
    let storage = crate::blob_location::BlobLocation::from_config(&config)?;
    let root = config.state_directory().with_context(|| {
        format!(
            "berth.statedirectory: set a local directory for berth's own files (the SQLite \
             metadata unless the database section is enabled, the token signing key, the \
             first administrator's password); the blobs are in {}",
            storage.describe()
        )
    })?;
    let auth = auth_settings(&config.auth, &root)?;
    let metadata = crate::metadata::MetadataLocation::from_config(&config)?;
    Ok(ServeSettings {
        metadata,
        root,
        storage,
        delete_enabled: config.storage.delete_enabled(),
        redirect: !config.storage.redirect.disable,
        immutable: immutable_rules(&config.berth.immutable)?,
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
        auth,
        anonymous_pull: config.berth.access.anonymouspull,
        projects: config.berth.projects.clone(),
        ldap: config.berth.ldap.clone(),
        oidc: config.berth.oidc.clone(),
        audit: config.berth.audit.clone(),
        ui: config.berth.ui.clone(),
        debug_addr: config.http.debug.addr.as_deref().map(listen_addr),
        endpoints: endpoints(&config.notifications)?,
        include_references: config.notifications.events.includereferences,
        checks: health_checks(&config.health),
        gc: GcSettings {
            background: config.berth.gc.enabled,
            interval: config.berth.gc.interval.max(Duration::from_millis(100)),
            options: berth_core::gc::GcOptions {
                grace: config.berth.gc.grace,
                rules: berth_meta::CollectRules {
                    delete_untagged: config.berth.gc.deleteuntagged,
                    orphan_referrers: config.berth.gc.orphanreferrers,
                },
                dry_run: false,
                // `serve` and `berth gc` import a registry:2 tree before collecting.
                walk_storage: true,
            },
        },
        retention: retention_settings(&config.berth.retention)?,
        job_lease: config.berth.jobs.lease,
        metrics_on_main_port: config.berth.metrics.mainport,
        upload_purging: {
            let p = &config.storage.maintenance.uploadpurging;
            p.enabled.then(|| UploadPurging {
                age: p.age,
                // A zero interval would spin; Distribution rejects it too.
                interval: p.interval.max(Duration::from_millis(100)),
                dry_run: p.dryrun,
            })
        },
        metrics_path: config.http.debug.prometheus.enabled.then(|| {
            config
                .http
                .debug
                .prometheus
                .path
                .clone()
                .unwrap_or_else(|| "/metrics".into())
        }),
        warnings,
    })
}

fn immutable_rules(
    rules: &[berth_config::ImmutableTagRule],
) -> anyhow::Result<Vec<berth_core::policy::ImmutableRule>> {
    use berth_core::policy::{Glob, ImmutableRule};
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.repositories.is_empty() || r.tags.is_empty() {
                bail!("berth.immutable[{i}]: set both repositories and tags (globs; ** for all)");
            }
            Ok(ImmutableRule {
                repositories: Glob::new(&r.repositories),
                tags: Glob::new(&r.tags),
            })
        })
        .collect()
}

fn retention_settings(r: &berth_config::RetentionConfig) -> anyhow::Result<RetentionSettings> {
    use berth_core::policy::Glob;
    use berth_core::retention::{KeepRule, RetentionPolicy};
    let schedule = r
        .schedule
        .as_deref()
        .map(berth_jobs::Schedule::parse)
        .transpose()
        .context("berth.retention.schedule")?;
    let mut policies = Vec::new();
    for (i, p) in r.policies.iter().enumerate() {
        let at = format!("berth.retention.policies[{i}]");
        if p.repositories.is_empty() {
            bail!("{at}.repositories: set the repositories it applies to (a glob; ** for all)");
        }
        let mut keep = Vec::new();
        for (j, rule) in p.keep.iter().enumerate() {
            let mut kinds = Vec::new();
            if let Some(n) = rule.mostrecentlypushed {
                kinds.push(KeepRule::MostRecentlyPushed(n as usize));
            }
            if let Some(n) = rule.mostrecentlypulled {
                kinds.push(KeepRule::MostRecentlyPulled(n as usize));
            }
            if let Some(d) = rule.pushedwithin {
                kinds.push(KeepRule::PushedWithin(d));
            }
            if let Some(d) = rule.pulledwithin {
                kinds.push(KeepRule::PulledWithin(d));
            }
            if !rule.tags.is_empty() {
                kinds.push(KeepRule::Tags(
                    rule.tags.iter().map(|t| Glob::new(t)).collect(),
                ));
            }
            if kinds.len() != 1 {
                bail!(
                    "{at}.keep[{j}]: set exactly one of mostrecentlypushed, mostrecentlypulled, \
                     pushedwithin, pulledwithin, tags (list several rules to combine them)"
                );
            }
            keep.extend(kinds);
        }
        if keep.is_empty() {
            bail!(
                "{at}.keep: list at least one rule; a policy without rules would delete every tag"
            );
        }
        let delete_untagged = match p.untagged.as_deref() {
            None | Some("keep") => false,
            Some("delete") => true,
            Some(other) => bail!("{at}.untagged: {other:?} is not keep or delete"),
        };
        policies.push(RetentionPolicy {
            repositories: Glob::new(&p.repositories),
            tags: Glob::new(p.tags.as_deref().unwrap_or("**")),
            keep,
            delete_untagged,
        });
    }
    Ok(RetentionSettings {
        schedule,
        dry_run: r.dryrun,
        policies,
    })
}

/// `name: [v1, v2]` header maps as one `(name, value)` pair per value, in file order.
fn flatten_headers(headers: &[(String, Vec<String>)]) -> Vec<(String, String)> {
    headers
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
        .collect()
}

const CHECK_INTERVAL: Duration = Duration::from_secs(10);
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Distribution's `health` section as periodic checks, with its defaults.
fn health_checks(h: &berth_config::HealthConfig) -> Vec<CheckSpec> {
    let mut out = Vec::new();
    if h.storagedriver.enabled {
        out.push(CheckSpec {
            name: "storagedriver".into(),
            kind: CheckKind::Storage,
            interval: h.storagedriver.interval.unwrap_or(CHECK_INTERVAL),
            threshold: h.storagedriver.threshold.unwrap_or(1),
        });
    }
    for f in &h.file {
        out.push(CheckSpec {
            name: format!("file:{}", f.file.display()),
            kind: CheckKind::FileAbsent(f.file.clone()),
            interval: f.interval.unwrap_or(CHECK_INTERVAL),
            threshold: 1,
        });
    }
    for c in &h.http {
        out.push(CheckSpec {
            name: format!("http:{}", c.uri),
            kind: CheckKind::Http {
                uri: c.uri.clone(),
                headers: flatten_headers(&c.headers),
                status: c.statuscode.unwrap_or(200),
                timeout: c.timeout.unwrap_or(CHECK_TIMEOUT),
            },
            interval: c.interval.unwrap_or(CHECK_INTERVAL),
            threshold: c.threshold.unwrap_or(1),
        });
    }
    for c in &h.tcp {
        out.push(CheckSpec {
            name: format!("tcp:{}", c.addr),
            kind: CheckKind::Tcp {
                addr: c.addr.clone(),
                timeout: c.timeout.unwrap_or(CHECK_TIMEOUT),
            },
            interval: c.interval.unwrap_or(CHECK_INTERVAL),
            threshold: c.threshold.unwrap_or(1),
        });
    }
    out
}

fn endpoints(
    n: &berth_config::NotificationsConfig,
) -> anyhow::Result<Vec<berth_notify::EndpointSettings>> {
    let mut out = Vec::new();
    for (i, e) in n.endpoints.iter().enumerate() {
        if e.disabled {
            continue;
        }
        if e.name.is_empty() || e.url.is_empty() {
            bail!("notifications.endpoints[{i}]: name and url are required");
        }
        if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
            bail!(
                "notifications.endpoints[{i}].url: {:?} is not an http(s) URL",
                e.url
            );
        }
        let mut ignore_media_types = e.ignore.mediatypes.clone();
        ignore_media_types.extend(e.ignoredmediatypes.iter().cloned());
        out.push(berth_notify::EndpointSettings {
            name: e.name.clone(),
            url: e.url.clone(),
            headers: flatten_headers(&e.headers),
            timeout: e.timeout.unwrap_or(Duration::from_secs(5)),
            threshold: e.threshold.unwrap_or(3),
            backoff: e.backoff.unwrap_or(Duration::from_secs(1)),
            ignore_media_types,
            ignore_actions: e.ignore.actions.clone(),
            secret: e.secret.clone(),
        });
    }
    Ok(out)
}

/// `berth config check`: refuses whatever `serve` would refuse — the settings, then the
/// files they name (TLS certificate and key, client CAs, htpasswd, token keys) — and says
/// when the configuration runs an open registry. Warnings go to stderr, the verdict to
/// stdout.
pub fn check(config: &Path) -> anyhow::Result<()> {
    let s = load(Some(config))?;
    s.tls
        .as_ref()
        .map(berth_api::server::tls_config)
        .transpose()
        .context("http.tls")?;
    crate::auth::check_files(&s)?;
    let mut warnings = s.warnings;
    if matches!(s.auth, AuthSettings::None) {
        warnings.push(
            "there is no auth section: this runs an OPEN registry where anyone who can reach \
             it may push, pull and delete; add auth.local, auth.htpasswd or auth.token"
                .into(),
        );
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: OK ({} warning{})",
        config.display(),
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
