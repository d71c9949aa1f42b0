//! The rules of projects and their members, below any API: valid names, who may create a
//! project, what a new project's metadata says, and the typed refusals the API turns into
//! Harbor's status codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_meta::{
    GroupQuery, GroupRecord, MemberAdded, MemberRecord, MetaStore, NewMember, NewProject,
    ProjectDeletion, ProjectQuery, ProjectRecord, UserRecord, Visibility,
};

use crate::rbac::{Role, Verb};
use crate::{AuthError, Identity};

/// Why a change to projects or members was refused (the caller's mistake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "{0:?} is not a valid project name: use 1-255 lower-case letters and digits, separated by single '.', '_' or '-'"
    )]
    InvalidName(String),
    #[error("a project named {0} exists already")]
    Exists(String),
    #[error("there is no project {0}")]
    NoSuchProject(String),
    #[error(
        "project {name} still holds {count} repositories; delete their manifests first (skopeo delete, or DELETE /v2/<repository>/manifests/<digest>)"
    )]
    HoldsRepositories { name: String, count: i64 },
    #[error("{0}")]
    NotAllowed(String),
    #[error("there is no member {0} in this project")]
    NoSuchMember(i64),
    #[error("{0} is a member of this project already; change their role instead")]
    MemberExists(String),
    #[error("there is no {0}")]
    NoSuchEntity(String),
    #[error("invalid project metadata: {0}")]
    InvalidMetadata(String),
    #[error("project {project} has metadata {key} already; change it with PUT instead")]
    MetadataExists { project: String, key: String },
    #[error("project {project} has no metadata {key}")]
    NoSuchMetadata { project: String, key: String },
    #[error(
        "{0} is not a role: use 1 (project admin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limited guest)"
    )]
    InvalidRole(i64),
}

/// Harbor's rule for project names: lower-case letters and digits in runs separated by
/// one `.`, `_` or `-`, 1–255 long — also the first component of a repository name.
pub fn validate_name(name: &str) -> Result<(), ProjectError> {
    if lowercase_runs(name) {
        Ok(())
    } else {
        Err(ProjectError::InvalidName(name.into()))
    }
}

/// 1–255 lower-case letters and digits in runs separated by one `.`, `_` or `-` (Harbor's
/// shape for project and robot names).
pub(crate) fn lowercase_runs(name: &str) -> bool {
    let bytes = name.as_bytes();
    let separator = |b: u8| matches!(b, b'.' | b'_' | b'-');
    (1..=255).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || separator(*b))
        && !separator(bytes[0])
        && !separator(bytes[bytes.len() - 1])
        && !bytes.windows(2).any(|w| separator(w[0]) && separator(w[1]))
}

/// The metadata a project starts with: Harbor keeps `public` among it, as a string.
pub fn default_metadata(public: bool) -> BTreeMap<String, String> {
    [("public".to_string(), public.to_string())].into()
}

pub use berth_meta::STORAGE_LIMIT_KEY;

/// Harbor's project metadata keys that hold `true` or `false`.
const SWITCHES: [&str; 7] = [
    "public",
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "auto_scan",
    "auto_sbom_generation",
    "reuse_sys_cve_allowlist",
];

/// The severities `severity` (the `prevent_vul` threshold) names.
const SEVERITIES: [&str; 5] = ["none", "low", "medium", "high", "critical"];

/// `value` as metadata `key` keeps it (booleans and severities in lower case), or why
/// it cannot be. Keys other than Harbor's are refused: the metadata is Harbor's
/// settings, not free-form (`retention_id` belongs to `/retentions`).
pub fn checked_metadata(key: &str, value: &str) -> Result<String, ProjectError> {
    let invalid = |why: String| Err(ProjectError::InvalidMetadata(why));
    if SWITCHES.contains(&key) {
        return match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok("true".into()),
            "false" | "0" | "f" => Ok("false".into()),
            _ => invalid(format!(
                "{key} must be \"true\" or \"false\", not {value:?}"
            )),
        };
    }
    match key {
        "severity" => {
            let lower = value.to_ascii_lowercase();
            if SEVERITIES.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                invalid(format!(
                    "severity must be one of {}, not {value:?}",
                    SEVERITIES.join(", ")
                ))
            }
        }
        _ => Err(not_a_setting(key)),
    }
}

