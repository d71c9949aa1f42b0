//! The typed configuration. Field names are Distribution's YAML keys so a reader can map
//! code to `config.yml` without a table. Values reach these types only after the schema
//! walk has checked and canonicalised them, so deserialisation here is a plain mapping
//! and its own errors are a last line of defence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_yaml::{Mapping, Value};

use crate::duration::parse_go_duration;

/// Distribution's default storage root, used when `storage.filesystem.rootdirectory` is
/// not set.
pub const DEFAULT_ROOT_DIRECTORY: &str = "/var/lib/registry";
/// Distribution's default listen address.
pub const DEFAULT_ADDR: &str = ":5000";
/// How long berth lets open requests finish on shutdown when `http.draintimeout` is not
/// set. Distribution stops at once; a short grace period loses fewer uploads.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole configuration: Distribution's schema plus berth's own `berth:` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Always "0.1" once loaded (a missing version is assumed to be 0.1).
    pub version: Option<String>,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub berth: BerthConfig,
    /// PostgreSQL metadata (GitLab's container registry keys); off: embedded SQLite.
    pub database: DatabaseConfig,
    /// Distribution's deprecated top-level log level; already folded into `log.level`.
    pub loglevel: Option<Value>,
    pub notifications: NotificationsConfig,
    // Accepted so registry:2 configs load, but not acted on yet (each one present is
    // named in the warnings). Kept raw for the day berth implements them.
    pub health: HealthConfig,
    pub redis: Option<Value>,
    pub proxy: Option<Value>,
    pub validation: Option<Value>,
    pub compatibility: Option<Value>,
    pub middleware: Option<Value>,
    pub reporting: Option<Value>,
    pub catalog: Option<Value>,
    pub tags: Option<Value>,
    pub policy: Option<Value>,
}

impl Config {
    /// Where the metadata database lives: `berth.metadata.path`, else
    /// `<rootdirectory>/berth/metadata.db` next to the blobs so one directory holds the
    /// whole registry. `None` when neither is known (a non-filesystem driver and no
    /// explicit path): the caller must ask for `berth.metadata.path`.
    pub fn metadata_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.berth.metadata.path {
            return Some(p.clone());
        }
        Some(self.state_directory()?.join("berth").join("metadata.db"))
    }

    /// The local directory for berth's own files (the SQLite metadata by default, the
    /// token signing key, the first administrator's password): `berth.statedirectory`,
    /// else the filesystem storage root. `None` for another driver without it.
    pub fn state_directory(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.berth.statedirectory {
            return Some(dir.clone());
        }
        match &self.storage.driver {
            StorageDriver::Filesystem { rootdirectory, .. } => Some(rootdirectory.clone()),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------- log

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub formatter: LogFormatter,
    /// Static fields added to every log line, in file order; scalars as their text.
    #[serde(deserialize_with = "de_fields")]
    pub fields: Vec<(String, String)>,
    pub accesslog: AccessLogConfig,
    /// Not supported yet (warned).
    pub hooks: Option<Value>,
    /// Not supported yet (warned).
    pub reportcaller: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

impl LogLevel {
    /// The name `tracing`'s filters understand.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormatter {
    #[default]
    Text,
    Json,
    /// Written as plain JSON lines for now (warned).
    Logstash,
}

impl LogFormatter {
    /// Whether log lines are JSON objects (json and logstash) rather than text.
    pub fn is_json(self) -> bool {
        !matches!(self, LogFormatter::Text)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct AccessLogConfig {
    pub disabled: bool,
}

// ------------------------------------------------------------------------ storage

/// `storage`: one driver and the special keys next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    pub driver: StorageDriver,
    /// The driver's parameters as written (for drivers berth does not type yet).
    pub parameters: Mapping,
    pub delete: DeleteConfig,
    pub maintenance: MaintenanceConfig,
    /// Accepted; berth needs no blob descriptor cache (its metadata database answers).
    pub cache: CacheConfig,
    /// Accepted; berth does not redirect to the storage backend yet.
    pub redirect: RedirectConfig,
    /// Accepted; berth's tag lookups go to its metadata database.
    pub tag: TagConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            driver: StorageDriver::Filesystem {
                rootdirectory: PathBuf::from(DEFAULT_ROOT_DIRECTORY),
                maxthreads: DEFAULT_MAX_THREADS,
            },
            parameters: Mapping::new(),
            delete: DeleteConfig::default(),
            maintenance: MaintenanceConfig::default(),
            cache: CacheConfig::default(),
            redirect: RedirectConfig::default(),
            tag: TagConfig::default(),
        }
    }
}

impl StorageConfig {
    pub fn driver(&self) -> &StorageDriver {
        &self.driver
    }
    /// `storage.delete.enabled`; off unless asked for, as in Distribution.
    pub fn delete_enabled(&self) -> bool {
        self.delete.enabled
    }
    /// `storage.maintenance.readonly.enabled`.
    pub fn read_only(&self) -> bool {
        self.maintenance.readonly.enabled
    }
    /// The filesystem root, when the driver is the filesystem.
    pub fn root_directory(&self) -> Option<&Path> {
        match &self.driver {
            StorageDriver::Filesystem { rootdirectory, .. } => Some(rootdirectory),
            _ => None,
        }
    }
}

/// Distribution's default for `storage.filesystem.maxthreads`, and its floor.
pub const DEFAULT_MAX_THREADS: u64 = 100;
pub const MIN_MAX_THREADS: u64 = 25;

#[derive(Debug, Clone, PartialEq)]
pub enum StorageDriver {
    Filesystem {
        rootdirectory: PathBuf,
        /// Accepted for compatibility; berth sizes its own I/O pool.
        maxthreads: u64,
    },
    InMemory,
    /// An S3-compatible object store.
    S3(S3Config),
    /// Any other driver (azure, gcs, swift, oss, ...), by name.
    Other(String),
}

/// `storage.s3`: Distribution's keys for an S3-compatible bucket.
#[derive(Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct S3Config {
    pub accesskey: Option<String>,
    pub secretkey: Option<String>,
    pub sessiontoken: Option<String>,
    pub region: Option<String>,
    /// The endpoint of a store that is not AWS (Garage, MinIO, Ceph).
    pub regionendpoint: Option<String>,
    pub forcepathstyle: bool,
    pub bucket: Option<String>,
    /// A prefix inside the bucket.
    pub rootdirectory: Option<String>,
    /// https (default) or http to the endpoint when `regionendpoint` names no scheme.
    pub secure: Option<bool>,
}

