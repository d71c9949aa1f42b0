//! Harbor's project roles and what each may do, as Harbor's permission table has them
//! (`src/common/rbac/project/rbac_role.go`, v2.14): resources of a project, verbs on them,
//! and the pairs each role holds. Pulls, pushes and deletes on `/v2` are the `repository`
//! resource's `pull`, `push` and `delete`, as in Harbor.

use std::fmt;

/// A role in a project, with Harbor's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    ProjectAdmin = 1,
    Developer = 2,
    Guest = 3,
    Maintainer = 4,
    LimitedGuest = 5,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::ProjectAdmin,
        Role::Maintainer,
        Role::Developer,
        Role::Guest,
        Role::LimitedGuest,
    ];

    pub fn from_id(id: i64) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn id(self) -> i64 {
        self as i64
    }

    /// Harbor's name for the role (`role_name` in its API).
    pub fn name(self) -> &'static str {
        match self {
            Role::ProjectAdmin => "projectAdmin",
            Role::Maintainer => "maintainer",
            Role::Developer => "developer",
            Role::Guest => "guest",
            Role::LimitedGuest => "limitedGuest",
        }
    }

    /// Whether this role holds `permission` in its project.
    pub fn grants(self, permission: Permission) -> bool {
        let table = match self {
            Role::ProjectAdmin => PROJECT_ADMIN,
            Role::Maintainer => MAINTAINER,
            Role::Developer => DEVELOPER,
            Role::Guest => GUEST,
            Role::LimitedGuest => LIMITED_GUEST,
        };
        holds(table, permission)
    }

    /// The least of the roles that hold `permission`, for messages ("needs developer").
    pub fn least_for(permission: Permission) -> Option<Role> {
        [
            Role::LimitedGuest,
            Role::Guest,
            Role::Developer,
            Role::Maintainer,
            Role::ProjectAdmin,
        ]
        .into_iter()
        .find(|r| r.grants(permission))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a permission is about, in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The project itself.
    Project,
    Member,
    Metadata,
    Log,
    Label,
    Quota,
    Repository,
    TagRetention,
    ImmutableTag,
    Configuration,
    Robot,
    NotificationPolicy,
    Scan,
    Sbom,
    Scanner,
    Artifact,
    ArtifactAddition,
    Tag,
    Accessory,
    ArtifactLabel,
    PreheatPolicy,
    ExportCve,
}

impl Resource {
    /// Harbor's string for the resource (`""` for the project itself).
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Project => "",
            Resource::Member => "member",
            Resource::Metadata => "metadata",
            Resource::Log => "log",
            Resource::Label => "label",
            Resource::Quota => "quota",
            Resource::Repository => "repository",
            Resource::TagRetention => "tag-retention",
            Resource::ImmutableTag => "immutable-tag",
            Resource::Configuration => "configuration",
            Resource::Robot => "robot",
            Resource::NotificationPolicy => "notification-policy",
            Resource::Scan => "scan",
            Resource::Sbom => "sbom",
            Resource::Scanner => "scanner",
            Resource::Artifact => "artifact",
            Resource::ArtifactAddition => "artifact-addition",
            Resource::Tag => "tag",
            Resource::Accessory => "accessory",
            Resource::ArtifactLabel => "artifact-label",
            Resource::PreheatPolicy => "preheat-policy",
            Resource::ExportCve => "export-cve",
        }
    }

    /// The resource Harbor's robot permissions name (`project` for the project itself).
    pub fn parse(name: &str) -> Option<Resource> {
        if name == "project" {
            return Some(Resource::Project);
        }
        every_resource().find(|r| *r != Resource::Project && r.as_str() == name)
    }

    /// The name robot permissions use for it.
    pub fn robot_name(self) -> &'static str {
        match self {
            Resource::Project => "project",
            r => r.as_str(),
        }
    }
}

