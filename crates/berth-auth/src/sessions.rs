//! Browser sessions: a random id in an HttpOnly cookie, a hash of it in the metadata
//! database (so every replica knows it and a database copy signs nobody in), an idle
//! timeout that moves forward as the session is used, and the CSRF token that forms and
//! state-changing API calls made with the cookie must carry.

use std::sync::Arc;
use std::time::Duration;

use berth_meta::{MetaStore, SessionRecord, now_ms};
use sha2::{Digest, Sha256};

use crate::{AuthError, password};

/// The cookie that holds the session id.
pub const COOKIE: &str = "berth_session";

/// The header a state-changing request made with the session cookie carries its CSRF
/// token in (Harbor's name, so its UI conventions carry over).
pub const CSRF_HEADER: &str = "x-harbor-csrf-token";

/// How long an unused session lasts unless configured.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(3600);

/// Random characters in a session id (~340 bits).
const ID_LENGTH: usize = 58;

/// The value of cookie `name` among a request's `Cookie` header values (empty values
/// count as absent).
pub fn cookie_value<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<String> {
    header_values
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

pub struct SessionStore {
    meta: Arc<dyn MetaStore>,
    idle: Duration,
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The CSRF token of a session: derived from its id, which only the browser holding the
/// cookie (and the server) knows, so another site can neither read nor compute it.
pub fn csrf_token(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"berth csrf token\0");
    h.update(session_id.as_bytes());
    hex::encode(&h.finalize()[..20])
}

/// Whether `given` is the CSRF token of `session_id` (compared in constant time).
pub fn csrf_matches(session_id: &str, given: &str) -> bool {
    let expected = csrf_token(session_id);
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl SessionStore {
    pub fn new(meta: Arc<dyn MetaStore>, idle: Duration) -> SessionStore {
        SessionStore { meta, idle }
    }

    /// How long an unused session lasts.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// A new session for `user`; its id, for the cookie.
    pub async fn start(&self, user: &str) -> Result<String, AuthError> {
        let id = password::generate(ID_LENGTH)?;
        let now = now_ms();
        // Sign-ins are rare: a good moment to forget sessions nobody will bring back.
        self.meta.purge_sessions(now).await?;
        self.meta
            .create_session(&SessionRecord {
                id_hash: hash(&id),
                user_name: user.to_string(),
                created_at_ms: now,
                expires_at_ms: now.saturating_add(self.idle_ms()),
            })
            .await?;
        Ok(id)
    }

    /// Who session `id` signs in, if it is still alive. Use moves its expiry forward,
    /// written at most once per tenth of the timeout (not once per request).
    pub async fn user(&self, id: &str) -> Result<Option<String>, AuthError> {
        let now = now_ms();
        let key = hash(id);
        let Some(session) = self.meta.session(&key, now).await? else {
            return Ok(None);
        };
        let idle = self.idle_ms();
        if session.expires_at_ms - now < idle - idle / 10 {
            self.meta
                .extend_session(&key, now.saturating_add(idle))
                .await?;
        }
        Ok(Some(session.user_name))
    }

    /// Ends session `id` (signing out).
    pub async fn end(&self, id: &str) -> Result<(), AuthError> {
        self.meta.delete_session(&hash(id)).await?;
        Ok(())
    }

    /// Ends every session of `user` (removed, or their password changed).
    pub async fn end_all_of(&self, user: &str) -> Result<u64, AuthError> {
        Ok(self.meta.delete_user_sessions(user).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let token = csrf_token("session-a");
        assert_eq!(token.len(), 40);
        assert!(csrf_matches("session-a", &token));
        assert!(!csrf_matches("session-b", &token));
        assert!(!csrf_matches("session-a", ""));
        assert!(!csrf_matches("session-a", &token[..39]));
    }
}
