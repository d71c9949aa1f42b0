//! What retention rules read, and pull times.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use sqlx::Row;

use super::Meta;
use crate::sql::{NEEDED_BY_INDEX_OR_SUBJECT, WriteLock, parse_digest};
use crate::{Result, RetentionData, TagRecord};

#[async_trait]
impl RetentionData for Meta {
    async fn tag_records(&self, repo: &RepoName) -> Result<Vec<TagRecord>> {
        let rows = sqlx::query(
            "SELECT t.name, t.digest, t.updated_at, m.pulled_at FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             LEFT JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
             WHERE r.name = $1 ORDER BY t.name",
        )
        .bind(repo.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TagRecord {
                    tag: r.try_get("name")?,
                    digest: parse_digest(r.try_get("digest")?)?,
                    pushed_at: r.try_get("updated_at")?,
                    pulled_at: r.try_get("pulled_at")?,
                })
            })
            .collect()
    }

    async fn untagged_manifests(&self, repo: &RepoName, before: i64) -> Result<Vec<Digest>> {
        let digests: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.created_at < $2
             AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
             AND NOT {}
             ORDER BY m.created_at",
            NEEDED_BY_INDEX_OR_SUBJECT
        )))
        .bind(repo.as_str())
        .bind(before)
        .fetch_all(&self.read)
        .await?;
        digests.into_iter().map(parse_digest).collect()
    }

    async fn record_pulls(&self, pulls: &[crate::Pulls]) -> Result<()> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        for pull in pulls {
            sqlx::query(concat!(
                "UPDATE manifests SET pulled_at = ",
                greatest!(),
                "(COALESCE(pulled_at, 0), $1)
                 WHERE digest = $2 AND repository_id = (SELECT id FROM repositories WHERE name = $3)"
            ))
            .bind(pull.at)
            .bind(pull.digest.to_string())
            .bind(pull.repo.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE repositories SET pull_count = pull_count + $1 WHERE name = $2")
                .bind(i64::try_from(pull.count).unwrap_or(i64::MAX))
                .bind(pull.repo.as_str())
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }
}
