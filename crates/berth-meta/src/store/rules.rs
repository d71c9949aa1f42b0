//! Immutable-tag rules per project, as stored; what they mean is decided in the core.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableRuleRecord {
    pub id: i64,
    pub project_id: i64,
    pub priority: i64,
    pub disabled: bool,
    /// `repoMatches` or `repoExcludes`.
    pub repository_decoration: String,
    /// Below the project: `**` is every repository of it.
    pub repository_pattern: String,
    /// `matches` or `excludes`.
    pub tag_decoration: String,
    pub tag_pattern: String,
    pub created_at_ms: i64,
}

#[async_trait]
pub trait TagRules: Send + Sync + 'static {
    /// The new rule's id (`rule.id` is not used); `None` when the project does not exist.
    async fn create_immutable_rule(&self, rule: &ImmutableRuleRecord) -> Result<Option<i64>>;

    /// The rules of the project `project_id`, by id.
    async fn immutable_rules(&self, project_id: i64) -> Result<Vec<ImmutableRuleRecord>>;

    /// The rules of the project named `project`, by id.
    async fn immutable_rules_named(&self, project: &str) -> Result<Vec<ImmutableRuleRecord>>;

    /// Stores priority, switch and selectors of `rule.id`; `false` when there is none.
    async fn update_immutable_rule(&self, rule: &ImmutableRuleRecord) -> Result<bool>;

    /// `false` when there is no such rule.
    async fn delete_immutable_rule(&self, id: i64) -> Result<bool>;
}
