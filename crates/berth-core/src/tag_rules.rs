//! A project's immutable-tag rules in Harbor's shape: one repository selector and one tag
//! selector, each a doublestar pattern that is matched or excluded. Checked here, stored
//! in the metadata, enforced by [`Registry::immutability`] on every tag move and delete.

use berth_meta::{ImmutableRuleRecord, MetaError, now_ms};

use crate::Registry;

/// Harbor's limit of rules per project.
pub const MAX_RULES: usize = 15;

/// A rule as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub priority: i64,
    pub disabled: bool,
    pub repository_decoration: String,
    pub repository_pattern: String,
    pub tag_decoration: String,
    pub tag_pattern: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{0}")]
    Invalid(String),
    #[error("the project has this rule already (rule {0})")]
    Duplicate(i64),
    #[error("a project has at most {MAX_RULES} immutability rules")]
    TooMany,
    #[error("there is no immutability rule {0} in this project")]
    NoSuchRule(i64),
    #[error("there is no such project")]
    NoSuchProject,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

fn invalid(message: impl Into<String>) -> RuleError {
    RuleError::Invalid(message.into())
}

/// Checks a spec: known decorations, non-empty patterns without control characters.
fn checked(spec: RuleSpec) -> Result<RuleSpec, RuleError> {
    if !matches!(
        spec.repository_decoration.as_str(),
        "repoMatches" | "repoExcludes"
    ) {
        return Err(invalid(format!(
            "repository decoration {:?} is not valid: use repoMatches or repoExcludes",
            spec.repository_decoration
        )));
    }
    if !matches!(spec.tag_decoration.as_str(), "matches" | "excludes") {
        return Err(invalid(format!(
            "tag decoration {:?} is not valid: use matches or excludes",
            spec.tag_decoration
        )));
    }
    for (what, pattern) in [
        ("repository", &spec.repository_pattern),
        ("tag", &spec.tag_pattern),
    ] {
        if pattern.trim().is_empty() || pattern.len() > 256 || pattern.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "give the {what} selector a pattern (up to 256 characters; ** for all)"
            )));
        }
    }
    Ok(spec)
}

fn same_selectors(a: &ImmutableRuleRecord, b: &RuleSpec) -> bool {
    a.repository_decoration == b.repository_decoration
        && a.repository_pattern == b.repository_pattern
        && a.tag_decoration == b.tag_decoration
        && a.tag_pattern == b.tag_pattern
}

impl Registry {
    pub async fn immutable_rules(
        &self,
        project_id: i64,
    ) -> Result<Vec<ImmutableRuleRecord>, RuleError> {
        Ok(self.meta.immutable_rules(project_id).await?)
    }

    pub async fn create_immutable_rule(
        &self,
        project_id: i64,
        spec: RuleSpec,
    ) -> Result<i64, RuleError> {
        let spec = checked(spec)?;
        let existing = self.meta.immutable_rules(project_id).await?;
        if let Some(same) = existing.iter().find(|r| same_selectors(r, &spec)) {
            return Err(RuleError::Duplicate(same.id));
        }
        if existing.len() >= MAX_RULES {
            return Err(RuleError::TooMany);
        }
        let record = ImmutableRuleRecord {
            id: 0,
            project_id,
            priority: spec.priority,
            disabled: spec.disabled,
            repository_decoration: spec.repository_decoration,
            repository_pattern: spec.repository_pattern,
            tag_decoration: spec.tag_decoration,
            tag_pattern: spec.tag_pattern,
            created_at_ms: now_ms(),
        };
        self.meta
            .create_immutable_rule(&record)
            .await?
            .ok_or(RuleError::NoSuchProject)
    }

    /// Replaces rule `id` of the project (`disabled` alone switches it).
    pub async fn update_immutable_rule(
        &self,
        project_id: i64,
        id: i64,
        spec: RuleSpec,
    ) -> Result<(), RuleError> {
        let spec = checked(spec)?;
        let existing = self.meta.immutable_rules(project_id).await?;
        let Some(old) = existing.iter().find(|r| r.id == id) else {
            return Err(RuleError::NoSuchRule(id));
        };
        if let Some(same) = existing
            .iter()
            .find(|r| r.id != id && same_selectors(r, &spec))
        {
            return Err(RuleError::Duplicate(same.id));
        }
        let record = ImmutableRuleRecord {
            priority: spec.priority,
            disabled: spec.disabled,
            repository_decoration: spec.repository_decoration,
            repository_pattern: spec.repository_pattern,
            tag_decoration: spec.tag_decoration,
            tag_pattern: spec.tag_pattern,
            ..old.clone()
        };
        if self.meta.update_immutable_rule(&record).await? {
            Ok(())
        } else {
            Err(RuleError::NoSuchRule(id))
        }
    }

    /// Switches rule `id` of the project on or off, its selectors as they are.
    pub async fn switch_immutable_rule(
        &self,
        project_id: i64,
        id: i64,
        disabled: bool,
    ) -> Result<(), RuleError> {
        let existing = self.meta.immutable_rules(project_id).await?;
        let Some(old) = existing.into_iter().find(|r| r.id == id) else {
            return Err(RuleError::NoSuchRule(id));
        };
        let record = ImmutableRuleRecord { disabled, ..old };
        if self.meta.update_immutable_rule(&record).await? {
            Ok(())
        } else {
            Err(RuleError::NoSuchRule(id))
        }
    }

    pub async fn delete_immutable_rule(&self, project_id: i64, id: i64) -> Result<(), RuleError> {
        let existing = self.meta.immutable_rules(project_id).await?;
        if !existing.iter().any(|r| r.id == id) || !self.meta.delete_immutable_rule(id).await? {
            return Err(RuleError::NoSuchRule(id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RuleSpec {
        RuleSpec {
            priority: 0,
            disabled: false,
            repository_decoration: "repoMatches".into(),
            repository_pattern: "**".into(),
            tag_decoration: "matches".into(),
            tag_pattern: "v*".into(),
        }
    }

    #[test]
    fn specs_are_checked() {
        assert!(checked(spec()).is_ok());
        let mut bad = spec();
        bad.repository_decoration = "matches".into();
        assert!(matches!(checked(bad), Err(RuleError::Invalid(m)) if m.contains("repoMatches")));
        let mut bad = spec();
        bad.tag_decoration = "nope".into();
        assert!(matches!(checked(bad), Err(RuleError::Invalid(_))));
        let mut bad = spec();
        bad.tag_pattern = " ".into();
        assert!(matches!(checked(bad), Err(RuleError::Invalid(m)) if m.contains("tag selector")));
    }
}
