//! Garbage collection's steps (the decisions' SQL is in `review`).

use async_trait::async_trait;
use berth_oci::Digest;
use sqlx::Row;

use super::{Meta, review};
use crate::sql::{WriteLock, parse_digest};
use crate::{
    CollectRules, CollectedManifest, Collection, CollectionPlan, GcWaiting, Result, now_ms,
};

#[async_trait]
impl Collection for Meta {
    async fn collect_manifests(
        &self,
        rules: &CollectRules,
        cutoff: i64,
        limit: u32,
    ) -> Result<(Vec<CollectedManifest>, usize)> {
        let mut tx = self.begin(WriteLock::Everything).await?;
        let step = review::collect_manifest_batch(&mut tx, rules, cutoff, limit, now_ms()).await?;
        self.commit(tx).await?;
        Ok(step)
    }

    async fn collect_blobs(&self, cutoff: i64, limit: u32) -> Result<(Vec<(Digest, u64)>, usize)> {
        let mut tx = self.begin(WriteLock::Everything).await?;
        let (collected, examined) = review::collect_blob_batch(&mut tx, cutoff, limit).await?;
        self.commit(tx).await?;
        let collected = collected
            .into_iter()
            .map(|(d, size)| Ok((parse_digest(d)?, size)))
            .collect::<Result<_>>()?;
        Ok((collected, examined))
    }

    async fn plan_collection(&self, rules: &CollectRules, grace_ms: i64) -> Result<CollectionPlan> {
        // The real steps, in one transaction that is rolled back: the plan counts blobs
        // freed by the manifests it would delete, exactly as a real run would.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let mut plan = CollectionPlan::default();
        loop {
            let cutoff = now_ms() - grace_ms;
            let (collected, examined) =
                review::collect_manifest_batch(&mut tx, rules, cutoff, 1000, now_ms()).await?;
            plan.manifests.extend(collected);
            if examined == 0 {
                break;
            }
        }
        let cutoff = now_ms() - grace_ms;
        loop {
            let (collected, examined) = review::collect_blob_batch(&mut tx, cutoff, 1000).await?;
            for (d, size) in collected {
                plan.blobs.push((parse_digest(d)?, size));
            }
            if examined == 0 {
                break;
            }
        }
        tx.rollback().await?;
        Ok(plan)
    }

    async fn unknown_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>> {
        let digests: Vec<String> = digests.iter().map(Digest::to_string).collect();
        let mut conn = self.read.acquire().await?;
        review::unknown_blobs(&mut conn, &digests)
            .await?
            .into_iter()
            .map(parse_digest)
            .collect()
    }

    async fn gc_backlog(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM gc_blob_review) AS blobs,
                    (SELECT COUNT(*) FROM gc_manifest_review) AS manifests",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((
            row.try_get::<i64, _>("manifests")?.max(0) as u64,
            row.try_get::<i64, _>("blobs")?.max(0) as u64,
        ))
    }

    async fn gc_waiting(&self, cutoff: i64) -> Result<GcWaiting> {
        let row = sqlx::query(
            "WITH m AS (SELECT since FROM gc_manifest_review q WHERE since > $1
                        AND NOT EXISTS (SELECT 1 FROM tags t
                            WHERE t.repository_id = q.repository_id AND t.digest = q.digest)),
                  b AS (SELECT since FROM gc_blob_review q WHERE since > $1
                        AND NOT EXISTS (SELECT 1 FROM manifest_references r
                            WHERE r.child_digest = q.digest))
             SELECT (SELECT COUNT(*) FROM m) AS manifests, (SELECT COUNT(*) FROM b) AS blobs,
                    (SELECT MIN(since) FROM m) AS om, (SELECT MIN(since) FROM b) AS ob",
        )
        .bind(cutoff)
        .fetch_one(&self.read)
        .await?;
        let oldest = [row.try_get::<Option<i64>, _>("om")?, row.try_get("ob")?]
            .into_iter()
            .flatten()
            .min();
        Ok(GcWaiting {
            manifests: row.try_get::<i64, _>("manifests")?.max(0) as u64,
            blobs: row.try_get::<i64, _>("blobs")?.max(0) as u64,
            oldest_since: oldest,
        })
    }
}
