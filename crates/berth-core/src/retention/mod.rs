//! Retention policies: which tags to keep in which repositories; the rest are deleted
//! (a metadata operation; garbage collection then returns the space).
//!
//! In a repository matching a policy, each tag matching the policy's tag pattern is kept
//! if any of the policy's rules keeps it (rules are OR-ed); other tags are untouched. A
//! manifest that loses its last tag this way is deleted too, unless an index still
//! needs it. Immutable tags are never deleted. The first policy matching a repository
//! applies.

use std::collections::HashSet;
use std::time::Duration;

use berth_meta::{TagRecord, duration_ms, now_ms};
use berth_oci::{RepoName, Tag};

use crate::policy::Glob;

pub mod project;
use crate::{Registry, RegistryError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepRule {
    MostRecentlyPushed(usize),
    /// Never-pulled tags sort last.
    MostRecentlyPulled(usize),
    PushedWithin(Duration),
    PulledWithin(Duration),
    /// Tags matching any of these globs.
    Tags(Vec<Glob>),
    /// Everything its selectors chose.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub repositories: Glob,
    pub tags: Glob,
    pub keep: Vec<KeepRule>,
    /// Also delete manifests no tag points to (and no index or present subject needs).
    pub delete_untagged: bool,
}

/// What a retention run deleted (or would delete, in a dry run).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub repositories: u64,
    /// `repository:tag`.
    pub tags_deleted: Vec<String>,
    /// `repository@digest`.
    pub manifests_deleted: Vec<String>,
    /// Immutable tags a rule did not keep, left in place (`repository:tag`).
    pub immutable_skipped: Vec<String>,
    pub duration_ms: u64,
}

fn within(at: Option<i64>, window: &Duration, now: i64) -> bool {
    at.is_some_and(|at| now.saturating_sub(at) <= window.as_millis() as i64)
}

/// What rules look at: a tag, or an artifact (a manifest with all its tags).
pub trait Candidate {
    fn pushed_at(&self) -> i64;
    fn pulled_at(&self) -> Option<i64>;
    /// Its tag names; none for an untagged artifact.
    fn names(&self) -> Vec<&str>;
}

impl Candidate for TagRecord {
    fn pushed_at(&self) -> i64 {
        self.pushed_at
    }
    fn pulled_at(&self) -> Option<i64> {
        self.pulled_at
    }
    fn names(&self) -> Vec<&str> {
        vec![self.tag.as_str()]
    }
}

/// The positions in `items` that `rule` keeps at `now`. Ties in time go by first name,
/// so a run decides the same way each time.
pub fn kept_by<C: Candidate>(rule: &KeepRule, items: &[&C], now: i64) -> Vec<usize> {
    let first_name = |i: usize| items[i].names().first().copied().unwrap_or("");
    let mut order: Vec<usize> = (0..items.len()).collect();
    match rule {
        KeepRule::MostRecentlyPushed(n) => {
            order.sort_by(|&a, &b| {
                (items[b].pushed_at().cmp(&items[a].pushed_at()))
                    .then(first_name(a).cmp(first_name(b)))
            });
            order.truncate(*n);
            order
        }
        KeepRule::MostRecentlyPulled(n) => {
            // Never-pulled ones sort last.
            order.sort_by(|&a, &b| {
                (items[b].pulled_at().cmp(&items[a].pulled_at()))
                    .then(items[b].pushed_at().cmp(&items[a].pushed_at()))
                    .then(first_name(a).cmp(first_name(b)))
            });
            order.truncate(*n);
            order
        }
        KeepRule::PushedWithin(d) => order
            .into_iter()
            .filter(|&i| within(Some(items[i].pushed_at()), d, now))
            .collect(),
        KeepRule::PulledWithin(d) => order
            .into_iter()
            .filter(|&i| within(items[i].pulled_at(), d, now))
            .collect(),
        KeepRule::Tags(globs) => order
            .into_iter()
            .filter(|&i| {
                items[i]
                    .names()
                    .iter()
                    .any(|n| globs.iter().any(|g| g.matches(n)))
            })
            .collect(),
        KeepRule::All => order,
    }
}

/// The tags of `tags` (those matching the policy's pattern) that `policy` keeps at `now`.
pub fn kept_tags(policy: &RetentionPolicy, tags: &[&TagRecord], now: i64) -> HashSet<String> {
    policy
        .keep
        .iter()
        .flat_map(|rule| kept_by(rule, tags, now))
        .map(|i| tags[i].tag.clone())
        .collect()
}

