//! Notifications waiting to be delivered.

use async_trait::async_trait;

use crate::{OutboxEvent, Result};

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Queues `(endpoint, payload)` notifications, all in one transaction.
    async fn enqueue_events(&self, events: &[(String, String)]) -> Result<()>;

    /// The oldest notifications for `endpoint` due at `now` (ms), at most `limit`.
    async fn due_events(&self, endpoint: &str, now: i64, limit: u32) -> Result<Vec<OutboxEvent>>;

    /// Forgets delivered notifications.
    async fn delivered_events(&self, ids: &[i64]) -> Result<()>;

    /// Counts a failed delivery and sets when to try again.
    async fn postpone_events(&self, ids: &[i64], next_attempt_at: i64, error: &str) -> Result<()>;

    /// Notifications not yet delivered, over all endpoints.
    async fn outbox_depth(&self) -> Result<u64>;
}
