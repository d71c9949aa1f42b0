//! Robot accounts (Harbor's v2 robots): machine credentials for CI jobs and production
//! nodes. A robot is system-level (`robot$name`, permissions in any projects and at the
//! system level) or project-level (`robot$project+name`, permissions in its project), has
//! a permission list of resource × action, an expiry and a switch, and a secret that is
//! shown once. This module holds the rules (names, lists, expiry, secrets, who may give
//! what); the access decision reads the [`RobotGrants`] a signed-in robot carries.

use std::sync::Arc;

use berth_meta::{MetaStore, ProjectRecord, RobotQuery, RobotRecord};
use serde::{Deserialize, Serialize};

use crate::rbac::{Permission, Resource, Verb, robot_may_hold, robot_system_resource};
use crate::{AuthError, Identity, password};

/// What every robot's login name starts with (Harbor's default `robot_name_prefix`).
pub const PREFIX: &str = "robot$";

/// Whether `name` is a robot's login name (user names cannot hold a `$`).
pub fn is_robot_name(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// Why a robot request was refused (the caller's mistake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RobotError {
    #[error(
        "{0:?} is not a valid robot name: use lower-case letters and digits, separated by single '.', '_' or '-'"
    )]
    InvalidName(String),
    #[error("duration {0} is not valid: use -1 (never expires) or a number of days from 1")]
    InvalidDuration(i64),
    #[error("level {0:?} is not valid: use system or project")]
    InvalidLevel(String),
    #[error("give the robot at least one permission, each with at least one access")]
    NoPermissions,
    #[error(
        "a project-level robot holds permissions in its own project only: one permission of kind project, namespace the project's name"
    )]
    OneProjectOnly,
    #[error("{0:?} is not a permission kind: use project or system")]
    InvalidKind(String),
    #[error("the namespace of a system permission is \"/\", not {0:?}")]
    InvalidSystemNamespace(String),
    #[error("a robot cannot be given {resource}:{action} at the {kind} level")]
    InvalidAccess {
        kind: &'static str,
        resource: String,
        action: String,
    },
    #[error("effect {0:?} is not valid: use allow or deny (or leave it out)")]
    InvalidEffect(String),
    #[error("there is no project {0}")]
    NoSuchProject(String),
    #[error("a robot named {0} exists already")]
    Exists(String),
    #[error("there is no robot {0}")]
    NoSuchRobot(i64),
    #[error("the name and level of a robot cannot change (it is {name}, {level})")]
    Immutable { name: String, level: &'static str },
    #[error("a project-level robot stays in its project ({0})")]
    ProjectChanged(String),
    #[error(
        "the secret must be 8-128 characters with at least one upper-case letter, one lower-case letter and one digit"
    )]
    WeakSecret,
    #[error("robot {0} may only give permissions it holds itself, at the same or a narrower scope")]
    BeyondCreator(String),
}

/// Harbor's permission entry as the API carries it: a kind (`project` or `system`), a
/// namespace (a project's name, `*` for every project, `/` for the system) and accesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RobotPermission {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub access: Vec<RobotAccess>,
}

/// One resource × action, allowed (the default) or denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RobotAccess {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub effect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    System,
    Project,
}

