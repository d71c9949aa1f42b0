//! Who are you, and may you: credentials (htpasswd, local users, bearer tokens), the
//! token service's signing and verification, failed-login limits, and the one access
//! decision every request goes through ([`access::AccessPolicy`]), with Harbor's roles
//! ([`rbac`]) and the rules of projects and members ([`projects`]).

pub mod access;
mod authenticator;
pub mod cache;
mod checks;
pub mod htpasswd;
pub mod keys;
pub mod ldap;
pub mod limiter;
pub mod oidc;
pub mod password;
pub mod projects;
pub mod rbac;
pub mod robots;
pub mod scope;
pub mod sessions;
pub mod token;
pub mod users;

use std::path::PathBuf;

pub use access::{AccessPolicy, Decision, Identity, ProjectRights, Roles};
pub use authenticator::{Authenticator, Credentials, Mode, Refusal, TokenResponse};
pub use berth_meta::{MemberEntity, MemberRecord, ProjectQuery, ProjectRecord, UserRecord};
pub use projects::{CreationRestriction, MemberRef, ProjectError, ProjectRef, Teams};
pub use rbac::{Permission, Resource, Role, Verb};
pub use robots::{RobotError, RobotGrants, Robots};
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
    #[error(transparent)]
    Project(#[from] projects::ProjectError),
    #[error(transparent)]
    Robot(#[from] robots::RobotError),
    #[error(transparent)]
    Ldap(#[from] ldap::LdapError),
    #[error(transparent)]
    Oidc(#[from] oidc::OidcError),
}
