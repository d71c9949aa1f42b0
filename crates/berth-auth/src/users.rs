//! Local users: kept in the metadata database with argon2id hashes. Used by `berth user`,
//! the users API and the token service. The rules that keep the registry manageable (a
//! valid name, no look-alike names, never without an administrator) live here and in the
//! metadata's transactions, not in the HTTP layer.

use berth_meta::{MetaStore, UserChange, UserOrigin, UserRecord, now_ms};

use crate::ldap::DirectoryUser;
use crate::{AuthError, Identity, password};

/// Why a change to users was refused (the caller's mistake, not the server's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("{0:?} is not a valid user name: use 1-64 letters, digits, '.', '_', '-' or '@'")]
    InvalidName(String),
    #[error("the password is too short: use at least 8 characters")]
    PasswordTooShort,
    #[error(
        "a user named {0} exists already (names are unique regardless of case); choose another name, or change that user's password"
    )]
    Exists(String),
    #[error("there is no user {0}")]
    NoSuchUser(String),
    #[error("{0} is the last administrator; make another user an administrator first")]
    LastAdmin(String),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("to change your own password, send the current one as old_password")]
    OldPasswordMissing,
    #[error("invalid profile: {0}")]
    InvalidProfile(String),
    #[error(
        "{0} is a user of berth's own, not of the directory; they sign in with berth's password"
    )]
    LocalNotDirectory(String),
    #[error("{0}'s password is kept in the directory; change it there")]
    DirectoryPassword(String),
    #[error("you cannot delete yourself; another administrator can")]
    DeletingSelf,
}

/// Names as Docker clients can type them: letters, digits, `.`, `_`, `-`, `@`; 1–64 long.
pub fn validate_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::InvalidName(name.into()))
    }
}

pub fn validate_password(password: &str) -> Result<(), UserError> {
    if password.chars().count() < 8 {
        return Err(UserError::PasswordTooShort);
    }
    Ok(())
}

/// Harbor's profile fields of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub email: Option<String>,
    pub realname: Option<String>,
    pub comment: Option<String>,
}

impl Profile {
    /// Harbor's limits: an e-mail address of a plausible shape, names up to 255 characters
    /// without `,"~#%$`, comments up to 30.
    pub fn validate(&self) -> Result<(), UserError> {
        let bad = |field: &'static str, why: &str| {
            Err(UserError::InvalidProfile(format!("{field}: {why}")))
        };
        if let Some(email) = &self.email {
            let plausible = email.len() <= 255
                && email
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !plausible {
                return bad("email", "not an e-mail address");
            }
        }
        if let Some(name) = &self.realname
            && (name.chars().count() > 255 || name.contains([',', '"', '~', '#', '%', '$']))
        {
            return bad("realname", "at most 255 characters, none of ,\"~#%$");
        }
        if self
            .comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > 30)
        {
            return bad("comment", "at most 30 characters");
        }
        Ok(())
    }
}

/// Creates a user; their Harbor `user_id`.
pub async fn add(
    meta: &dyn MetaStore,
    name: &str,
    plain: &str,
    admin: bool,
    profile: Profile,
) -> Result<i64, AuthError> {
    profile.validate()?;
    validate_name(name)?;
    validate_password(plain)?;
    let hash = hash_blocking(plain).await?;
    let now = now_ms();
    let created = meta
        .create_user(&UserRecord {
            id: 0,
            name: name.into(),
            password_hash: hash,
            admin,
            email: profile.email,
            realname: profile.realname,
            comment: profile.comment,
            created_at_ms: now,
            updated_at_ms: now,
            origin: berth_meta::UserOrigin::Local,
            directory_groups: Vec::new(),
            directory_admin: false,
            external_id: None,
        })
        .await?;
    created.ok_or_else(|| UserError::Exists(name.into()).into())
}

/// Harbor's group types: LDAP and OIDC groups.
pub const GROUP_LDAP: i64 = 1;
pub const GROUP_OIDC: i64 = 3;

/// A user as a directory or an identity provider describes them at sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUser {
    pub origin: UserOrigin,
    pub username: String,
    pub email: Option<String>,
    pub realname: Option<String>,
    /// The provider's own name for them (OIDC), checked at every sign-in.
    pub external_id: Option<String>,
    /// Group names, each with its DN for LDAP groups.
    pub groups: Vec<(String, Option<String>)>,
    /// In the administrators' group.
    pub admin: bool,
}

impl From<&DirectoryUser> for ExternalUser {
    fn from(u: &DirectoryUser) -> ExternalUser {
        ExternalUser {
            origin: UserOrigin::Ldap,
            username: u.username.clone(),
            email: u.email.clone(),
            realname: u.realname.clone(),
            external_id: None,
            groups: u
                .groups
                .iter()
                .map(|g| (g.name.clone(), Some(g.dn.clone())))
                .collect(),
            admin: u.admin,
        }
    }
}