/// Whether `key` is one of Harbor's project settings.
fn is_setting(key: &str) -> bool {
    SWITCHES.contains(&key) || key == "severity"
}

fn not_a_setting(key: &str) -> ProjectError {
    ProjectError::InvalidMetadata(match key {
        "retention_id" => "retention_id names the project's retention policy: create or delete it through /retentions".into(),
        _ => format!(
            "{key:?} is not a project setting: use one of {}, severity",
            SWITCHES.join(", ")
        ),
    })
}

/// The user-given Harbor keys of `metadata` checked and normalised (see
/// [`checked_metadata`]); keys berth keeps for itself pass through.
fn check_settings(metadata: &mut BTreeMap<String, String>) -> Result<(), ProjectError> {
    for (key, value) in metadata.iter_mut() {
        if is_setting(key) {
            *value = checked_metadata(key, value)?;
        }
    }
    Ok(())
}

/// Who may create projects: Harbor's `project_creation_restriction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreationRestriction {
    /// Only system administrators.
    AdminOnly,
    /// Every signed-in user (Harbor's default); the creator administers the project.
    #[default]
    Everyone,
}

impl CreationRestriction {
    pub fn parse(value: &str) -> Option<CreationRestriction> {
        match value {
            "adminonly" => Some(CreationRestriction::AdminOnly),
            "everyone" => Some(CreationRestriction::Everyone),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CreationRestriction::AdminOnly => "adminonly",
            CreationRestriction::Everyone => "everyone",
        }
    }
}

/// Projects and their members, as the management API and the CLI change them: the rules
/// here, the rows in the metadata.
pub struct Teams {
    meta: Arc<dyn MetaStore>,
    pub restriction: CreationRestriction,
}

/// How a project is named in a request: Harbor's `project_name_or_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(i64),
    Name(String),
}

impl ProjectRef {
    /// A number is an id unless the caller said it is a name (`X-Is-Resource-Name`).
    pub fn parse(value: &str, is_name: bool) -> ProjectRef {
        match value.parse::<i64>() {
            Ok(id) if !is_name => ProjectRef::Id(id),
            _ => ProjectRef::Name(value.into()),
        }
    }
}

impl std::fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectRef::Id(id) => write!(f, "{id}"),
            ProjectRef::Name(name) => f.write_str(name),
        }
    }
}

/// Who is to become a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    UserId(i64),
    UserName(String),
    GroupId(i64),
    /// A group as the directory or identity provider names it (created if new).
    GroupName {
        kind: i64,
        name: String,
        ldap_dn: Option<String>,
    },
}

impl Teams {
    pub fn new(meta: Arc<dyn MetaStore>, restriction: CreationRestriction) -> Teams {
        Teams { meta, restriction }
    }

    pub async fn find(&self, project: &ProjectRef) -> Result<Option<ProjectRecord>, AuthError> {
        Ok(match project {
            ProjectRef::Id(id) => self.meta.project_by_id(*id).await?,
            ProjectRef::Name(name) => self.meta.project(name).await?,
        })
    }

    /// The project, or [`ProjectError::NoSuchProject`].
    pub async fn get(&self, project: &ProjectRef) -> Result<ProjectRecord, AuthError> {
        self.find(project)
            .await?
            .ok_or_else(|| ProjectError::NoSuchProject(project.to_string()).into())
    }

    /// A page of the projects `who` may see, and how many there are in all.
    pub async fn list(
        &self,
        who: &Identity,
        mut query: ProjectQuery,
    ) -> Result<(Vec<ProjectRecord>, i64), AuthError> {
        query.visible = Self::visibility(who).map(|v| Visibility {
            // A private listing asks for the projects of the caller's own (Harbor).
            member_only: query.public == Some(false) && who.robot.is_none(),
            ..v
        });
        Ok(self.meta.projects(&query).await?)
    }

