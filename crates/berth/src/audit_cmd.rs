//! `berth audit`: the audit log from the machine, newest first, with the filters of
//! `GET /api/v2.0/audit-logs`.

use std::path::Path;
use std::time::Duration;

use berth_meta::{AuditEntry, AuditQuery, now_ms};
use serde_json::json;

use crate::project_cmd::{Said, print, teams_of};

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only what this user did.
    #[arg(long)]
    user: Option<String>,
    /// Only this operation: create, update, delete, pull, login.
    #[arg(long)]
    operation: Option<String>,
    /// Only this kind of resource: artifact, project, project_member, user, robot…
    #[arg(long)]
    resource_type: Option<String>,
    /// Only resources containing this text (e.g. team/app).
    #[arg(long)]
    resource: Option<String>,
    /// Only what happened in this project.
    #[arg(long)]
    project: Option<String>,
    /// Only the last DURATION, e.g. 24h, 30m, 7d.
    #[arg(long, value_parser = parse_age)]
    since: Option<Duration>,
    /// How many entries at most.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

fn parse_age(value: &str) -> Result<Duration, String> {
    let (number, unit) = value.split_at(value.len().saturating_sub(1));
    match (unit, number.parse::<u64>()) {
        ("d", Ok(days)) => Ok(Duration::from_secs(days * 86_400)),
        _ => berth_config::parse_go_duration(value)
            .map_err(|e| format!("{value:?}: {e} (e.g. 24h, 30m, 7d)")),
    }
}

fn entry_json(e: &AuditEntry) -> serde_json::Value {
    json!({
        "id": e.id, "op_time": berth_notify::time::rfc3339((e.at_ms.max(0) / 1000) as u64),
        "username": e.username, "operation": e.operation, "resource_type": e.resource_type,
        "resource": e.resource, "description": e.description, "success": e.success,
        "project": e.project, "client_ip": e.client_ip,
    })
}

pub fn audit(config: Option<&Path>, json_output: bool, args: AuditArgs) -> anyhow::Result<()> {
    let (db, runtime) = teams_of(config)?;
    runtime.block_on(async move {
        let meta = db.metadata.open().await?;
        let query = AuditQuery {
            username: args.user,
            operation: args.operation,
            resource_type: args.resource_type,
            resource_contains: args.resource,
            projects: args.project.map(|p| vec![p]),
            from_ms: args
                .since
                .map(|age| now_ms().saturating_sub(age.as_millis() as i64)),
            to_ms: None,
            offset: 0,
            limit: args.limit.max(0),
        };
        let (entries, total) = meta.audit_entries(&query).await?;
        let mut lines = vec![format!(
            "{:20}  {:16}  {:8}  {:14}  {:7}  RESOURCE",
            "TIME", "USER", "OP", "TYPE", "RESULT"
        )];
        for e in &entries {
            lines.push(format!(
                "{:20}  {:16}  {:8}  {:14}  {:7}  {}",
                berth_notify::time::rfc3339((e.at_ms.max(0) / 1000) as u64),
                if e.username.is_empty() {
                    "-"
                } else {
                    &e.username
                },
                e.operation,
                e.resource_type,
                if e.success { "ok" } else { "refused" },
                e.resource
            ));
        }
        if total > entries.len() as i64 {
            lines.push(format!(
                "({} of {total}; --limit shows more)",
                entries.len()
            ));
        }
        let values: Vec<_> = entries.iter().map(entry_json).collect();
        print(json_output, Said(lines.join("\n"), json!(values)));
        Ok(())
    })
}
