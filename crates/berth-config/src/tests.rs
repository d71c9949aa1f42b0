use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn load(yaml: &str, vars: &[(&str, &str)]) -> LoadedConfig {
    Config::from_yaml_with_env(yaml, env(vars)).unwrap_or_else(|e| panic!("refused: {e}"))
}

#[track_caller]
fn refuse(yaml: &str, vars: &[(&str, &str)]) -> ConfigError {
    match Config::from_yaml_with_env(yaml, env(vars)) {
        Ok(loaded) => panic!("accepted: {:?}", loaded.config),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_warned(loaded: &LoadedConfig, needles: &[&str]) {
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| needles.iter().all(|n| w.contains(n))),
        "no warning containing {needles:?} in {:#?}",
        loaded.warnings
    );
}

const MINIMAL: &str = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/reg\n";

/// Distribution's cmd/registry/config-example.yml, as shipped in the registry:2 image.
const DISTRIBUTION_EXAMPLE: &str = "\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";

/// The current upstream example adds tag lookups and htpasswd auth.
const DISTRIBUTION_EXAMPLE_V3: &str = "\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  tag:
    concurrencylimit: 8
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/registry
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";

// ------------------------------------------------------------ Distribution's example

#[test]
fn distribution_example_loads_with_expected_values() {
    let loaded = load(DISTRIBUTION_EXAMPLE, &[]);
    let c = &loaded.config;
    assert_eq!(c.version.as_deref(), Some("0.1"));
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.log.formatter, LogFormatter::Text);
    assert_eq!(c.log.fields, vec![("service".into(), "registry".into())]);
    assert_eq!(c.storage.cache.blobdescriptor.as_deref(), Some("inmemory"));
    assert_eq!(
        c.storage.driver(),
        &StorageDriver::Filesystem {
            rootdirectory: PathBuf::from("/var/lib/registry"),
            maxthreads: 100
        }
    );
    assert!(
        !c.storage.delete_enabled(),
        "Distribution's default is no deletes"
    );
    assert!(!c.storage.read_only());
    assert_eq!(
        c.storage.maintenance.uploadpurging,
        UploadPurgingConfig {
            enabled: true,
            age: Duration::from_secs(168 * 3600),
            interval: Duration::from_secs(24 * 3600),
            dryrun: false,
        }
    );
    assert_eq!(c.http.addr, ":5000");
    assert_eq!(c.http.net, Net::Tcp);
    assert_eq!(
        c.http.headers,
        vec![("X-Content-Type-Options".into(), vec!["nosniff".into()])]
    );
    assert!(!c.http.tls.enabled());
    assert_eq!(c.auth, AuthConfig::None);
    let health = &c.health.storagedriver;
    assert!(health.enabled);
    assert_eq!(health.interval, Some(std::time::Duration::from_secs(10)));
    assert_eq!(health.threshold, Some(3));
    assert_eq!(
        c.metadata_path(),
        Some(PathBuf::from("/var/lib/registry/berth/metadata.db"))
    );
    // Nothing in Distribution's own example is worth a warning.
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
}

#[test]
fn current_distribution_example_with_htpasswd_auth() {
    let loaded = load(DISTRIBUTION_EXAMPLE_V3, &[]);
    let c = &loaded.config;
    assert_eq!(c.storage.tag.concurrencylimit, Some(8));
    assert_eq!(
        c.auth,
        AuthConfig::Htpasswd {
            realm: Some("basic-realm".into()),
            path: Some(PathBuf::from("/etc/registry")),
        }
    );
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
}

// ------------------------------------------------------------------ env overrides

#[test]
fn env_overrides_a_scalar() {
    let c = load(
        DISTRIBUTION_EXAMPLE,
        &[
            ("REGISTRY_HTTP_ADDR", ":6000"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/x"),
            ("PATH", "/usr/bin"),
        ],
    )
    .config;
    assert_eq!(c.http.addr, ":6000");
    assert_eq!(c.storage.root_directory(), Some(std::path::Path::new("/x")));
    // Siblings in the file are untouched.
    assert_eq!(c.storage.cache.blobdescriptor.as_deref(), Some("inmemory"));
}

#[test]
fn env_values_are_yaml() {
    let c = load(
        DISTRIBUTION_EXAMPLE,
        &[
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_HTTP_HEADERS", "{X-Foo: [bar, baz]}"),
            ("REGISTRY_HTTP_TLS_CLIENTCAS", "[/a.pem, /b.pem]"),
            ("REGISTRY_HTTP_DRAINTIMEOUT", "1m30s"),
        ],
    )
    .config;
    assert!(c.storage.delete_enabled());
    // The mapping replaces the file's headers entirely.
    assert_eq!(
        c.http.headers,
        vec![("X-Foo".into(), vec!["bar".into(), "baz".into()])]
    );
    assert_eq!(
        c.http.tls.clientcas,
        vec![PathBuf::from("/a.pem"), PathBuf::from("/b.pem")]
    );
    assert_eq!(c.http.draintimeout, Some(Duration::from_secs(90)));
}

#[test]
fn env_parent_replaces_the_section_and_applies_before_children() {
    // Given in reverse order on purpose: application is by sorted name.
    let loaded = load(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n",
        &[
            ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "false"),
            ("REGISTRY_STORAGE", "inmemory"),
        ],
    );
    let c = &loaded.config;
    assert_eq!(c.storage.driver(), &StorageDriver::InMemory);
    assert!(
        !c.storage.delete_enabled(),
        "the file's delete section was replaced"
    );
    assert_eq!(c.storage.cache.blobdescriptor, None);
    assert_eq!(c.metadata_path(), None);

    let c = load(
        MINIMAL,
        &[
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_STORAGE", "{filesystem: {rootdirectory: /env}}"),
        ],
    )
    .config;
    assert_eq!(
        c.storage.root_directory(),
        Some(std::path::Path::new("/env"))
    );
    assert!(
        c.storage.delete_enabled(),
        "the child applied after its parent"
    );

    let c = load(
        DISTRIBUTION_EXAMPLE,
        &[("REGISTRY_HTTP", "{addr: ':7000'}")],
    )
    .config;
    assert_eq!(c.http.addr, ":7000");
    assert!(
        c.http.headers.is_empty(),
        "REGISTRY_HTTP replaced all of http"
    );
}