impl Level {
    pub fn parse(value: &str) -> Result<Level, RobotError> {
        match value {
            "system" => Ok(Level::System),
            "project" => Ok(Level::Project),
            other => Err(RobotError::InvalidLevel(other.into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::System => "system",
            Level::Project => "project",
        }
    }
}

/// How a permission entry is stored: projects by id (names are looked up when shown), so
/// a project deleted and created again under the same name is not granted by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPermission {
    kind: String,
    /// For kind `project`: the project, or `None` for every project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project_id: Option<i64>,
    access: Vec<RobotAccess>,
}

/// What a signed-in robot may do, parsed once at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RobotGrants {
    pub id: i64,
    /// Per project scope (`None`: every project): permissions allowed, and denied.
    projects: Vec<(Option<i64>, Vec<Permission>, Vec<Permission>)>,
    /// System-level resource × verb allowed (denials removed).
    system: Vec<(&'static str, Verb)>,
}

impl RobotGrants {
    fn of(record: &RobotRecord) -> RobotGrants {
        let stored: Vec<StoredPermission> =
            serde_json::from_str(&record.permissions).unwrap_or_default();
        let mut grants = RobotGrants {
            id: record.id,
            ..RobotGrants::default()
        };
        let mut system_denied = Vec::new();
        for entry in stored {
            if entry.kind == "system" {
                for a in &entry.access {
                    let Some(verb) = Verb::parse(&a.action) else {
                        continue;
                    };
                    if let Some(resource) = robot_system_resource(&a.resource, verb) {
                        if a.effect == "deny" {
                            system_denied.push((resource, verb));
                        } else {
                            grants.system.push((resource, verb));
                        }
                    }
                }
                continue;
            }
            let (mut allowed, mut denied) = (Vec::new(), Vec::new());
            for a in &entry.access {
                let (Some(resource), Some(verb)) =
                    (Resource::parse(&a.resource), Verb::parse(&a.action))
                else {
                    continue;
                };
                let p = Permission::new(resource, verb);
                if a.effect == "deny" {
                    denied.push(p);
                } else {
                    allowed.push(p);
                    // Pushing needs pulling (Docker asks for both); Harbor adds it for
                    // project robots, berth for every robot.
                    if verb == Verb::Push {
                        allowed.push(Permission::new(resource, Verb::Pull));
                    }
                }
            }
            grants.projects.push((entry.project_id, allowed, denied));
        }
        grants.system.retain(|p| !system_denied.contains(p));
        grants
    }

    /// The permissions this robot holds in project `project_id`.
    pub fn in_project(&self, project_id: i64) -> Vec<Permission> {
        let applies = |scope: &Option<i64>| scope.is_none_or(|id| id == project_id);
        let denied: Vec<Permission> = self
            .projects
            .iter()
            .filter(|(scope, _, _)| applies(scope))
            .flat_map(|(_, _, d)| d.iter().copied())
            .collect();
        let mut held: Vec<Permission> = self
            .projects
            .iter()
            .filter(|(scope, _, _)| applies(scope))
            .flat_map(|(_, a, _)| a.iter().copied())
            .filter(|p| !denied.contains(p))
            .collect();
        held.dedup();
        held
    }

    /// Whether it may pull from every project (`*` with pull), and else the projects it
    /// may pull from by id.
    pub fn pull_scope(&self) -> (bool, Vec<i64>) {
        let pull = Permission::new(Resource::Repository, Verb::Pull);
        let (everywhere, mut ids) = self.projects_where(|allowed| allowed.contains(&pull));
        ids.retain(|id| self.in_project(*id).contains(&pull));
        (everywhere, ids)
    }

    /// Whether it holds permissions in every project (`*`), and else the projects it holds
    /// any in, by id: what it sees listed.
    pub fn project_scope(&self) -> (bool, Vec<i64>) {
        self.projects_where(|allowed| !allowed.is_empty())
    }

    /// Whether an every-project entry's allowed list passes `test`, and else the projects
    /// whose entries do.
    fn projects_where(&self, test: impl Fn(&[Permission]) -> bool) -> (bool, Vec<i64>) {
        let mut ids = Vec::new();
        for (scope, allowed, _) in &self.projects {
            match scope {
                None if test(allowed) => return (true, Vec::new()),
                Some(id) if test(allowed) => ids.push(*id),
                _ => {}
            }
        }
        (false, ids)
    }

