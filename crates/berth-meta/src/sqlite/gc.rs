//! Garbage collection on the metadata: the review queues and the checks that decide, inside
//! the deleting transaction, whether a manifest or blob is still needed.

use sqlx::{Row, SqliteConnection};

use super::parse_digest;
use crate::{CollectRules, CollectedManifest, GarbageReason, Result};

/// SQL over a manifest row `m`: an index in its repository lists it, or it is a referrer
/// whose subject is present.
pub(super) const NEEDED_BY_INDEX_OR_SUBJECT: &str = "(EXISTS (SELECT 1 FROM manifest_references c
        WHERE c.repository_id = m.repository_id AND c.child_digest = m.digest AND c.kind = 'manifest')
    OR (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s
        WHERE s.repository_id = m.repository_id AND s.digest = m.subject)))";

/// Puts a blob (back) under review: it may have lost its last reference at `now`.
pub(super) async fn review_blob(conn: &mut SqliteConnection, digest: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO gc_blob_review (digest, since) VALUES (?, ?)
         ON CONFLICT (digest) DO UPDATE SET since = MAX(since, excluded.since)",
    )
    .bind(digest)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts a manifest (back) under review: it may have become untagged or unneeded at `now`.
pub(super) async fn review_manifest(
    conn: &mut SqliteConnection,
    repo_id: i64,
    digest: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO gc_manifest_review (repository_id, digest, since) VALUES (?, ?, ?)
         ON CONFLICT (repository_id, digest) DO UPDATE SET since = MAX(since, excluded.since)",
    )
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
    conn: &mut SqliteConnection,
    repo_id: i64,
    digest: &str,
    now: i64,
) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM manifests WHERE repository_id = ? AND digest = ?")
        .bind(repo_id)
        .bind(digest)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    let references = sqlx::query(
        "SELECT child_digest, kind FROM manifest_references
         WHERE repository_id = ? AND manifest_digest = ?",
    )
    .bind(repo_id)
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?;
    for row in references {
        let child: String = row.try_get("child_digest")?;
        let kind: String = row.try_get("kind")?;
        review_blob(conn, &child, now).await?;
        if kind == "manifest" {
            review_manifest(conn, repo_id, &child, now).await?;
        }
    }
    review_blob(conn, digest, now).await?;
    let referrers: Vec<String> =
        sqlx::query_scalar("SELECT digest FROM manifests WHERE repository_id = ? AND subject = ?")
            .bind(repo_id)
            .bind(digest)
            .fetch_all(&mut *conn)
            .await?;
    for referrer in referrers {
        review_manifest(conn, repo_id, &referrer, now).await?;
    }
    for sql in [
        "DELETE FROM tags WHERE repository_id = ? AND digest = ?",
        "DELETE FROM manifest_references WHERE repository_id = ? AND manifest_digest = ?",
    ] {
        sqlx::query(sql)
            .bind(repo_id)
            .bind(digest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// Takes the database's write lock first, so every check that follows sees the state the
/// deletes will apply to (a deferred transaction that reads first could be overtaken by
/// another process's writer).
pub(super) async fn lock_for_write(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query("UPDATE settings SET value = value WHERE key = 'gc'")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Manifests under review since `cutoff` or earlier, oldest first. Without `delete_untagged`
/// only referrers (and rows for manifests already gone) are looked at; untagged images stay
/// queued for a run that collects them.
pub(super) async fn manifest_candidates(
    conn: &mut SqliteConnection,
    rules: &CollectRules,
    cutoff: i64,
    limit: u32,
) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT q.repository_id, q.digest FROM gc_manifest_review q
         LEFT JOIN manifests m ON m.repository_id = q.repository_id AND m.digest = q.digest
         WHERE q.since <= ? AND (? OR m.digest IS NULL OR m.subject IS NOT NULL)
         ORDER BY q.since LIMIT ?",
    )
    .bind(cutoff)
    .bind(rules.delete_untagged)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("repository_id")?, r.try_get("digest")?)))
        .collect()
}

