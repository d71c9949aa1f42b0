//! What only PostgreSQL needs proving: that its advisory locks make a writer wait at the
//! point where SQLite's single writer would. The race is made to happen on purpose — a
//! third connection holds a row the push needs after its checks — rather than hoped for.

use std::time::{Duration, Instant};

use berth_oci::{Digest, RepoName, Tag};
use bytes::Bytes;
use sqlx::Connection;

use super::PgMeta;
use crate::suite::{new_database, postgres_server};
use crate::{Blobs, Collection, ManifestRecord, Manifests, Uploads, now_ms};

/// Waits until a backend of this database waits on `event` (a row lock: `tuple` or
/// `transactionid`; an advisory lock: `advisory`) running a statement that starts with
/// `query`.
async fn until_waiting(watch: &mut sqlx::PgConnection, event: &[&str], query: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: Vec<(String, String)> = sqlx::query_as(
            "SELECT wait_event, query FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_all(&mut *watch)
        .await
        .unwrap();
        if waiting
            .iter()
            .any(|(e, q)| event.contains(&e.as_str()) && q.trim_start().starts_with(query))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no backend waits on {event:?} in {query}: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_waits_for_a_push_that_has_checked_its_layer() {
    let Some((host, port)) = postgres_server() else {
        return; // no test server: BERTH_REQUIRE_POSTGRES makes that a failure elsewhere
    };
    let name = format!("berth_locks_{}_{}", std::process::id(), now_ms());
    let options = new_database(&host, port, &name).await;
    let pusher = PgMeta::open(&options).await.unwrap();
    let collector = PgMeta::open(&options).await.unwrap();
    let mut blocker = sqlx::PgConnection::connect_with(&options.connect_options())
        .await
        .unwrap();
    let mut watch = sqlx::PgConnection::connect_with(&options.connect_options())
        .await
        .unwrap();

    let repo: RepoName = "locks/app".parse().unwrap();
    let layer = Digest::sha256(b"the layer");
    pusher
        .complete_upload("upload", &repo, &layer, 9)
        .await
        .unwrap();
    let content = Bytes::from_static(b"{\"layers\":1}");
    let manifest = ManifestRecord {
        digest: Digest::sha256(&content),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        subject: None,
        annotations: None,
        content,
        blobs: vec![layer.clone()],
        children: vec![],
    };
    // The tag row the push will write, held uncommitted by another connection: the push
    // checks its layer, stores the manifest, then waits here with its locks held.
    let mut held = blocker.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO tags (repository_id, name, digest, updated_at)
         SELECT id, 'latest', 'sha256:held', 0 FROM repositories WHERE name = $1",
    )
    .bind(repo.as_str())
    .execute(&mut *held)
    .await
    .unwrap();
    let tag: Tag = "latest".parse().unwrap();
    let push = tokio::spawn({
        let manifest = manifest.clone();
        let repo = repo.clone();
        async move {
            pusher
                .put_manifest(&repo, &manifest, std::slice::from_ref(&tag))
                .await
                .map(|()| pusher)
        }
    });
    until_waiting(&mut watch, &["transactionid", "tuple"], "INSERT INTO tags").await;

    // The layer is past any grace period and, as far as committed rows go, unreferenced:
    // without the graph lock the collection would take it now, under the push.
    let collect =
        tokio::spawn(async move { collector.collect_blobs(now_ms() + 60_000, 100).await });
    until_waiting(&mut watch, &["advisory"], "SELECT pg_advisory_xact_lock").await;
    assert!(!collect.is_finished(), "the collection waits for the push");

    held.rollback().await.unwrap();
    let pusher = push.await.unwrap().expect("the push lands");
    let (collected, _) = collect.await.unwrap().unwrap();
    assert!(
        collected.iter().all(|(d, _)| *d != layer),
        "the collection took a layer the push references: {collected:?}"
    );
    assert!(
        pusher
            .repository_blob(&repo, &layer)
            .await
            .unwrap()
            .is_some()
    );
}

/// A database left by a berth from before projects (schema step 2) with users and
/// repositories: the later steps adopt the repositories into projects, number the users
/// and keep every row (PostgreSQL's own SQL for it: `split_part`, identities).
#[tokio::test]
async fn a_database_from_before_projects_comes_up_to_date() {
    use crate::{Projects, UserOrigin, Users};
    let Some((host, port)) = postgres_server() else {
        return;
    };
    let name = format!("berth_migrate_{}_{}", std::process::id(), now_ms());
    let options = new_database(&host, port, &name).await;
    {
        let mut conn = sqlx::PgConnection::connect_with(&options.connect_options())
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE berth_schema (version BIGINT NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        for step in &super::MIGRATIONS[..2] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*step))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO berth_schema (version) VALUES (2);
             INSERT INTO users (name, password_hash, admin, created_at, updated_at)
                 VALUES ('root', '$argon2id$x', TRUE, 1, 1), ('dev', '$argon2id$y', FALSE, 1, 1);
             INSERT INTO repositories (name, created_at)
                 VALUES ('team/app', 1), ('team/api', 1), ('solo', 1);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let meta = PgMeta::open(&options).await.unwrap();
    let dev = meta.user("dev").await.unwrap().unwrap();
    assert_eq!((dev.id, dev.origin), (1, UserOrigin::Local));
    assert_eq!(meta.user("root").await.unwrap().unwrap().id, 2);
    assert!(
        meta.project("team")
            .await
            .unwrap()
            .is_some_and(|p| !p.public)
    );
    assert!(meta.project("solo").await.unwrap().is_some());
    assert!(meta.project("team/app").await.unwrap().is_none());
}