/// Everything but the keys.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("region", &self.region)
            .field("regionendpoint", &self.regionendpoint)
            .field("bucket", &self.bucket)
            .field("rootdirectory", &self.rootdirectory)
            .finish_non_exhaustive()
    }
}

impl StorageDriver {
    pub fn name(&self) -> &str {
        match self {
            StorageDriver::Filesystem { .. } => "filesystem",
            StorageDriver::InMemory => "inmemory",
            StorageDriver::S3(_) => "s3",
            StorageDriver::Other(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DeleteConfig {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MaintenanceConfig {
    pub uploadpurging: UploadPurgingConfig,
    pub readonly: ReadOnlyConfig,
}

/// Distribution's defaults: purge uploads older than a week, once a day.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct UploadPurgingConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "de_duration")]
    pub age: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    pub dryrun: bool,
}

impl Default for UploadPurgingConfig {
    fn default() -> Self {
        UploadPurgingConfig {
            enabled: true,
            age: Duration::from_secs(168 * 3600),
            interval: Duration::from_secs(24 * 3600),
            dryrun: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ReadOnlyConfig {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    pub blobdescriptor: Option<String>,
    /// Distribution's old name for `blobdescriptor`.
    pub layerinfo: Option<String>,
    pub blobdescriptorsize: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RedirectConfig {
    pub disable: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct TagConfig {
    pub concurrencylimit: Option<u64>,
}

fn sub<'de, T: Deserialize<'de> + Default, E: serde::de::Error>(v: Value) -> Result<T, E> {
    if v.is_null() {
        return Ok(T::default());
    }
    T::deserialize(v).map_err(E::custom)
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = StorageConfig::default();
        let map = match Value::deserialize(d)? {
            Value::Null => return Ok(out),
            Value::String(name) => Mapping::from_iter([(Value::String(name), Value::Null)]),
            Value::Mapping(m) => m,
            _ => {
                return Err(D::Error::custom(
                    "storage must be a driver name or a mapping",
                ));
            }
        };
        for (k, v) in map {
            let Value::String(key) = k else {
                return Err(D::Error::custom("storage keys must be strings"));
            };
            match key.as_str() {
                "delete" => out.delete = sub(v)?,
                "maintenance" => out.maintenance = sub(v)?,
                "cache" => out.cache = sub(v)?,
                "redirect" => out.redirect = sub(v)?,
                "tag" => out.tag = sub(v)?,
                driver => {
                    let params = match v {
                        Value::Mapping(m) => m,
                        _ => Mapping::new(),
                    };
                    out.driver = match driver {
                        "filesystem" => {
                            let root = match params.get("rootdirectory") {
                                Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
                                _ => PathBuf::from(DEFAULT_ROOT_DIRECTORY),
                            };
                            let threads = match params.get("maxthreads") {
                                Some(Value::Number(n)) => n.as_u64().unwrap_or(DEFAULT_MAX_THREADS),
                                _ => DEFAULT_MAX_THREADS,
                            };
                            StorageDriver::Filesystem {
                                rootdirectory: root,
                                maxthreads: threads.max(MIN_MAX_THREADS),
                            }
                        }
                        "inmemory" => StorageDriver::InMemory,
                        "s3" => StorageDriver::S3(sub(Value::Mapping(params.clone()))?),
                        other => StorageDriver::Other(other.to_string()),
                    };
                    out.parameters = params;
                }
            }
        }
        Ok(out)
    }
}

// --------------------------------------------------------------------------- auth

/// `auth`: who may use the registry: Distribution's access controllers plus berth's own
/// `local` (users in the metadata database, with a built-in token service).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AuthConfig {
    /// No `auth` section, or `auth: none`.
    #[default]
    None,
    Htpasswd {
        realm: Option<String>,
        path: Option<PathBuf>,
    },
    Token(TokenAuth),
    Local(LocalAuth),
    Silly {
        realm: Option<String>,
        service: Option<String>,
    },
    /// An access controller Distribution plugins may register; kept by name.
    Other {
        name: String,
        parameters: Mapping,
    },
}

impl AuthConfig {
    /// The key under `auth`, e.g. "htpasswd"; "none" when there is none.
    pub fn name(&self) -> &str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Htpasswd { .. } => "htpasswd",
            AuthConfig::Token(_) => "token",
            AuthConfig::Local(_) => "local",
            AuthConfig::Silly { .. } => "silly",
            AuthConfig::Other { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct TokenAuth {
    pub realm: Option<String>,
    pub service: Option<String>,
    pub issuer: Option<String>,
    pub rootcertbundle: Option<PathBuf>,
    pub jwks: Option<PathBuf>,
    pub signingalgorithms: Vec<String>,
    pub autoredirect: bool,
    pub autoredirectpath: Option<String>,
}

/// `auth.local`: berth's users and token service. Every key is optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct LocalAuth {
    /// The token endpoint URL put in challenges; default: this registry's `/auth/token`
    /// on the host the client used.
    pub realm: Option<String>,
    /// The audience of issued tokens; default "berth".
    pub service: Option<String>,
    /// The `iss` of issued tokens; default "berth".
    pub issuer: Option<String>,
    /// Lifetime of access tokens; default 5 minutes.
    #[serde(deserialize_with = "de_opt_duration")]
    pub tokenttl: Option<Duration>,
    /// PEM file of the ES256 signing key; default `<rootdirectory>/berth/token-key.pem`,
    /// generated on first start.
    pub signingkey: Option<PathBuf>,
    /// Hand out refresh tokens (`docker login` then keeps one instead of the password);
    /// default false, as Harbor: podman refuses to log in where Docker stored one.
    pub refreshtokens: bool,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RealmService {
    realm: Option<String>,
    service: Option<String>,
    path: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for AuthConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, params) = match Value::deserialize(d)? {
            Value::Null => return Ok(AuthConfig::None),
            Value::String(name) => (name, Value::Null),
            Value::Mapping(m) => {
                if m.len() > 1 {
                    let names: Vec<String> = m.keys().map(scalar_text).collect();
                    return Err(D::Error::custom(format!(
                        "auth must name exactly one type, found {} (without a config file \
                         berth starts from auth.local: set REGISTRY_AUTH to the type you \
                         want before its keys)",
                        names.join(", ")
                    )));
                }
                match m.into_iter().next() {
                    None => return Ok(AuthConfig::None),
                    Some((Value::String(name), params)) => (name, params),
                    _ => return Err(D::Error::custom("auth must name exactly one type")),
                }
            }
            _ => return Err(D::Error::custom("auth must be a type name or a mapping")),
        };
        Ok(match name.as_str() {
            "none" => AuthConfig::None,
            "htpasswd" => {
                let p: RealmService = sub(params)?;
                AuthConfig::Htpasswd {
                    realm: p.realm,
                    path: p.path,
                }
            }
            "silly" => {
                let p: RealmService = sub(params)?;
                AuthConfig::Silly {
                    realm: p.realm,
                    service: p.service,
                }
            }
            "token" => AuthConfig::Token(sub(params)?),
            "local" => AuthConfig::Local(sub(params)?),
            _ => AuthConfig::Other {
                name,
                parameters: match params {
                    Value::Mapping(m) => m,
                    _ => Mapping::new(),
                },
            },
        })
    }
}

// --------------------------------------------------------------------------- http

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// `host:port`, `:port` (all interfaces) or, with `net: unix`, a socket path.
    pub addr: String,
    pub net: Net,
    /// URL path prefix the registry is served under, e.g. "/registry/".
    pub prefix: String,
    /// Externally reachable base URL, used to build absolute Location URLs.
    pub host: Option<String>,
    /// Accepted; berth keeps upload state in its metadata database and needs no secret.
    pub secret: Option<String>,
    pub relativeurls: bool,
    #[serde(deserialize_with = "de_opt_duration")]
    pub draintimeout: Option<Duration>,
    pub tls: TlsConfig,
    /// Extra response headers, in file order.
    #[serde(deserialize_with = "de_headers")]
    pub headers: Vec<(String, Vec<String>)>,
    /// The debug listener: metrics and health, off the main port.
    pub debug: DebugConfig,
    pub http2: Http2Config,
    pub h2c: H2cConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: DEFAULT_ADDR.to_string(),
            net: Net::default(),
            prefix: String::new(),
            host: None,
            secret: None,
            relativeurls: false,
            draintimeout: None,
            tls: TlsConfig::default(),
            headers: Vec::new(),
            debug: DebugConfig::default(),
            http2: Http2Config::default(),
            h2c: H2cConfig::default(),
        }
    }
}

impl HttpConfig {
    /// The base URL for Location headers: `http.host`, unless `http.relativeurls` asks
    /// for relative ones. `None` means relative URLs.
    pub fn base_url(&self) -> Option<&str> {
        if self.relativeurls {
            return None;
        }
        self.host.as_deref().map(|h| h.trim_end_matches('/'))
    }
    /// How long open requests may finish on shutdown.
    pub fn drain_timeout(&self) -> Duration {
        self.draintimeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    #[default]
    Tcp,
    Unix,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Http2Config {
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct H2cConfig {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub clientcas: Vec<PathBuf>,
    /// Only meaningful with `clientcas`; Distribution's default then is
    /// require-and-verify-client-cert.
    pub clientauth: Option<ClientAuth>,
    pub minimumtls: TlsVersion,
    /// Not supported yet (warned): berth offers its TLS library's suites.
    pub ciphersuites: Vec<String>,
    /// Not supported yet (warned).
    pub letsencrypt: Option<Value>,
}

impl TlsConfig {
    /// TLS is on when a certificate is configured, as in Distribution.
    pub fn enabled(&self) -> bool {
        self.certificate.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "tls1.2")]
    Tls12,
    #[serde(rename = "tls1.3")]
    Tls13,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// `notifications`: webhooks in Distribution's event format.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct NotificationsConfig {
    pub events: EventsConfig,
    pub endpoints: Vec<EndpointConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// Include the manifest's references (layers, children) in push events.
    pub includereferences: bool,
}

/// One `notifications.endpoints[]` entry.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    pub name: String,
    pub disabled: bool,
    pub url: String,
    #[serde(deserialize_with = "de_headers")]
    pub headers: Vec<(String, Vec<String>)>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    /// Failures in a row before `backoff` applies.
    pub threshold: Option<u32>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub backoff: Option<Duration>,
    /// Deprecated spelling of `ignore.mediatypes`.
    pub ignoredmediatypes: Vec<String>,
    pub ignore: IgnoreConfig,
    /// berth: sign each delivery with HMAC-SHA256 of the body (`X-Berth-Signature`).
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct IgnoreConfig {
    pub mediatypes: Vec<String>,
    pub actions: Vec<String>,
}

/// `health`: Distribution's periodic checks, reported by `/readyz` and `/debug/health`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    pub storagedriver: StorageDriverCheck,
    pub file: Vec<FileCheck>,
    pub http: Vec<HttpCheck>,
    pub tcp: Vec<TcpCheck>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct StorageDriverCheck {
    pub enabled: bool,
    #[serde(deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    pub threshold: Option<u32>,
}

/// Fails while the file exists (a maintenance switch).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct FileCheck {
    pub file: PathBuf,
    #[serde(deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
}

/// Fails when the URI does not answer `statuscode`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct HttpCheck {
    pub uri: String,
    #[serde(deserialize_with = "de_headers")]
    pub headers: Vec<(String, Vec<String>)>,
    pub statuscode: Option<u16>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    pub threshold: Option<u32>,
}

/// Fails when no TCP connection can be made to `addr`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct TcpCheck {
    pub addr: String,
    #[serde(deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    pub threshold: Option<u32>,
}

/// `http.debug`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DebugConfig {
    /// Where the debug listener binds (e.g. `localhost:5001`); none: no debug listener.
    pub addr: Option<String>,
    pub prometheus: PrometheusConfig,
}

/// `http.debug.prometheus`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    pub enabled: bool,
    /// Default `/metrics`.
    pub path: Option<String>,
}

// -------------------------------------------------------------------------- berth

/// berth's own section; Distribution ignores it, so one file can serve both.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct BerthConfig {
    pub metadata: MetadataConfig,
    /// Where berth keeps its own local files (see [`Config::state_directory`]).
    pub statedirectory: Option<PathBuf>,
    pub access: AccessConfig,
    pub projects: ProjectsConfig,
    pub ldap: LdapConfig,
    pub oidc: OidcConfig,
    pub audit: AuditConfig,
    pub ui: UiConfig,
    pub metrics: MetricsConfig,
    /// Immutable-tag rules.
    pub immutable: Vec<ImmutableTagRule>,
    pub gc: GcConfig,
    pub retention: RetentionConfig,
    pub jobs: JobsConfig,
}

