//! Writes and reads that several aggregates share: a repository's row, linking a blob,
//! storing a manifest and its references, moving a tag, row mapping.

use berth_oci::{Digest, RepoName};
use bytes::Bytes;
use sqlx::Row;

use super::{Conn, Db, DbRow, Meta, review};
use crate::sql::{opt_digest, parse_digest};
use crate::{
    ManifestRecord, MetaError, Result, StoredManifest, UserChange, UserOrigin, UserRecord,
};

impl Meta {
    pub(super) async fn repo_id(&self, repo: &RepoName) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
                .bind(repo.as_str())
                .fetch_optional(&self.read)
                .await?,
        )
    }
}

/// The repository's id, creating it if it is new — and its project, the first path
/// component of its name, if that is missing: no repository is ever outside a project.
pub(super) async fn ensure_repo(conn: &mut Conn, repo: &RepoName, now: i64) -> Result<i64> {
    sqlx::query(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(repo.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // Also for a repository that exists: its project may have been deleted while the
    // repository held no manifest.
    sqlx::query(
        "INSERT INTO projects (name, created_at, updated_at) VALUES ($1, $2, $2)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(repo.project())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub(super) async fn link_blob_in(
    conn: &mut Conn,
    repo_id: i64,
    digest: &Digest,
    size: u64,
    now: i64,
) -> Result<()> {
    let digest = digest.to_string();
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
        .bind(&digest)
        .bind(size as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(repo_id)
        .bind(&digest)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // Nothing references a freshly uploaded or mounted blob yet: its grace period starts.
    review::review_blob(conn, &digest, now).await
}

pub(super) async fn put_manifest_in(
    conn: &mut Conn,
    repo_id: i64,
    m: &ManifestRecord,
    now: i64,
) -> Result<()> {
    let digest = m.digest.to_string();
    // The manifest's own bytes are a blob in the store too (Distribution's layout).
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
        .bind(&digest)
        .bind(m.content.len() as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, annotations, size, content, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(repo_id)
    .bind(&digest)
    .bind(&m.media_type)
    .bind(&m.artifact_type)
    .bind(m.subject.as_ref().map(|s| s.to_string()))
    .bind(&m.annotations)
    .bind(m.content.len() as i64)
    .bind(m.content.as_ref())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(()); // same digest, same bytes: already recorded
    }
    // Untagged until a tag points at it, which the review then sees.
    review::review_manifest(conn, repo_id, &digest, now).await?;
    let refs = m
        .blobs
        .iter()
        .map(|d| (d, "blob"))
        .chain(m.children.iter().map(|d| (d, "manifest")));
    for (child, kind) in refs {
        sqlx::query(
            "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(&digest)
        .bind(child.to_string())
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn set_tag_in(
    conn: &mut Conn,
    repo_id: i64,
    tag: &str,
    digest: &Digest,
    now: i64,
) -> Result<()> {
    let previous: Option<String> =
        sqlx::query_scalar("SELECT digest FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(repo_id)
            .bind(tag)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(previous) = previous.filter(|p| *p != digest.to_string()) {
        review::review_manifest(conn, repo_id, &previous, now).await?;
    }
    sqlx::query(
        "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
    )
    .bind(repo_id)
    .bind(tag)
    .bind(digest.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a user change guarded by "someone else stays administrator" that touched `done`
/// rows means.
pub(super) async fn user_change(conn: &mut Conn, name: &str, done: u64) -> Result<UserChange> {
    if done > 0 {
        return Ok(UserChange::Done);
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(if exists {
        UserChange::LastAdmin
    } else {
        UserChange::NoSuchUser
    })
}

pub(super) fn stored_manifest(row: DbRow) -> Result<StoredManifest> {
    Ok(StoredManifest {
        digest: parse_digest(row.try_get("digest")?)?,
        media_type: row.try_get("media_type")?,
        content: Bytes::from(row.try_get::<Vec<u8>, _>("content")?),
        subject: opt_digest(row.try_get("subject")?)?,
    })
}

/// Returns those of `digests` for which `exists` (`HOLDS_*`) finds no row.
pub(super) async fn missing_in(
    conn: &mut Conn,
    exists: &'static str,
    repo_id: i64,
    digests: &[Digest],
) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for d in digests {
        let found: bool = sqlx::query_scalar(exists)
            .bind(repo_id)
            .bind(d.to_string())
            .fetch_one(&mut *conn)
            .await?;
        if !found {
            out.push(d.clone());
        }
    }
    Ok(out)
}

/// [`missing_in`] on a reader; everything is missing from an unknown repository.
pub(super) async fn missing(
    pool: &sqlx::Pool<Db>,
    exists: &'static str,
    repo_id: Option<i64>,
    digests: &[Digest],
) -> Result<Vec<Digest>> {
    let Some(repo_id) = repo_id else {
        return Ok(digests.to_vec());
    };
    missing_in(&mut *pool.acquire().await?, exists, repo_id, digests).await
}

pub(super) fn user_from_row(row: &DbRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get::<Option<i64>, _>("id")?.unwrap_or(0),
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        admin: row.try_get("admin")?,
        email: row.try_get("email")?,
        realname: row.try_get("realname")?,
        comment: row.try_get("comment")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        origin: {
            let origin: String = row.try_get("origin")?;
            UserOrigin::parse(&origin).ok_or(MetaError::Corrupt {
                column: "origin",
                value: origin,
            })?
        },
        directory_groups: serde_json::from_str(&row.try_get::<String, _>("directory_groups")?)
            .unwrap_or_default(),
        directory_admin: row.try_get("directory_admin")?,
        external_id: row.try_get("external_id")?,
    })
}
