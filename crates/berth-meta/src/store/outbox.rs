//! Notifications waiting to be delivered, and the finished deliveries of webhook policies
//! (kept as their execution history).

use async_trait::async_trait;

use crate::{OutboxEvent, Result};

/// One notification to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEvent {
    /// A configured endpoint's name, or the policy target it goes to.
    pub endpoint: String,
    pub payload: String,
    /// The webhook policy it is for, if any: its row then stays once delivered.
    pub policy_id: Option<i64>,
    /// Harbor's event type (`PUSH_ARTIFACT`), for a policy's history.
    pub event_type: Option<String>,
}

/// Which queue a delivery worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFeed<'a> {
    /// One configured endpoint's notifications.
    Endpoint(&'a str),
    /// Every webhook policy's.
    Policies,
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Queues notifications, all in one transaction.
    async fn enqueue_events(&self, events: &[NewOutboxEvent]) -> Result<()>;

    /// The oldest unfinished notifications of `feed` due at `now` (ms), at most `limit`.
    async fn due_events(
        &self,
        feed: OutboxFeed<'_>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>>;

    /// Delivered: an endpoint's notifications are forgotten, a policy's are kept as
    /// succeeded.
    async fn delivered_events(&self, ids: &[i64]) -> Result<()>;

    /// Counts a failed delivery and sets when to try again.
    async fn postpone_events(&self, ids: &[i64], next_attempt_at: i64, error: &str) -> Result<()>;

    /// Gives up on a policy's notifications: kept as failed with `error`, never sent again.
    async fn abandon_events(&self, ids: &[i64], error: &str) -> Result<()>;

    /// Notifications not yet delivered, over all endpoints and policies.
    async fn outbox_depth(&self) -> Result<u64>;

    /// One page (newest first) of the notifications of `policy_id`, finished or not, and
    /// how many it has in all.
    async fn policy_deliveries(
        &self,
        policy_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OutboxEvent>, i64)>;

    /// Notification `id` of `policy_id`.
    async fn policy_delivery(&self, policy_id: i64, id: i64) -> Result<Option<OutboxEvent>>;

    /// Forgets the policies' finished deliveries that ended before `before` (ms); how many.
    async fn forget_deliveries(&self, before: i64) -> Result<u64>;
}
