//! `berth project …` and `berth member …`: projects and their members, for administrators
//! at the machine (the same rules as the management API, acting as a system
//! administrator). Each command prints a line for people, or JSON with `--json`.

use std::path::Path;

use berth_auth::projects::CreationRestriction;
use berth_auth::{
    Identity, MemberEntity, MemberRef, ProjectQuery, ProjectRecord, ProjectRef, Role, Teams,
};
use serde_json::json;

use crate::user_cmd::locate;

#[derive(clap::Subcommand)]
pub enum ProjectCommand {
    /// Create a project (private unless --public).
    Create {
        name: String,
        #[arg(long)]
        public: bool,
    },
    /// List projects with their repository counts.
    List,
    /// Show one project (by name or id) and its members.
    Show { project: String },
    /// Make a project public (anyone may pull) or, with --private, private again.
    Visibility {
        project: String,
        #[arg(long)]
        private: bool,
    },
    /// Delete a project that holds no repositories.
    Delete { project: String },
}

#[derive(clap::Subcommand)]
pub enum MemberCommand {
    /// Give a user a role in a project: projectAdmin, maintainer, developer, guest or
    /// limitedGuest.
    Add {
        project: String,
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List a project's members.
    List { project: String },
    /// Change a member's role (the member by user name).
    Role {
        project: String,
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Take a user's role in a project away.
    Remove { project: String, user: String },
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::ALL
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(value) || r.id().to_string() == value)
        .ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("{value:?} is not a role: use one of {}", names.join(", "))
        })
}

/// What the commands act as: an administrator, as whoever runs them at the machine is.
pub(crate) fn operator() -> Identity {
    Identity::user("berth-cli", true)
}

pub(crate) fn teams_of(
    config: Option<&Path>,
) -> anyhow::Result<(crate::user_cmd::UserDatabase, tokio::runtime::Runtime)> {
    Ok((locate(config, "projects")?, crate::runtime()?))
}

fn project_json(p: &ProjectRecord, repositories: i64) -> serde_json::Value {
    json!({
        "project_id": p.id, "name": p.name, "public": p.public,
        "owner_name": p.owner, "repo_count": repositories,
    })
}

pub fn project(
    config: Option<&Path>,
    json_output: bool,
    command: ProjectCommand,
) -> anyhow::Result<()> {
    let (db, runtime) = teams_of(config)?;
    runtime.block_on(async move {
        let meta = db.metadata.open().await?;
        let teams = Teams::new(meta, CreationRestriction::Everyone);
        let out = run_project(&teams, command).await?;
        print(json_output, out);
        Ok(())
    })
}

/// What a command says: a line for people, a JSON value for scripts.
pub(crate) struct Said(pub String, pub serde_json::Value);

pub(crate) fn print(json_output: bool, said: Said) {
    if json_output {
        println!("{}", said.1);
    } else {
        println!("{}", said.0);
    }
}

async fn run_project(teams: &Teams, command: ProjectCommand) -> anyhow::Result<Said> {
    let find = |p: &str| ProjectRef::parse(p, false);
    Ok(match command {
        ProjectCommand::Create { name, public } => {
            // Created by the registry's operator: nobody is its member yet.
            let p = teams.create_by_registry(&name, public).await?;
            Said(
                format!(
                    "created project {} ({})",
                    p.name,
                    if p.public { "public" } else { "private" }
                ),
                project_json(&p, 0),
            )
        }
        ProjectCommand::List => {
            let query = ProjectQuery {
                limit: i64::MAX,
                ..Default::default()
            };
            let (projects, _) = teams.list(&operator(), query).await?;
            let mut lines = vec![format!("{:30}  {:8}  REPOSITORIES", "NAME", "ACCESS")];
            let mut values = Vec::new();
            for p in &projects {
                let n = teams.repository_count(p).await?;
                lines.push(format!(
                    "{:30}  {:8}  {n}",
                    p.name,
                    if p.public { "public" } else { "private" }
                ));
                values.push(project_json(p, n));
            }
            Said(lines.join("\n"), json!(values))
        }
        ProjectCommand::Show { project } => {
            let p = teams.get(&find(&project)).await?;
            let n = teams.repository_count(&p).await?;
            let (members, _) = teams.members(&p, None, 0, i64::MAX).await?;
            let mut lines = vec![format!(
                "project {} (id {}), {}, {n} repositories",
                p.name,
                p.id,
                if p.public { "public" } else { "private" }
            )];
            let mut listed = Vec::new();
            for m in &members {
                let (kind, name) = entity(&m.entity);
                let role = Role::from_id(m.role).map_or("unknown", Role::name);
                lines.push(format!("  {kind} {name}: {role}"));
                listed.push(json!({"id": m.id, "entity_type": kind, "entity_name": name, "role_name": role}));
            }
            let mut value = project_json(&p, n);
            value["members"] = json!(listed);
            Said(lines.join("\n"), value)
        }
        ProjectCommand::Visibility { project, private } => {
            let p = teams.get(&find(&project)).await?;
            teams.update(&p, Some(!private), Default::default()).await?;
            let word = if private { "private" } else { "public" };
            Said(
                format!("project {} is {word}", p.name),
                json!({"name": p.name, "public": !private}),
            )
        }
        ProjectCommand::Delete { project } => {
            let p = teams.get(&find(&project)).await?;
            teams.delete(&p).await?;
            Said(
                format!("deleted project {}", p.name),
                json!({"name": p.name, "deleted": true}),
            )
        }
    })
}