    /// Whether it may do `verb` on the system resource `resource` (Harbor's names).
    pub fn at_system(&self, resource: &str, verb: Verb) -> bool {
        self.system
            .iter()
            .any(|(r, v)| *r == resource && *v == verb)
    }
}

/// Why a robot that proved its secret still may not sign in.
pub fn unusable(record: &RobotRecord, now_secs: i64) -> Option<String> {
    if record.disabled {
        return Some(format!(
            "robot account {} is disabled; a project or system administrator enables it",
            record.name
        ));
    }
    if record.expires_at >= 0 && now_secs >= record.expires_at {
        return Some(format!(
            "robot account {} expired; extend its duration (PUT /api/v2.0/robots/{})",
            record.name, record.id
        ));
    }
    None
}

/// The identity a robot signs in as.
pub fn identity(record: &RobotRecord) -> Identity {
    Identity {
        user: Some(record.name.clone()),
        robot: Some(Arc::new(RobotGrants::of(record))),
        ..Identity::default()
    }
}

/// Harbor's rule for robot names: a project name's shape.
fn validate_name(name: &str) -> Result<(), RobotError> {
    if crate::projects::lowercase_runs(name) {
        Ok(())
    } else {
        Err(RobotError::InvalidName(name.into()))
    }
}

fn validate_duration(days: i64) -> Result<(), RobotError> {
    if days == -1 || (1..i64::from(i32::MAX)).contains(&days) {
        Ok(())
    } else {
        Err(RobotError::InvalidDuration(days))
    }
}

/// Harbor's secret rule: 8–128 characters, with an upper-case letter, a lower-case letter
/// and a digit.
pub fn validate_secret(secret: &str) -> Result<(), RobotError> {
    let n = secret.chars().count();
    let ok = (8..=128).contains(&n)
        && secret.chars().any(|c| c.is_ascii_uppercase())
        && secret.chars().any(|c| c.is_ascii_lowercase())
        && secret.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(RobotError::WeakSecret)
    }
}

/// A fresh secret of 32 characters that meets [`validate_secret`] (robots, CLI secrets).
pub fn generate_secret() -> Result<String, AuthError> {
    loop {
        let secret = password::generate(32)?;
        if validate_secret(&secret).is_ok() {
            return Ok(secret);
        }
    }
}

/// Checks one access against what the kind allows; returns it normalised.
fn checked_access(kind: &'static str, a: &RobotAccess) -> Result<RobotAccess, RobotError> {
    let invalid = || RobotError::InvalidAccess {
        kind,
        resource: a.resource.clone(),
        action: a.action.clone(),
    };
    let verb = Verb::parse(&a.action).ok_or_else(invalid)?;
    let allowed = match kind {
        "system" => robot_system_resource(&a.resource, verb).is_some(),
        _ => Resource::parse(&a.resource).is_some_and(|r| robot_may_hold(Permission::new(r, verb))),
    };
    if !allowed {
        return Err(invalid());
    }
    if !matches!(a.effect.as_str(), "" | "allow" | "deny") {
        return Err(RobotError::InvalidEffect(a.effect.clone()));
    }
    Ok(RobotAccess {
        resource: a.resource.clone(),
        action: a.action.clone(),
        effect: if a.effect == "deny" {
            "deny".into()
        } else {
            String::new()
        },
    })
}

/// A robot to create, as the API's `RobotCreate` says.
#[derive(Debug, Clone)]
pub struct RobotSpec {
    pub name: String,
    pub description: String,
    pub level: Level,
    pub duration: i64,
    pub disable: bool,
    pub permissions: Vec<RobotPermission>,
}

/// A robot as shown: its row, its level and its permissions with project names.
#[derive(Debug, Clone)]
pub struct RobotView {
    pub record: RobotRecord,
    pub level: Level,
    pub permissions: Vec<RobotPermission>,
}

/// What an update may change (Harbor's `PUT /robots/{id}` body).
#[derive(Debug, Clone)]
pub struct RobotUpdate {
    pub name: String,
    pub level: String,
    pub description: String,
    /// `None`: keep.
    pub duration: Option<i64>,
    pub disable: bool,
    pub permissions: Vec<RobotPermission>,
}

/// Robot accounts as the management API changes them.
pub struct Robots {
    meta: Arc<dyn MetaStore>,
}

fn now_secs() -> i64 {
    berth_meta::now_ms() / 1000
}

fn expiry(created_secs: i64, days: i64) -> i64 {
    if days < 0 {
        -1
    } else {
        created_secs.saturating_add(days.saturating_mul(86_400))
    }
}

impl Robots {
    pub fn new(meta: Arc<dyn MetaStore>) -> Robots {
        Robots { meta }
    }

    /// The project a project-level robot's permissions name (the first entry's
    /// namespace), for the access check before anything else.
    pub fn project_named(permissions: &[RobotPermission]) -> Option<&str> {
        permissions.first().map(|p| p.namespace.as_str())
    }

