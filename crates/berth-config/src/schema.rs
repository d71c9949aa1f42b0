//! The set of keys berth knows: Distribution's whole `config.yml` schema plus berth's own
//! `berth:` section. One table drives three things — unknown-key warnings, type checks
//! with key paths in the errors, and where `REGISTRY_*` variables may create keys — so
//! they cannot disagree.

/// What a key holds.
pub(crate) enum Kind {
    /// A string; YAML numbers and booleans are taken as their text, as Go's YAML does.
    Str,
    /// true/false (and YAML 1.1's yes/no/on/off, which Distribution's parser accepts).
    Bool,
    /// A signed integer.
    Int,
    /// A non-negative integer.
    UInt,
    /// A Go duration string, or an integer number of nanoseconds.
    Duration,
    /// A string from a fixed vocabulary; the function canonicalises or explains.
    Text(fn(&str) -> Checked),
    /// A list of strings; a lone string is taken as a one-element list.
    StrList,
    /// Anything at all; not inspected (driver parameters, middleware options).
    Any,
    /// Fixed keys.
    Struct(&'static [Field]),
    /// Free-form string keys, each holding the inner kind.
    Map(&'static Kind),
    /// A list of the inner kind.
    List(&'static Kind),
    /// `storage`: one driver key plus special keys, or just a driver name.
    Storage,
    /// `auth`: one access-controller key, or just its name.
    Auth,
}

/// Outcome of checking a [`Kind::Text`] value.
pub(crate) enum Checked {
    /// Accepted, in canonical spelling.
    Ok(String),
    /// Accepted as the canonical value given, with a warning for the user.
    Warn(String, String),
    /// Refused; the text says what is accepted.
    Err(String),
}

/// How far berth honours a key.
#[derive(Clone, Copy)]
pub(crate) enum Support {
    Yes,
    /// Parsed and kept, but has no effect yet; the text says why or what happens instead.
    No(&'static str),
    /// A deprecated Distribution spelling; the text names the replacement.
    Deprecated(&'static str),
}

pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub support: Support,
    /// Distribution matches variables against Go field names, which differ from the YAML
    /// key in a few places (`health.file` is `REGISTRY_HEALTH_FILECHECKERS`); both work.
    pub env_alias: Option<&'static str>,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        support: Support::Yes,
        env_alias: None,
    }
}

impl Field {
    const fn no(mut self, why: &'static str) -> Field {
        self.support = Support::No(why);
        self
    }
    const fn deprecated(mut self, instead: &'static str) -> Field {
        self.support = Support::Deprecated(instead);
        self
    }
    const fn alias(mut self, env: &'static str) -> Field {
        self.env_alias = Some(env);
        self
    }
}

use Kind::*;

pub(crate) const ROOT: Kind = Struct(TOP);

const TOP: &[Field] = &[
    f("version", Str),
    f("log", Struct(LOG)),
    f("loglevel", Text(log_level)).deprecated("log.level"),
    f("storage", Storage),
    f("auth", Auth),
    f("http", Struct(HTTP)),
    f("berth", Struct(BERTH)),
    f("database", Struct(DATABASE)),
    f("notifications", Struct(NOTIFICATIONS)),
    f("redis", Struct(REDIS)).no("berth needs no Redis"),
    f("health", Struct(HEALTH)),
    f("proxy", Struct(PROXY))
        .no("this registry is NOT a pull-through cache; it accepts pushes like a normal registry"),
    f("validation", Struct(VALIDATION)).no("manifests are validated by berth's own rules"),
    f("compatibility", Struct(COMPATIBILITY)).no("schema1 manifests are not served"),
    f("middleware", Map(&List(&Struct(MIDDLEWARE)))).no("no middleware runs"),
    f("reporting", Struct(REPORTING)).no("no error reporting service is called"),
    f("catalog", Struct(CATALOG)).no("the catalog uses berth's own page size limit"),
    f("tags", Struct(TAGS)).no("tag lists use berth's own page size limit"),
    f("policy", Struct(POLICY)).no("repository classes are not enforced"),
];

const LOG: &[Field] = &[
    f("level", Text(log_level)),
    f("formatter", Text(log_formatter)),
    f("fields", Map(&Any)),
    f("accesslog", Struct(&[f("disabled", Bool)])),
    f("hooks", List(&Struct(LOG_HOOK))).no("no log hooks run"),
    f("reportcaller", Bool).no("log lines do not carry the caller"),
];

const LOG_HOOK: &[Field] = &[
    f("disabled", Bool),
    f("type", Str),
    f("levels", StrList),
    f(
        "options",
        Struct(&[
            f(
                "smtp",
                Struct(&[
                    f("addr", Str),
                    f("username", Str),
                    f("password", Str),
                    f("insecure", Bool),
                ]),
            ),
            f("from", Str),
            f("to", StrList),
        ]),
    )
    .alias("MAILOPTIONS"),
];

/// The special keys that sit next to the driver in `storage`.
pub(crate) const STORAGE_SPECIAL: &[Field] = &[
    f("delete", Struct(&[f("enabled", Bool)])),
    f(
        "maintenance",
        Struct(&[
            f(
                "uploadpurging",
                Struct(&[
                    f("enabled", Bool),
                    f("age", Duration),
                    f("interval", Duration),
                    f("dryrun", Bool),
                ]),
            ),
            f("readonly", Struct(&[f("enabled", Bool)])),
        ]),
    ),
    f(
        "cache",
        Struct(&[
            f("blobdescriptor", Str),
            f("layerinfo", Str).deprecated("storage.cache.blobdescriptor"),
            f("blobdescriptorsize", UInt),
        ]),
    ),
    f("redirect", Struct(&[f("disable", Bool)])),
    f("tag", Struct(&[f("concurrencylimit", UInt)])),
];

/// Drivers whose parameters berth knows; any other driver's parameters are free-form.
pub(crate) const STORAGE_DRIVERS: &[Field] = &[
    f(
        "filesystem",
        Struct(&[
            f("rootdirectory", Str),
            f("maxthreads", UInt).no("berth sizes its own I/O thread pool"),
        ]),
    ),
    f("inmemory", Struct(&[])),
    f(
        "s3",
        Struct(&[
            f("accesskey", Str),
            f("secretkey", Str),
            f("region", Str),
            f("regionendpoint", Str),
            f("forcepathstyle", Bool),
            f("bucket", Str),
            f("rootdirectory", Str),
            f("secure", Bool),
            f("sessiontoken", Str),
            f("encrypt", Bool).no("objects are stored with the bucket's default encryption"),
            f("keyid", Str).no("objects are stored with the bucket's default encryption"),
            f("skipverify", Bool).no("TLS certificates of the endpoint are always verified"),
            f("v4auth", Bool).no("requests are always signed with AWS Signature Version 4"),
            f("chunksize", UInt).no("berth sizes multipart parts itself (10 MiB)"),
            f("multipartcopychunksize", UInt).no("blobs are copied whole inside the store"),
            f("multipartcopymaxconcurrency", UInt).no("blobs are copied whole inside the store"),
            f("multipartcopythresholdsize", UInt).no("blobs are copied whole inside the store"),
            f("storageclass", Str).no("objects get the bucket's default storage class"),
            f("useragent", Str).no("berth sends its own User-Agent"),
            f("usedualstack", Bool).no("the endpoint is used as given"),
            f("accelerate", Bool).no("the endpoint is used as given"),
            f("objectacl", Str).no("objects get the bucket's default ACL"),
            f("loglevel", Str).no("S3 requests are logged at berth's log level"),
        ]),
    ),
];

pub(crate) const AUTH_TYPES: &[Field] = &[
    f("htpasswd", Struct(&[f("realm", Str), f("path", Str)])),
    f(
        "token",
        Struct(&[
            f("realm", Str),
            f("service", Str),
            f("issuer", Str),
            f("rootcertbundle", Str),
            f("jwks", Str),
            f("signingalgorithms", StrList),
            f("autoredirect", Bool),
            f("autoredirectpath", Str),
        ]),
    ),
    f(
        "local",
        Struct(&[
            f("realm", Str),
            f("service", Str),
            f("issuer", Str),
            f("tokenttl", Duration),
            f("signingkey", Str),
            f("refreshtokens", Bool),
        ]),
    ),
    f("silly", Struct(&[f("realm", Str), f("service", Str)])),
    f("none", Struct(&[])),
];

const HTTP: &[Field] = &[
    f("addr", Str),
    f("net", Text(http_net)),
    f("prefix", Str),
    f("host", Str),
    f("secret", Str),
    f("relativeurls", Bool),
    f("draintimeout", Duration),
    f("tls", Struct(TLS)),
    f("headers", Map(&StrList)),
    f(
        "debug",
        Struct(&[
            f("addr", Str),
            f("prometheus", Struct(&[f("enabled", Bool), f("path", Str)])),
        ]),
    ),
    f("http2", Struct(&[f("disabled", Bool)])),
    f("h2c", Struct(&[f("enabled", Bool)])),
];

const TLS: &[Field] = &[
    f("certificate", Str),
    f("key", Str),
    f("clientcas", StrList),
    f("clientauth", Text(client_auth)),
    f("minimumtls", Text(minimum_tls)),
    f("ciphersuites", StrList),
    f(
        "letsencrypt",
        Struct(&[
            f("cachefile", Str),
            f("email", Str),
            f("hosts", StrList),
            f("directoryurl", Str),
        ]),
    ),
];

/// `database`: PostgreSQL metadata, with GitLab's container registry keys.
const DATABASE: &[Field] = &[
    f("enabled", Bool),
    f("host", Str),
    f("port", UInt),
    f("user", Str),
    f("password", Str),
    f("dbname", Str),
    f("sslmode", Text(ssl_mode)),
    f("sslcert", Str),
    f("sslkey", Str),
    f("sslrootcert", Str),
    f("connecttimeout", Duration),
    f(
        "pool",
        Struct(&[
            f("maxidle", UInt).no(
                "idle connections are closed after database.pool.maxidletime; their number is not capped",
            ),
            f("maxopen", UInt),
            f("maxlifetime", Duration),
            f("maxidletime", Duration),
        ]),
    ),
    f("draintimeout", Duration).no("connections close with the server's own drain (http.draintimeout)"),
    f("preparedstatements", Bool).no("statements are always prepared and cached per connection"),
    f("primary", Str).no("berth connects to database.host; point it at the primary"),
    f("loadbalancing", Any).no("all queries go to database.host"),
    f("backgroundmigrations", Any).no("berth's schema steps run at start, in one transaction"),
];

const BERTH: &[Field] = &[
    f("metadata", Struct(&[f("path", Str)])),
    f("jobs", Struct(&[f("lease", Duration)])),
    f("statedirectory", Str),
    f("access", Struct(&[f("anonymouspull", Bool)])),
    f(
        "projects",
        Struct(&[f("autocreate", Bool), f("creation", Str)]),
    ),
    f(
        "ldap",
        Struct(&[
            f("url", Str),
            f("starttls", Bool),
            f("verifycert", Bool),
            f("cacert", Str),
            f("searchdn", Str),
            f("searchpassword", Str),
            f("basedn", Str),
            f("filter", Str),
            f("uid", Str),
            f("scope", Text(ldap_scope)),
            f("timeout", Duration),
            f(
                "group",
                Struct(&[
                    f("basedn", Str),
                    f("filter", Str),
                    f("nameattribute", Str),
                    f("scope", Text(ldap_scope)),
                    f("membershipattribute", Str),
                    f("admindn", Str),
                ]),
            ),
        ]),
    ),
    f(
        "oidc",
        Struct(&[
            f("endpoint", Str),
            f("clientid", Str),
            f("clientsecret", Str),
            f("scope", Str),
            f("userclaim", Str),
            f("groupsclaim", Str),
            f("admingroup", Str),
            f("verifycert", Bool),
            f("redirecturl", Str),
        ]),
    ),
    f(
        "audit",
        Struct(&[
            f("pulls", Bool),
            f("retention", Duration),
            f("file", Str),
            f("syslog", Struct(&[f("address", Str), f("facility", Str)])),
        ]),
    ),
    f(
        "ui",
        Struct(&[f("enabled", Bool), f("sessiontimeout", Duration)]),
    ),
    f("metrics", Struct(&[f("mainport", Bool)])),
    f(
        "immutable",
        List(&Struct(&[f("repositories", Str), f("tags", Str)])),
    ),
    f(
        "gc",
        Struct(&[
            f("enabled", Bool),
            f("interval", Duration),
            f("grace", Duration),
            f("deleteuntagged", Bool),
            f("orphanreferrers", Bool),
        ]),
    ),
    f(
        "retention",
        Struct(&[
            f("schedule", Str),
            f("dryrun", Bool),
            f(
                "policies",
                List(&Struct(&[
                    f("repositories", Str),
                    f("tags", Str),
                    f(
                        "keep",
                        List(&Struct(&[
                            f("mostrecentlypushed", UInt),
                            f("mostrecentlypulled", UInt),
                            f("pushedwithin", Duration),
                            f("pulledwithin", Duration),
                            f("tags", StrList),
                        ])),
                    ),
                    f("untagged", Str),
                ])),
            ),
        ]),
    ),
];

const HEADERS: Kind = Map(&StrList);

const NOTIFICATIONS: &[Field] = &[
    f("events", Struct(&[f("includereferences", Bool)])).alias("EVENTCONFIG"),
    f(
        "endpoints",
        List(&Struct(&[
            f("name", Str),
            f("disabled", Bool),
            f("url", Str),
            f("headers", HEADERS),
            f("timeout", Duration),
            f("threshold", Int),
            f("backoff", Duration),
            f("ignoredmediatypes", StrList),
            f(
                "ignore",
                Struct(&[f("mediatypes", StrList), f("actions", StrList)]),
            ),
            f("secret", Str),
        ])),
    ),
];

/// Both Redis schemas Distribution has had: the old pool-based one and the newer
/// go-redis "universal options" one, so configs of either age are recognised.
const REDIS: &[Field] = &[
    f("addr", Str),
    f("addrs", StrList),
    f("clientname", Str),
    f("db", Int),
    f("protocol", Int),
    f("username", Str),
    f("password", Str),
    f("sentinelusername", Str),
    f("sentinelpassword", Str),
    f("maxretries", Int),
    f("minretrybackoff", Duration),
    f("maxretrybackoff", Duration),
    f("dialtimeout", Duration),
    f("readtimeout", Duration),
    f("writetimeout", Duration),
    f("contexttimeoutenabled", Bool),
    f("poolfifo", Bool),
    f("poolsize", Int),
    f("pooltimeout", Duration),
    f("minidleconns", Int),
    f("maxidleconns", Int),
    f("maxactiveconns", Int),
    f("connmaxidletime", Duration),
    f("connmaxlifetime", Duration),
    f("maxredirects", Int),
    f("readonly", Bool),
    f("routebylatency", Bool),
    f("routerandomly", Bool),
    f("mastername", Str),
    f("disableidentity", Bool),
    f("identitysuffix", Str),
    f("unstableresp3", Bool),
    f(
        "pool",
        Struct(&[
            f("maxidle", Int),
            f("maxactive", Int),
            f("idletimeout", Duration),
        ]),
    ),
    f(
        "tls",
        Struct(&[
            f("enabled", Bool),
            f("certificate", Str),
            f("key", Str),
            f("rootcas", StrList),
        ]),
    ),
];

const HEALTH: &[Field] = &[
    f(
        "storagedriver",
        Struct(&[
            f("enabled", Bool),
            f("interval", Duration),
            f("threshold", Int),
        ]),
    ),
    f(
        "file",
        List(&Struct(&[
            f("interval", Duration),
            f("file", Str),
            f("threshold", Int),
        ])),
    )
    .alias("FILECHECKERS"),
    f(
        "http",
        List(&Struct(&[
            f("timeout", Duration),
            f("statuscode", Int),
            f("interval", Duration),
            f("uri", Str),
            f("headers", HEADERS),
            f("threshold", Int),
        ])),
    )
    .alias("HTTPCHECKERS"),
    f(
        "tcp",
        List(&Struct(&[
            f("timeout", Duration),
            f("interval", Duration),
            f("addr", Str),
            f("threshold", Int),
        ])),
    )
    .alias("TCPCHECKERS"),
];

const PROXY: &[Field] = &[
    f("remoteurl", Str),
    f("username", Str),
    f("password", Str),
    f(
        "exec",
        Struct(&[f("command", Str), f("lifetime", Duration)]),
    ),
    f("ttl", Duration),
    f("cachewritetimeout", Duration),
];

const VALIDATION: &[Field] = &[
    f("enabled", Bool),
    f("disabled", Bool),
    f(
        "manifests",
        Struct(&[
            f("urls", Struct(&[f("allow", StrList), f("deny", StrList)])),
            f(
                "indexes",
                Struct(&[
                    f("platforms", Text(platforms)),
                    f(
                        "platformlist",
                        List(&Struct(&[f("architecture", Str), f("os", Str)])),
                    ),
                ]),
            ),
        ]),
    ),
];

const COMPATIBILITY: &[Field] = &[f(
    "schema1",
    Struct(&[
        f("signingkeyfile", Str).alias("TRUSTKEY"),
        f("enabled", Bool),
    ]),
)];

const MIDDLEWARE: &[Field] = &[f("name", Str), f("disabled", Bool), f("options", Any)];

const REPORTING: &[Field] = &[
    f(
        "bugsnag",
        Struct(&[f("apikey", Str), f("releasestage", Str), f("endpoint", Str)]),
    ),
    f(
        "newrelic",
        Struct(&[f("licensekey", Str), f("name", Str), f("verbose", Bool)]),
    ),
];

const CATALOG: &[Field] = &[f("maxentries", Int)];
const TAGS: &[Field] = &[f("maxtags", Int)];
const POLICY: &[Field] = &[f("repository", Struct(&[f("classes", StrList)]))];

fn log_level(s: &str) -> Checked {
    match s.to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug") => Checked::Ok(l.to_string()),
        "warning" => Checked::Ok("warn".into()),
        l @ ("panic" | "fatal") => Checked::Warn(
            "error".into(),
            format!("log.level: {l:?} is treated as \"error\" (berth never stops on a log call)"),
        ),
        _ => Checked::Err(format!(
            "{s:?} is not a log level; use one of error, warn, info, debug"
        )),
    }
}

fn log_formatter(s: &str) -> Checked {
    match s.to_ascii_lowercase().as_str() {
        l @ ("text" | "json") => Checked::Ok(l.to_string()),
        "logstash" => Checked::Warn(
            "logstash".into(),
            "log.formatter: logstash is not supported yet; berth writes plain JSON lines instead"
                .into(),
        ),
        _ => Checked::Err(format!(
            "{s:?} is not a log formatter; use one of text, json, logstash"
        )),
    }
}

fn http_net(s: &str) -> Checked {
    match s.to_ascii_lowercase().as_str() {
        "" | "tcp" => Checked::Ok("tcp".into()),
        "unix" => Checked::Ok("unix".into()),
        _ => Checked::Err(format!("{s:?} is not a network; use tcp or unix")),
    }
}

fn minimum_tls(s: &str) -> Checked {
    match s.to_ascii_lowercase().as_str() {
        v @ ("tls1.2" | "tls1.3") => Checked::Ok(v.to_string()),
        v @ ("tls1.0" | "tls1.1") => Checked::Err(format!(
            "{v:?} is not supported: berth speaks only TLS 1.2 and 1.3 (TLS 1.0 and 1.1 are \
             obsolete and insecure, RFC 8996; registry:3 dropped them too); \
             use tls1.2 or tls1.3"
        )),
        _ => Checked::Err(format!("{s:?} is not a TLS version; use tls1.2 or tls1.3")),
    }
}

pub(crate) const CLIENT_AUTH_MODES: &[&str] = &[
    "request-client-cert",
    "require-any-client-cert",
    "verify-client-cert-if-given",
    "require-and-verify-client-cert",
];

/// libpq's `sslmode` values.
pub(crate) const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

fn ldap_scope(s: &str) -> Checked {
    let lower = s.to_ascii_lowercase();
    if ["base", "onelevel", "subtree"].contains(&lower.as_str()) {
        Checked::Ok(lower)
    } else {
        Checked::Err(format!(
            "{s:?} is not an LDAP search scope; use base, onelevel or subtree"
        ))
    }
}

fn ssl_mode(s: &str) -> Checked {
    let lower = s.to_ascii_lowercase();
    if SSL_MODES.contains(&lower.as_str()) {
        Checked::Ok(lower)
    } else {
        Checked::Err(format!(
            "{s:?} is not an SSL mode; use one of {}",
            SSL_MODES.join(", ")
        ))
    }
}

fn client_auth(s: &str) -> Checked {
    let lower = s.to_ascii_lowercase();
    if CLIENT_AUTH_MODES.contains(&lower.as_str()) {
        Checked::Ok(lower)
    } else {
        Checked::Err(format!(
            "{s:?} is not a client authentication mode; use one of {}",
            CLIENT_AUTH_MODES.join(", ")
        ))
    }
}

fn platforms(s: &str) -> Checked {
    match s.to_ascii_lowercase().as_str() {
        p @ ("all" | "none" | "list") => Checked::Ok(p.to_string()),
        _ => Checked::Err(format!("{s:?} is not accepted; use one of all, none, list")),
    }
}

/// The kind of one key inside `storage`.
pub(crate) fn storage_child(key: &str) -> Option<&'static Field> {
    STORAGE_SPECIAL
        .iter()
        .chain(STORAGE_DRIVERS)
        .find(|f| f.name == key)
}

pub(crate) fn is_storage_special(key: &str) -> bool {
    STORAGE_SPECIAL.iter().any(|f| f.name == key)
}

pub(crate) fn auth_child(key: &str) -> Option<&'static Field> {
    AUTH_TYPES.iter().find(|f| f.name == key)
}
