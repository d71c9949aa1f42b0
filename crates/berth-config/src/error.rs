use std::path::{Path, PathBuf};

/// Why a configuration was refused. Every message names where to look (the file, the key
/// path such as `http.tls.minimumtls`, or the environment variable) and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}configuration is not valid YAML: {message}", in_file(file))]
    Yaml {
        file: Option<PathBuf>,
        message: String,
    },

    /// A key holds a value berth cannot use.
    #[error("{}{key}: {problem}{}", in_file(file), from_env(env))]
    Invalid {
        file: Option<PathBuf>,
        /// Dotted key path, e.g. `http.tls.minimumtls` or `health.file[0].interval`.
        key: String,
        problem: String,
        /// The `REGISTRY_*` variable that set this value, if one did.
        env: Option<String>,
    },

    /// A `REGISTRY_*` variable cannot be applied at all.
    #[error("environment variable {var}: {problem}")]
    Env { var: String, problem: String },
}

fn in_file(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

fn from_env(env: &Option<String>) -> String {
    env.as_ref()
        .map(|v| format!(" (value set by environment variable {v})"))
        .unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: None,
            key: key.into(),
            problem: problem.into(),
            env: None,
        }
    }

    /// Names the file the configuration came from, so messages point at it.
    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        match &mut self {
            ConfigError::Yaml { file, .. } | ConfigError::Invalid { file, .. } => {
                *file = Some(path.to_path_buf());
            }
            ConfigError::Read { .. } | ConfigError::Env { .. } => {}
        }
        self
    }
}