/// Reviews one manifest: deletes it if it is garbage under `rules`, otherwise takes it off
/// the queue (whatever changes that later queues it again). Rows touched after `cutoff`
/// are left for a later run.
pub(super) async fn collect_manifest(
    conn: &mut SqliteConnection,
    rules: &CollectRules,
    cutoff: i64,
    repo_id: i64,
    digest: &str,
    now: i64,
) -> Result<Option<CollectedManifest>> {
    let since: Option<i64> = sqlx::query_scalar(
        "SELECT since FROM gc_manifest_review WHERE repository_id = ? AND digest = ?",
    )
    .bind(repo_id)
    .bind(digest)
    .fetch_optional(&mut *conn)
    .await?;
    if since.is_none_or(|s| s > cutoff) {
        return Ok(None);
    }
    let verdict = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT r.name AS repository, m.subject IS NOT NULL AS referrer,
            EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
            OR {NEEDED_BY_INDEX_OR_SUBJECT} AS needed
         FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE m.repository_id = ? AND m.digest = ?"
    )))
    .bind(repo_id)
    .bind(digest)
    .fetch_optional(&mut *conn)
    .await?;
    let reason = match &verdict {
        None => None,
        Some(row) if row.try_get::<bool, _>("needed")? => None,
        Some(row) if row.try_get::<bool, _>("referrer")? => rules
            .orphan_referrers
            .then_some(GarbageReason::OrphanReferrer),
        Some(_) if rules.delete_untagged => Some(GarbageReason::Untagged),
        // Untagged, kept: stays queued for a run with delete-untagged.
        Some(_) => return Ok(None),
    };
    sqlx::query("DELETE FROM gc_manifest_review WHERE repository_id = ? AND digest = ?")
        .bind(repo_id)
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    let (Some(row), Some(reason)) = (verdict, reason) else {
        return Ok(None);
    };
    delete_manifest_in(conn, repo_id, digest, now).await?;
    Ok(Some(CollectedManifest {
        repository: row.try_get("repository")?,
        digest: parse_digest(digest.to_string())?,
        reason,
    }))
}

/// Blobs under review since `cutoff` or earlier, oldest first.
pub(super) async fn blob_candidates(
    conn: &mut SqliteConnection,
    cutoff: i64,
    limit: u32,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT digest FROM gc_blob_review WHERE since <= ? ORDER BY since LIMIT ?",
    )
    .bind(cutoff)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?)
}

/// Reviews one blob: if no manifest references it (as config, layer, child or its own
/// bytes), forgets it everywhere and returns its size; the caller removes the bytes.
pub(super) async fn collect_blob(
    conn: &mut SqliteConnection,
    cutoff: i64,
    digest: &str,
) -> Result<Option<u64>> {
    let row = sqlx::query(
        "SELECT q.since,
            EXISTS (SELECT 1 FROM manifest_references r WHERE r.child_digest = q.digest)
            OR EXISTS (SELECT 1 FROM manifests m WHERE m.digest = q.digest) AS referenced,
            (SELECT size FROM blobs b WHERE b.digest = q.digest) AS size
         FROM gc_blob_review q WHERE q.digest = ?",
    )
    .bind(digest)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.try_get::<i64, _>("since")? > cutoff {
        return Ok(None);
    }
    sqlx::query("DELETE FROM gc_blob_review WHERE digest = ?")
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    if row.try_get::<bool, _>("referenced")? {
        return Ok(None);
    }
    for sql in [
        "DELETE FROM repository_blobs WHERE digest = ?",
        "DELETE FROM blobs WHERE digest = ?",
    ] {
        sqlx::query(sql).bind(digest).execute(&mut *conn).await?;
    }
    let size: Option<i64> = row.try_get("size")?;
    Ok(Some(size.unwrap_or(0).max(0) as u64))
}
