//! Retention policies per project, as stored; what their rules mean is decided in the
//! core (they are kept as the JSON it checked).

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicyRecord {
    pub id: i64,
    pub project_id: i64,
    /// The rules as JSON.
    pub rules: String,
    /// A cron schedule; empty for none.
    pub schedule: String,
    /// Scheduled runs due up to this time (ms) have been started.
    pub scheduled_until_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Why a policy was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyCreation {
    Created(i64),
    NoSuchProject,
    /// The project has this policy already: one per project.
    ProjectHasOne(i64),
}

#[async_trait]
pub trait RetentionPolicies: Send + Sync + 'static {
    /// Stores a project's policy (`policy.id` is not used) and names it in the project's
    /// metadata as `retention_id`, as Harbor does.
    async fn create_retention_policy(
        &self,
        policy: &RetentionPolicyRecord,
    ) -> Result<PolicyCreation>;

    async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicyRecord>>;

    /// Stores rules and schedule of `policy.id` (and when scheduled runs were last
    /// started); `false` when there is none.
    async fn update_retention_policy(&self, policy: &RetentionPolicyRecord) -> Result<bool>;

    /// Deletes the policy, its runs and its name in the project's metadata; `false` when
    /// there is none.
    async fn delete_retention_policy(&self, id: i64) -> Result<bool>;

    /// The policies with a schedule.
    async fn scheduled_retention_policies(&self) -> Result<Vec<RetentionPolicyRecord>>;

    /// Records that the policy's scheduled runs due up to `until` (ms) were started;
    /// `false` when another process recorded a later time first (it starts them).
    async fn advance_retention_schedule(&self, id: i64, from: i64, until: i64) -> Result<bool>;
}