    /// Validates `permissions` for `level` and turns names into ids. `own_project`: the
    /// project of a project-level robot.
    async fn resolve(
        &self,
        level: Level,
        permissions: &[RobotPermission],
        own_project: Option<&ProjectRecord>,
    ) -> Result<Vec<StoredPermission>, AuthError> {
        if permissions.is_empty() || permissions.iter().any(|p| p.access.is_empty()) {
            return Err(RobotError::NoPermissions.into());
        }
        if level == Level::Project {
            let fits = permissions.len() == 1
                && permissions[0].kind == "project"
                && own_project.is_some_and(|p| p.name == permissions[0].namespace);
            if !fits {
                return Err(RobotError::OneProjectOnly.into());
            }
        }
        let mut stored = Vec::with_capacity(permissions.len());
        for p in permissions {
            let (kind, project_id) = match p.kind.as_str() {
                "system" if level == Level::System => {
                    if p.namespace != "/" {
                        return Err(RobotError::InvalidSystemNamespace(p.namespace.clone()).into());
                    }
                    ("system", None)
                }
                "project" if p.namespace == "*" && level == Level::System => ("project", None),
                "project" => {
                    let project = match own_project {
                        Some(own) => own.clone(),
                        None => self
                            .meta
                            .project(&p.namespace)
                            .await?
                            .ok_or_else(|| RobotError::NoSuchProject(p.namespace.clone()))?,
                    };
                    ("project", Some(project.id))
                }
                other => return Err(RobotError::InvalidKind(other.into()).into()),
            };
            let access = p
                .access
                .iter()
                .map(|a| checked_access(kind, a))
                .collect::<Result<Vec<_>, _>>()?;
            stored.push(StoredPermission {
                kind: kind.into(),
                project_id,
                access,
            });
        }
        Ok(stored)
    }

    /// A robot may create robots only with permissions it holds itself, in the same or a
    /// narrower scope (Harbor's rule).
    async fn within_creator(
        &self,
        who: &Identity,
        wanted: &[StoredPermission],
    ) -> Result<(), AuthError> {
        let Some(grants) = &who.robot else {
            return Ok(());
        };
        let creator = self
            .meta
            .robot(grants.id)
            .await?
            .ok_or(RobotError::NoSuchRobot(grants.id))?;
        let held: Vec<StoredPermission> =
            serde_json::from_str(&creator.permissions).unwrap_or_default();
        let covered = wanted.iter().all(|w| {
            held.iter()
                .filter(|h| {
                    h.kind == w.kind && (h.project_id.is_none() || h.project_id == w.project_id)
                })
                .any(|h| w.access.iter().all(|a| h.access.contains(a)))
        });
        if covered {
            Ok(())
        } else {
            Err(RobotError::BeyondCreator(creator.name).into())
        }
    }

    /// Who made it, as Harbor records it: `local` and a user id, or `robot` and a robot id.
    async fn creator(&self, who: &Identity) -> Result<(String, i64), AuthError> {
        if let Some(grants) = &who.robot {
            return Ok(("robot".into(), grants.id));
        }
        let id = match &who.user {
            Some(name) => self.meta.user(name).await?.map_or(0, |u| u.id),
            None => 0,
        };
        Ok(("local".into(), id))
    }

