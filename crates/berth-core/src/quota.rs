//! Storage quotas per project (Harbor's `storage_limit`): a blob that would take a
//! project past its limit is refused when its upload finishes or it is mounted. A project
//! counts each blob and manifest once, however many of its repositories share it, so a
//! blob the project holds already costs nothing.
//!
//! The check reads the usage and then links the blob, not in one transaction: two
//! uploads finishing at the same moment may together pass the limit by one blob's size.

use berth_oci::{Digest, RepoName};

use crate::events::{DomainEvent, QUOTA_WARNING_PERCENT, QuotaNotice};
use crate::{Registry, RegistryError, Result};

pub use berth_meta::STORAGE_LIMIT_KEY as STORAGE_LIMIT;

/// A size for people: `95.0 MiB`.
pub fn bytes_text(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Registry {
    /// The storage limit of `project` in bytes, if it has one.
    pub async fn storage_limit(&self, project: &str) -> Result<Option<i64>> {
        Ok(self
            .meta
            .project(project)
            .await?
            .and_then(|p| p.metadata.get(STORAGE_LIMIT).and_then(|v| v.parse().ok()))
            .filter(|limit: &i64| *limit >= 0))
    }

    /// Refuses adding blob `digest` of `size` bytes to `repo` when that takes its project
    /// past its limit.
    pub(crate) async fn within_quota(
        &self,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let project = repo.project();
        let Some(limit) = self.storage_limit(project).await? else {
            return Ok(());
        };
        if self
            .meta
            .project_holds_blob(project, &digest.to_string())
            .await?
        {
            return Ok(());
        }
        let used = self.meta.project_usage(project).await?;
        let adding = i64::try_from(size).unwrap_or(i64::MAX);
        let after = used.saturating_add(adding);
        let notice = |details: String| QuotaNotice {
            repository: repo.to_string(),
            digest: digest.to_string(),
            used,
            adding,
            limit,
            details,
        };
        if after > limit {
            let message = format!(
                "quota exceeded: adding {} to project {project}, which holds {}, would pass its storage limit of {}; delete artifacts (and let garbage collection run) or ask an administrator to raise the quota",
                bytes_text(adding),
                bytes_text(used),
                bytes_text(limit)
            );
            self.emit(DomainEvent::QuotaExceeded(notice(message.clone())));
            return Err(RegistryError::Denied(message));
        }
        let warning_at = limit.saturating_mul(QUOTA_WARNING_PERCENT) / 100;
        if used < warning_at && after >= warning_at {
            self.emit(DomainEvent::QuotaWarning(notice(format!(
                "project {project} now holds {} of its storage limit of {}",
                bytes_text(after),
                bytes_text(limit)
            ))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_for_people() {
        assert_eq!(super::bytes_text(512), "512 B");
        assert_eq!(super::bytes_text(95 * 1024 * 1024), "95.0 MiB");
        assert_eq!(super::bytes_text(1536), "1.5 KiB");
    }
}
