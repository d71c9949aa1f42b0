//! The API's answers as the pages read them: only the fields shown, each defaulted, so
//! a field the API adds or leaves out never breaks a page.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Project {
    pub project_id: i64,
    pub name: String,
    pub owner_name: Option<String>,
    pub repo_count: i64,
    pub creation_time: String,
    pub update_time: String,
    pub current_user_role_id: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

impl Project {
    pub(crate) fn is_public(&self) -> bool {
        self.metadata.get("public").is_some_and(|v| v == "true")
    }
}

/// `GET /systeminfo`: how people sign in (`db_auth`, `ldap_auth`, `oidc_auth`,
/// `htpasswd`, `none`, `token`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SystemInfo {
    pub auth_mode: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Statistic {
    pub private_project_count: i64,
    pub public_project_count: i64,
    pub total_project_count: i64,
    pub total_repo_count: i64,
    pub total_storage_consumption: i64,
}

/// `GET /retentions/{id}/executions`: one run of a project's retention policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RetentionRun {
    pub id: i64,
    pub start_time: String,
    pub end_time: String,
    pub status: String,
    pub trigger: String,
    pub dry_run: bool,
}

/// `GET /statistics/history`: one day of the registry's size.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UsageDay {
    pub date: String,
    pub total_storage_consumption: i64,
    pub total_repo_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AuditLog {
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
    pub op_time: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GcRun {
    pub id: i64,
    pub job_kind: String,
    pub job_status: String,
    pub job_parameters: String,
    pub creation_time: String,
    pub update_time: String,
    pub trigger: String,
    pub report: Option<Value>,
    pub error: Option<String>,
    pub progress: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Quota {
    #[serde(rename = "ref")]
    pub reference: QuotaRef,
    pub hard: BTreeMap<String, i64>,
    pub used: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct QuotaRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Summary {
    pub repo_count: i64,
    pub quota: Option<SummaryQuota>,
    pub project_admin_count: i64,
    pub maintainer_count: i64,
    pub developer_count: i64,
    pub guest_count: i64,
    pub limited_guest_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SummaryQuota {
    pub hard: BTreeMap<String, i64>,
    pub used: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Repository {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub artifact_count: i64,
    pub pull_count: i64,
    pub creation_time: String,
    pub update_time: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Artifact {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: String,
    pub manifest_media_type: String,
    pub artifact_type: Option<String>,
    pub digest: String,
    pub size: i64,
    pub push_time: String,
    pub pull_time: String,
    pub extra_attrs: Map<String, Value>,
    pub annotations: Option<Map<String, Value>>,
    pub references: Vec<Reference>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Reference {
    pub child_digest: String,
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

impl Platform {
    pub(crate) fn label(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Tag {
    pub name: String,
    pub push_time: String,
    pub pull_time: String,
    pub immutable: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Member {
    pub id: i64,
    pub entity_name: String,
    pub entity_type: String,
    pub role_id: i64,
    pub role_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Robot {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub expires_at: i64,
    pub duration: i64,
    pub disable: bool,
    pub creation_time: String,
    pub permissions: Vec<RobotPermission>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RobotPermission {
    pub namespace: String,
    pub access: Vec<RobotAccess>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RobotAccess {
    pub resource: String,
    pub action: String,
}

/// One entry of `GET /users/current/permissions`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct Permission {
    pub resource: String,
    pub action: String,
}

/// What the caller may do in a project.
pub(crate) struct Rights(pub Vec<Permission>);

/// The resource a project's own permissions (update, delete) are on, relative to it.
pub(crate) const PROJECT_ITSELF: &str = ".";

impl Rights {
    pub(crate) fn may(&self, resource: &str, action: &str) -> bool {
        self.0
            .iter()
            .any(|p| p.resource == resource && p.action == action)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct User {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub realname: String,
    pub sysadmin_flag: bool,
    pub creation_time: String,
    /// For users of the OIDC provider (Harbor's `OIDCUserInfo`).
    pub oidc_user_meta: Option<serde_json::Value>,
}

/// Harbor's role names by id.
pub(crate) fn role_name(id: i64) -> &'static str {
    match id {
        1 => "Project admin",
        2 => "Developer",
        3 => "Guest",
        4 => "Maintainer",
        5 => "Limited guest",
        _ => "—",
    }
}