    /// Which projects `who` sees in listings; `None`: all of them (system administrators,
    /// and robots with system-wide project permissions).
    pub fn visibility(who: &Identity) -> Option<Visibility> {
        if let Some(robot) = &who.robot {
            let (everywhere, also_ids) = robot.project_scope();
            return (!everywhere).then(|| Visibility {
                also_ids,
                ..Visibility::of(who.viewer())
            });
        }
        (!who.admin).then(|| Visibility::of(who.viewer()))
    }

    /// Creates a project for `who`: a user who is not an administrator becomes its
    /// project admin (and owner).
    pub async fn create(
        &self,
        who: &Identity,
        name: &str,
        public: bool,
        mut metadata: BTreeMap<String, String>,
    ) -> Result<ProjectRecord, AuthError> {
        validate_name(name)?;
        let Some(user) = who.user.as_deref() else {
            return Err(ProjectError::NotAllowed("sign in to create a project".into()).into());
        };
        // A robot is nobody's user: it creates projects when given project:create at the
        // system level, and the project gets no owner and no member.
        let robot = who.robot.is_some();
        if robot && !who.at_system("project", Verb::Create) {
            return Err(ProjectError::NotAllowed(format!(
                "{} may not create projects; give it the system-level permission project:create",
                who.describe()
            ))
            .into());
        }
        if !robot && !who.admin && self.restriction == CreationRestriction::AdminOnly {
            return Err(ProjectError::NotAllowed(format!(
                "only system administrators create projects here (project_creation_restriction is adminonly); {} is not one",
                who.describe()
            ))
            .into());
        }
        check_settings(&mut metadata)?;
        metadata.extend(default_metadata(public));
        let created = self
            .meta
            .create_project(&NewProject {
                name,
                public,
                owner: (!robot).then_some(user),
                metadata,
                first_member: (!robot).then_some((user, Role::ProjectAdmin.id())),
            })
            .await?;
        created.ok_or_else(|| ProjectError::Exists(name.into()).into())
    }

    /// A project created by the registry's operator (the CLI): no owner, no members yet.
    pub async fn create_by_registry(
        &self,
        name: &str,
        public: bool,
    ) -> Result<ProjectRecord, AuthError> {
        validate_name(name)?;
        let created = self
            .meta
            .create_project(&NewProject {
                name,
                public,
                owner: None,
                metadata: default_metadata(public),
                first_member: None,
            })
            .await?;
        created.ok_or_else(|| ProjectError::Exists(name.into()).into())
    }

    /// Sets visibility and merges metadata (the `public` key follows the visibility).
    pub async fn update(
        &self,
        project: &ProjectRecord,
        public: Option<bool>,
        mut metadata: BTreeMap<String, String>,
    ) -> Result<(), AuthError> {
        check_settings(&mut metadata)?;
        let public = match metadata.get("public") {
            Some(value) => Some(value == "true"),
            None => public,
        };
        if let Some(public) = public {
            metadata.extend(default_metadata(public));
        }
        if self
            .meta
            .update_project(project.id, public, &metadata)
            .await?
        {
            Ok(())
        } else {
            Err(ProjectError::NoSuchProject(project.name.clone()).into())
        }
    }

    /// Sets one of Harbor's metadata keys (see [`checked_metadata`]); with `new_only`,
    /// a key the project has already is [`ProjectError::MetadataExists`].
    pub async fn set_metadata(
        &self,
        project: &ProjectRecord,
        key: &str,
        value: &str,
        new_only: bool,
    ) -> Result<(), AuthError> {
        let value = checked_metadata(key, value)?;
        // Every project has `public` (it is the project's visibility).
        if new_only && (key == "public" || project.metadata.contains_key(key)) {
            return Err(ProjectError::MetadataExists {
                project: project.name.clone(),
                key: key.into(),
            }
            .into());
        }
        self.update(project, None, [(key.to_string(), value)].into())
            .await
    }