#[test]
fn storage_may_be_a_plain_driver_name() {
    let c = load("version: 0.1\nstorage: filesystem\n", &[]).config;
    assert_eq!(
        c.storage.root_directory(),
        Some(std::path::Path::new(DEFAULT_ROOT_DIRECTORY))
    );
    let c = load("version: 0.1\nstorage: inmemory\n", &[]).config;
    assert_eq!(c.storage.driver(), &StorageDriver::InMemory);
    // A variable reaches inside the shorthand.
    let c = load(
        "version: 0.1\nstorage: filesystem\n",
        &[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/y")],
    )
    .config;
    assert_eq!(c.storage.root_directory(), Some(std::path::Path::new("/y")));
    // And the shorthand may come from the environment, refined by later variables.
    let c = load(
        MINIMAL,
        &[
            ("REGISTRY_STORAGE", "filesystem"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/z"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ],
    )
    .config;
    assert_eq!(c.storage.root_directory(), Some(std::path::Path::new("/z")));
    assert!(c.storage.delete_enabled());
    let loaded = load("version: 0.1\nstorage: gcs\n", &[]);
    assert_eq!(
        loaded.config.storage.driver(),
        &StorageDriver::Other("gcs".into())
    );
    assert_warned(&loaded, &["storage.gcs", "not supported yet"]);
    let s3 = load("version: 0.1\nstorage: s3\n", &[]);
    assert_eq!(
        s3.config.storage.driver(),
        &StorageDriver::S3(S3Config::default())
    );
}

#[test]
fn env_creates_missing_sections() {
    let loaded = load(
        MINIMAL,
        &[
            ("REGISTRY_HTTP_TLS_CERTIFICATE", "/c.pem"),
            ("REGISTRY_HTTP_TLS_KEY", "/k.pem"),
            ("REGISTRY_HTTP_TLS_MINIMUMTLS", "tls1.3"),
            ("REGISTRY_BERTH_METADATA_PATH", "/m/meta.db"),
            ("REGISTRY_LOG_FIELDS_ENVIRONMENT", "staging"),
            ("REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME", "hook"),
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL",
                "https://h.example/e",
            ),
            ("REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME", "other"),
        ],
    );
    let c = &loaded.config;
    assert!(c.http.tls.enabled());
    assert_eq!(c.http.tls.certificate, Some(PathBuf::from("/c.pem")));
    assert_eq!(c.http.tls.key, Some(PathBuf::from("/k.pem")));
    assert_eq!(c.http.tls.minimumtls, TlsVersion::Tls13);
    assert_eq!(c.metadata_path(), Some(PathBuf::from("/m/meta.db")));
    assert_eq!(c.log.fields, vec![("environment".into(), "staging".into())]);
    let endpoints = &c.notifications.endpoints;
    assert_eq!(endpoints[0].name, "hook");
    assert_eq!(endpoints[0].url, "https://h.example/e");
    assert_eq!(endpoints[1].name, "other");
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("notifications")),
        "{:#?}",
        loaded.warnings
    );
}

#[test]
fn env_matches_existing_keys_case_insensitively() {
    let c = load(
        "version: 0.1\nstorage: inmemory\nlog:\n  fields:\n    Service: registry\nhttp:\n  headers:\n    X-Frame-Options: [DENY]\n",
        &[
            ("REGISTRY_LOG_FIELDS_SERVICE", "berth"),
            ("REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS", "[SAMEORIGIN]"),
        ],
    )
    .config;
    // Replaced in place, keeping the file's spelling; no duplicate key appears.
    assert_eq!(c.log.fields, vec![("Service".into(), "berth".into())]);
    assert_eq!(
        c.http.headers,
        vec![("X-Frame-Options".into(), vec!["SAMEORIGIN".into()])]
    );
}

