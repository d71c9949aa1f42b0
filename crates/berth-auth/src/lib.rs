//! Who are you, and may you: credentials (htpasswd, local users, bearer tokens), the
//! token service's signing and verification, failed-login limits, and the one access
//! decision every request goes through ([`access::AccessPolicy`]).

pub mod access;
mod authenticator;
pub mod cache;
mod checks;
pub mod htpasswd;
pub mod keys;
pub mod limiter;
pub mod password;
pub mod scope;
pub mod token;
pub mod users;

use std::path::PathBuf;

pub use access::{AccessPolicy, Identity};
pub use authenticator::{Authenticator, Credentials, Mode, Refusal, TokenResponse};
pub use scope::{Action, Scope};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("cryptography failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),
    #[error(transparent)]
    User(#[from] users::UserError),
}