    /// Removes a metadata key. `public` stays (set it to `false` instead); berth's own
    /// keys are not the API's to remove.
    pub async fn remove_metadata(
        &self,
        project: &ProjectRecord,
        key: &str,
    ) -> Result<(), AuthError> {
        if key == "public" {
            return Err(ProjectError::InvalidMetadata(
                "public cannot be removed: set it to \"true\" or \"false\"".into(),
            )
            .into());
        }
        if !is_setting(key) {
            return Err(not_a_setting(key).into());
        }
        if !project.metadata.contains_key(key) {
            return Err(ProjectError::NoSuchMetadata {
                project: project.name.clone(),
                key: key.into(),
            }
            .into());
        }
        if self.meta.remove_project_metadata(project.id, key).await? {
            Ok(())
        } else {
            Err(ProjectError::NoSuchProject(project.name.clone()).into())
        }
    }

    pub async fn delete(&self, project: &ProjectRecord) -> Result<(), AuthError> {
        match self.meta.delete_project(project.id).await? {
            ProjectDeletion::Deleted => Ok(()),
            ProjectDeletion::NoSuchProject => {
                Err(ProjectError::NoSuchProject(project.name.clone()).into())
            }
            ProjectDeletion::HoldsRepositories(count) => Err(ProjectError::HoldsRepositories {
                name: project.name.clone(),
                count,
            }
            .into()),
        }
    }

    pub async fn repository_count(&self, project: &ProjectRecord) -> Result<i64, AuthError> {
        Ok(self.meta.project_repository_count(&project.name).await?)
    }

    /// How many repositories each project holds, by name, in one look.
    pub async fn repository_counts(
        &self,
        projects: &[ProjectRecord],
    ) -> Result<std::collections::HashMap<String, i64>, AuthError> {
        let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
        Ok(self.meta.project_repository_counts(&names).await?)
    }

    /// Every project's name, visibility and repository count, and the bytes stored.
    pub async fn statistics(&self) -> Result<(Vec<(String, bool, i64)>, i64), AuthError> {
        Ok(self.meta.project_statistics().await?)
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, AuthError> {
        Ok(self.meta.users().await?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.meta.user_by_id(id).await?)
    }

    pub async fn groups(&self, query: &GroupQuery) -> Result<(Vec<GroupRecord>, i64), AuthError> {
        Ok(self.meta.groups(query).await?)
    }

    pub async fn group(&self, id: i64) -> Result<Option<GroupRecord>, AuthError> {
        Ok(self.meta.group(id).await?)
    }

    /// The group of that kind and name, added if new.
    pub async fn ensure_group(
        &self,
        kind: i64,
        name: &str,
        ldap_dn: Option<&str>,
    ) -> Result<GroupRecord, AuthError> {
        Ok(self.meta.ensure_group(kind, name, ldap_dn).await?)
    }

    /// Removes a group and the roles it holds.
    pub async fn delete_group(&self, id: i64) -> Result<bool, AuthError> {
        Ok(self.meta.delete_group(id).await?)
    }

    /// Bytes the project holds (each blob and manifest once).
    pub async fn storage_used(&self, project: &str) -> Result<i64, AuthError> {
        Ok(self.meta.project_usage(project).await?)
    }

    /// Sets the project's storage limit in bytes; -1 for none.
    pub async fn set_storage_limit(
        &self,
        project: &ProjectRecord,
        bytes: i64,
    ) -> Result<(), AuthError> {
        if bytes < -1 {
            return Err(ProjectError::InvalidMetadata(format!(
                "a storage limit is a number of bytes, or -1 for none; not {bytes}"
            ))
            .into());
        }
        let metadata = [(STORAGE_LIMIT_KEY.to_string(), bytes.to_string())].into();
        self.update(project, None, metadata).await
    }

    /// Renames a group (its DN stays).
    pub async fn rename_group(&self, id: i64, name: &str) -> Result<(), AuthError> {
        if name.trim().is_empty() || name.len() > 255 {
            return Err(ProjectError::InvalidMetadata(
                "group_name must be 1-255 characters".into(),
            )
            .into());
        }
        match self.meta.rename_group(id, name).await? {
            Some(true) => Ok(()),
            Some(false) => Err(ProjectError::Exists(format!("group {name}")).into()),
            None => Err(ProjectError::NoSuchEntity(format!("user group {id}")).into()),
        }
    }

    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        profile: crate::users::Profile,
    ) -> Result<i64, AuthError> {
        crate::users::add(self.meta.as_ref(), name, password, false, profile).await
    }