fn every_resource() -> impl Iterator<Item = Resource> {
    PROJECT_ADMIN.iter().map(|(r, _)| *r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Create,
    Read,
    Update,
    Delete,
    List,
    Pull,
    Push,
    Operate,
    Stop,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Read => "read",
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::List => "list",
            Verb::Pull => "pull",
            Verb::Push => "push",
            Verb::Operate => "operate",
            Verb::Stop => "stop",
        }
    }

    pub fn parse(name: &str) -> Option<Verb> {
        [
            Verb::Create,
            Verb::Read,
            Verb::Update,
            Verb::Delete,
            Verb::List,
            Verb::Pull,
            Verb::Push,
            Verb::Operate,
            Verb::Stop,
        ]
        .into_iter()
        .find(|v| v.as_str() == name)
    }
}

/// A verb on a resource of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: Resource,
    pub verb: Verb,
}

impl Permission {
    pub const fn new(resource: Resource, verb: Verb) -> Permission {
        Permission { resource, verb }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.resource {
            Resource::Project => write!(f, "{} the project", self.verb.as_str()),
            r => write!(f, "{} {}", self.verb.as_str(), r.as_str()),
        }
    }
}

/// Which verbs on which resources: one row per resource.
type Table = &'static [(Resource, &'static [Verb])];

fn holds(table: Table, p: Permission) -> bool {
    table
        .iter()
        .any(|(resource, verbs)| *resource == p.resource && verbs.contains(&p.verb))
}

use Resource as R;
use Verb::*;

const CRUDL: &[Verb] = &[Create, Read, Update, Delete, List];
const READ_LIST: &[Verb] = &[Read, List];
const READ: &[Verb] = &[Read];

const PROJECT_ADMIN: Table = &[
    (R::Project, &[Read, Update, Delete]),
    (R::Member, CRUDL),
    (R::Metadata, &[Create, Read, Update, Delete]),
    (R::Log, &[List]),
    (R::Label, CRUDL),
    (R::Quota, READ),
    (
        R::Repository,
        &[Create, Read, Update, Delete, List, Pull, Push],
    ),
    (
        R::TagRetention,
        &[Create, Read, Update, Delete, List, Operate],
    ),
    (R::ImmutableTag, &[Create, Update, Delete, List]),
    (R::Configuration, &[Read, Update]),
    (R::Robot, CRUDL),
    (R::NotificationPolicy, CRUDL),
    (R::Scan, &[Create, Read, Stop]),
    (R::Sbom, &[Create, Read, Stop]),
    (R::Scanner, &[Read, Create]),
    (R::Artifact, &[Create, Read, Delete, List]),
    (R::ArtifactAddition, READ),
    (R::Tag, &[List, Create, Delete]),
    (R::Accessory, &[List]),
    (R::ArtifactLabel, &[Create, Delete]),
    (R::PreheatPolicy, CRUDL),
    (R::ExportCve, &[Create, Read, List]),
];

const MAINTAINER: Table = &[
    (R::Project, READ),
    (R::Member, READ_LIST),
    (R::Metadata, READ),
    (R::Label, CRUDL),
    (R::Quota, READ),
    (
        R::Repository,
        &[Create, Read, Update, Delete, List, Push, Pull],
    ),
    (
        R::TagRetention,
        &[Create, Read, Update, Delete, List, Operate],
    ),
    (R::ImmutableTag, &[Create, Update, Delete, List]),
    (R::Configuration, READ),
    (R::Robot, READ_LIST),
    (R::NotificationPolicy, READ_LIST),
    (R::Scan, &[Create, Read, Stop]),
    (R::Sbom, &[Create, Read, Stop]),
    (R::Scanner, READ),
    (R::Artifact, &[Create, Read, Delete, List]),
    (R::ArtifactAddition, READ),
    (R::Tag, &[List, Create, Delete]),
    (R::Accessory, &[List]),
    (R::ArtifactLabel, &[Create, Delete]),
    (R::ExportCve, &[Create, Read, List]),
];

const DEVELOPER: Table = &[
    (R::Project, READ),
    (R::Member, READ_LIST),
    (R::Label, READ_LIST),
    (R::Quota, READ),
    (R::Repository, &[Create, Read, Update, List, Push, Pull]),
    (
        R::TagRetention,
        &[Create, Read, Update, Delete, List, Operate],
    ),
    (R::Configuration, READ),
    (R::Robot, READ_LIST),
    (R::Scan, READ),
    (R::Sbom, READ),
    (R::Scanner, READ),
    (R::Artifact, &[Create, Read, List]),
    (R::ArtifactAddition, READ),
    (R::Tag, &[List, Create]),
    (R::Accessory, &[List]),
    (R::ArtifactLabel, &[Create, Delete]),
    (R::ExportCve, &[Create, Read, List]),
];

