//! Turns the configuration into what `serve` needs. TEMPORARY minimal reader until the
//! berth-config crate lands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use berth_api::server::TlsSettings;

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
    pub log_level: String,
    pub log_json: bool,
    pub authenticated: bool,
    pub warnings: Vec<String>,
}

fn listen_addr(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    }
}

pub fn load(config: Option<&Path>) -> anyhow::Result<ServeSettings> {
    let text = match config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => {
            String::from("storage: {filesystem: {rootdirectory: ./data}, delete: {enabled: true}}")
        }
    };
    let v: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let root = PathBuf::from(
        v["storage"]["filesystem"]["rootdirectory"]
            .as_str()
            .unwrap_or("/var/lib/registry"),
    );
    let mut headers = Vec::new();
    if let Some(map) = v["http"]["headers"].as_mapping() {
        for (k, vals) in map {
            let vals = vals
                .as_sequence()
                .map(|s| {
                    s.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            headers.push((k.as_str().unwrap_or_default().to_string(), vals));
        }
    }
    Ok(ServeSettings {
        metadata: crate::import::default_metadata_path(&root),
        root,
        delete_enabled: v["storage"]["delete"]["enabled"].as_bool().unwrap_or(false),
        addr: listen_addr(v["http"]["addr"].as_str().unwrap_or(":5000")),
        prefix: v["http"]["prefix"].as_str().unwrap_or("").to_string(),
        base_url: None,
        headers,
        tls: None,
        drain: Duration::from_secs(10),
        log_level: "info".into(),
        log_json: false,
        authenticated: false,
        warnings: Vec::new(),
    })
}

pub fn check(config: &Path) -> anyhow::Result<()> {
    load(Some(config))?;
    println!("{}: OK", config.display());
    Ok(())
}