/// A directory's or provider's user as one of berth's: created at the first sign-in (or
/// import), with the profile and the groups reported each time. Returns who they are now
/// and whether they were created just now.
pub async fn adopt(
    meta: &dyn MetaStore,
    found: &ExternalUser,
) -> Result<(Identity, bool), AuthError> {
    let name = found.username.as_str();
    validate_name(name)?;
    let kind = match found.origin {
        UserOrigin::Oidc => GROUP_OIDC,
        UserOrigin::Ldap | UserOrigin::Local => GROUP_LDAP,
    };
    let mut groups = Vec::with_capacity(found.groups.len());
    for (group, dn) in &found.groups {
        groups.push(meta.ensure_group(kind, group, dn.as_deref()).await?.id);
    }
    let mut created = false;
    match meta.user(name).await? {
        Some(u) if u.origin != found.origin || u.external_id != found.external_id => {
            return Err(UserError::LocalNotDirectory(name.into()).into());
        }
        Some(_) => {}
        None => {
            let now = now_ms();
            let id = meta
                .create_user(&UserRecord {
                    id: 0,
                    name: name.into(),
                    // Never a valid hash: the directory checks this user's password, or
                    // a CLI secret is set next.
                    password_hash: String::new(),
                    admin: false,
                    email: found.email.clone(),
                    realname: found.realname.clone(),
                    comment: None,
                    created_at_ms: now,
                    updated_at_ms: now,
                    origin: found.origin,
                    directory_groups: Vec::new(),
                    directory_admin: false,
                    external_id: found.external_id.clone(),
                })
                .await?;
            if id.is_none() {
                return Err(UserError::Exists(name.into()).into());
            }
            created = true;
            tracing::info!(target: "berth::audit", user = name, origin = found.origin.as_str(), "user added at first sign-in");
        }
    }
    meta.record_directory_sign_in(
        name,
        found.email.as_deref(),
        found.realname.as_deref(),
        &groups,
        found.admin,
    )
    .await?;
    let admin = meta.user(name).await?.is_some_and(|u| u.admin);
    let who = Identity {
        groups,
        ..Identity::user(name, admin || found.admin)
    };
    Ok((who, created))
}

/// Sets an identity provider's user's CLI secret (what `docker login` takes for them).
pub async fn set_cli_secret(
    meta: &dyn MetaStore,
    name: &str,
    secret: &str,
) -> Result<(), AuthError> {
    crate::robots::validate_secret(secret)?;
    let hash = hash_blocking(secret).await?;
    if meta.set_user_password(name, &hash).await? {
        Ok(())
    } else {
        Err(UserError::NoSuchUser(name.into()).into())
    }
}

pub async fn set_password(meta: &dyn MetaStore, name: &str, plain: &str) -> Result<(), AuthError> {
    validate_password(plain)?;
    if meta
        .user(name)
        .await?
        .is_some_and(|u| u.origin != UserOrigin::Local)
    {
        return Err(UserError::DirectoryPassword(name.into()).into());
    }
    let hash = hash_blocking(plain).await?;
    if meta.set_user_password(name, &hash).await? {
        Ok(())
    } else {
        Err(UserError::NoSuchUser(name.into()).into())
    }
}

pub async fn set_profile(
    meta: &dyn MetaStore,
    name: &str,
    profile: &Profile,
) -> Result<(), AuthError> {
    profile.validate()?;
    let (e, r, c) = (
        profile.email.as_deref(),
        profile.realname.as_deref(),
        profile.comment.as_deref(),
    );
    if meta.set_user_profile(name, e, r, c).await? {
        Ok(())
    } else {
        Err(UserError::NoSuchUser(name.into()).into())
    }
}

pub async fn set_admin(meta: &dyn MetaStore, name: &str, admin: bool) -> Result<(), AuthError> {
    change_result(meta.set_user_admin(name, admin).await?, name)
}

pub async fn remove(meta: &dyn MetaStore, name: &str) -> Result<(), AuthError> {
    change_result(meta.delete_user(name).await?, name)
}

fn change_result(change: UserChange, name: &str) -> Result<(), AuthError> {
    match change {
        UserChange::Done => Ok(()),
        UserChange::NoSuchUser => Err(UserError::NoSuchUser(name.into()).into()),
        UserChange::LastAdmin => Err(UserError::LastAdmin(name.into()).into()),
    }
}

/// The file, in the storage root, where the first start leaves the password it generated
/// for `admin`.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// The user that file is for.
pub const FIRST_ADMIN: &str = "admin";

/// After `name`'s password changed: removes the first start's password file if it was
/// `admin`'s, so the file never holds a secret that no longer works. `true` if it did.
pub fn forget_initial_password(path: &std::path::Path, name: &str) -> Result<bool, AuthError> {
    if name != FIRST_ADMIN {
        return Ok(false);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AuthError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Whether the first start's password file is there but no longer `admin`'s password.
pub async fn initial_password_is_stale(
    meta: &dyn MetaStore,
    path: &std::path::Path,
) -> Result<bool, AuthError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(false);
    };
    let Some(user) = meta.user(FIRST_ADMIN).await? else {
        return Ok(true);
    };
    let (plain, stored) = (text.trim_end().to_string(), user.password_hash);
    let matches = tokio::task::spawn_blocking(move || password::verify(&plain, &stored))
        .await
        .map_err(|e| AuthError::Crypto(e.to_string()))?;
    Ok(!matches)
}

async fn hash_blocking(plain: &str) -> Result<String, AuthError> {
    let plain = plain.to_string();
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| AuthError::Crypto(e.to_string()))?
}
