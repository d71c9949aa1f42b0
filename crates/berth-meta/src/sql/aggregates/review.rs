//! Garbage collection on the metadata: the review queues and the checks that decide, inside
//! the deleting transaction, whether a manifest or blob is still needed.

use sqlx::Row;

use super::Conn;
use crate::sql::{NEEDED_BY_INDEX_OR_SUBJECT, json_list, parse_digest};
use crate::{CollectRules, CollectedManifest, GarbageReason, Result};

/// Puts a blob (back) under review: it may have lost its last reference at `now`.
pub(super) async fn review_blob(conn: &mut Conn, digest: &str, now: i64) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO gc_blob_review (digest, since) VALUES ($1, $2)
             ON CONFLICT (digest) DO UPDATE SET since = ",
        greatest!(),
        "(gc_blob_review.since, excluded.since)"
    ))
    .bind(digest)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts a manifest (back) under review: it may have become untagged or unneeded at `now`.
pub(super) async fn review_manifest(
    conn: &mut Conn,
    repo_id: i64,
    digest: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO gc_manifest_review (repository_id, digest, since) VALUES ($1, $2, $3)
             ON CONFLICT (repository_id, digest) DO UPDATE SET since = ",
        greatest!(),
        "(gc_manifest_review.since, excluded.since)"
    ))
    .bind(repo_id)
    .bind(digest)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a manifest and its tags, and puts under review everything that may have needed
/// only it: the blobs and child manifests it references, its own bytes, its referrers.
/// `false` when it was not there.
pub(super) async fn delete_manifest_in(
    conn: &mut Conn,
    repo_id: i64,
    digest: &str,
    now: i64,
) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
        .bind(repo_id)
        .bind(digest)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM artifact_labels WHERE repository_id = $1 AND digest = $2")
        .bind(repo_id)
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    let references = sqlx::query(
        "SELECT child_digest, kind FROM manifest_references
         WHERE repository_id = $1 AND manifest_digest = $2",
    )
    .bind(repo_id)
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?;
    // Blob reviews are shared between repositories: taken in digest order, two deletes
    // elsewhere that share layers queue behind each other instead of deadlocking.
    let mut blobs = vec![digest.to_string()];
    for row in references {
        let child: String = row.try_get("child_digest")?;
        if row.try_get::<String, _>("kind")? == "manifest" {
            review_manifest(conn, repo_id, &child, now).await?;
        }
        blobs.push(child);
    }
    blobs.sort_unstable();
    for blob in &blobs {
        review_blob(conn, blob, now).await?;
    }
    let referrers: Vec<String> = sqlx::query_scalar(
        "SELECT digest FROM manifests WHERE repository_id = $1 AND subject = $2",
    )
    .bind(repo_id)
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?;
    for referrer in referrers {
        review_manifest(conn, repo_id, &referrer, now).await?;
    }
    for sql in [
        "DELETE FROM tags WHERE repository_id = $1 AND digest = $2",
        "DELETE FROM manifest_references WHERE repository_id = $1 AND manifest_digest = $2",
    ] {
        sqlx::query(sql)
            .bind(repo_id)
            .bind(digest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// One step over manifests under review since `cutoff` or earlier, oldest first, at most
/// `limit`: each is decided on the state inside this transaction; garbage under `rules`
/// is deleted, the rest leave the queue (whatever changes that later queues them again).
/// Without `delete_untagged`, untagged images are not looked at: they stay queued for a
/// run that collects them. Returns what was deleted and how many were looked at.
pub(super) async fn collect_manifest_batch(
    conn: &mut Conn,
    rules: &CollectRules,
    cutoff: i64,
    limit: u32,
    now: i64,
) -> Result<(Vec<CollectedManifest>, usize)> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT q.repository_id, q.digest, r.name AS repository, m.digest IS NOT NULL AS present,
            m.subject IS NOT NULL AS referrer,
            m.digest IS NOT NULL AND (EXISTS (SELECT 1 FROM tags t
                WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
              OR {NEEDED_BY_INDEX_OR_SUBJECT}) AS needed
         FROM gc_manifest_review q
         LEFT JOIN manifests m ON m.repository_id = q.repository_id AND m.digest = q.digest
         LEFT JOIN repositories r ON r.id = q.repository_id
         WHERE q.since <= $1 AND ($2 OR m.digest IS NULL OR m.subject IS NOT NULL)
         ORDER BY q.since LIMIT $3"
    )))
    .bind(cutoff)
    .bind(rules.delete_untagged)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let keys: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            Ok(serde_json::json!([
                row.try_get::<i64, _>("repository_id")?,
                row.try_get::<String, _>("digest")?
            ]))
        })
        .collect::<Result<_>>()?;
    sqlx::query(super::FORGET_REVIEWED_MANIFESTS)
        .bind(serde_json::Value::from(keys).to_string())
        .execute(&mut *conn)
        .await?;
    let mut collected = Vec::new();
    for row in &rows {
        let repo_id: i64 = row.try_get("repository_id")?;
        let digest: String = row.try_get("digest")?;
        if !row.try_get::<bool, _>("present")? || row.try_get::<bool, _>("needed")? {
            continue;
        }
        let reason = if row.try_get::<bool, _>("referrer")? {
            if !rules.orphan_referrers {
                continue;
            }
            GarbageReason::OrphanReferrer
        } else {
            GarbageReason::Untagged
        };
        delete_manifest_in(conn, repo_id, &digest, now).await?;
        collected.push(CollectedManifest {
            repository: row
                .try_get::<Option<String>, _>("repository")?
                .unwrap_or_default(),
            digest: parse_digest(digest)?,
            reason,
        });
    }
    Ok((collected, rows.len()))
}