fn entity(e: &MemberEntity) -> (&'static str, &str) {
    match e {
        MemberEntity::User { name, .. } => ("user", name),
        MemberEntity::Group { name, .. } => ("group", name),
    }
}

pub fn member(
    config: Option<&Path>,
    json_output: bool,
    command: MemberCommand,
) -> anyhow::Result<()> {
    let (db, runtime) = teams_of(config)?;
    runtime.block_on(async move {
        let meta = db.metadata.open().await?;
        let teams = Teams::new(meta, CreationRestriction::Everyone);
        let out = run_member(&teams, command).await?;
        print(json_output, out);
        Ok(())
    })
}

async fn run_member(teams: &Teams, command: MemberCommand) -> anyhow::Result<Said> {
    let find = |p: &str| ProjectRef::parse(p, false);
    // The member a user name holds in a project.
    async fn membership(teams: &Teams, p: &ProjectRecord, user: &str) -> anyhow::Result<i64> {
        let (found, _) = teams.members(p, Some(user), 0, 1).await?;
        match found.first() {
            Some(m) if matches!(m.entity, MemberEntity::User { .. }) => Ok(m.id),
            _ => anyhow::bail!("user {user} is not a member of project {}", p.name),
        }
    }
    Ok(match command {
        MemberCommand::Add {
            project,
            user,
            role,
        } => {
            let p = teams.get(&find(&project)).await?;
            let id = teams
                .add_member(&p, &MemberRef::UserName(user.clone()), role.id())
                .await?;
            Said(
                format!("{user} is {role} in project {}", p.name),
                json!({"id": id, "project": p.name, "entity_name": user, "role_name": role.name()}),
            )
        }
        MemberCommand::List { project } => {
            let p = teams.get(&find(&project)).await?;
            let (members, _) = teams.members(&p, None, 0, i64::MAX).await?;
            let mut lines = vec![format!("{:6}  {:30}  ROLE", "KIND", "NAME")];
            let mut values = Vec::new();
            for m in &members {
                let (kind, name) = entity(&m.entity);
                let role = Role::from_id(m.role).map_or("unknown", Role::name);
                lines.push(format!("{kind:6}  {name:30}  {role}"));
                values.push(json!({"id": m.id, "entity_type": kind, "entity_name": name, "role_name": role}));
            }
            Said(lines.join("\n"), json!(values))
        }
        MemberCommand::Role {
            project,
            user,
            role,
        } => {
            let p = teams.get(&find(&project)).await?;
            let id = membership(teams, &p, &user).await?;
            teams.set_role(&p, id, role.id()).await?;
            Said(
                format!("{user} is {role} in project {}", p.name),
                json!({"id": id, "project": p.name, "entity_name": user, "role_name": role.name()}),
            )
        }
        MemberCommand::Remove { project, user } => {
            let p = teams.get(&find(&project)).await?;
            let id = membership(teams, &p, &user).await?;
            teams.remove_member(&p, id).await?;
            Said(
                format!("{user} has no role in project {} any more", p.name),
                json!({"project": p.name, "entity_name": user, "removed": true}),
            )
        }
    })
}