impl Registry {
    /// Applies `policies` to every repository. Untagged manifests (with `untagged: delete`)
    /// go only once stored for longer than `untagged_grace`.
    pub async fn apply_retention(
        &self,
        policies: &[RetentionPolicy],
        untagged_grace: Duration,
        dry_run: bool,
    ) -> Result<RetentionReport> {
        let started = std::time::Instant::now();
        let mut report = RetentionReport {
            dry_run,
            ..RetentionReport::default()
        };
        if policies.is_empty() {
            return Ok(report);
        }
        let mut last: Option<String> = None;
        loop {
            let page = self.meta.repositories(last.as_deref(), 1000).await?;
            let Some(tail) = page.last().cloned() else {
                break;
            };
            for name in &page {
                let Some(policy) = policies.iter().find(|p| p.repositories.matches(name)) else {
                    continue;
                };
                let Ok(repo) = name.parse::<RepoName>() else {
                    continue;
                };
                report.repositories += 1;
                self.retain_in(&repo, policy, untagged_grace, dry_run, &mut report)
                    .await?;
            }
            last = Some(tail);
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    async fn retain_in(
        &self,
        repo: &RepoName,
        policy: &RetentionPolicy,
        untagged_grace: Duration,
        dry_run: bool,
        report: &mut RetentionReport,
    ) -> Result<()> {
        let all = self.meta.tag_records(repo).await?;
        let subject: Vec<&TagRecord> = all.iter().filter(|t| policy.tags.matches(&t.tag)).collect();
        let kept = kept_tags(policy, &subject, now_ms());
        let mut untagged = Vec::new();
        for record in subject.iter().filter(|t| !kept.contains(&t.tag)) {
            let Ok(tag) = record.tag.parse::<Tag>() else {
                continue;
            };
            match self.check_tag_may_move(repo, &tag, None).await {
                Err(RegistryError::Immutable(_)) => {
                    report.immutable_skipped.push(format!("{repo}:{tag}"));
                    continue;
                }
                other => other?,
            }
            if !dry_run {
                self.meta.delete_tag(repo, &tag).await?;
            }
            tracing::info!(repository = %repo, %tag, digest = %record.digest, dry_run, "retention deleted tag");
            report.tags_deleted.push(format!("{repo}:{tag}"));
            // Untagged only if no other tag (kept, or outside the policy) points there.
            let still_tagged = all.iter().any(|t| {
                t.digest == record.digest
                    && t.tag != record.tag
                    && !report.tags_deleted.contains(&format!("{repo}:{}", t.tag))
            });
            if !still_tagged && !untagged.contains(&record.digest) {
                untagged.push(record.digest.clone());
            }
        }
        if policy.delete_untagged {
            // Only those older than the grace period: a multi-platform push uploads its
            // images by digest before the index that tags them.
            let before = now_ms().saturating_sub(duration_ms(untagged_grace));
            for digest in self.meta.untagged_manifests(repo, before).await? {
                if !untagged.contains(&digest) {
                    untagged.push(digest);
                }
            }
        }
        for digest in untagged {
            if self.meta.manifest_referenced(repo, &digest).await? {
                continue; // an index still lists it, or it annotates a present subject
            }
            if !dry_run && !self.meta.delete_manifest(repo, &digest).await? {
                continue;
            }
            tracing::info!(repository = %repo, %digest, dry_run, "retention deleted manifest");
            report.manifests_deleted.push(format!("{repo}@{digest}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::Digest;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_000 * MIN;

    /// (tag, pushed minutes ago, pulled minutes ago)
    fn tags(spec: &[(&str, i64, Option<i64>)]) -> Vec<TagRecord> {
        spec.iter()
            .map(|(t, pushed, pulled)| TagRecord {
                tag: t.to_string(),
                digest: Digest::sha256(t.as_bytes()),
                pushed_at: NOW - pushed * MIN,
                pulled_at: pulled.map(|p| NOW - p * MIN),
            })
            .collect()
    }

    fn policy(keep: Vec<KeepRule>) -> RetentionPolicy {
        RetentionPolicy {
            repositories: Glob::new("**"),
            tags: Glob::new("**"),
            keep,
            delete_untagged: false,
        }
    }

    #[test]
    fn each_rule_kind_and_their_union() {
        let all = tags(&[
            ("v1", 50, Some(1)),
            ("v2", 40, None),
            ("v3", 30, Some(100)),
            ("v4", 20, None),
            ("latest", 10, Some(5)),
        ]);
        let refs: Vec<&TagRecord> = all.iter().collect();
        let day = Duration::from_secs(60 * 60);
        let cases: Vec<(&str, Vec<KeepRule>, Vec<&str>)> = vec![
            (
                "2 most recently pushed",
                vec![KeepRule::MostRecentlyPushed(2)],
                vec!["latest", "v4"],
            ),
            (
                "2 most recently pulled",
                vec![KeepRule::MostRecentlyPulled(2)],
                vec!["latest", "v1"],
            ),
            (
                "pulled ones sort before never pulled",
                vec![KeepRule::MostRecentlyPulled(4)],
                vec!["latest", "v1", "v3", "v4"],
            ),
            (
                "pushed within 25 minutes",
                vec![KeepRule::PushedWithin(Duration::from_secs(25 * 60))],
                vec!["latest", "v4"],
            ),
            (
                "pulled within an hour",
                vec![KeepRule::PulledWithin(day)],
                vec!["latest", "v1"],
            ),
            (
                "tag patterns",
                vec![KeepRule::Tags(vec![Glob::new("latest"), Glob::new("v[")])],
                vec!["latest"],
            ),
            (
                "tag glob",
                vec![KeepRule::Tags(vec![Glob::new("v?")])],
                vec!["v1", "v2", "v3", "v4"],
            ),
            (
                "rules are OR-ed",
                vec![
                    KeepRule::MostRecentlyPushed(1),
                    KeepRule::PulledWithin(Duration::from_secs(120)),
                ],
                vec!["latest", "v1"],
            ),
            ("keep none", vec![KeepRule::MostRecentlyPushed(0)], vec![]),
        ];
        for (name, keep, want) in cases {
            let mut got: Vec<String> = kept_tags(&policy(keep), &refs, NOW).into_iter().collect();
            got.sort();
            let mut want: Vec<String> = want.into_iter().map(String::from).collect();
            want.sort();
            assert_eq!(got, want, "{name}");
        }
    }
}
