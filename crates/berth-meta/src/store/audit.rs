//! The audit log: who did what to which resource, when, from where, and whether it
//! worked. Rows are appended in batches (pulls are frequent) and purged by age.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// 0 in an entry to append.
    pub id: i64,
    pub at_ms: i64,
    /// Who (empty: anonymous).
    pub username: String,
    /// `create`, `update`, `delete`, `pull`, `login`.
    pub operation: String,
    /// `artifact`, `project`, `project_member`, `user`, `robot`, `user_group`…
    pub resource_type: String,
    /// What, e.g. `team/app:v1` or a project's name.
    pub resource: String,
    pub description: String,
    pub success: bool,
    /// The project it happened in, by name, for project-level listings.
    pub project: Option<String>,
    pub client_ip: Option<String>,
}

/// Which entries a listing returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub username: Option<String>,
    pub operation: Option<String>,
    pub resource_type: Option<String>,
    /// Resources containing this text.
    pub resource_contains: Option<String>,
    /// Only these projects' entries (`None`: every entry).
    pub projects: Option<Vec<String>>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;

    /// One page of entries, newest first, and how many match in all.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<(Vec<AuditEntry>, i64)>;

    /// Removes entries older than `before_ms`; how many went.
    async fn purge_audit(&self, before_ms: i64) -> Result<u64>;
}