/// `berth.ui`: the web interface served at `/` of the main listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct UiConfig {
    /// Serve the web interface (and accept browser sessions).
    pub enabled: bool,
    /// How long a browser session lasts unused.
    #[serde(deserialize_with = "de_duration")]
    pub sessiontimeout: Duration,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            enabled: true,
            sessiontimeout: Duration::from_secs(3600),
        }
    }
}

/// `berth.jobs`: background work shared by the processes on one metadata database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// How long a process holds a job without renewing it: how soon another replica
    /// takes over the job of one that died.
    #[serde(deserialize_with = "de_duration")]
    pub lease: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            lease: Duration::from_secs(30),
        }
    }
}

/// `berth.gc`: online garbage collection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GcConfig {
    /// Collect in the background while serving.
    pub enabled: bool,
    /// Pause between background runs.
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// How long a blob or manifest must have been unreferenced before it goes.
    #[serde(deserialize_with = "de_duration")]
    pub grace: Duration,
    /// Also collect manifests no tag points to.
    pub deleteuntagged: bool,
    /// Collect referrers whose subject is gone.
    pub orphanreferrers: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            enabled: true,
            interval: Duration::from_secs(600),
            grace: Duration::from_secs(24 * 3600),
            deleteuntagged: false,
            orphanreferrers: true,
        }
    }
}

