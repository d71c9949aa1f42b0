//! berth's configuration: CNCF Distribution's `config.yml` schema (a superset of it) and
//! its `REGISTRY_*` environment overrides, so a `registry:2` user keeps both unchanged.
//!
//! Loading never drops anything silently: keys berth does not know, and keys it knows
//! but does not act on yet, come back as warnings naming the key path. Values berth
//! cannot use are errors that name the file, the key path (or the environment
//! variable), the bad value and what is accepted.
//!
//! The pipeline is: YAML text → tree → `REGISTRY_*` overrides applied to the tree →
//! the tree checked against the schema → typed [`Config`] → cross-key checks.

mod duration;
mod env;
mod error;
mod model;
mod schema;
mod syslog;
mod walk;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_yaml::{Mapping, Value};

pub use duration::parse_go_duration;
pub use env::CONFIG_PATH_VAR;
pub use error::ConfigError;
pub use model::*;
pub use syslog::{SyslogConfig, SyslogTarget, SyslogTransport};

use walk::{Origins, Walker, strip_tags};

/// A configuration ready to use, and what the user should be told about it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// One line each: unknown keys, keys not supported yet, deprecated spellings,
    /// ignored environment variables. Meant to be logged at warn level on start.
    pub warnings: Vec<String>,
}

/// The only configuration version Distribution has ever defined.
const VERSION: &str = "0.1";

impl Config {
    /// Parses YAML text, applies `REGISTRY_*` overrides from `env` (typically
    /// `std::env::vars()`), and validates.
    pub fn from_yaml_with_env(
        yaml: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadedConfig, ConfigError> {
        build(parse_yaml(yaml)?, env, false)
    }

    /// Reads the file at `path`, then as [`Config::from_yaml_with_env`]; errors name the
    /// file.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_yaml_with_env(&text, env).map_err(|e| e.in_file(path))
    }

    /// berth's configuration when no file is given: listen on :5000, blobs and metadata
    /// under `./data`, deletes enabled, authentication on (`auth.local`). `REGISTRY_*`
    /// overrides still apply, so a container needs no file at all.
    pub fn default_with_env(
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadedConfig, ConfigError> {
        let section = |pairs: &[(&str, Value)]| {
            Value::Mapping(
                pairs
                    .iter()
                    .map(|(k, v)| (Value::from(*k), v.clone()))
                    .collect(),
            )
        };
        let root = section(&[
            ("version", Value::from(VERSION)),
            (
                "storage",
                section(&[
                    (
                        "filesystem",
                        section(&[("rootdirectory", Value::from("./data"))]),
                    ),
                    ("delete", section(&[("enabled", Value::Bool(true))])),
                ]),
            ),
            ("http", section(&[("addr", Value::from(DEFAULT_ADDR))])),
            // Secure by default: users and tokens, not an open registry.
            ("auth", section(&[("local", section(&[]))])),
        ]);
        build(root, env, true)
    }
}

fn parse_yaml(text: &str) -> Result<Value, ConfigError> {
    let yaml_error = |message: String| ConfigError::Yaml {
        file: None,
        message,
    };
    let mut root: Value = serde_yaml::from_str(text).map_err(|e| yaml_error(e.to_string()))?;
    root.apply_merge().map_err(|e| yaml_error(e.to_string()))?;
    strip_tags(&mut root);
    match root {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(_) => Ok(root),
        other => Err(yaml_error(format!(
            "the top level must be a mapping of sections (version, storage, http, ...), \
             found {}",
            walk::describe(&other)
        ))),
    }
}

fn build(
    mut root: Value,
    env: impl IntoIterator<Item = (String, String)>,
    version_implied: bool,
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();

    // The version comes from the file alone, as in Distribution (which picks the parser
    // by it before looking at the environment).
    match root.get("version") {
        None | Some(Value::Null) if !version_implied => warnings.push(format!(
            "version: missing; Distribution requires \"version: {VERSION}\", assuming {VERSION}"
        )),
        None | Some(Value::Null) => {}
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            let text = model::scalar_text(v);
            if text != VERSION {
                return Err(ConfigError::invalid(
                    "version",
                    format!("{text:?} is not supported; the configuration version is {VERSION}"),
                ));
            }
        }
        Some(other) => {
            return Err(ConfigError::invalid(
                "version",
                format!("expected {VERSION}, found {}", walk::describe(other)),
            ));
        }
    }
    if let Value::Mapping(m) = &mut root {
        m.insert(Value::from("version"), Value::from(VERSION));
    }

    let mut origins = Origins::default();
    env::apply(&mut root, env, &mut warnings, &mut origins)?;
    fold_deprecated_loglevel(&mut root);

    Walker {
        warnings: &mut warnings,
        origins: &origins,
    }
    .walk(&mut root, &schema::ROOT, "")?;

    if !has_storage_driver(&root) {
        return Err(ConfigError::Invalid {
            file: None,
            key: "storage".into(),
            problem: "no storage driver is configured; add one, e.g. \
                      storage: {filesystem: {rootdirectory: /var/lib/registry}}"
                .into(),
            env: origins.lookup("storage"),
        });
    }

    let config: Config = serde_yaml::from_value(root)
        .map_err(|e| ConfigError::invalid("configuration", e.to_string()))?;
    check(&config, &mut warnings)?;
    Ok(LoadedConfig { config, warnings })
}

