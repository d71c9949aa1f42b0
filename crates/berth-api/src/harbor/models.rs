//! The request and response bodies, in Harbor's names and shapes (its swagger's
//! definitions of the same names). Optional fields Harbor leaves out when empty are
//! left out here too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A project as Harbor returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    pub project_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    pub name: String,
    pub creation_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    /// The strongest role the caller holds in the project (deprecated in Harbor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_user_role_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_user_role_ids: Option<Vec<i64>>,
    pub repo_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ProjectMetadata>,
}

/// Project settings; every value is a string, as in Harbor (`"true"`, `"false"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ProjectMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_content_trust: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_content_trust_cosign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_vul: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sbom_generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_sys_cve_allowlist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_id: Option<String>,
}

impl ProjectMetadata {
    fn fields(&self) -> [(&'static str, &Option<String>); 9] {
        [
            ("public", &self.public),
            ("enable_content_trust", &self.enable_content_trust),
            (
                "enable_content_trust_cosign",
                &self.enable_content_trust_cosign,
            ),
            ("prevent_vul", &self.prevent_vul),
            ("severity", &self.severity),
            ("auto_scan", &self.auto_scan),
            ("auto_sbom_generation", &self.auto_sbom_generation),
            ("reuse_sys_cve_allowlist", &self.reuse_sys_cve_allowlist),
            ("retention_id", &self.retention_id),
        ]
    }

    /// The keys that are set, as stored; `retention_id` is left out: it names the
    /// project's retention policy, which `/retentions` creates and deletes.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.fields()
            .into_iter()
            .filter(|(k, _)| *k != "retention_id")
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
            .collect()
    }

    pub fn from_map(map: &BTreeMap<String, String>) -> ProjectMetadata {
        let get = |k: &str| map.get(k).cloned();
        ProjectMetadata {
            public: get("public"),
            enable_content_trust: get("enable_content_trust"),
            enable_content_trust_cosign: get("enable_content_trust_cosign"),
            prevent_vul: get("prevent_vul"),
            severity: get("severity"),
            auto_scan: get("auto_scan"),
            auto_sbom_generation: get("auto_sbom_generation"),
            reuse_sys_cve_allowlist: get("reuse_sys_cve_allowlist"),
            retention_id: get("retention_id"),
        }
    }
}

/// A CVE allowlist in a request: accepted when it lists nothing (CVE allowlists come
/// with vulnerability scanning).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CveAllowlist {
    #[serde(default)]
    pub items: Vec<serde_json::Value>,
}

/// Creating or updating a project.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectReq {
    #[serde(default)]
    pub project_name: Option<String>,
    /// Deprecated in Harbor; `metadata.public` wins.
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default)]
    pub metadata: Option<ProjectMetadata>,
    #[serde(default)]
    pub cve_allowlist: Option<CveAllowlist>,
    /// Bytes; `-1` (or none) for no limit. Only system administrators set one.
    #[serde(default)]
    pub storage_limit: Option<i64>,
    /// A proxy-cache project's upstream: not supported yet.
    #[serde(default)]
    pub registry_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDeletable {
    pub deletable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ProjectSummary {
    pub repo_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_admin_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limited_guest_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<ProjectSummaryQuota>,
}

/// A project's storage limit and use, in its summary.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ProjectSummaryQuota {
    pub hard: BTreeMap<String, i64>,
    pub used: BTreeMap<String, i64>,
}

/// A membership as Harbor lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectMemberEntity {
    pub id: i64,
    pub project_id: i64,
    pub entity_name: String,
    pub role_name: String,
    pub role_id: i64,
    pub entity_id: i64,
    /// `u` for a user, `g` for a group.
    pub entity_type: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserEntity {
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserGroup {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub group_name: Option<String>,
    /// 1 LDAP, 2 HTTP, 3 OIDC.
    #[serde(default)]
    pub group_type: Option<i64>,
    #[serde(default)]
    pub ldap_group_dn: Option<String>,
}

/// Adding a member: a user (by id or name) or a group (by id, or by type and name).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectMember {
    pub role_id: i64,
    #[serde(default)]
    pub member_user: Option<UserEntity>,
    #[serde(default)]
    pub member_group: Option<UserGroup>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    pub role_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResp {
    pub user_id: i64,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub sysadmin_flag: bool,
    pub admin_role_in_auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// For a user of the OIDC provider. Harbor's `secret` is left out: berth keeps only
    /// the CLI secret's hash, so it is shown once, when it is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_user_meta: Option<OidcUserInfo>,
}

/// Harbor's `OIDCUserInfo`, without the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcUserInfo {
    pub user_id: i64,
    /// The provider's issuer and subject.
    pub subiss: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Permission {
    pub resource: String,
    pub action: String,
}

/// `/systeminfo`: what anonymous callers see, and more for signed-in ones.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct GeneralInfo {
    pub auth_mode: String,
    pub primary_auth_mode: bool,
    pub self_registration: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_creation_restriction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harbor_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_ca_root: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_storage_provider_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_time: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverallHealthStatus {
    /// `healthy` when every component is.
    pub status: String,
    pub components: Vec<ComponentHealthStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealthStatus {
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Statistic {
    pub private_project_count: i64,
    pub private_repo_count: i64,
    pub public_project_count: i64,
    pub public_repo_count: i64,
    pub total_project_count: i64,
    pub total_repo_count: i64,
    pub total_storage_consumption: i64,
}

/// Harbor's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Errors {
    pub errors: Vec<Error>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Error {
    pub code: String,
    pub message: String,
}