/// `berth.retention`: which images to keep, the rest deleted on a schedule.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Five-field cron expression (UTC); none: only on demand.
    pub schedule: Option<String>,
    /// Only log what would be deleted.
    pub dryrun: bool,
    pub policies: Vec<RetentionPolicyConfig>,
}

/// One retention policy: in repositories matching `repositories`, tags matching `tags`
/// are kept if any rule keeps them; the others are deleted.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RetentionPolicyConfig {
    pub repositories: String,
    /// Default `**`: every tag.
    pub tags: Option<String>,
    pub keep: Vec<RetentionRuleConfig>,
    /// `keep` (default) or `delete` manifests no tag points to.
    pub untagged: Option<String>,
}

/// One rule; exactly one of its keys is set.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RetentionRuleConfig {
    pub mostrecentlypushed: Option<u64>,
    pub mostrecentlypulled: Option<u64>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub pushedwithin: Option<Duration>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub pulledwithin: Option<Duration>,
    /// Tag globs always kept.
    pub tags: Vec<String>,
}

/// `berth.immutable[]`: tags matching `tags` in repositories matching `repositories`
/// (globs: `*`, `**`, `?`) may be created but never moved or deleted.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ImmutableTagRule {
    pub repositories: String,
    pub tags: String,
}

