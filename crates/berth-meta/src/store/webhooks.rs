//! Webhook policies per project (Harbor's notification policies): which events of a
//! project go to which receivers. What the event types and targets mean is decided above;
//! here are the rows.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicyRecord {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Harbor's event type names, as a JSON array.
    pub event_types: String,
    /// Harbor's targets, as JSON.
    pub targets: String,
    pub creator: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// An enabled policy with what a payload says of its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePolicy {
    pub policy: WebhookPolicyRecord,
    pub project_name: String,
    pub project_public: bool,
}

/// How a policy write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWrite {
    Done(i64),
    /// The project has a policy of that name already.
    NameTaken,
    /// No such project (create) or policy (update).
    Missing,
}

#[async_trait]
pub trait WebhookPolicies: Send + Sync + 'static {
    /// Creates `policy` (its `id` is not used) while its project exists.
    async fn create_webhook_policy(&self, policy: &WebhookPolicyRecord) -> Result<PolicyWrite>;

    async fn webhook_policy(&self, id: i64) -> Result<Option<WebhookPolicyRecord>>;

    /// One page by id of the project's policies, names containing `name_contains`, and
    /// how many match in all.
    async fn webhook_policies(
        &self,
        project_id: i64,
        name_contains: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<WebhookPolicyRecord>, i64)>;

    /// Every enabled policy, for matching events.
    async fn active_webhook_policies(&self) -> Result<Vec<ActivePolicy>>;

    /// Stores name, description, switch, event types and targets of `policy.id`.
    async fn update_webhook_policy(&self, policy: &WebhookPolicyRecord) -> Result<PolicyWrite>;

    /// Deletes the policy and its deliveries; `false` when there is no such policy.
    async fn delete_webhook_policy(&self, id: i64) -> Result<bool>;
}