const GUEST: Table = &[
    (R::Project, READ),
    (R::Member, READ_LIST),
    (R::Label, READ_LIST),
    (R::Quota, READ),
    (R::Repository, &[Read, List, Pull]),
    (R::Configuration, READ),
    (R::Robot, READ_LIST),
    (R::Scan, READ),
    (R::Sbom, READ),
    (R::Scanner, READ),
    (R::Artifact, READ_LIST),
    (R::ArtifactAddition, READ),
    (R::Tag, &[List]),
    (R::Accessory, &[List]),
];

const LIMITED_GUEST: Table = &[
    (R::Project, READ),
    (R::Quota, READ),
    (R::Repository, &[List, Read, Pull]),
    (R::Configuration, READ),
    (R::Scan, READ),
    (R::Sbom, READ),
    (R::Scanner, READ),
    (R::Artifact, READ_LIST),
    (R::ArtifactAddition, READ),
    (R::Tag, &[List]),
    (R::Accessory, &[List]),
];

/// What everyone, signed in or not, may do in a public project.
const PUBLIC: Table = &[
    (R::Project, READ),
    (R::Label, READ_LIST),
    (R::Repository, &[List, Pull]),
    (R::Scan, READ),
    (R::Scanner, READ),
    (R::Tag, &[List]),
    (R::Artifact, READ_LIST),
    (R::ArtifactAddition, READ),
    (R::Accessory, &[List]),
];

/// What a robot may be given in a project: Harbor's robot permission provider for the
/// project scope (`src/common/rbac/const.go`, v2.14), which is not the project admin's set.
const ROBOT_IN_PROJECT: Table = &[
    (R::Log, &[List]),
    (R::Project, &[Read, Delete, Update]),
    (R::Metadata, CRUDL),
    (R::Repository, &[Read, Update, Delete, List, Pull, Push]),
    (R::Artifact, &[Read, Create, List, Delete]),
    (R::Scan, &[Create, Read, Stop]),
    (R::Sbom, &[Create, Stop, Read]),
    (R::Tag, &[Create, List, Delete]),
    (R::Accessory, &[List]),
    (R::ArtifactAddition, READ),
    (R::ArtifactLabel, &[Create, Delete]),
    (R::Scanner, &[Create, Read]),
    (R::PreheatPolicy, CRUDL),
    (R::ImmutableTag, &[Create, Delete, List, Update]),
    (R::NotificationPolicy, CRUDL),
    (R::TagRetention, CRUDL),
    (R::Label, CRUDL),
    (R::Quota, READ),
    (R::Robot, &[Create, Read, List, Delete]),
    (R::ExportCve, &[Create, Read]),
    (R::Member, CRUDL),
];

/// Whether a robot may be given `permission` in a project.
pub fn robot_may_hold(permission: Permission) -> bool {
    holds(ROBOT_IN_PROJECT, permission)
}

/// What a system-level robot may be given at the system level, by Harbor's names: the
/// same provider's system scope.
const ROBOT_IN_SYSTEM: &[(&str, &[Verb])] = &[
    ("audit-log", &[List]),
    ("preheat-instance", CRUDL),
    ("project", &[List, Create]),
    ("replication-policy", CRUDL),
    ("replication", &[Read, Create, List]),
    ("replication-adapter", &[List]),
    ("registry", CRUDL),
    ("scan-all", &[Read, Update, Stop, Create]),
    ("system-volumes", READ),
    ("garbage-collection", &[Read, Create, List, Update, Stop]),
    ("purge-audit", &[Read, Create, List, Update, Stop]),
    ("jobservice-monitor", &[List, Stop]),
    ("scanner", CRUDL),
    ("label", &[Read, Create, Delete, Update]),
    ("security-hub", READ_LIST),
    ("catalog", READ),
    ("quota", &[Read, List, Update]),
    ("robot", &[Create, Read, List, Delete]),
    ("user", CRUDL),
    ("ldap-user", &[Create, List]),
    ("user-group", CRUDL),
];

