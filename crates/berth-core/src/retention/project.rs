//! Retention policies per project in Harbor's shape: up to 15 rules, each choosing
//! repositories (below the project) and tags by doublestar patterns and keeping what a
//! template says (the most recently pushed or pulled n, those pushed or pulled within n
//! days, or everything chosen). Rules are OR-ed, and they work on artifacts (a manifest
//! with all its tags), as Harbor's do: in a repository some rule chooses, every artifact
//! no rule keeps is deleted, untagged ones included; repositories no rule chooses are
//! left alone. An artifact with an immutable tag stays.
//!
//! The configuration's `berth.retention` policies (tags, first policy wins) are the other
//! kind; both share the rule evaluation ([`kept_by`]).

use std::collections::HashSet;
use std::time::Duration;

use berth_jobs::Schedule;
use berth_meta::{
    ArtifactQuery, ArtifactRow, MetaError, PolicyCreation, RepositoryQuery, RetentionPolicyRecord,
    now_ms,
};
use berth_oci::RepoName;
use serde::{Deserialize, Serialize};

use super::{Candidate, KeepRule, kept_by};
use crate::policy::Glob;
use crate::{Registry, RegistryError};

/// Harbor's limit of rules per policy.
pub const MAX_RULES: usize = 15;
/// The lifecycle-run kind of a project policy's runs.
pub const PROJECT_RETENTION: &str = "project-retention";
/// Harbor's limits: counts below 2^15 - 1, days up to 20190904 (a date, as it happens).
const MAX_COUNT: i64 = i16::MAX as i64 - 1;
const MAX_DAYS: i64 = 20_190_904;
const PAGE: i64 = 1000;

/// What a rule keeps of what its selectors choose (Harbor's template ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    LatestPushedK,
    LatestPulledN,
    NDaysSinceLastPush,
    NDaysSinceLastPull,
    Always,
}

impl Template {
    pub const ALL: [Template; 5] = [
        Template::LatestPushedK,
        Template::LatestPulledN,
        Template::NDaysSinceLastPush,
        Template::NDaysSinceLastPull,
        Template::Always,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Template::LatestPushedK => "latestPushedK",
            Template::LatestPulledN => "latestPulledN",
            Template::NDaysSinceLastPush => "nDaysSinceLastPush",
            Template::NDaysSinceLastPull => "nDaysSinceLastPull",
            Template::Always => "always",
        }
    }

    pub fn parse(id: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.id() == id)
    }

    /// For people choosing one.
    pub fn display_text(self) -> &'static str {
        match self {
            Template::LatestPushedK => "the most recently pushed # artifacts",
            Template::LatestPulledN => "the most recently pulled # artifacts",
            Template::NDaysSinceLastPush => "pushed within the last # days",
            Template::NDaysSinceLastPull => "pulled within the last # days",
            Template::Always => "always",
        }
    }

    /// What Harbor takes when a rule leaves its parameter out.
    pub fn default_param(self) -> i64 {
        match self {
            Template::LatestPushedK | Template::LatestPulledN => 10,
            Template::NDaysSinceLastPush | Template::NDaysSinceLastPull => 30,
            Template::Always => 0,
        }
    }

    fn max_param(self) -> i64 {
        match self.unit() {
            Some("DAYS") => MAX_DAYS,
            Some(_) => MAX_COUNT,
            None => 0,
        }
    }

    /// The unit of its one parameter (`COUNT` or `DAYS`); `None` when it takes none.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Template::LatestPushedK | Template::LatestPulledN => Some("COUNT"),
            Template::NDaysSinceLastPush | Template::NDaysSinceLastPull => Some("DAYS"),
            Template::Always => None,
        }
    }

    fn keep_rule(self, param: i64) -> KeepRule {
        let n = usize::try_from(param).unwrap_or(0);
        let days = Duration::from_secs(u64::try_from(param).unwrap_or(0) * 24 * 3600);
        match self {
            Template::LatestPushedK => KeepRule::MostRecentlyPushed(n),
            Template::LatestPulledN => KeepRule::MostRecentlyPulled(n),
            Template::NDaysSinceLastPush => KeepRule::PushedWithin(days),
            Template::NDaysSinceLastPull => KeepRule::PulledWithin(days),
            Template::Always => KeepRule::All,
        }
    }
}

