//! The access decision: what an identity may do to a resource. Every check — `/v2`
//! requests, the token service, the management API — asks [`AccessPolicy`], which knows
//! the projects and roles (Harbor's model, [`crate::rbac`]) or, in modes without them,
//! registry:2's "every signed-in user may do everything".

use std::collections::HashMap;
use std::sync::Arc;

use berth_meta::{MetaStore, NewProject, ProjectRecord, Viewer};

use crate::AuthError;
use crate::rbac::{Permission, Resource, Role, Verb, public_grants};
use crate::robots::RobotGrants;
use crate::scope::{Action, Scope};

/// Who is asking. `user: None` is an anonymous request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub user: Option<String>,
    /// A system administrator: may do everything, in every project.
    pub admin: bool,
    /// The groups (metadata ids) the user belongs to, as the directory or identity
    /// provider said at sign-in: their project roles count as the user's.
    pub groups: Vec<i64>,
    /// Signed in with a bearer token: the caller may do what the token grants and no more,
    /// whatever the user behind it could do with a password.
    pub token: Option<Arc<[Scope]>>,
    /// A robot account: it may do what its permissions say, and has no roles.
    pub robot: Option<Arc<RobotGrants>>,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity::default()
    }

    pub fn user(name: impl Into<String>, admin: bool) -> Identity {
        Identity {
            user: Some(name.into()),
            admin,
            ..Identity::default()
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }

    /// The name for messages and logs.
    pub fn describe(&self) -> String {
        match &self.user {
            Some(name) if self.robot.is_some() => format!("robot {name}"),
            Some(name) => format!("user {name}"),
            None => "an anonymous user".into(),
        }
    }

    /// Whether it may do `verb` on the system-level resource `resource` (Harbor's names:
    /// `user`, `project`, `robot`...): administrators may, robots given it may.
    pub fn at_system(&self, resource: &str, verb: Verb) -> bool {
        self.admin
            || self
                .robot
                .as_ref()
                .is_some_and(|r| r.at_system(resource, verb))
    }

    pub fn viewer(&self) -> Viewer {
        Viewer {
            user: self.user.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// Whether one of `granted` allows everything `need` asks.
pub fn grants(granted: &[Scope], need: &Scope) -> bool {
    granted
        .iter()
        .any(|g| g.kind == need.kind && g.name == need.name && need.satisfied_by(&g.actions))
}

/// Where roles come from.
#[derive(Clone, Default)]
pub enum Roles {
    /// registry:2's model (htpasswd, external tokens, no authentication): every signed-in
    /// user may do everything; there are no roles to hold.
    #[default]
    Everyone,
    /// Projects and their members in the metadata (berth's own users).
    Projects(Arc<dyn MetaStore>),
}

#[derive(Clone, Default)]
pub struct AccessPolicy {
    /// `berth.access.anonymouspull`: every project is pullable as if it were public.
    pub anonymous_pull: bool,
    pub roles: Roles,
    /// `berth.projects.autocreate`: a signed-in user's first push to a project that does
    /// not exist creates it, with that user as its project admin. (An administrator's
    /// push always does.)
    pub auto_create: bool,
}

/// What one identity may do in one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRights {
    pub project: String,
    /// `None`: no such project.
    pub project_id: Option<i64>,
    pub public: bool,
    pub roles: Vec<Role>,
    /// What a robot's permission list gives it here (robots hold no roles).
    pub granted: Vec<Permission>,
    /// A system administrator (or, without roles, any signed-in user).
    pub unlimited: bool,
}

impl ProjectRights {
    pub fn allows(&self, permission: Permission) -> bool {
        self.unlimited
            || (self.project_id.is_some()
                && (self.roles.iter().any(|r| r.grants(permission))
                    || self.granted.contains(&permission)
                    || (self.public && public_grants(permission))))
    }

    /// Why `who` may not do `permission` here, in words that say what is missing.
    pub fn refusal(&self, who: &Identity, permission: Permission) -> String {
        if self.project_id.is_none() {
            return format!(
                "project {} does not exist; a system administrator creates it (berth project create, or POST /api/v2.0/projects)",
                self.project
            );
        }
        let needed = Role::least_for(permission)
            .map(|r| format!("; that needs the role {r} or higher"))
            .unwrap_or_default();
        if who.robot.is_some() {
            return format!(
                "{}'s permissions do not include {permission} in project {}",
                who.describe(),
                self.project
            );
        }
        let held = match self.roles.iter().min_by_key(|r| rank(**r)) {
            Some(role) => format!("{} is {role} in project {}", who.describe(), self.project),
            None => format!("{} has no role in project {}", who.describe(), self.project),
        };
        format!("{held} and may not {permission}{needed}")
    }
}

/// Roles from the most to the least powerful, for naming the strongest one held.
fn rank(role: Role) -> u8 {
    match role {
        Role::ProjectAdmin => 0,
        Role::Maintainer => 1,
        Role::Developer => 2,
        Role::Guest => 3,
        Role::LimitedGuest => 4,
    }
}

/// The repository permission a registry action needs.
fn repository_permission(action: Action) -> Option<Permission> {
    let verb = match action {
        Action::Pull => Verb::Pull,
        Action::Push => Verb::Push,
        Action::Delete => Verb::Delete,
        Action::All => return None,
    };
    Some(Permission::new(Resource::Repository, verb))
}

/// The answer for one scope: the actions of it that are granted, and why the first
/// refused one is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub granted: Vec<Action>,
    pub refused: Option<String>,
}

impl AccessPolicy {
    /// Without roles: registry:2's model.
    pub fn everyone(anonymous_pull: bool) -> AccessPolicy {
        AccessPolicy {
            anonymous_pull,
            ..AccessPolicy::default()
        }
    }

    pub fn has_roles(&self) -> bool {
        matches!(self.roles, Roles::Projects(_))
    }

    /// What `who` may do in project `project`.
    pub async fn rights(&self, who: &Identity, project: &str) -> Result<ProjectRights, AuthError> {
        let mut rights = ProjectRights {
            project: project.into(),
            project_id: None,
            public: self.anonymous_pull,
            roles: Vec::new(),
            granted: Vec::new(),
            unlimited: false,
        };
        match &self.roles {
            Roles::Everyone => {
                rights.unlimited = !who.is_anonymous();
                // Without projects every name is a place to pull from.
                rights.project_id = Some(0);
            }
            Roles::Projects(_) if who.admin => rights.unlimited = true,
            Roles::Projects(meta) if who.robot.is_some() => {
                if let Some(access) = meta.project_access(project, &Viewer::default()).await? {
                    rights.project_id = Some(access.project_id);
                    rights.public |= access.public;
                    if let Some(robot) = &who.robot {
                        rights.granted = robot.in_project(access.project_id);
                    }
                }
            }
            Roles::Projects(meta) => {
                if let Some(access) = meta.project_access(project, &who.viewer()).await? {
                    rights.project_id = Some(access.project_id);
                    rights.public |= access.public;
                    rights.roles = access.roles.into_iter().filter_map(Role::from_id).collect();
                }
            }
        }
        Ok(rights)
    }

    /// The roles `who` holds in each of `projects` (by id), as [`AccessPolicy::rights`]
    /// reports them — none for administrators, robots and when every user may do all —
    /// looked up for all of them at once (a page of a listing).
    pub async fn roles_in(
        &self,
        who: &Identity,
        projects: &[ProjectRecord],
    ) -> Result<HashMap<i64, Vec<Role>>, AuthError> {
        let Roles::Projects(meta) = &self.roles else {
            return Ok(HashMap::new());
        };
        if who.admin || who.robot.is_some() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
        let held = meta.member_roles(&ids, &who.viewer()).await?;
        Ok(held
            .into_iter()
            .map(|(id, roles)| (id, roles.into_iter().filter_map(Role::from_id).collect()))
            .collect())
    }

    /// Which of `need`'s actions `who` may take (a password login's or certificate's
    /// identity: tokens are decided by their grants, see [`AccessPolicy::allows`]).
    pub async fn decide(&self, who: &Identity, need: &Scope) -> Result<Decision, AuthError> {
        let refuse = |why: String| Decision {
            granted: Vec::new(),
            refused: Some(why),
        };
        match (need.kind.as_str(), need.name.as_str()) {
            ("repository", name) => {
                let project = name.split('/').next().unwrap_or(name);
                let mut rights = self.rights(who, project).await?;
                if rights.project_id.is_none() && need.actions.contains(&Action::Push) {
                    self.create_on_push(who, &mut rights).await?;
                }
                let mut decision = Decision {
                    granted: Vec::new(),
                    refused: None,
                };
                // `*` (what skopeo asks for a delete) stands for each action the caller
                // holds, as Harbor's token service reads it: never a refusal by itself.
                let everything = need.actions.contains(&Action::All);
                let asked: &[Action] = if everything {
                    &[Action::Pull, Action::Push, Action::Delete]
                } else {
                    &need.actions
                };
                for action in asked {
                    let Some(p) = repository_permission(*action) else {
                        continue;
                    };
                    if rights.allows(p) {
                        decision.granted.push(*action);
                    } else if decision.refused.is_none() && !everything {
                        decision.refused = Some(rights.refusal(who, p));
                    }
                }
                Ok(decision)
            }
            // Everyone signed in lists the catalog; it shows what they may see.
            ("registry", "catalog") if !who.is_anonymous() => Ok(Decision {
                granted: need.actions.clone(),
                refused: None,
            }),
            ("registry", "admin") if who.admin || !self.has_roles() && !who.is_anonymous() => {
                Ok(Decision {
                    granted: need.actions.clone(),
                    refused: None,
                })
            }
            ("registry", "admin") => Ok(refuse(format!(
                "{} is not a system administrator",
                who.describe()
            ))),
            _ => Ok(refuse(format!("access to {need} is not granted to anyone"))),
        }
    }

    /// A push to a project that does not exist: an administrator's creates it (with the
    /// repository); a user's does when `autocreate` is on, making them its project admin.
    async fn create_on_push(
        &self,
        who: &Identity,
        rights: &mut ProjectRights,
    ) -> Result<(), AuthError> {
        let (Roles::Projects(meta), Some(user), true, None) =
            (&self.roles, &who.user, self.auto_create, &who.robot)
        else {
            return Ok(());
        };
        if crate::projects::validate_name(&rights.project).is_err() {
            return Ok(());
        }
        let created = meta
            .create_project(&NewProject {
                name: &rights.project,
                public: false,
                owner: Some(user),
                metadata: crate::projects::default_metadata(false),
                first_member: Some((user, Role::ProjectAdmin.id())),
            })
            .await?;
        if created.is_some() {
            tracing::info!(target: "berth::auth", project = %rights.project, %user, "project created by a push");
        }
        *rights = self.rights(who, &rights.project.clone()).await?;
        Ok(())
    }

    /// The names of the projects whose repositories `who` may pull (public ones and those
    /// they hold a role in); `None`: every project.
    pub async fn visible_projects(
        &self,
        who: &Identity,
    ) -> Result<Option<std::collections::HashSet<String>>, AuthError> {
        let Roles::Projects(meta) = &self.roles else {
            return Ok(None);
        };
        if who.admin || self.anonymous_pull {
            return Ok(None);
        }
        let mut robot_projects = Vec::new();
        if let Some(robot) = &who.robot {
            let (everywhere, ids) = robot.pull_scope();
            if everywhere {
                return Ok(None);
            }
            robot_projects = ids;
        }
        let query = berth_meta::ProjectQuery {
            visible: Some(berth_meta::Visibility::of(who.viewer())),
            limit: i64::MAX,
            ..Default::default()
        };
        let (projects, _) = meta.projects(&query).await?;
        let mut names: std::collections::HashSet<String> =
            projects.into_iter().map(|p| p.name).collect();
        for id in robot_projects {
            if let Some(p) = meta.project_by_id(id).await? {
                names.insert(p.name);
            }
        }
        Ok(Some(names))
    }

    /// Whether `who` may do everything `need` asks: for a token, what it grants; else
    /// what the roles permit. `Err(message)` says what is missing.
    pub async fn allows(
        &self,
        who: &Identity,
        need: &Scope,
    ) -> Result<Result<(), String>, AuthError> {
        if let Some(granted) = &who.token {
            // The token's issuer made the access decision when it issued it (for an
            // external issuer, the only one there is).
            return Ok(if grants(granted, need) {
                Ok(())
            } else {
                Err(format!("the token does not grant {need}"))
            });
        }
        let decision = self.decide(who, need).await?;
        Ok(match decision.refused {
            None if need.satisfied_by(&decision.granted) => Ok(()),
            None => Err(format!("access to {need} is denied")),
            Some(why) => Err(why),
        })
    }

    /// What a token for `who` carries when `asked` is requested: for each scope, the
    /// actions both asked for and permitted. Scopes with nothing left are dropped (the
    /// token service answers with fewer rights, never with an error, as the spec asks).
    pub async fn grant(&self, who: &Identity, asked: &[Scope]) -> Result<Vec<Scope>, AuthError> {
        let mut granted = Vec::new();
        for scope in asked {
            let decision = self.decide(who, scope).await?;
            if !decision.granted.is_empty() {
                granted.push(Scope {
                    actions: decision.granted,
                    ..scope.clone()
                });
            }
        }
        Ok(granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn without_roles_users_get_what_they_ask_anonymous_nothing_by_default() {
        let policy = AccessPolicy::default();
        let asked = vec![
            Scope::repository("a", &[Action::Pull, Action::Push]),
            Scope::catalog(),
        ];
        assert_eq!(
            block(policy.grant(&Identity::user("u", false), &asked)).unwrap(),
            asked
        );
        assert!(
            block(policy.grant(&Identity::anonymous(), &asked))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn anonymous_pull_grants_pull_only() {
        let policy = AccessPolicy::everyone(true);
        let asked = vec![Scope::repository("a", &[Action::Pull, Action::Push])];
        let granted = block(policy.grant(&Identity::anonymous(), &asked)).unwrap();
        assert_eq!(granted, vec![Scope::repository("a", &[Action::Pull])]);
        let allows = |s: Scope| {
            block(policy.allows(&Identity::anonymous(), &s))
                .unwrap()
                .is_ok()
        };
        assert!(allows(Scope::repository("a", &[Action::Pull])));
        assert!(!allows(Scope::catalog()));
        assert!(!allows(Scope::repository("a", &[Action::Delete])));
    }

    #[test]
    fn a_token_allows_what_it_grants_and_no_more() {
        let policy = AccessPolicy::default();
        let who = Identity {
            token: Some(vec![Scope::repository("a", &[Action::Pull])].into()),
            ..Identity::user("u", true)
        };
        let allows = |s: Scope| block(policy.allows(&who, &s)).unwrap().is_ok();
        assert!(allows(Scope::repository("a", &[Action::Pull])));
        assert!(!allows(Scope::repository("a", &[Action::Push])));
        assert!(!allows(Scope::repository("b", &[Action::Pull])));
        assert!(!allows(Scope::management()));
    }

    #[test]
    fn refusals_say_what_is_missing() {
        let rights = ProjectRights {
            project: "team".into(),
            project_id: Some(3),
            public: false,
            roles: vec![Role::Guest],
            granted: Vec::new(),
            unlimited: false,
        };
        let push = Permission::new(Resource::Repository, Verb::Push);
        assert!(!rights.allows(push));
        assert_eq!(
            rights.refusal(&Identity::user("tess", false), push),
            "user tess is guest in project team and may not push repository; that needs the role developer or higher"
        );
        let missing = ProjectRights {
            project_id: None,
            ..rights
        };
        assert!(
            missing
                .refusal(&Identity::anonymous(), push)
                .contains("project team does not exist")
        );
    }
}