/// `berth.metrics`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Also serve `/metrics` on the main listener, without credentials.
    pub mainport: bool,
}

/// `berth.projects`: who creates projects (with berth's own users; other modes have no
/// roles and create a project with its first repository).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ProjectsConfig {
    /// A signed-in user's first push to a project that does not exist creates it, with
    /// that user as its project admin (when `creation` lets them create projects).
    pub autocreate: bool,
    /// Harbor's `project_creation_restriction`: `everyone` (default) or `adminonly`.
    pub creation: ProjectCreation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectCreation {
    #[default]
    Everyone,
    Adminonly,
}

/// `berth.ldap`: users (and their groups) from an LDAP directory, beside berth's own
/// users (with `auth.local`). Harbor's `ldap_*` settings under shorter names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`; none: no directory.
    pub url: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// Check the server's certificate (against `cacert`, else the system's roots).
    pub verifycert: bool,
    /// PEM file of the CA that signed the server's certificate.
    pub cacert: Option<PathBuf>,
    /// Who searches the directory (none: an anonymous bind).
    pub searchdn: Option<String>,
    pub searchpassword: Option<String>,
    /// Where users are.
    pub basedn: String,
    /// What makes an entry a user, e.g. `(objectClass=inetOrgPerson)`.
    pub filter: Option<String>,
    /// The attribute that holds the user name people sign in with.
    pub uid: String,
    pub scope: LdapScope,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    pub group: LdapGroupConfig,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: None,
            starttls: false,
            verifycert: true,
            cacert: None,
            searchdn: None,
            searchpassword: None,
            basedn: String::new(),
            filter: None,
            uid: "uid".into(),
            scope: LdapScope::Subtree,
            timeout: Duration::from_secs(5),
            group: LdapGroupConfig::default(),
        }
    }
}