/// A doublestar pattern, matched or excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// Repositories: `repoMatches` or `repoExcludes`; tags: `matches` or `excludes`.
    pub decoration: String,
    pub pattern: String,
}

/// One rule as stored (and as the API gives it, checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub disabled: bool,
    /// A [`Template`] id.
    pub template: String,
    /// The template's count or days; 0 for `always`.
    #[serde(default)]
    pub param: i64,
    pub repositories: Selector,
    pub tags: Selector,
    /// Whether the tag selector chooses untagged artifacts too (Harbor's `untagged`
    /// extra; with `excludes` it leaves them out).
    pub untagged: bool,
}

impl RuleSpec {
    fn chooses_repository(&self, relative: &str) -> bool {
        let matched = Glob::new(&self.repositories.pattern).matches(relative);
        matched == (self.repositories.decoration == "repoMatches")
    }

    /// Harbor's doublestar tag selector: `matches` takes an artifact with any matching
    /// tag, `excludes` one with any tag not matching; untagged ones by `untagged`.
    fn chooses_artifact(&self, tags: &[&str]) -> bool {
        let glob = Glob::new(&self.tags.pattern);
        let matches = self.tags.decoration == "matches";
        if tags.is_empty() {
            return self.untagged == matches;
        }
        tags.iter().any(|t| glob.matches(t) == matches)
    }

    fn keep_rule(&self) -> KeepRule {
        Template::parse(&self.template)
            .unwrap_or(Template::Always)
            .keep_rule(self.param)
    }
}

/// A policy as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub rules: Vec<RuleSpec>,
    /// A cron schedule (five fields, or Harbor's six with seconds first); empty for runs
    /// started by hand only.
    pub schedule: String,
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPolicy {
    pub id: i64,
    pub project_id: i64,
    pub rules: Vec<RuleSpec>,
    pub schedule: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(String),
    #[error("rule {0} is the same as rule {1}")]
    Conflict(usize, usize),
    #[error("a retention policy has at most {MAX_RULES} rules")]
    TooMany,
    #[error("there is no retention policy {0}")]
    NoSuchPolicy(i64),
    #[error("there is no project {0}")]
    NoSuchProject(i64),
    #[error("project {project} has retention policy {policy} already: change that one")]
    ProjectHasOne { project: i64, policy: i64 },
    #[error(transparent)]
    Meta(#[from] MetaError),
}

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid(message.into())
}

/// The policy's schedule: none when empty, else five cron fields or Harbor's six.
pub fn parse_schedule(text: &str) -> Result<Option<Schedule>, PolicyError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    Schedule::parse_with_seconds(text.trim())
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

fn check_pattern(what: &str, pattern: &str) -> Result<(), PolicyError> {
    if pattern.trim().is_empty() || pattern.len() > 256 || pattern.chars().any(char::is_control) {
        return Err(invalid(format!(
            "give the {what} selector a pattern (up to 256 characters; ** for all)"
        )));
    }
    Ok(())
}

fn check_rule(n: usize, rule: &RuleSpec) -> Result<(), PolicyError> {
    let Some(template) = Template::parse(&rule.template) else {
        let known: Vec<&str> = Template::ALL.iter().map(|t| t.id()).collect();
        return Err(invalid(format!(
            "rule {n}: template {:?} is not known: use one of {}",
            rule.template,
            known.join(", ")
        )));
    };
    if template.unit().is_some() && !(0..=template.max_param()).contains(&rule.param) {
        return Err(invalid(format!(
            "rule {n}: {} takes a number from 0 to {}, not {}",
            template.id(),
            template.max_param(),
            rule.param
        )));
    }
    if !matches!(
        rule.repositories.decoration.as_str(),
        "repoMatches" | "repoExcludes"
    ) {
        return Err(invalid(format!(
            "rule {n}: repository decoration {:?} is not valid: use repoMatches or repoExcludes",
            rule.repositories.decoration
        )));
    }
    if !matches!(rule.tags.decoration.as_str(), "matches" | "excludes") {
        return Err(invalid(format!(
            "rule {n}: tag decoration {:?} is not valid: use matches or excludes",
            rule.tags.decoration
        )));
    }
    check_pattern("repository", &rule.repositories.pattern)?;
    check_pattern("tag", &rule.tags.pattern)
}