    /// Creates a robot; returns it and its secret (shown this once). `project`: the
    /// project of a project-level robot, which the caller may create robots in.
    pub async fn create(
        &self,
        who: &Identity,
        spec: &RobotSpec,
        project: Option<&ProjectRecord>,
    ) -> Result<(RobotView, String), AuthError> {
        validate_name(&spec.name)?;
        validate_duration(spec.duration)?;
        let stored = self.resolve(spec.level, &spec.permissions, project).await?;
        self.within_creator(who, &stored).await?;
        let name = match (spec.level, project) {
            (Level::Project, Some(p)) => format!("{PREFIX}{}+{}", p.name, spec.name),
            _ => format!("{PREFIX}{}", spec.name),
        };
        let secret = generate_secret()?;
        let (creator_type, creator_ref) = self.creator(who).await?;
        let now = berth_meta::now_ms();
        let mut record = RobotRecord {
            id: 0,
            name,
            description: spec.description.clone(),
            project_id: project
                .filter(|_| spec.level == Level::Project)
                .map(|p| p.id),
            secret_hash: password::hash(&secret)?,
            duration_days: spec.duration,
            expires_at: expiry(now / 1000, spec.duration),
            disabled: spec.disable,
            permissions: serde_json::to_string(&stored)
                .map_err(|e| AuthError::Config(e.to_string()))?,
            creator_type,
            creator_ref,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let Some(id) = self.meta.create_robot(&record).await? else {
            if let Some(project_id) = record.project_id
                && self.meta.project_by_id(project_id).await?.is_none()
            {
                let name = Robots::project_named(&spec.permissions).unwrap_or_default();
                return Err(RobotError::NoSuchProject(name.into()).into());
            }
            return Err(RobotError::Exists(record.name).into());
        };
        record.id = id;
        tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), robot = record.name, "robot created");
        Ok((self.view(record).await?, secret))
    }

    /// The robot `id` as shown.
    pub async fn get(&self, id: i64) -> Result<RobotView, AuthError> {
        let record = self
            .meta
            .robot(id)
            .await?
            .ok_or(RobotError::NoSuchRobot(id))?;
        self.view(record).await
    }

    /// A page of the system-level robots (`project_id: None`) or of one project's.
    pub async fn list(&self, query: &RobotQuery) -> Result<(Vec<RobotView>, i64), AuthError> {
        let (records, total) = self.meta.robots(query).await?;
        let mut views = Vec::with_capacity(records.len());
        for record in records {
            views.push(self.view(record).await?);
        }
        Ok((views, total))
    }

    /// Changes description, duration, switch and permissions; name, level and project
    /// stay.
    pub async fn update(
        &self,
        who: &Identity,
        current: &RobotView,
        change: &RobotUpdate,
        project: Option<&ProjectRecord>,
    ) -> Result<(), AuthError> {
        let record = &current.record;
        if change.name != record.name || change.level != current.level.as_str() {
            return Err(RobotError::Immutable {
                name: record.name.clone(),
                level: current.level.as_str(),
            }
            .into());
        }
        if current.level == Level::Project && project.map(|p| p.id) != record.project_id {
            return Err(RobotError::ProjectChanged(
                Robots::project_named(&current.permissions)
                    .unwrap_or_default()
                    .to_string(),
            )
            .into());
        }
        let duration = change.duration.unwrap_or(record.duration_days);
        validate_duration(duration)?;
        let stored = self
            .resolve(current.level, &change.permissions, project)
            .await?;
        self.within_creator(who, &stored).await?;
        let updated = RobotRecord {
            description: change.description.clone(),
            duration_days: duration,
            expires_at: if duration == record.duration_days {
                record.expires_at
            } else {
                expiry(record.created_at_ms / 1000, duration)
            },
            disabled: change.disable,
            permissions: serde_json::to_string(&stored)
                .map_err(|e| AuthError::Config(e.to_string()))?,
            updated_at_ms: berth_meta::now_ms(),
            ..record.clone()
        };
        if !self.meta.update_robot(&updated).await? {
            return Err(RobotError::NoSuchRobot(record.id).into());
        }
        tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), robot = record.name, disabled = change.disable, "robot changed");
        Ok(())
    }

    /// A new secret: the one given (kept, not shown back), or a generated one (returned).
    pub async fn refresh_secret(
        &self,
        who: &Identity,
        current: &RobotRecord,
        given: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        let (secret, shown) = match given.filter(|s| !s.is_empty()) {
            Some(secret) => {
                validate_secret(secret)?;
                (secret.to_string(), None)
            }
            None => {
                let secret = generate_secret()?;
                (secret.clone(), Some(secret))
            }
        };
        let updated = RobotRecord {
            secret_hash: password::hash(&secret)?,
            updated_at_ms: berth_meta::now_ms(),
            ..current.clone()
        };
        if !self.meta.update_robot(&updated).await? {
            return Err(RobotError::NoSuchRobot(current.id).into());
        }
        tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), robot = current.name, "robot secret refreshed");
        Ok(shown)
    }

    pub async fn delete(&self, who: &Identity, current: &RobotRecord) -> Result<(), AuthError> {
        if !self.meta.delete_robot(current.id).await? {
            return Err(RobotError::NoSuchRobot(current.id).into());
        }
        tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), robot = current.name, "robot deleted");
        Ok(())
    }

    /// The row with its level and its permissions in Harbor's shape (project names looked
    /// up; entries whose project is gone are left out, as Harbor does).
    async fn view(&self, record: RobotRecord) -> Result<RobotView, AuthError> {
        let stored: Vec<StoredPermission> =
            serde_json::from_str(&record.permissions).unwrap_or_default();
        let mut permissions = Vec::with_capacity(stored.len());
        for entry in stored {
            let namespace = match (entry.kind.as_str(), entry.project_id) {
                ("system", _) => "/".to_string(),
                (_, None) => "*".to_string(),
                (_, Some(id)) => match self.meta.project_by_id(id).await? {
                    Some(p) => p.name,
                    None => continue,
                },
            };
            permissions.push(RobotPermission {
                kind: entry.kind,
                namespace,
                access: entry.access,
            });
        }
        Ok(RobotView {
            level: if record.project_id.is_some() {
                Level::Project
            } else {
                Level::System
            },
            record,
            permissions,
        })
    }

    /// The robot a token was issued to, while it may still act: `None` when it was
    /// removed, disabled or has expired.
    pub async fn usable(&self, name: &str) -> Result<Option<RobotRecord>, AuthError> {
        Ok(self
            .meta
            .robot_by_name(name)
            .await?
            .filter(|r| unusable(r, now_secs()).is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(permissions: &str) -> RobotRecord {
        RobotRecord {
            id: 7,
            name: "robot$ci".into(),
            description: String::new(),
            project_id: None,
            secret_hash: String::new(),
            duration_days: -1,
            expires_at: -1,
            disabled: false,
            permissions: permissions.into(),
            creator_type: "local".into(),
            creator_ref: 1,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn grants_follow_scope_push_implies_pull_and_deny_wins() {
        let r = record(
            r#"[{"kind":"project","project_id":3,"access":[{"resource":"repository","action":"push"}]},
                {"kind":"project","access":[{"resource":"repository","action":"list"},
                    {"resource":"repository","action":"push","effect":"deny"}]},
                {"kind":"system","access":[{"resource":"catalog","action":"read"}]}]"#,
        );
        let g = RobotGrants::of(&r);
        let pull = Permission::new(Resource::Repository, Verb::Pull);
        let push = Permission::new(Resource::Repository, Verb::Push);
        let list = Permission::new(Resource::Repository, Verb::List);
        let in3 = g.in_project(3);
        assert!(in3.contains(&pull) && in3.contains(&list) && !in3.contains(&push));
        assert_eq!(g.in_project(4), vec![list]);
        assert!(g.at_system("catalog", Verb::Read) && !g.at_system("user", Verb::Create));
        assert_eq!(g.pull_scope(), (false, vec![3]));
    }

    #[test]
    fn expired_and_disabled_robots_do_not_sign_in() {
        let mut r = record("[]");
        assert_eq!(unusable(&r, 100), None);
        r.expires_at = 100;
        assert!(unusable(&r, 100).is_some_and(|m| m.contains("expired")));
        r.expires_at = -1;
        r.disabled = true;
        assert!(unusable(&r, 0).is_some_and(|m| m.contains("disabled")));
    }

    #[test]
    fn names_durations_secrets_and_accesses_are_checked() {
        assert!(validate_name("ci-bot.1").is_ok());
        for bad in ["", "CI", "a..b", "-a", "a+b", "a$b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_duration(-1).is_ok() && validate_duration(30).is_ok());
        assert!(validate_duration(0).is_err() && validate_duration(-2).is_err());
        assert!(validate_secret("Abcdefg1").is_ok());
        assert!(validate_secret("abcdefg1").is_err() && validate_secret("Abc1").is_err());
        let s = generate_secret().unwrap();
        assert_eq!(s.len(), 32);
        assert!(validate_secret(&s).is_ok());
        let access = |resource: &str, action: &str| RobotAccess {
            resource: resource.into(),
            action: action.into(),
            effect: String::new(),
        };
        assert!(checked_access("project", &access("repository", "pull")).is_ok());
        assert!(checked_access("project", &access("repository", "create")).is_err());
        assert!(checked_access("project", &access("user", "create")).is_err());
        assert!(checked_access("system", &access("user", "create")).is_ok());
        assert!(checked_access("system", &access("repository", "pull")).is_err());
    }
}