/// One step over blobs under review since `cutoff` or earlier, oldest first, at most
/// `limit`: those no manifest references (as config, layer, child or its own bytes) are
/// forgotten everywhere; the rest leave the queue. Returns the forgotten ones with their
/// sizes (the caller removes the bytes) and how many were looked at.
pub(super) async fn collect_blob_batch(
    conn: &mut Conn,
    cutoff: i64,
    limit: u32,
) -> Result<(Vec<(String, u64)>, usize)> {
    let rows = sqlx::query(
        "SELECT q.digest,
            EXISTS (SELECT 1 FROM manifest_references r WHERE r.child_digest = q.digest)
            OR EXISTS (SELECT 1 FROM manifests m WHERE m.digest = q.digest) AS referenced,
            (SELECT size FROM blobs b WHERE b.digest = q.digest) AS size
         FROM gc_blob_review q WHERE q.since <= $1 ORDER BY q.since LIMIT $2",
    )
    .bind(cutoff)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut examined = Vec::with_capacity(rows.len());
    let mut garbage = Vec::new();
    for row in &rows {
        let digest: String = row.try_get("digest")?;
        if !row.try_get::<bool, _>("referenced")? {
            let size: Option<i64> = row.try_get("size")?;
            garbage.push((digest.clone(), size.unwrap_or(0).max(0) as u64));
        }
        examined.push(digest);
    }
    let all = json_list(examined.iter().map(String::as_str));
    sqlx::query(concat!(
        "DELETE FROM gc_blob_review WHERE digest IN (SELECT value FROM ",
        json_strings!(),
        ")"
    ))
    .bind(&all)
    .execute(&mut *conn)
    .await?;
    if !garbage.is_empty() {
        let gone = json_list(garbage.iter().map(|(d, _)| d.as_str()));
        for sql in [
            concat!(
                "DELETE FROM repository_blobs WHERE digest IN (SELECT value FROM ",
                json_strings!(),
                ")"
            ),
            concat!(
                "DELETE FROM blobs WHERE digest IN (SELECT value FROM ",
                json_strings!(),
                ")"
            ),
        ] {
            sqlx::query(sql).bind(&gone).execute(&mut *conn).await?;
        }
    }
    Ok((garbage, rows.len()))
}

/// Of `digests`, those the metadata knows nothing of: no `blobs` row, and no manifest
/// names them (an imported registry:2 manifest may reference a blob whose layer link was
/// deleted there; its bytes must stay).
pub(super) async fn unknown_blobs(conn: &mut Conn, digests: &[String]) -> Result<Vec<String>> {
    let mut unknown = Vec::new();
    for chunk in digests.chunks(1000) {
        let list = json_list(chunk.iter().map(String::as_str));
        let found: Vec<String> = sqlx::query_scalar(concat!(
            "SELECT value FROM ",
            json_strings!(),
            " WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE digest = value)
             AND NOT EXISTS (SELECT 1 FROM manifest_references WHERE child_digest = value)
             AND NOT EXISTS (SELECT 1 FROM manifests WHERE digest = value)"
        ))
        .bind(&list)
        .fetch_all(&mut *conn)
        .await?;
        unknown.extend(found);
    }
    Ok(unknown)
}