/// Distribution reads the old top-level `loglevel` when `log.level` is not set.
fn fold_deprecated_loglevel(root: &mut Value) {
    let Some(level) = root.get("loglevel").filter(|v| !v.is_null()).cloned() else {
        return;
    };
    let Value::Mapping(top) = root else { return };
    let log = top
        .entry(Value::from("log"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if log.is_null() {
        *log = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(log) = log
        && log.get("level").is_none_or(Value::is_null)
    {
        log.insert(Value::from("level"), level);
    }
}

fn has_storage_driver(root: &Value) -> bool {
    match root.get("storage") {
        Some(Value::Mapping(m)) => m
            .keys()
            .filter_map(Value::as_str)
            .any(|k| !schema::is_storage_special(k)),
        _ => false,
    }
}

/// Rules that span keys, and loud warnings for settings whose absence changes security.
fn check(config: &Config, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let http = &config.http;
    let tls = &http.tls;

    if let Some(syslog) = &config.berth.audit.syslog {
        syslog
            .target()
            .map_err(|(key, message)| ConfigError::invalid(key, message))?;
    }

    if http.net == Net::Unix {
        return Err(ConfigError::invalid(
            "http.net",
            "unix sockets are not supported yet; remove http.net or set it to tcp",
        ));
    }
    if !http.prefix.is_empty() && !http.prefix.starts_with('/') {
        return Err(ConfigError::invalid(
            "http.prefix",
            format!("{:?} must start with /, e.g. /registry/", http.prefix),
        ));
    }
    if let Some(host) = &http.host {
        let valid = ["http://", "https://"]
            .iter()
            .any(|s| host.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
        if !valid {
            return Err(ConfigError::invalid(
                "http.host",
                format!(
                    "{host:?} is not an absolute URL; write it as \
                     https://registry.example.com[:port]"
                ),
            ));
        }
    }

    match (&tls.certificate, &tls.key) {
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                "http.tls.key",
                "missing: http.tls.certificate is set, so the private key file is needed too",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "http.tls.certificate",
                "missing: http.tls.key is set, so the certificate file is needed too",
            ));
        }
        _ => {}
    }
    let letsencrypt_cache = tls
        .letsencrypt
        .as_ref()
        .and_then(|le| le.get("cachefile"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if letsencrypt_cache.is_some() && tls.enabled() {
        return Err(ConfigError::invalid(
            "http.tls.letsencrypt",
            "cannot be combined with http.tls.certificate; keep one of them",
        ));
    }
    if letsencrypt_cache.is_some() {
        warnings.push(
            "http.tls.letsencrypt: not supported yet, so TLS is OFF and the registry serves \
             PLAIN HTTP; configure http.tls.certificate and http.tls.key instead"
                .into(),
        );
    } else if tls.letsencrypt.as_ref().is_some_and(|le| !is_empty(le)) {
        warnings.push("http.tls.letsencrypt: not supported yet, ignored".into());
    }
    if !tls.ciphersuites.is_empty() {
        warnings.push(format!(
            "http.tls.ciphersuites: not supported yet, ignored ({}); berth offers only modern \
             suites: TLS 1.3 AES-GCM and ChaCha20-Poly1305, and for TLS 1.2 ECDHE with \
             AES-GCM or ChaCha20-Poly1305",
            tls.ciphersuites.join(", ")
        ));
    }
    if !tls.enabled() && !tls.clientcas.is_empty() {
        warnings.push(
            "http.tls.clientcas: has no effect without http.tls.certificate (TLS is off)".into(),
        );
    }
    match tls.clientauth {
        Some(mode) if tls.clientcas.is_empty() => warnings.push(format!(
            "http.tls.clientauth: {} has no effect without http.tls.clientcas",
            client_auth_name(mode)
        )),
        Some(mode) if mode != ClientAuth::RequireAndVerifyClientCert => warnings.push(format!(
            "http.tls.clientauth: {} is not supported yet; every client must present a \
                 certificate signed by one of http.tls.clientcas \
                 (require-and-verify-client-cert)",
            client_auth_name(mode)
        )),
        _ => {}
    }
    if http.http2.disabled {
        warnings.push("http.http2.disabled: not supported yet, HTTP/2 stays enabled".into());
    }

    if config.storage.read_only() {
        warnings.push(
            "storage.maintenance.readonly.enabled is true but read-only mode is not supported \
             yet: the registry ACCEPTS PUSHES AND DELETES"
                .into(),
        );
    }
    if matches!(
        config.auth,
        AuthConfig::Silly { .. } | AuthConfig::Other { .. }
    ) {
        warnings.push(format!(
            "auth.{} is not supported: `berth serve` refuses to start with it; use \
             htpasswd, token, local or none",
            config.auth.name()
        ));
    }
    Ok(())
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Mapping(m) => m.values().all(is_empty),
        Value::Sequence(s) => s.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn client_auth_name(mode: ClientAuth) -> &'static str {
    match mode {
        ClientAuth::RequestClientCert => schema::CLIENT_AUTH_MODES[0],
        ClientAuth::RequireAnyClientCert => schema::CLIENT_AUTH_MODES[1],
        ClientAuth::VerifyClientCertIfGiven => schema::CLIENT_AUTH_MODES[2],
        ClientAuth::RequireAndVerifyClientCert => schema::CLIENT_AUTH_MODES[3],
    }
}