/// The system resource `name` as a `'static` name, if a robot may be given `verb` on it.
pub fn robot_system_resource(name: &str, verb: Verb) -> Option<&'static str> {
    ROBOT_IN_SYSTEM
        .iter()
        .find(|(resource, verbs)| *resource == name && verbs.contains(&verb))
        .map(|(resource, _)| *resource)
}

/// A permission by Harbor's names: resource, action.
pub type NamedPermission = (&'static str, &'static str);

/// What robots may be given, by Harbor's resource and action names: at the system level,
/// and in a project (Harbor's `/permissions`).
pub fn robot_permissions() -> (Vec<NamedPermission>, Vec<NamedPermission>) {
    let system = ROBOT_IN_SYSTEM
        .iter()
        .flat_map(|(resource, verbs)| verbs.iter().map(move |v| (*resource, v.as_str())))
        .collect();
    let project = ROBOT_IN_PROJECT
        .iter()
        .flat_map(|(resource, verbs)| {
            verbs
                .iter()
                .map(move |v| (resource.robot_name(), v.as_str()))
        })
        .collect();
    (system, project)
}

/// Every permission there is in a project (the project admin's hold them all).
pub fn every_permission() -> impl Iterator<Item = Permission> {
    PROJECT_ADMIN
        .iter()
        .flat_map(|(resource, verbs)| verbs.iter().map(|v| Permission::new(*resource, *v)))
}

/// Whether a public project lets anyone do `permission`.
pub fn public_grants(permission: Permission) -> bool {
    holds(PUBLIC, permission)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_harbors_counts() {
        let count = |t: Table| t.iter().map(|(_, v)| v.len()).sum::<usize>();
        assert_eq!(count(PROJECT_ADMIN), 75);
        assert_eq!(count(MAINTAINER), 53);
        assert_eq!(count(DEVELOPER), 36);
        assert_eq!(count(GUEST), 20);
        assert_eq!(count(LIMITED_GUEST), 14);
    }

    #[test]
    fn robots_hold_harbors_provider_lists() {
        let count = |t: Table| t.iter().map(|(_, v)| v.len()).sum::<usize>();
        assert_eq!(count(ROBOT_IN_PROJECT), 70);
        assert_eq!(
            ROBOT_IN_SYSTEM.iter().map(|(_, v)| v.len()).sum::<usize>(),
            70
        );
        assert!(robot_may_hold(Permission::new(R::Repository, Pull)));
        assert!(!robot_may_hold(Permission::new(R::Repository, Create)));
        assert_eq!(Resource::parse("project"), Some(R::Project));
        assert_eq!(Resource::parse("tag-retention"), Some(R::TagRetention));
        assert_eq!(Resource::parse(""), None);
        assert_eq!(Verb::parse("push"), Some(Push));
        assert_eq!(robot_system_resource("user", Create), Some("user"));
        assert_eq!(robot_system_resource("user", Push), None);
    }

    #[test]
    fn developers_push_but_do_not_delete_guests_pull() {
        let push = Permission::new(R::Repository, Push);
        let delete = Permission::new(R::Repository, Delete);
        let pull = Permission::new(R::Repository, Pull);
        assert!(Role::Developer.grants(push) && !Role::Developer.grants(delete));
        assert!(Role::Maintainer.grants(delete));
        assert!(Role::Guest.grants(pull) && !Role::Guest.grants(push));
        let members = Permission::new(R::Member, List);
        assert!(Role::Guest.grants(members) && !Role::LimitedGuest.grants(members));
        assert_eq!(Role::least_for(push), Some(Role::Developer));
        assert_eq!(Role::least_for(delete), Some(Role::Maintainer));
        assert_eq!(
            Role::least_for(Permission::new(R::Member, Create)),
            Some(Role::ProjectAdmin)
        );
        assert!(public_grants(pull) && !public_grants(push));
        assert_eq!(Role::from_id(4), Some(Role::Maintainer));
        assert_eq!(Role::from_id(6), None);
    }
}