/// `berth.ldap.group`: the groups users belong to, for project membership and
/// administration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LdapGroupConfig {
    /// Where groups are; none: groups are not read.
    pub basedn: Option<String>,
    /// What makes an entry a group, e.g. `(objectClass=groupOfNames)`.
    pub filter: Option<String>,
    /// The attribute that holds a group's name.
    pub nameattribute: String,
    pub scope: LdapScope,
    /// The user entry's attribute listing the DNs of the groups it belongs to.
    pub membershipattribute: String,
    /// Members of this group are system administrators.
    pub admindn: Option<String>,
}

impl Default for LdapGroupConfig {
    fn default() -> Self {
        LdapGroupConfig {
            basedn: None,
            filter: None,
            nameattribute: "cn".into(),
            scope: LdapScope::Subtree,
            membershipattribute: "memberof".into(),
            admindn: None,
        }
    }
}

/// `berth.oidc`: people sign in through an OpenID Connect provider (authorization code
/// flow in the browser) and use a CLI secret with `docker login`, as in Harbor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct OidcConfig {
    /// The provider's issuer URL (its discovery document is below it); none: no OIDC.
    pub endpoint: Option<String>,
    pub clientid: String,
    pub clientsecret: String,
    /// Scopes asked for, comma-separated; `openid` is always asked.
    pub scope: String,
    /// The claim that names the user (Harbor's `oidc_user_claim`).
    pub userclaim: String,
    /// The claim that lists the user's groups (`oidc_groups_claim`).
    pub groupsclaim: String,
    /// Members of this group are system administrators (`oidc_admin_group`).
    pub admingroup: Option<String>,
    /// Check the provider's TLS certificate.
    pub verifycert: bool,
    /// Where the provider sends the browser back; default: `/c/oidc/callback` on the host
    /// the browser used.
    pub redirecturl: Option<String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            endpoint: None,
            clientid: String::new(),
            clientsecret: String::new(),
            scope: "openid,profile,email".into(),
            userclaim: "preferred_username".into(),
            groupsclaim: "groups".into(),
            admingroup: None,
            verifycert: true,
            redirecturl: None,
        }
    }
}

