//! Projects, user groups and project members: who holds which role where. Rules (which
//! role may do what, who may create a project) live above; here are the rows and the
//! checks that must sit in the same transaction as a change (a project still holding
//! repositories is not deleted; a member is added once).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::Result;

/// The project metadata key of its storage limit in bytes (absent or -1: none): set by
/// the management API, enforced by the registry.
pub const STORAGE_LIMIT_KEY: &str = "storage_limit";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: i64,
    pub name: String,
    pub public: bool,
    /// The user who created it; `None` when the registry did.
    pub owner: Option<String>,
    /// Harbor's project metadata: string keys to string values (`public`, `auto_scan`...).
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A project to create: its name, visibility, metadata and, optionally, the member who
/// gets a role in it at once (a user creating a project administers it).
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    pub name: &'a str,
    pub public: bool,
    pub owner: Option<&'a str>,
    pub metadata: BTreeMap<String, String>,
    pub first_member: Option<(&'a str, i64)>,
}

/// Which projects a listing returns, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct ProjectQuery {
    /// Exactly this name.
    pub name: Option<String>,
    /// Names containing this text.
    pub name_contains: Option<String>,
    pub public: Option<bool>,
    pub owner: Option<String>,
    /// What a caller who is not a system administrator may see. `None`: every project.
    pub visible: Option<Visibility>,
    pub offset: i64,
    pub limit: i64,
}

/// The projects a caller who is not a system administrator sees: public ones and those
/// the viewer (or one of their groups) is a member of.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub viewer: Viewer,
    /// Only projects the viewer is a member of (not those merely public).
    pub member_only: bool,
    /// These projects too, by id (the ones a robot holds permissions in: robots are
    /// members of none).
    pub also_ids: Vec<i64>,
}

impl Visibility {
    pub fn of(viewer: Viewer) -> Visibility {
        Visibility {
            viewer,
            ..Visibility::default()
        }
    }
}

/// A user and the groups they belong to, as far as roles go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Viewer {
    /// `None`: nobody signed in (public projects only).
    pub user: Option<String>,
    pub groups: Vec<i64>,
}

/// Who holds a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEntity {
    User { id: i64, name: String },
    Group { id: i64, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub id: i64,
    pub project_id: i64,
    pub entity: MemberEntity,
    pub role: i64,
}

/// A membership to add: a user by name, or a group by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewMember<'a> {
    User(&'a str),
    Group(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberAdded {
    Added(i64),
    /// That user or group holds a role in the project already.
    Exists,
    NoSuchProject,
    /// No such user or group.
    NoSuchEntity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectDeletion {
    Deleted,
    NoSuchProject,
    /// It still holds repositories (this many).
    HoldsRepositories(i64),
}

/// A project as one principal's request sees it: whether it exists, whether public, and
/// the roles the principal holds in it directly or through groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectAccess {
    pub project_id: i64,
    pub public: bool,
    pub roles: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: i64,
    pub name: String,
    /// Harbor's group types: 1 LDAP, 2 HTTP, 3 OIDC.
    pub kind: i64,
    pub ldap_dn: Option<String>,
}

#[async_trait]
pub trait Projects: Send + Sync + 'static {
    async fn project(&self, name: &str) -> Result<Option<ProjectRecord>>;

    async fn project_by_id(&self, id: i64) -> Result<Option<ProjectRecord>>;

    /// The page of projects the query asks for, by name, and how many match in all.
    async fn projects(&self, query: &ProjectQuery) -> Result<(Vec<ProjectRecord>, i64)>;

    /// `None` when a project of that name exists already.
    async fn create_project(&self, project: &NewProject<'_>) -> Result<Option<ProjectRecord>>;

    /// Removes one metadata key; `false` if there is no such project.
    async fn remove_project_metadata(&self, id: i64, key: &str) -> Result<bool>;

    /// Sets visibility and merges `metadata` into the project's; `false` if there is no
    /// such project.
    async fn update_project(
        &self,
        id: i64,
        public: Option<bool>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool>;

    /// Deletes the project and its memberships, unless repositories remain in it (checked
    /// in the same transaction, so a push that lands at the same time keeps its project).
    async fn delete_project(&self, id: i64) -> Result<ProjectDeletion>;

    /// How many repositories the project holds.
    async fn project_repository_count(&self, name: &str) -> Result<i64>;

    /// How many repositories each of these projects holds (a page of a listing, in one
    /// query), by name.
    async fn project_repository_counts(
        &self,
        names: &[&str],
    ) -> Result<std::collections::HashMap<String, i64>>;

    /// Every project's name, visibility and repository count, and the bytes of all
    /// stored blobs: Harbor's statistics.
    async fn project_statistics(&self) -> Result<(Vec<(String, bool, i64)>, i64)>;

    /// The project `name` as `viewer` sees it: `None` if it does not exist.
    async fn project_access(&self, name: &str, viewer: &Viewer) -> Result<Option<ProjectAccess>>;

    /// The roles `viewer` holds (as a user or through groups) in each of these projects,
    /// by project id: a page of a listing in one query.
    async fn member_roles(
        &self,
        project_ids: &[i64],
        viewer: &Viewer,
    ) -> Result<std::collections::HashMap<i64, Vec<i64>>>;

    /// The page of a project's members (those named `entity_name`, when given) by name,
    /// and how many match in all.
    async fn members(
        &self,
        project_id: i64,
        entity_name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<MemberRecord>, i64)>;

    async fn member(&self, project_id: i64, member_id: i64) -> Result<Option<MemberRecord>>;

    async fn add_member(
        &self,
        project_id: i64,
        entity: &NewMember<'_>,
        role: i64,
    ) -> Result<MemberAdded>;

    /// `false` if there is no such member.
    async fn set_member_role(&self, project_id: i64, member_id: i64, role: i64) -> Result<bool>;

    /// `false` if there is no such member.
    async fn remove_member(&self, project_id: i64, member_id: i64) -> Result<bool>;

    /// The group of that kind and name, created if missing (directories and identity
    /// providers name groups; berth numbers them).
    async fn ensure_group(
        &self,
        kind: i64,
        name: &str,
        ldap_dn: Option<&str>,
    ) -> Result<GroupRecord>;

    async fn group(&self, id: i64) -> Result<Option<GroupRecord>>;

    /// One page of groups by id, and how many match in all.
    async fn groups(&self, query: &GroupQuery) -> Result<(Vec<GroupRecord>, i64)>;

    /// Removes a group and its project memberships; `false` if there is no such group.
    async fn delete_group(&self, id: i64) -> Result<bool>;

    /// Bytes the project's repositories hold: each blob and each manifest once, however
    /// many of its repositories share it (what a storage quota counts).
    async fn project_usage(&self, name: &str) -> Result<i64>;

    /// Whether one of the project's repositories holds blob `digest` already.
    async fn project_holds_blob(&self, name: &str, digest: &str) -> Result<bool>;

    /// Renames a group; `None` if there is no such group, `Some(false)` if another group
    /// of its kind has that name.
    async fn rename_group(&self, id: i64, name: &str) -> Result<Option<bool>>;
}

/// Which groups a listing returns.
#[derive(Debug, Clone, Default)]
pub struct GroupQuery {
    pub kind: Option<i64>,
    pub name_contains: Option<String>,
    pub ldap_dn: Option<String>,
    pub offset: i64,
    pub limit: i64,
}
