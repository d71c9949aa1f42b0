//! Local users: kept in the metadata database with argon2id hashes. Used by `berth user`
//! and by the token service.

use berth_meta::{MetaStore, UserRecord, now_ms};

use crate::{AuthError, password};

/// Names as Docker clients can type them: letters, digits, `.`, `_`, `-`, `@`; 1–64 long.
pub fn validate_name(name: &str) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::User(format!(
            "{name:?} is not a valid user name: use 1-64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

pub fn validate_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < 8 {
        return Err(AuthError::User(
            "the password is too short: use at least 8 characters".into(),
        ));
    }
    Ok(())
}

pub async fn add(
    meta: &dyn MetaStore,
    name: &str,
    plain: &str,
    admin: bool,
) -> Result<(), AuthError> {
    validate_name(name)?;
    validate_password(plain)?;
    let hash = hash_blocking(plain).await?;
    let now = now_ms();
    let created = meta
        .create_user(&UserRecord {
            name: name.into(),
            password_hash: hash,
            admin,
            created_at_ms: now,
            updated_at_ms: now,
        })
        .await?;
    if created {
        Ok(())
    } else {
        Err(AuthError::User(format!(
            "user {name} exists already; use `berth user passwd` to change the password"
        )))
    }
}

pub async fn set_password(meta: &dyn MetaStore, name: &str, plain: &str) -> Result<(), AuthError> {
    validate_password(plain)?;
    let hash = hash_blocking(plain).await?;
    if meta.set_user_password(name, &hash).await? {
        Ok(())
    } else {
        Err(AuthError::User(format!("there is no user {name}")))
    }
}

pub async fn remove(meta: &dyn MetaStore, name: &str) -> Result<(), AuthError> {
    if meta.delete_user(name).await? {
        Ok(())
    } else {
        Err(AuthError::User(format!("there is no user {name}")))
    }
}

async fn hash_blocking(plain: &str) -> Result<String, AuthError> {
    let plain = plain.to_string();
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| AuthError::Crypto(e.to_string()))?
}