    pub async fn set_profile(
        &self,
        name: &str,
        profile: &crate::users::Profile,
    ) -> Result<(), AuthError> {
        crate::users::set_profile(self.meta.as_ref(), name, profile).await
    }

    pub async fn set_admin(&self, name: &str, admin: bool) -> Result<(), AuthError> {
        crate::users::set_admin(self.meta.as_ref(), name, admin).await
    }

    pub async fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        crate::users::remove(self.meta.as_ref(), name).await
    }

    /// The user's number, for Harbor's `owner_id` and `entity_id`.
    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.meta.user(name).await?)
    }

    pub async fn members(
        &self,
        project: &ProjectRecord,
        entity_name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<MemberRecord>, i64), AuthError> {
        Ok(self
            .meta
            .members(project.id, entity_name, offset, limit)
            .await?)
    }

    pub async fn member(
        &self,
        project: &ProjectRecord,
        id: i64,
    ) -> Result<MemberRecord, AuthError> {
        self.meta
            .member(project.id, id)
            .await?
            .ok_or_else(|| ProjectError::NoSuchMember(id).into())
    }

    /// Adds a user or a group to a project; the new member's id.
    pub async fn add_member(
        &self,
        project: &ProjectRecord,
        member: &MemberRef,
        role_id: i64,
    ) -> Result<i64, AuthError> {
        role(role_id)?;
        let (entity, described) = match member {
            MemberRef::UserId(id) => match self.meta.user_by_id(*id).await? {
                Some(user) => (
                    Entity::User(user.name.clone()),
                    format!("user {}", user.name),
                ),
                None => return Err(ProjectError::NoSuchEntity(format!("user with id {id}")).into()),
            },
            MemberRef::UserName(name) => (Entity::User(name.clone()), format!("user {name}")),
            MemberRef::GroupId(id) => (Entity::Group(*id), format!("group {id}")),
            MemberRef::GroupName {
                kind,
                name,
                ldap_dn,
            } => {
                if !matches!(kind, 1..=3) || name.is_empty() {
                    return Err(ProjectError::NoSuchEntity(format!(
                        "group {name:?} of type {kind} (types: 1 LDAP, 2 HTTP, 3 OIDC)"
                    ))
                    .into());
                }
                let group = self
                    .meta
                    .ensure_group(*kind, name, ldap_dn.as_deref())
                    .await?;
                (Entity::Group(group.id), format!("group {name}"))
            }
        };
        let new = match &entity {
            Entity::User(name) => NewMember::User(name),
            Entity::Group(id) => NewMember::Group(*id),
        };
        match self.meta.add_member(project.id, &new, role_id).await? {
            MemberAdded::Added(id) => Ok(id),
            MemberAdded::Exists => Err(ProjectError::MemberExists(described).into()),
            MemberAdded::NoSuchProject => {
                Err(ProjectError::NoSuchProject(project.name.clone()).into())
            }
            MemberAdded::NoSuchEntity => Err(ProjectError::NoSuchEntity(described).into()),
        }
    }

    pub async fn set_role(
        &self,
        project: &ProjectRecord,
        member_id: i64,
        role_id: i64,
    ) -> Result<(), AuthError> {
        role(role_id)?;
        if self
            .meta
            .set_member_role(project.id, member_id, role_id)
            .await?
        {
            Ok(())
        } else {
            Err(ProjectError::NoSuchMember(member_id).into())
        }
    }

    pub async fn remove_member(
        &self,
        project: &ProjectRecord,
        member_id: i64,
    ) -> Result<(), AuthError> {
        if self.meta.remove_member(project.id, member_id).await? {
            Ok(())
        } else {
            Err(ProjectError::NoSuchMember(member_id).into())
        }
    }
}

/// A member to add, once resolved.
enum Entity {
    User(String),
    Group(i64),
}

pub fn role(id: i64) -> Result<Role, ProjectError> {
    Role::from_id(id).ok_or(ProjectError::InvalidRole(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_harbor() {
        for ok in ["team", "a", "team-a", "t.e_a-m", "x1"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Team",
            "-a",
            "a-",
            "a--b",
            "a/b",
            "a b",
            &"x".repeat(256),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