/// Checks a spec as Harbor does: at most 15 rules, no two the same (409), known
/// templates and decorations, a schedule that parses.
pub fn checked(spec: PolicySpec) -> Result<PolicySpec, PolicyError> {
    if spec.rules.len() > MAX_RULES {
        return Err(PolicyError::TooMany);
    }
    for (n, rule) in spec.rules.iter().enumerate() {
        check_rule(n, rule)?;
        if let Some(same) = spec.rules[..n].iter().position(|r| r == rule) {
            return Err(PolicyError::Conflict(n, same));
        }
    }
    parse_schedule(&spec.schedule)?;
    Ok(spec)
}

fn from_record(record: RetentionPolicyRecord) -> Result<ProjectPolicy, PolicyError> {
    let rules = serde_json::from_str(&record.rules).map_err(|_| MetaError::Corrupt {
        column: "retention_policies.rules",
        value: record.rules.clone(),
    })?;
    Ok(ProjectPolicy {
        id: record.id,
        project_id: record.project_id,
        rules,
        schedule: record.schedule,
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
    })
}

fn rules_json(rules: &[RuleSpec]) -> String {
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".into())
}

/// What became of one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    #[serde(rename = "RETAIN")]
    Retained,
    #[serde(rename = "DEL")]
    Deleted,
    /// Not kept by a rule, but an immutable tag holds it.
    #[serde(rename = "IMMUTABLE")]
    Immutable,
    #[serde(rename = "ERR")]
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactOutcome {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at_ms: i64,
    pub pulled_at_ms: Option<i64>,
    pub outcome: Outcome,
}

/// One repository of a run (Harbor's task).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionTask {
    pub repository: String,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub total: u64,
    pub retained: u64,
    pub error: Option<String>,
    pub artifacts: Vec<ArtifactOutcome>,
}

/// What a run of a project policy did (or would do, dry).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectRetentionReport {
    pub dry_run: bool,
    pub policy_id: i64,
    pub project: String,
    pub tasks: Vec<RetentionTask>,
    pub duration_ms: u64,
}

impl ProjectRetentionReport {
    /// Artifacts deleted (or, dry, that would be).
    pub fn deleted(&self) -> u64 {
        self.tasks.iter().map(|t| t.total - t.retained).sum()
    }

    /// The tags of the artifacts deleted.
    pub fn tags_deleted(&self) -> u64 {
        self.tasks
            .iter()
            .flat_map(|t| &t.artifacts)
            .filter(|a| a.outcome == Outcome::Deleted)
            .map(|a| a.tags.len() as u64)
            .sum()
    }
}

struct Artifact<'a>(&'a ArtifactRow);