/// `berth.audit`: the audit log of who did what (`GET /api/v2.0/audit-logs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AuditConfig {
    /// Record pulls too (Harbor's `pull_audit_log_disable`, the other way round).
    pub pulls: bool,
    /// Entries older than this are removed; none: kept.
    #[serde(deserialize_with = "de_opt_duration")]
    pub retention: Option<Duration>,
    /// Also append every entry to this file as a JSON line (for a log shipper).
    pub file: Option<PathBuf>,
    /// Also send every entry to a syslog server.
    pub syslog: Option<crate::SyslogConfig>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            pulls: true,
            retention: None,
            file: None,
            syslog: None,
        }
    }
}

/// How deep an LDAP search looks below its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LdapScope {
    Base,
    Onelevel,
    #[default]
    Subtree,
}

/// `berth.access`: requests without credentials.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct AccessConfig {
    /// Requests without credentials may pull (never push or delete).
    pub anonymouspull: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MetadataConfig {
    /// The SQLite file; see [`Config::metadata_path`] for the default.
    pub path: Option<PathBuf>,
}

// ----------------------------------------------------------------------- database

/// `database`: where the metadata lives when it is not the embedded SQLite file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// PostgreSQL instead of SQLite.
    pub enabled: bool,
    pub host: Option<String>,
    /// Default 5432.
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    /// libpq's modes, canonical lower case; default `prefer`.
    pub sslmode: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub sslrootcert: Option<PathBuf>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub connecttimeout: Option<Duration>,
    pub pool: DatabasePoolConfig,
}

/// `database.pool`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DatabasePoolConfig {
    /// Accepted (GitLab's key); not enforced.
    pub maxidle: Option<u64>,
    pub maxopen: Option<u64>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub maxlifetime: Option<Duration>,
    #[serde(deserialize_with = "de_opt_duration")]
    pub maxidletime: Option<Duration>,
}

// ---------------------------------------------------------------- deserialisers

/// Go durations may be written as strings ("10s") or as integer nanoseconds.
fn duration_from_value(v: &Value) -> Result<Option<Duration>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_go_duration(s).map(Some),
        Value::Number(n) => n
            .as_u64()
            .map(|ns| Some(Duration::from_nanos(ns)))
            .ok_or_else(|| format!("{n} is not a duration")),
        _ => Err("expected a duration".into()),
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration_from_value(&Value::deserialize(d)?).map_err(D::Error::custom)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_from_value(&Value::deserialize(d)?)
        .map_err(D::Error::custom)?
        .ok_or_else(|| D::Error::custom("expected a duration"))
}

/// Scalars as their text; anything nested as compact YAML, so nothing is lost.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

fn de_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(m) => Ok(m
            .iter()
            .map(|(k, v)| (scalar_text(k), scalar_text(v)))
            .collect()),
        _ => Err(D::Error::custom("log.fields must be a mapping")),
    }
}

fn de_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<String>)>, D::Error> {
    let m = match Value::deserialize(d)? {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(m) => m,
        _ => return Err(D::Error::custom("http.headers must be a mapping")),
    };
    Ok(m.iter()
        .map(|(k, v)| {
            let values = match v {
                Value::Sequence(s) => s.iter().map(scalar_text).collect(),
                Value::Null => Vec::new(),
                scalar => vec![scalar_text(scalar)],
            };
            (scalar_text(k), values)
        })
        .collect())
}