#[test]
fn env_variables_that_name_nothing_are_warned_not_applied() {
    let loaded = load(
        MINIMAL,
        &[
            ("REGISTRY_HTTP_TLSS", "x"),
            ("REGISTRY_http_addr", ":1"),
            ("REGISTRY_PORT", "tcp://10.0.0.1:5000"),
            ("REGISTRY_HTTP_ADDR_PORT", "1"),
            (
                "REGISTRY_CONFIGURATION_PATH",
                "/etc/docker/registry/config.yml",
            ),
            ("REGISTRY_VERSION", "0.2"),
        ],
    );
    assert_eq!(loaded.config.http.addr, DEFAULT_ADDR);
    assert_eq!(loaded.config.version.as_deref(), Some("0.1"));
    assert_warned(&loaded, &["REGISTRY_HTTP_TLSS ignored", "http.tlss"]);
    assert_warned(&loaded, &["REGISTRY_http_addr ignored"]);
    assert_warned(&loaded, &["REGISTRY_PORT ignored", "Kubernetes"]);
    assert_warned(&loaded, &["REGISTRY_HTTP_ADDR_PORT ignored", "http.addr"]);
    assert_warned(&loaded, &["REGISTRY_VERSION ignored"]);
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.contains("CONFIGURATION_PATH")),
        "{:#?}",
        loaded.warnings
    );
    assert_eq!(loaded.warnings.len(), 5, "{:#?}", loaded.warnings);
}

#[test]
fn env_reaches_go_field_names_and_list_entries() {
    // Distribution names health.file REGISTRY_HEALTH_FILECHECKERS (the Go field name).
    let c = load(
        MINIMAL,
        &[
            ("REGISTRY_HEALTH_FILECHECKERS_0_FILE", "/tmp/down"),
            ("REGISTRY_HEALTH_TCP_0_ADDR", "db:5432"),
        ],
    )
    .config;
    assert_eq!(c.health.file[0].file, PathBuf::from("/tmp/down"));
    assert_eq!(c.health.tcp[0].addr, "db:5432");

    // An existing list entry is changed in place.
    let c = load(
        &format!("{MINIMAL}http:\n  tls:\n    clientcas: [/a.pem, /b.pem]\n"),
        &[("REGISTRY_HTTP_TLS_CLIENTCAS_1", "/c.pem")],
    )
    .config;
    assert_eq!(
        c.http.tls.clientcas,
        vec![PathBuf::from("/a.pem"), PathBuf::from("/c.pem")]
    );
}