impl Candidate for Artifact<'_> {
    fn pushed_at(&self) -> i64 {
        self.0.pushed_at_ms
    }
    fn pulled_at(&self) -> Option<i64> {
        self.0.pulled_at_ms
    }
    fn names(&self) -> Vec<&str> {
        self.0.tags.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// The positions of `artifacts` some rule keeps at `now`.
pub fn retained(rules: &[&RuleSpec], artifacts: &[ArtifactRow], now: i64) -> HashSet<usize> {
    let mut kept = HashSet::new();
    for rule in rules {
        let chosen: Vec<usize> = (0..artifacts.len())
            .filter(|&i| rule.chooses_artifact(&Artifact(&artifacts[i]).names()))
            .collect();
        let candidates: Vec<Artifact<'_>> =
            chosen.iter().map(|&i| Artifact(&artifacts[i])).collect();
        let refs: Vec<&Artifact<'_>> = candidates.iter().collect();
        kept.extend(
            kept_by(&rule.keep_rule(), &refs, now)
                .into_iter()
                .map(|k| chosen[k]),
        );
    }
    kept
}

impl Registry {
    pub async fn create_retention_policy(
        &self,
        project_id: i64,
        spec: PolicySpec,
    ) -> Result<i64, PolicyError> {
        let spec = checked(spec)?;
        let now = now_ms();
        let record = RetentionPolicyRecord {
            id: 0,
            project_id,
            rules: rules_json(&spec.rules),
            schedule: spec.schedule,
            scheduled_until_ms: now,
            created_at_ms: now,
            updated_at_ms: now,
        };
        match self.meta.create_retention_policy(&record).await? {
            PolicyCreation::Created(id) => Ok(id),
            PolicyCreation::NoSuchProject => Err(PolicyError::NoSuchProject(project_id)),
            PolicyCreation::ProjectHasOne(policy) => Err(PolicyError::ProjectHasOne {
                project: project_id,
                policy,
            }),
        }
    }

    pub async fn retention_policy(&self, id: i64) -> Result<ProjectPolicy, PolicyError> {
        let record = self
            .meta
            .retention_policy(id)
            .await?
            .ok_or(PolicyError::NoSuchPolicy(id))?;
        from_record(record)
    }

    /// Replaces the rules and schedule of policy `id`; a changed schedule counts from now.
    pub async fn update_retention_policy(
        &self,
        id: i64,
        spec: PolicySpec,
    ) -> Result<(), PolicyError> {
        let spec = checked(spec)?;
        let mut record = self
            .meta
            .retention_policy(id)
            .await?
            .ok_or(PolicyError::NoSuchPolicy(id))?;
        let now = now_ms();
        if record.schedule != spec.schedule {
            record.scheduled_until_ms = now;
        }
        record.rules = rules_json(&spec.rules);
        record.schedule = spec.schedule;
        record.updated_at_ms = now;
        if !self.meta.update_retention_policy(&record).await? {
            return Err(PolicyError::NoSuchPolicy(id));
        }
        Ok(())
    }

    pub async fn delete_retention_policy(&self, id: i64) -> Result<(), PolicyError> {
        if !self.meta.delete_retention_policy(id).await? {
            return Err(PolicyError::NoSuchPolicy(id));
        }
        Ok(())
    }

    /// The policies whose schedule came due since their last scheduled run, each claimed
    /// (by this process alone) up to `now`.
    pub async fn due_retention_policies(
        &self,
        now: i64,
    ) -> Result<Vec<ProjectPolicy>, PolicyError> {
        let mut due = Vec::new();
        for record in self.meta.scheduled_retention_policies().await? {
            let schedule = match parse_schedule(&record.schedule) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(policy = record.id, error = %e, "retention policy has a schedule that does not parse");
                    continue;
                }
            };
            let Some(next) = schedule.next_after(record.scheduled_until_ms / 1000) else {
                continue;
            };
            if next.saturating_mul(1000) > now {
                continue;
            }
            if self
                .meta
                .advance_retention_schedule(record.id, record.scheduled_until_ms, now)
                .await?
            {
                due.push(from_record(record)?);
            }
        }
        Ok(due)
    }

    /// Applies a project's policy to each of its repositories; `stopped` is asked between
    /// repositories.
    pub async fn apply_project_retention(
        &self,
        policy: &ProjectPolicy,
        dry_run: bool,
        stopped: &(dyn Fn() -> bool + Send + Sync),
    ) -> crate::Result<ProjectRetentionReport> {
        let started = std::time::Instant::now();
        let project = self
            .meta
            .project_by_id(policy.project_id)
            .await?
            .ok_or_else(|| {
                RegistryError::NameInvalid(format!("there is no project {}", policy.project_id))
            })?;
        let mut report = ProjectRetentionReport {
            dry_run,
            policy_id: policy.id,
            project: project.name.clone(),
            ..ProjectRetentionReport::default()
        };
        let rules: Vec<&RuleSpec> = policy.rules.iter().filter(|r| !r.disabled).collect();
        let mut offset = 0;
        loop {
            let (rows, _) = self
                .meta
                .list_repositories(&RepositoryQuery {
                    project: Some(project.name.clone()),
                    offset,
                    limit: PAGE,
                    ..RepositoryQuery::default()
                })
                .await?;
            for row in &rows {
                if stopped() {
                    return Err(RegistryError::Stopped);
                }
                let Ok(repo) = row.name.parse::<RepoName>() else {
                    continue;
                };
                let relative = row
                    .name
                    .strip_prefix(&project.name)
                    .and_then(|r| r.strip_prefix('/'))
                    .unwrap_or(&row.name);
                let chosen: Vec<&RuleSpec> = rules
                    .iter()
                    .copied()
                    .filter(|r| r.chooses_repository(relative))
                    .collect();
                if !chosen.is_empty() {
                    report
                        .tasks
                        .push(self.retain_artifacts(&repo, &chosen, dry_run).await?);
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
            offset += PAGE;
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    async fn retain_artifacts(
        &self,
        repo: &RepoName,
        rules: &[&RuleSpec],
        dry_run: bool,
    ) -> crate::Result<RetentionTask> {
        let started_at_ms = now_ms();
        let mut artifacts = Vec::new();
        loop {
            let (page, _) = self
                .meta
                .artifacts(&ArtifactQuery::of_repository(
                    repo,
                    artifacts.len() as i64,
                    PAGE,
                ))
                .await?;
            let last = (page.len() as i64) < PAGE;
            artifacts.extend(page);
            if last {
                break;
            }
        }
        let kept = retained(rules, &artifacts, started_at_ms);
        let immutability = self.immutability(repo).await?;
        let mut task = RetentionTask {
            repository: repo.to_string(),
            started_at_ms,
            total: artifacts.len() as u64,
            ..RetentionTask::default()
        };
        for (i, artifact) in artifacts.iter().enumerate() {
            let tags: Vec<String> = artifact.tags.iter().map(|(t, _)| t.clone()).collect();
            let outcome = if kept.contains(&i) {
                Outcome::Retained
            } else if tags.iter().any(|t| immutability.covering(t).is_some()) {
                Outcome::Immutable
            } else if dry_run {
                Outcome::Deleted
            } else {
                match self.remove_artifact(repo, &artifact.digest).await {
                    Ok(_) => {
                        tracing::info!(repository = %repo, digest = %artifact.digest, "retention deleted artifact");
                        Outcome::Deleted
                    }
                    // Gone meanwhile: what the rule wanted.
                    Err(RegistryError::ManifestUnknown(_)) => Outcome::Deleted,
                    Err(e) => {
                        tracing::warn!(repository = %repo, digest = %artifact.digest, error = %e, "retention could not delete artifact");
                        task.error = Some(e.to_string());
                        Outcome::Failed
                    }
                }
            };
            if outcome != Outcome::Deleted {
                task.retained += 1;
            }
            task.artifacts.push(ArtifactOutcome {
                digest: artifact.digest.to_string(),
                tags,
                pushed_at_ms: artifact.pushed_at_ms,
                pulled_at_ms: artifact.pulled_at_ms,
                outcome,
            });
        }
        task.finished_at_ms = now_ms();
        Ok(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::Digest;
    use bytes::Bytes;

    const DAY: i64 = 24 * 3600 * 1000;
    const NOW: i64 = 1000 * DAY;

    fn artifact(name: &str, tags: &[&str], pushed_days_ago: i64) -> ArtifactRow {
        ArtifactRow {
            repository_id: 1,
            repository_name: "team/app".into(),
            digest: Digest::sha256(name.as_bytes()),
            media_type: String::new(),
            artifact_type: None,
            annotations: None,
            content: Bytes::new(),
            size: 0,
            pushed_at_ms: NOW - pushed_days_ago * DAY,
            pulled_at_ms: None,
            tags: tags.iter().map(|t| (t.to_string(), 0)).collect(),
        }
    }

    fn rule(template: &str, param: i64, tags: (&str, &str), untagged: bool) -> RuleSpec {
        RuleSpec {
            priority: 0,
            disabled: false,
            template: template.into(),
            param,
            repositories: Selector {
                decoration: "repoMatches".into(),
                pattern: "**".into(),
            },
            tags: Selector {
                decoration: tags.0.into(),
                pattern: tags.1.into(),
            },
            untagged,
        }
    }

    fn kept_names(rules: &[RuleSpec], artifacts: &[ArtifactRow]) -> Vec<String> {
        let refs: Vec<&RuleSpec> = rules.iter().collect();
        let mut kept: Vec<usize> = retained(&refs, artifacts, NOW).into_iter().collect();
        kept.sort();
        kept.iter()
            .map(|&i| {
                artifacts[i]
                    .tags
                    .first()
                    .map(|t| t.0.clone())
                    .unwrap_or_else(|| "<untagged>".into())
            })
            .collect()
    }

    #[test]
    fn rules_choose_artifacts_and_keep_by_template() {
        let artifacts = vec![
            artifact("a", &["v1", "stable"], 30),
            artifact("b", &["v2"], 20),
            artifact("c", &["v3"], 10),
            artifact("d", &["dev-1"], 1),
            artifact("e", &[], 2),
        ];
        let cases: Vec<(&str, Vec<RuleSpec>, Vec<&str>)> = vec![
            (
                "the 2 most recently pushed v* artifacts",
                vec![rule("latestPushedK", 2, ("matches", "v*"), false)],
                vec!["v2", "v3"],
            ),
            (
                "any tag matching takes the artifact with all its tags",
                vec![rule("always", 0, ("matches", "stable"), false)],
                vec!["v1"],
            ),
            (
                "pushed within 15 days, untagged included",
                vec![rule("nDaysSinceLastPush", 15, ("matches", "**"), true)],
                vec!["v3", "dev-1", "<untagged>"],
            ),
            (
                "excludes: artifacts with a tag outside the pattern; untagged left out",
                vec![rule("always", 0, ("excludes", "dev-*"), true)],
                vec!["v1", "v2", "v3"],
            ),
            (
                "rules are OR-ed",
                vec![
                    rule("latestPushedK", 1, ("matches", "v*"), false),
                    rule("always", 0, ("matches", "dev-*"), false),
                ],
                vec!["v3", "dev-1"],
            ),
            (
                "never pulled: pulled within any days keeps nothing",
                vec![rule("nDaysSinceLastPull", 365, ("matches", "**"), true)],
                vec![],
            ),
        ];
        for (name, rules, want) in cases {
            assert_eq!(kept_names(&rules, &artifacts), want, "{name}");
        }
    }

    #[test]
    fn specs_are_checked_as_harbor_does() {
        let good = rule("latestPushedK", 3, ("matches", "**"), true);
        let spec = |rules: Vec<RuleSpec>, schedule: &str| PolicySpec {
            rules,
            schedule: schedule.into(),
        };
        assert!(checked(spec(vec![good.clone()], "0 0 0 * * *")).is_ok());
        assert!(checked(spec(vec![good.clone()], "")).is_ok());
        assert!(matches!(
            checked(spec(vec![good.clone(), good.clone()], "")),
            Err(PolicyError::Conflict(1, 0))
        ));
        assert!(matches!(
            checked(spec(vec![good.clone(); MAX_RULES + 1], "")),
            Err(PolicyError::TooMany)
        ));
        let mut unknown = good.clone();
        unknown.template = "latestActiveK".into();
        assert!(matches!(
            checked(spec(vec![unknown], "")),
            Err(PolicyError::Invalid(_))
        ));
        let mut negative = good.clone();
        negative.param = -1;
        assert!(matches!(
            checked(spec(vec![negative], "")),
            Err(PolicyError::Invalid(_))
        ));
        assert!(matches!(
            checked(spec(vec![good.clone()], "*/5 0 0 * * *")),
            Err(PolicyError::Invalid(_))
        ));
        assert!(matches!(
            checked(spec(vec![good], "61 * * * *")),
            Err(PolicyError::Invalid(_))
        ));
    }
}
