//! Web sessions: who a browser's session cookie signs in, until when.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// A hash of the session id the cookie holds (never the id itself).
    pub id_hash: String,
    pub user_name: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    async fn create_session(&self, session: &SessionRecord) -> Result<()>;

    /// The session, if it has not expired by `now_ms`.
    async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRecord>>;

    /// Moves the session's expiry to `expires_at_ms`; `false` when it is gone.
    async fn extend_session(&self, id_hash: &str, expires_at_ms: i64) -> Result<bool>;

    /// `false` when there was no such session.
    async fn delete_session(&self, id_hash: &str) -> Result<bool>;

    /// Ends every session of `user_name` (a removed user, a changed password); how many.
    async fn delete_user_sessions(&self, user_name: &str) -> Result<u64>;

    /// Forgets sessions that expired before `now_ms`; how many.
    async fn purge_sessions(&self, now_ms: i64) -> Result<u64>;
}