#[test]
fn env_list_indexes_must_be_numbers_in_order() {
    let e = refuse(MINIMAL, &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_X_NAME", "a")]);
    assert!(
        matches!(&e, ConfigError::Env { var, .. } if var == "REGISTRY_NOTIFICATIONS_ENDPOINTS_X_NAME"),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a list index"), "{e}");
    let e = refuse(MINIMAL, &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_2_NAME", "a")]);
    assert!(e.to_string().contains("past the end"), "{e}");
}

#[test]
fn env_values_get_the_same_checks_and_name_the_variable() {
    let e = refuse(MINIMAL, &[("REGISTRY_STORAGE_DELETE_ENABLED", "maybe")]);
    match &e {
        ConfigError::Invalid { key, env, .. } => {
            assert_eq!(key, "storage.delete.enabled");
            assert_eq!(env.as_deref(), Some("REGISTRY_STORAGE_DELETE_ENABLED"));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("\"maybe\"") && text.contains("true or false"),
        "{text}"
    );
    let e = refuse(MINIMAL, &[("REGISTRY_HTTP", "{tls: {minimumtls: tls1.1}}")]);
    assert!(
        e.to_string().contains("http.tls.minimumtls") && e.to_string().contains("REGISTRY_HTTP"),
        "{e}"
    );
    let e = refuse(MINIMAL, &[("REGISTRY_STORAGE_DELETE", "{enabled: [")]);
    assert!(matches!(e, ConfigError::Env { .. }), "{e:?}");
}

#[test]
fn env_strings_keep_their_text() {
    let c = load(
        MINIMAL,
        &[
            ("REGISTRY_HTTP_SECRET", "0.10"),
            ("REGISTRY_HTTP_HOST", "https://r.example:5000"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "@realm: [odd"),
        ],
    )
    .config;
    assert_eq!(c.http.secret.as_deref(), Some("0.10"));
    assert_eq!(c.http.host.as_deref(), Some("https://r.example:5000"));
    match c.auth {
        AuthConfig::Htpasswd { realm, .. } => assert_eq!(realm.as_deref(), Some("@realm: [odd")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_env_value_resets_to_the_default() {
    let c = load(DISTRIBUTION_EXAMPLE, &[("REGISTRY_HTTP_ADDR", "")]).config;
    assert_eq!(c.http.addr, DEFAULT_ADDR);
    let e = refuse(MINIMAL, &[("REGISTRY_STORAGE", "")]);
    assert!(e.to_string().contains("no storage driver"), "{e}");
}

// ----------------------------------------------------------------- refused values

#[test]
fn invalid_durations_are_refused_with_the_key() {
    for (yaml, key) in [
        ("http:\n  draintimeout: 10x\n", "http.draintimeout"),
        ("http:\n  draintimeout: -5s\n", "http.draintimeout"),
        (
            "storage:\n  filesystem: {}\n  maintenance:\n    uploadpurging:\n      age: 1d\n",
            "storage.maintenance.uploadpurging.age",
        ),
        (
            "health:\n  storagedriver:\n    interval: soon\n",
            "health.storagedriver.interval",
        ),
        (
            "health:\n  file:\n    - file: /x\n      interval: [1]\n",
            "health.file[0].interval",
        ),
    ] {
        let yaml = format!("version: 0.1\nstorage: inmemory\n{yaml}")
            .replace("storage: inmemory\nstorage:", "storage:");
        let e = refuse(&yaml, &[]);
        match &e {
            ConfigError::Invalid { key: k, .. } => assert_eq!(k, key, "{e}"),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("10s") || text.contains("zero or more"),
            "says what is accepted: {text}"
        );
    }
}

#[test]
fn durations_in_go_syntax_and_bare_nanoseconds() {
    let loaded = load(
        &format!(
            "{MINIMAL}  maintenance:\n    uploadpurging:\n      enabled: false\n      age: 2h30m\n      interval: 500ms\n      dryrun: yes\nhttp:\n  draintimeout: 3000000000\n"
        ),
        &[],
    );
    let p = &loaded.config.storage.maintenance.uploadpurging;
    assert!(!p.enabled && p.dryrun);
    assert_eq!(p.age, Duration::from_secs(9000));
    assert_eq!(p.interval, Duration::from_millis(500));
    assert_eq!(
        loaded.config.http.draintimeout,
        Some(Duration::from_secs(3))
    );
    assert_eq!(loaded.config.http.drain_timeout(), Duration::from_secs(3));
    assert_warned(&loaded, &["http.draintimeout", "nanoseconds"]);
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("uploadpurging")),
        "upload purging is supported"
    );
}

#[test]
fn two_storage_drivers_are_refused() {
    let e = refuse(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /a\n  s3:\n    bucket: b\n  delete:\n    enabled: true\n",
        &[],
    );
    let text = e.to_string();
    assert!(
        text.starts_with("storage: more than one storage driver")
            && text.contains("filesystem, s3"),
        "{text}"
    );
    // Adding a driver from the environment hits the same rule.
    let e = refuse(MINIMAL, &[("REGISTRY_STORAGE_S3_BUCKET", "b")]);
    assert!(e.to_string().contains("filesystem, s3"), "{e}");
}

#[test]
fn minimumtls_accepts_only_tls12_and_tls13() {
    let tls = |v: &str| {
        format!("{MINIMAL}http:\n  tls:\n    certificate: /c\n    key: /k\n    minimumtls: {v}\n")
    };
    assert_eq!(
        load(&tls("tls1.2"), &[]).config.http.tls.minimumtls,
        TlsVersion::Tls12
    );
    assert_eq!(
        load(&tls("TLS1.3"), &[]).config.http.tls.minimumtls,
        TlsVersion::Tls13
    );
    assert_eq!(
        load(MINIMAL, &[]).config.http.tls.minimumtls,
        TlsVersion::Tls12,
        "Distribution's default"
    );
    for old in ["tls1.0", "tls1.1"] {
        let text = refuse(&tls(old), &[]).to_string();
        assert!(
            text.starts_with("http.tls.minimumtls: ")
                && text.contains(old)
                && text.contains("insecure")
                && text.contains("use tls1.2 or tls1.3"),
            "{text}"
        );
    }
    let text = refuse(&tls("tls9"), &[]).to_string();
    assert!(
        text.contains("http.tls.minimumtls")
            && text.contains("\"tls9\"")
            && text.contains("tls1.2"),
        "{text}"
    );
}

#[test]
fn unknown_keys_are_warned_by_full_path() {
    let loaded = load(
        "version: 0.1
Http:
  addr: :1
storage:
  filesystem:
    rootdir: /x
http:
  tlss:
    typo: true
berth:
  metdata: {}
notifications:
  endpoints:
    - name: a
      urll: http://x
",
        &[],
    );
    assert_warned(&loaded, &["unknown key Http ignored", "did you mean http?"]);
    assert_warned(
        &loaded,
        &[
            "unknown key storage.filesystem.rootdir ignored",
            "rootdirectory",
        ],
    );
    assert_warned(
        &loaded,
        &["unknown key http.tlss ignored", "did you mean tls?"],
    );
    assert_warned(&loaded, &["unknown key berth.metdata ignored", "metadata"]);
    assert_warned(
        &loaded,
        &["unknown key notifications.endpoints[0].urll ignored"],
    );
    // Nothing under an unknown key is applied.
    assert_eq!(loaded.config.http.addr, DEFAULT_ADDR);
    assert_eq!(
        loaded.config.storage.root_directory(),
        Some(std::path::Path::new(DEFAULT_ROOT_DIRECTORY))
    );
}

#[test]
fn wrong_types_are_refused_with_path_and_value() {
    for (yaml, needle) in [
        (
            "http:\n  addr: [a]\n",
            "http.addr: expected a string, found a list",
        ),
        ("http:\n  tls: yes\n", "http.tls: expected a section"),
        (
            "http:\n  headers:\n    X-A: {b: c}\n",
            "http.headers.X-A: expected a list of strings, found a mapping",
        ),
        (
            "http:\n  headers:\n    X-A: [{b: c}]\n",
            "http.headers.X-A[0]: expected a string, found a mapping",
        ),
        (
            "storage:\n  filesystem: {}\n  tag:\n    concurrencylimit: -1\n",
            "storage.tag.concurrencylimit: expected a whole number of zero or more, found -1",
        ),
        (
            "log:\n  level: verbose\n",
            "log.level: \"verbose\" is not a log level; use one of error, warn, info, debug",
        ),
        ("log:\n  formatter: xml\n", "log.formatter: \"xml\""),
        (
            "http:\n  tls:\n    clientauth: maybe\n",
            "require-and-verify-client-cert",
        ),
        (
            "storage: [filesystem]\n",
            "storage: expected a storage driver name or a mapping",
        ),
    ] {
        let yaml = format!("version: 0.1\nstorage: inmemory\n{yaml}")
            .replace("storage: inmemory\nstorage", "storage");
        let text = refuse(&yaml, &[]).to_string();
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
}

#[test]
fn go_yaml_leniencies_are_kept() {
    let c = load(
        "version: \"0.1\"\nstorage:\n  filesystem:\n    rootdirectory: /r\n    maxthreads: 10\n  delete:\n    enabled: yes\nhttp:\n  secret: 12345\n  tls:\n    certificate: /c\n    key: /k\n    clientcas: /ca.pem\n",
        &[],
    )
    .config;
    assert!(c.storage.delete_enabled());
    assert_eq!(c.http.secret.as_deref(), Some("12345"));
    assert_eq!(c.http.tls.clientcas, vec![PathBuf::from("/ca.pem")]);
    // Distribution raises maxthreads below its floor of 25.
    assert_eq!(
        c.storage.driver(),
        &StorageDriver::Filesystem {
            rootdirectory: "/r".into(),
            maxthreads: 25
        }
    );
}

// ------------------------------------------------------------- version and storage

#[test]
fn version_rules() {
    let loaded = load("storage: inmemory\n", &[]);
    assert_warned(&loaded, &["version: missing", "0.1"]);
    assert_eq!(loaded.config.version.as_deref(), Some("0.1"));
    let text = refuse("version: 0.2\nstorage: inmemory\n", &[]).to_string();
    assert!(
        text.contains("version") && text.contains("\"0.2\"") && text.contains("0.1"),
        "{text}"
    );
}

#[test]
fn storage_is_required_as_in_distribution() {
    for yaml in [
        "version: 0.1\n",
        "",
        "version: 0.1\nstorage:\n  delete:\n    enabled: true\n",
    ] {
        let text = refuse(yaml, &[]).to_string();
        assert!(text.contains("no storage driver"), "{text}");
    }
    // ...unless the environment provides it.
    let c = load("version: 0.1\n", &[("REGISTRY_STORAGE", "inmemory")]).config;
    assert_eq!(c.storage.driver(), &StorageDriver::InMemory);
}

#[test]
fn not_yaml_or_not_a_mapping() {
    assert!(matches!(
        refuse("version: 0.1\nstorage: [not, a, mapping\n", &[]),
        ConfigError::Yaml { .. }
    ));
    assert!(matches!(
        refuse("- a\n- b\n", &[]),
        ConfigError::Yaml { .. }
    ));
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let c = load(
        "version: 0.1\nx-common: &common\n  enabled: true\nstorage:\n  inmemory:\n  delete:\n    <<: *common\n",
        &[],
    );
    assert!(c.config.storage.delete_enabled());
    assert_warned(&c, &["unknown key x-common ignored"]);
}

// ------------------------------------------------------------------------ auth

#[test]
fn auth_forms() {
    assert_eq!(
        load(&format!("{MINIMAL}auth: none\n"), &[]).config.auth,
        AuthConfig::None
    );
    assert!(
        load(&format!("{MINIMAL}auth:\n  none:\n"), &[])
            .warnings
            .is_empty()
    );

    let loaded = load(
        &format!(
            "{MINIMAL}auth:\n  token:\n    realm: https://auth/token\n    service: reg\n    issuer: me\n    rootcertbundle: /b.pem\n    signingalgorithms: [ES256]\n"
        ),
        &[],
    );
    match &loaded.config.auth {
        AuthConfig::Token(t) => {
            assert_eq!(t.realm.as_deref(), Some("https://auth/token"));
            assert_eq!(t.rootcertbundle, Some(PathBuf::from("/b.pem")));
            assert_eq!(t.signingalgorithms, vec!["ES256".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);

    let loaded = load(
        &format!("{MINIMAL}auth:\n  local:\n    service: reg\n    tokenttl: 90s\n"),
        &[],
    );
    match &loaded.config.auth {
        AuthConfig::Local(l) => {
            assert_eq!(l.service.as_deref(), Some("reg"));
            assert_eq!(l.tokenttl, Some(std::time::Duration::from_secs(90)));
            assert_eq!(l.signingkey, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);

    let loaded = load(&format!("{MINIMAL}auth: silly\n"), &[]);
    assert_eq!(loaded.config.auth.name(), "silly");
    assert_warned(
        &loaded,
        &["auth.silly is not supported", "refuses to start"],
    );

    let text = refuse(
        &format!("{MINIMAL}auth:\n  silly: {{}}\n  htpasswd: {{}}\n"),
        &[],
    )
    .to_string();
    assert!(text.starts_with("auth: configure exactly one"), "{text}");

    // From the environment alone.
    let loaded = load(
        MINIMAL,
        &[("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd")],
    );
    assert_eq!(
        loaded.config.auth,
        AuthConfig::Htpasswd {
            realm: None,
            path: Some("/auth/htpasswd".into())
        }
    );
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
}

// ------------------------------------------------------------------------- log

#[test]
fn log_levels() {
    let level = |yaml: &str| load(&format!("{MINIMAL}{yaml}"), &[]);
    assert_eq!(
        level("log:\n  level: DEBUG\n").config.log.level,
        LogLevel::Debug
    );
    let fatal = level("log:\n  level: fatal\n");
    assert_eq!(fatal.config.log.level, LogLevel::Error);
    assert_warned(&fatal, &["log.level", "fatal"]);
    // The deprecated top-level key is honoured when log.level is absent...
    let old = level("loglevel: warn\n");
    assert_eq!(old.config.log.level, LogLevel::Warn);
    assert_warned(&old, &["loglevel: deprecated", "log.level"]);
    // ...and loses to log.level.
    assert_eq!(
        level("loglevel: warn\nlog:\n  level: error\n")
            .config
            .log
            .level,
        LogLevel::Error
    );
    let json = level("log:\n  formatter: json\n  accesslog:\n    disabled: true\n");
    assert!(json.config.log.formatter.is_json() && json.config.log.accesslog.disabled);
    let logstash = level("log:\n  formatter: logstash\n");
    assert!(logstash.config.log.formatter.is_json());
    assert_warned(&logstash, &["logstash"]);
    let fields = level("log:\n  fields:\n    n: 3\n    ok: true\n    nested: {a: b}\n");
    assert_eq!(
        fields.config.log.fields,
        vec![
            ("n".into(), "3".into()),
            ("ok".into(), "true".into()),
            ("nested".into(), "a: b".into())
        ]
    );
}

// ------------------------------------------------------------------------ http

#[test]
fn http_cross_checks() {
    let with = |yaml: &str| format!("{MINIMAL}http:\n{yaml}");
    let text = refuse(&with("  net: unix\n  addr: /run/reg.sock\n"), &[]).to_string();
    assert!(
        text.starts_with("http.net: unix sockets are not supported yet"),
        "{text}"
    );
    let text = refuse(&with("  host: registry.example.com\n"), &[]).to_string();
    assert!(
        text.contains("http.host") && text.contains("https://"),
        "{text}"
    );
    let text = refuse(&with("  prefix: registry\n"), &[]).to_string();
    assert!(
        text.contains("http.prefix") && text.contains("must start with /"),
        "{text}"
    );
    let text = refuse(&with("  tls:\n    certificate: /c\n"), &[]).to_string();
    assert!(text.starts_with("http.tls.key: missing"), "{text}");

    let loaded = load(&with("  host: https://r.example/\n  prefix: /r/\n"), &[]);
    assert_eq!(loaded.config.http.base_url(), Some("https://r.example"));
    assert_eq!(loaded.config.http.prefix, "/r/");
    let loaded = load(
        &with("  host: https://r.example\n  relativeurls: true\n"),
        &[],
    );
    assert_eq!(loaded.config.http.base_url(), None);
    assert_eq!(
        load(MINIMAL, &[]).config.http.drain_timeout(),
        DEFAULT_DRAIN_TIMEOUT
    );
}

#[test]
fn tls_features_not_supported_yet_are_warned() {
    let loaded = load(
        &format!(
            "{MINIMAL}http:\n  tls:\n    certificate: /c\n    key: /k\n    clientcas: [/ca]\n    clientauth: verify-client-cert-if-given\n    ciphersuites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n  http2:\n    disabled: true\n  debug:\n    addr: :5001\n"
        ),
        &[],
    );
    assert_eq!(
        loaded.config.http.tls.clientauth,
        Some(ClientAuth::VerifyClientCertIfGiven)
    );
    assert_warned(&loaded, &["http.tls.clientauth", "not supported yet"]);
    assert_warned(
        &loaded,
        &["http.tls.ciphersuites", "TLS_RSA_WITH_AES_128_CBC_SHA"],
    );
    assert_warned(&loaded, &["http.http2.disabled", "HTTP/2 stays enabled"]);
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("http.debug")),
        "the debug listener is supported"
    );
    assert_eq!(loaded.config.http.debug.addr.as_deref(), Some(":5001"));

    let loaded = load(
        &format!(
            "{MINIMAL}http:\n  tls:\n    letsencrypt:\n      cachefile: /le\n      email: a@b\n"
        ),
        &[],
    );
    assert!(!loaded.config.http.tls.enabled());
    assert_warned(&loaded, &["letsencrypt", "PLAIN HTTP"]);
}

// ----------------------------------------------------------------- maintenance

#[test]
fn readonly_is_parsed_and_its_absence_of_effect_is_loud() {
    let loaded = load(
        &format!("{MINIMAL}  maintenance:\n    readonly:\n      enabled: true\n"),
        &[],
    );
    assert!(loaded.config.storage.read_only());
    assert_warned(&loaded, &["readonly", "ACCEPTS PUSHES"]);
}

#[test]
fn every_unsupported_section_is_named_once() {
    let loaded = load(
        &format!(
            "{MINIMAL}redis:\n  addr: localhost:6379\nproxy:\n  remoteurl: https://registry-1.docker.io\nvalidation:\n  disabled: true\ncompatibility:\n  schema1:\n    enabled: true\nmiddleware:\n  registry:\n    - name: x\nreporting:\n  bugsnag:\n    apikey: k\ncatalog:\n  maxentries: 10\ntags:\n  maxtags: 10\npolicy:\n  repository:\n    classes: [a]\n"
        ),
        &[],
    );
    for section in [
        "redis",
        "proxy",
        "validation",
        "compatibility",
        "middleware",
        "reporting",
        "catalog",
        "tags",
        "policy",
    ] {
        let hits = loaded
            .warnings
            .iter()
            .filter(|w| w.starts_with(&format!("{section}: not supported yet, ignored")))
            .count();
        assert_eq!(hits, 1, "{section}: {:#?}", loaded.warnings);
    }
    assert_eq!(loaded.warnings.len(), 9, "{:#?}", loaded.warnings);
    assert!(loaded.config.proxy.is_some() && loaded.config.redis.is_some());
}

// ------------------------------------------------------------- defaults, files

#[test]
fn default_without_a_file() {
    let loaded = Config::default_with_env(Vec::new()).expect("default loads");
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let c = &loaded.config;
    assert_eq!(c.http.addr, ":5000");
    assert_eq!(
        c.storage.root_directory(),
        Some(std::path::Path::new("./data"))
    );
    assert!(c.storage.delete_enabled());
    assert_eq!(
        c.metadata_path(),
        Some(PathBuf::from("./data/berth/metadata.db"))
    );
    assert_eq!(c.auth, AuthConfig::Local(Default::default()));
    assert!(!c.berth.access.anonymouspull);

    let c = Config::default_with_env(env(&[("REGISTRY_AUTH", "none")]))
        .expect("loads")
        .config;
    assert_eq!(
        c.auth,
        AuthConfig::None,
        "auth can be switched off explicitly"
    );
    let c = Config::default_with_env(env(&[
        ("REGISTRY_AUTH", "htpasswd"),
        ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
    ]))
    .expect("loads")
    .config;
    assert_eq!(c.auth.name(), "htpasswd");

    let c = Config::default_with_env(env(&[
        ("REGISTRY_HTTP_ADDR", "127.0.0.1:5555"),
        (
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
            "/var/lib/berth",
        ),
    ]))
    .expect("loads")
    .config;
    assert_eq!(c.http.addr, "127.0.0.1:5555");
    assert_eq!(
        c.metadata_path(),
        Some(PathBuf::from("/var/lib/berth/berth/metadata.db"))
    );
    assert!(c.storage.delete_enabled());
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

#[test]
fn load_names_the_file_in_errors() {
    let good = temp_file("good.yml", DISTRIBUTION_EXAMPLE);
    let loaded = Config::load(&good, env(&[("REGISTRY_HTTP_ADDR", ":6001")])).expect("loads");
    assert_eq!(loaded.config.http.addr, ":6001");

    let bad_yaml = temp_file("bad-yaml.yml", "version: 0.1\nstorage: [not, a, mapping\n");
    let text = Config::load(&bad_yaml, Vec::new()).unwrap_err().to_string();
    assert!(
        text.starts_with(&format!("{}: ", bad_yaml.display())),
        "{text}"
    );

    let bad_value = temp_file(
        "bad-value.yml",
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\nhttp:\n  tls:\n    certificate: /c\n    key: /k\n    minimumtls: tls9\n",
    );
    let text = Config::load(&bad_value, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with(&format!("{}: http.tls.minimumtls: ", bad_value.display())),
        "{text}"
    );

    let missing = good.with_file_name("missing.yml");
    let e = Config::load(&missing, Vec::new()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("missing.yml"), "{e}");
}

/// GitLab's container registry `database` section, from the file and from
/// `REGISTRY_DATABASE_*` variables, checked like every key.
#[test]
fn database_section_like_gitlab() {
    let yaml = format!(
        "{MINIMAL}database:\n  enabled: true\n  host: db.internal\n  port: 6432\n  user: registry\n  \
         password: s3cret\n  dbname: registry\n  sslmode: Verify-Full\n  sslrootcert: /etc/ca.pem\n  \
         connecttimeout: 5s\n  pool:\n    maxopen: 20\n    maxidle: 5\n    maxlifetime: 5m\n"
    );
    let loaded = load(&yaml, &[]);
    let db = &loaded.config.database;
    assert!(db.enabled);
    assert_eq!(db.host.as_deref(), Some("db.internal"));
    assert_eq!(db.port, Some(6432));
    assert_eq!(db.sslmode.as_deref(), Some("verify-full"));
    assert_eq!(db.sslrootcert, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(db.connecttimeout, Some(Duration::from_secs(5)));
    assert_eq!(db.pool.maxopen, Some(20));
    assert_eq!(db.pool.maxlifetime, Some(Duration::from_secs(300)));
    assert_warned(&loaded, &["database.pool.maxidle", "not capped"]);

    let from_env = load(
        MINIMAL,
        &[
            ("REGISTRY_DATABASE_ENABLED", "true"),
            ("REGISTRY_DATABASE_HOST", "10.0.0.5"),
            ("REGISTRY_DATABASE_PASSWORD", "from-a-secret"),
            ("REGISTRY_DATABASE_POOL_MAXOPEN", "7"),
        ],
    );
    let db = &from_env.config.database;
    assert!(db.enabled);
    assert_eq!(db.host.as_deref(), Some("10.0.0.5"));
    assert_eq!(db.password.as_deref(), Some("from-a-secret"));
    assert_eq!(db.pool.maxopen, Some(7));
    assert!(
        !load(MINIMAL, &[]).config.database.enabled,
        "SQLite by default"
    );

    let e = refuse(&format!("{MINIMAL}database:\n  sslmode: sometimes\n"), &[]).to_string();
    assert!(
        e.contains("database.sslmode") && e.contains("verify-full"),
        "{e}"
    );
    let e = refuse(&format!("{MINIMAL}database:\n  port: -1\n"), &[]).to_string();
    assert!(e.contains("database.port"), "{e}");
}

/// Distribution's `storage.s3` keys, from the file and from variables; the keys berth does
/// not act on are named in warnings.
#[test]
fn s3_storage_like_distribution() {
    let yaml = "version: 0.1\nstorage:\n  s3:\n    accesskey: AK\n    secretkey: SK\n    \
                region: garage\n    regionendpoint: http://127.0.0.1:3900\n    \
                forcepathstyle: true\n    bucket: images\n    rootdirectory: /registry\n    \
                chunksize: 10485760\nberth:\n  statedirectory: /var/lib/berth\n";
    let loaded = load(yaml, &[("REGISTRY_STORAGE_S3_SECRETKEY", "from-env")]);
    let StorageDriver::S3(s3) = loaded.config.storage.driver() else {
        panic!("not s3: {:?}", loaded.config.storage.driver());
    };
    assert_eq!(s3.accesskey.as_deref(), Some("AK"));
    assert_eq!(s3.secretkey.as_deref(), Some("from-env"));
    assert_eq!(s3.regionendpoint.as_deref(), Some("http://127.0.0.1:3900"));
    assert!(s3.forcepathstyle);
    assert_eq!(s3.bucket.as_deref(), Some("images"));
    assert_eq!(s3.rootdirectory.as_deref(), Some("/registry"));
    assert_warned(&loaded, &["storage.s3.chunksize", "10 MiB"]);
    assert!(
        !format!("{s3:?}").contains("from-env"),
        "no secret in debug output"
    );
    assert_eq!(
        loaded.config.metadata_path(),
        Some(PathBuf::from("/var/lib/berth/berth/metadata.db"))
    );
    let e = refuse(
        "version: 0.1\nstorage:\n  s3:\n    forcepathstyle: maybe\n",
        &[],
    )
    .to_string();
    assert!(e.contains("storage.s3.forcepathstyle"), "{e}");
}

#[test]
fn redirect_from_environment() {
    let yaml = "version: 0.1\nstorage:\n  s3:\n    bucket: b\n  redirect:\n    disable: true\n";
    assert!(load(yaml, &[]).config.storage.redirect.disable);
    let on = load(yaml, &[("REGISTRY_STORAGE_REDIRECT_DISABLE", "false")]);
    assert!(!on.config.storage.redirect.disable);
}
