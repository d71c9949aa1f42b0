//! `berth robot …`: robot accounts for administrators at the machine, with the rules of
//! the management API (acting as a system administrator). A secret is printed once, when
//! it is made.

use std::path::Path;

use berth_auth::projects::CreationRestriction;
use berth_auth::robots::{Level, RobotAccess, RobotPermission, RobotSpec, RobotUpdate, RobotView};
use berth_auth::{ProjectRef, RobotError, Robots, Teams};
use berth_meta::{MetaStore, RobotQuery};
use serde_json::json;
use std::sync::Arc;

use crate::project_cmd::{Said, operator, print, teams_of};

#[derive(clap::Subcommand)]
pub enum RobotCommand {
    /// Create a robot: with --project a project robot `robot$<project>+<name>`, without
    /// one a system robot `robot$<name>` whose accesses hold in every project. Prints its
    /// secret, once.
    ///
    /// A read-only robot for production nodes:
    ///   berth robot create prod --project team --access repository:pull
    #[command(verbatim_doc_comment)]
    Create {
        /// The robot's own part of its name (lower case letters and digits, runs joined by
        /// `.`, `_` or `-`).
        name: String,
        /// The project (name or id) of a project robot.
        #[arg(long)]
        project: Option<String>,
        /// RESOURCE:ACTION, e.g. repository:pull, repository:push, artifact:delete;
        /// repeat for more.
        #[arg(long = "access", required = true, value_parser = parse_access)]
        accesses: Vec<RobotAccess>,
        /// Days until it expires; -1 for never.
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        duration: i64,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the system robots, or with --project a project's.
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Give a robot a new secret (printed once); the old one stops working.
    Refresh {
        robot: String,
    },
    /// Refuse a robot's logins until it is enabled again.
    Disable {
        robot: String,
    },
    Enable {
        robot: String,
    },
    Delete {
        robot: String,
    },
}

fn parse_access(value: &str) -> Result<RobotAccess, String> {
    match value.split_once(':') {
        Some((resource, action)) if !resource.is_empty() && !action.is_empty() => Ok(RobotAccess {
            resource: resource.into(),
            action: action.into(),
            effect: String::new(),
        }),
        _ => Err(format!(
            "{value:?} is not RESOURCE:ACTION, e.g. repository:pull"
        )),
    }
}

fn robot_json(view: &RobotView) -> serde_json::Value {
    let r = &view.record;
    json!({
        "id": r.id, "name": r.name, "level": view.level.as_str(),
        "description": r.description, "disable": r.disabled,
        "duration": r.duration_days, "expires_at": r.expires_at,
        "permissions": view.permissions,
    })
}

fn described(view: &RobotView) -> String {
    let r = &view.record;
    let accesses: Vec<String> = view
        .permissions
        .iter()
        .flat_map(|p| {
            p.access
                .iter()
                .map(move |a| format!("{}:{}:{}", p.namespace, a.resource, a.action))
        })
        .collect();
    let expiry = match r.expires_at {
        -1 => "never expires".to_string(),
        at => format!("expires {}", berth_notify::time::rfc3339(at.max(0) as u64)),
    };
    format!(
        "{:40}  {:8}  {}  {}  {}",
        r.name,
        if r.disabled { "disabled" } else { "enabled" },
        view.level.as_str(),
        expiry,
        accesses.join(",")
    )
}

pub fn robot(
    config: Option<&Path>,
    json_output: bool,
    command: RobotCommand,
) -> anyhow::Result<()> {
    let (db, runtime) = teams_of(config)?;
    runtime.block_on(async move {
        let meta = db.metadata.open().await?;
        let out = run(meta, command).await?;
        print(json_output, out);
        Ok(())
    })
}

/// The robot named (its full name, `robot$…`) or numbered.
async fn find(
    robots: &Robots,
    meta: &Arc<dyn MetaStore>,
    robot: &str,
) -> anyhow::Result<RobotView> {
    if let Ok(id) = robot.parse::<i64>() {
        return Ok(robots.get(id).await?);
    }
    let record = meta
        .robot_by_name(robot)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no robot {robot:?} (give its full name, e.g. robot$team+prod, or its id; `berth robot list` shows them)"))?;
    Ok(robots.get(record.id).await?)
}

async fn run(meta: Arc<dyn MetaStore>, command: RobotCommand) -> anyhow::Result<Said> {
    let robots = Robots::new(meta.clone());
    let teams = Teams::new(meta.clone(), CreationRestriction::Everyone);
    let who = operator();
    Ok(match command {
        RobotCommand::Create {
            name,
            project,
            accesses,
            duration,
            description,
        } => {
            let project = match &project {
                Some(p) => Some(teams.get(&ProjectRef::parse(p, false)).await?),
                None => None,
            };
            let spec = RobotSpec {
                name,
                description,
                level: if project.is_some() {
                    Level::Project
                } else {
                    Level::System
                },
                duration,
                disable: false,
                permissions: vec![RobotPermission {
                    kind: "project".into(),
                    namespace: project.as_ref().map_or("*".into(), |p| p.name.clone()),
                    access: accesses,
                }],
            };
            let (view, secret) = robots.create(&who, &spec, project.as_ref()).await?;
            let mut value = robot_json(&view);
            value["secret"] = json!(secret);
            Said(
                format!(
                    "created {}\nsecret: {secret}\n(shown this once: log in with docker login -u '{}')",
                    view.record.name, view.record.name
                ),
                value,
            )
        }
        RobotCommand::List { project } => {
            let project_id = match &project {
                Some(p) => Some(teams.get(&ProjectRef::parse(p, false)).await?.id),
                None => None,
            };
            let query = RobotQuery {
                project_id,
                name_contains: None,
                offset: 0,
                limit: i64::MAX,
            };
            let (views, _) = robots.list(&query).await?;
            let mut lines = vec![format!(
                "{:40}  {:8}  LEVEL  EXPIRY  ACCESS",
                "NAME", "STATE"
            )];
            lines.extend(views.iter().map(described));
            Said(
                lines.join("\n"),
                json!(views.iter().map(robot_json).collect::<Vec<_>>()),
            )
        }
        RobotCommand::Refresh { robot } => {
            let view = find(&robots, &meta, &robot).await?;
            let secret = robots
                .refresh_secret(&who, &view.record, None)
                .await?
                .ok_or(RobotError::NoSuchRobot(view.record.id))?;
            Said(
                format!(
                    "new secret for {}: {secret}\n(shown this once)",
                    view.record.name
                ),
                json!({"name": view.record.name, "secret": secret}),
            )
        }
        RobotCommand::Disable { robot } => switch(&robots, &teams, &meta, &robot, true).await?,
        RobotCommand::Enable { robot } => switch(&robots, &teams, &meta, &robot, false).await?,
        RobotCommand::Delete { robot } => {
            let view = find(&robots, &meta, &robot).await?;
            robots.delete(&who, &view.record).await?;
            Said(
                format!("deleted {}", view.record.name),
                json!({"name": view.record.name, "deleted": true}),
            )
        }
    })
}

async fn switch(
    robots: &Robots,
    teams: &Teams,
    meta: &Arc<dyn MetaStore>,
    robot: &str,
    disable: bool,
) -> anyhow::Result<Said> {
    let view = find(robots, meta, robot).await?;
    let project = match view.record.project_id {
        Some(id) => Some(teams.get(&ProjectRef::Id(id)).await?),
        None => None,
    };
    let change = RobotUpdate {
        name: view.record.name.clone(),
        level: view.level.as_str().into(),
        description: view.record.description.clone(),
        duration: None,
        disable,
        permissions: view.permissions.clone(),
    };
    robots
        .update(&operator(), &view, &change, project.as_ref())
        .await?;
    let state = if disable { "disabled" } else { "enabled" };
    Ok(Said(
        format!("{} is {state}", view.record.name),
        json!({"name": view.record.name, "disable": disable}),
    ))
}
