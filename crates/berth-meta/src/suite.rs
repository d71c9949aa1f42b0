//! One test suite for the metadata, whatever the engine: every test takes fresh, empty
//! stores from [`stores`] — one per engine this machine runs (SQLite always) — and holds
//! each to the same behaviour, so what differs between engines is a bug, not a choice.

use std::path::PathBuf;

use berth_oci::{Digest, RepoName, Tag};
use bytes::Bytes;

use crate::{
    ClaimRequest, CollectRules, ManifestRecord, MetaError, MetaStore, PgMeta, PoolLimits,
    PostgresOptions, SqliteMeta, UserChange, UserRecord, now_ms,
};

/// An empty store of one engine.
pub(crate) struct Fresh {
    meta: Option<Box<dyn MetaStore>>,
    engine: Engine,
}

enum Engine {
    /// A database file in a directory of its own, removed afterwards.
    Sqlite(PathBuf),
    /// A database of its own on the test server (the server is removed afterwards).
    Postgres(Box<PostgresOptions>),
}

impl Fresh {
    pub(crate) fn meta(&self) -> &dyn MetaStore {
        self.meta.as_deref().expect("a store")
    }

    /// Which engine this is, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Closes and opens the store again (a restart).
    pub(crate) async fn reopen(&mut self) {
        self.meta = None;
        self.meta = Some(open(&self.engine).await);
    }

    /// A second store on the same database: another process (or replica) beside this one.
    pub(crate) async fn another(&self) -> Box<dyn MetaStore> {
        open(&self.engine).await
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Engine::Sqlite(dir) = &self.engine {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn open(engine: &Engine) -> Box<dyn MetaStore> {
    match engine {
        Engine::Sqlite(dir) => Box::new(
            SqliteMeta::open(&dir.join("metadata.db"))
                .await
                .expect("opening a SQLite store"),
        ),
        Engine::Postgres(options) => Box::new(
            PgMeta::open(options)
                .await
                .expect("opening a PostgreSQL store"),
        ),
    }
}

/// The test server `BERTH_TEST_POSTGRES` (`host:port`, role `berth` trusted) names, as
/// `scripts/test.sh` starts it; `BERTH_REQUIRE_POSTGRES=1` makes its absence a failure.
pub(crate) fn postgres_server() -> Option<(String, u16)> {
    let Ok(addr) = std::env::var("BERTH_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("BERTH_REQUIRE_POSTGRES").is_none(),
            "BERTH_REQUIRE_POSTGRES is set but BERTH_TEST_POSTGRES names no server"
        );
        return None;
    };
    let (host, port) = addr
        .rsplit_once(':')
        .expect("BERTH_TEST_POSTGRES is host:port");
    Some((host.to_string(), port.parse().expect("a port number")))
}

pub(crate) fn postgres_options(host: &str, port: u16, dbname: &str) -> PostgresOptions {
    PostgresOptions {
        host: host.to_string(),
        port,
        user: "berth".into(),
        password: None,
        dbname: dbname.into(),
        sslmode: crate::PgSslMode::Disable,
        sslcert: None,
        sslkey: None,
        sslrootcert: None,
        connect_timeout: std::time::Duration::from_secs(10),
        pool: PoolLimits::default(),
    }
}

/// Creates the database `name` on the test server; the options to open it.
pub(crate) async fn new_database(host: &str, port: u16, name: &str) -> PostgresOptions {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect_with(
        &postgres_options(host, port, "postgres").connect_options(),
    )
    .await
    .expect("connecting to the test PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("creating a test database");
    postgres_options(host, port, name)
}

/// A fresh store of every engine this machine runs.
pub(crate) async fn stores() -> Vec<Fresh> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "berth_suite_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    let mut engines = vec![Engine::Sqlite(dir)];
    if let Some((host, port)) = postgres_server() {
        engines.push(Engine::Postgres(Box::new(
            new_database(&host, port, &name).await,
        )));
    }
    let mut fresh = Vec::new();
    for engine in engines {
        fresh.push(Fresh {
            meta: Some(open(&engine).await),
            engine,
        });
    }
    fresh
}

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn record(content: &str, blobs: Vec<Digest>, subject: Option<Digest>) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256(content.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: Some("application/x-test".into()),
        subject,
        annotations: None,
        content: Bytes::from(content.to_string()),
        blobs,
        children: vec![],
    }
}

#[tokio::test]
async fn manifests_tags_and_links() {
    for store in stores().await {
        let meta = store.meta();
        assert!(meta.is_empty().await.unwrap());
        let r = repo("team/app");
        let layer = Digest::sha256(b"layer");
        meta.complete_upload("test-upload", &r, &layer, 5)
            .await
            .unwrap();
        assert_eq!(
            meta.repository_blob(&r, &layer)
                .await
                .unwrap()
                .map(|b| b.size),
            Some(5)
        );
        assert_eq!(
            meta.repository_blob(&repo("other"), &layer).await.unwrap(),
            None
        );
        assert_eq!(
            meta.repositories_holding(&layer, 10).await.unwrap(),
            vec![r.to_string()]
        );
        assert!(
            meta.missing_blobs(&r, std::slice::from_ref(&layer))
                .await
                .unwrap()
                .is_empty()
        );

        let m = record("{\"a\":1}", vec![layer.clone()], None);
        let tags: Vec<Tag> = vec!["v1".parse().unwrap(), "latest".parse().unwrap()];
        meta.put_manifest(&r, &m, &tags).await.unwrap();
        let got = meta.manifest_by_tag(&r, &tags[0]).await.unwrap().unwrap();
        assert_eq!(got.digest, m.digest);
        assert_eq!(got.content, m.content);
        assert_eq!(
            meta.tags(&r, None, 10).await.unwrap().unwrap(),
            vec!["latest", "v1"]
        );
        assert_eq!(
            meta.tags(&r, Some("latest"), 10).await.unwrap().unwrap(),
            vec!["v1"]
        );
        assert_eq!(meta.repositories(None, 10).await.unwrap(), vec!["team/app"]);

        let sig = record("{\"sig\":1}", vec![], Some(m.digest.clone()));
        meta.put_manifest(&r, &sig, &[]).await.unwrap();
        let refs = meta.referrers(&r, &m.digest).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, sig.digest);

        assert!(meta.delete_tag(&r, &tags[1]).await.unwrap());
        assert!(meta.manifest(&r, &m.digest).await.unwrap().is_some());
        assert!(meta.delete_manifest(&r, &m.digest).await.unwrap());
        assert!(meta.manifest_by_tag(&r, &tags[0]).await.unwrap().is_none());
        assert!(!meta.delete_manifest(&r, &m.digest).await.unwrap());
    }
}

#[tokio::test]
async fn users_are_created_updated_and_removed() {
    for mut store in stores().await {
        let meta = store.meta();
        let alice = UserRecord {
            id: 0,
            name: "alice".into(),
            password_hash: "$argon2id$first".into(),
            admin: true,
            email: None,
            realname: None,
            comment: None,
            created_at_ms: 1,
            updated_at_ms: 1,
            origin: crate::UserOrigin::Local,
            directory_groups: Vec::new(),
            directory_admin: false,
            external_id: None,
        };
        assert_eq!(meta.create_user(&alice).await.unwrap(), Some(1));
        assert_eq!(
            meta.create_user(&alice).await.unwrap(),
            None,
            "names are unique"
        );
        let look_alike = UserRecord {
            name: "ALice".into(),
            ..alice.clone()
        };
        assert_eq!(
            meta.create_user(&look_alike).await.unwrap(),
            None,
            "regardless of case"
        );
        assert!(
            meta.set_user_password("alice", "$argon2id$second")
                .await
                .unwrap()
        );
        assert!(!meta.set_user_password("bob", "x").await.unwrap());
        let stored = meta.user("alice").await.unwrap().unwrap();
        assert_eq!(stored.password_hash, "$argon2id$second");
        assert!(stored.admin);
        assert_eq!(meta.users().await.unwrap().len(), 1);
        // Reopening an up-to-date database runs no migration twice.
        store.reopen().await;
        let meta = store.meta();
        assert_eq!(
            meta.delete_user("alice").await.unwrap(),
            UserChange::LastAdmin
        );
        assert_eq!(
            meta.set_user_admin("alice", false).await.unwrap(),
            UserChange::LastAdmin
        );
        let bob = UserRecord {
            name: "bob".into(),
            admin: false,
            ..alice.clone()
        };
        assert_eq!(meta.create_user(&bob).await.unwrap(), Some(2));
        assert_eq!(meta.user_by_id(2).await.unwrap().unwrap().name, "bob");
        assert_eq!(
            meta.set_user_admin("bob", true).await.unwrap(),
            UserChange::Done
        );
        // Two administrators removing each other at once: one of them stays.
        let (a, b) = tokio::join!(meta.delete_user("alice"), meta.delete_user("bob"));
        let outcomes = [a.unwrap(), b.unwrap()];
        assert!(outcomes.contains(&UserChange::Done), "{outcomes:?}");
        assert!(outcomes.contains(&UserChange::LastAdmin), "{outcomes:?}");
        assert_eq!(meta.users().await.unwrap().len(), 1);
        assert_eq!(
            meta.delete_user("carol").await.unwrap(),
            UserChange::NoSuchUser
        );
    }
}

fn index(content: &str, children: Vec<Digest>) -> ManifestRecord {
    ManifestRecord {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        children,
        ..record(content, vec![], None)
    }
}

async fn collect_all(meta: &dyn MetaStore, rules: CollectRules) -> (Vec<String>, Vec<Digest>) {
    let cutoff = now_ms();
    let mut manifests = Vec::new();
    loop {
        let (done, _) = meta.collect_manifests(&rules, now_ms(), 2).await.unwrap();
        if done.is_empty() {
            break;
        }
        manifests.extend(
            done.into_iter()
                .map(|m| format!("{}:{}", m.digest, m.reason.as_str())),
        );
    }
    let mut blobs = Vec::new();
    loop {
        let (done, examined) = meta.collect_blobs(cutoff.max(now_ms()), 2).await.unwrap();
        blobs.extend(done.into_iter().map(|(d, _)| d));
        if examined < 2 {
            break;
        }
    }
    (manifests, blobs)
}

/// Each case builds a small repository, applies a change, and states which manifests
/// and blobs a collection with the rules takes.
#[tokio::test]
async fn garbage_collection_decisions() {
    let l1 = Digest::sha256(b"layer-1");
    let l2 = Digest::sha256(b"layer-2");
    let shared = Digest::sha256(b"shared");
    let keep_all = CollectRules {
        delete_untagged: false,
        orphan_referrers: false,
    };
    let untagged = CollectRules {
        delete_untagged: true,
        orphan_referrers: true,
    };
    let img1 = record("{\"img\":1}", vec![l1.clone(), shared.clone()], None);
    let img2 = record("{\"img\":2}", vec![l2.clone(), shared.clone()], None);
    let sig = record("{\"sig\":1}", vec![], Some(img1.digest.clone()));
    let idx = index(
        "{\"idx\":1}",
        vec![img1.digest.clone(), img2.digest.clone()],
    );
    let v1: Tag = "v1".parse().unwrap();
    let v2: Tag = "v2".parse().unwrap();

    enum Change {
        Nothing,
        DeleteImg1,
        MoveV1ToImg2,
        DeleteTagV1,
        UnlinkL1,
        DeleteIndex,
        UntagAllDeleteIndex,
    }
    use Change::*;
    struct Case {
        name: &'static str,
        with_index: bool,
        with_sig: bool,
        change: Change,
        rules: CollectRules,
        manifests: Vec<String>,
        blobs: Vec<Digest>,
    }
    let d = |m: &ManifestRecord, why: &str| format!("{}:{why}", m.digest);
    let cases = vec![
        Case {
            name: "nothing changed",
            with_index: false,
            with_sig: false,
            change: Nothing,
            rules: untagged,
            manifests: vec![],
            blobs: vec![],
        },
        Case {
            name: "manifest deleted: its own layer and bytes go, the shared layer stays",
            with_index: false,
            with_sig: false,
            change: DeleteImg1,
            rules: keep_all,
            manifests: vec![],
            blobs: vec![l1.clone(), img1.digest.clone()],
        },
        Case {
            name: "tag moved, untagged kept without delete-untagged",
            with_index: false,
            with_sig: false,
            change: MoveV1ToImg2,
            rules: keep_all,
            manifests: vec![],
            blobs: vec![],
        },
        Case {
            name: "tag moved, untagged collected with delete-untagged",
            with_index: false,
            with_sig: false,
            change: MoveV1ToImg2,
            rules: untagged,
            manifests: vec![d(&img1, "untagged")],
            blobs: vec![l1.clone(), img1.digest.clone()],
        },
        Case {
            name: "tag deleted, signature keeps nothing alive but goes as orphan",
            with_index: false,
            with_sig: true,
            change: DeleteTagV1,
            rules: untagged,
            manifests: vec![d(&img1, "untagged"), d(&sig, "orphan referrer")],
            blobs: vec![l1.clone(), img1.digest.clone(), sig.digest.clone()],
        },
        Case {
            name: "signature of a present subject is kept though untagged",
            with_index: false,
            with_sig: true,
            change: Nothing,
            rules: untagged,
            manifests: vec![],
            blobs: vec![],
        },
        Case {
            name: "orphan referrers kept when disabled",
            with_index: false,
            with_sig: true,
            change: DeleteImg1,
            rules: keep_all,
            manifests: vec![],
            blobs: vec![l1.clone(), img1.digest.clone()],
        },
        Case {
            name: "index children are kept though untagged",
            with_index: true,
            with_sig: false,
            change: DeleteTagV1,
            rules: untagged,
            manifests: vec![],
            blobs: vec![],
        },
        Case {
            name: "index deleted: tagged children stay",
            with_index: true,
            with_sig: false,
            change: DeleteIndex,
            rules: untagged,
            manifests: vec![],
            blobs: vec![idx.digest.clone()],
        },
        Case {
            name: "index deleted: untagged children go with delete-untagged",
            with_index: true,
            with_sig: false,
            change: UntagAllDeleteIndex,
            rules: untagged,
            manifests: vec![d(&img1, "untagged"), d(&img2, "untagged")],
            blobs: vec![
                l1.clone(),
                l2.clone(),
                shared.clone(),
                img1.digest.clone(),
                img2.digest.clone(),
                idx.digest.clone(),
            ],
        },
        Case {
            name: "unlinked layer still referenced stays",
            with_index: false,
            with_sig: false,
            change: UnlinkL1,
            rules: untagged,
            manifests: vec![],
            blobs: vec![],
        },
    ];
    for case in cases {
        for store in stores().await {
            let meta = store.meta();
            let r = repo("team/app");
            for l in [&l1, &l2, &shared] {
                meta.complete_upload("test-upload", &r, l, 1).await.unwrap();
            }
            meta.put_manifest(&r, &img1, std::slice::from_ref(&v1))
                .await
                .unwrap();
            meta.put_manifest(&r, &img2, std::slice::from_ref(&v2))
                .await
                .unwrap();
            if case.with_sig {
                meta.put_manifest(&r, &sig, &[]).await.unwrap();
            }
            if case.with_index {
                meta.put_manifest(&r, &idx, &["multi".parse().unwrap()])
                    .await
                    .unwrap();
            }
            // Everything so far is settled: review it once.
            collect_all(meta, CollectRules::default()).await;
            match case.change {
                Nothing => {}
                DeleteImg1 => assert!(meta.delete_manifest(&r, &img1.digest).await.unwrap()),
                MoveV1ToImg2 => meta
                    .put_manifest(&r, &img2, std::slice::from_ref(&v1))
                    .await
                    .unwrap(),
                DeleteTagV1 => assert!(meta.delete_tag(&r, &v1).await.unwrap()),
                UnlinkL1 => assert!(meta.unlink_blob(&r, &l1).await.unwrap()),
                DeleteIndex => assert!(meta.delete_manifest(&r, &idx.digest).await.unwrap()),
                UntagAllDeleteIndex => {
                    assert!(meta.delete_tag(&r, &v1).await.unwrap());
                    assert!(meta.delete_tag(&r, &v2).await.unwrap());
                    assert!(meta.delete_manifest(&r, &idx.digest).await.unwrap());
                }
            }
            let (mut manifests, mut blobs) = collect_all(meta, case.rules).await;
            let (mut want_m, mut want_b) = (case.manifests.clone(), case.blobs.clone());
            manifests.sort();
            want_m.sort();
            blobs.sort();
            want_b.sort();
            assert_eq!(manifests, want_m, "{}: manifests", case.name);
            assert_eq!(blobs, want_b, "{}: blobs", case.name);
            for b in &want_b {
                assert!(
                    meta.repositories_holding(b, 10).await.unwrap().is_empty(),
                    "{}: {b} still listed",
                    case.name
                );
            }
        }
    }
}

#[tokio::test]
async fn grace_period_and_touch_protect_fresh_blobs() {
    for store in stores().await {
        let meta = store.meta();
        let r = repo("a");
        let layer = Digest::sha256(b"fresh");
        meta.complete_upload("test-upload", &r, &layer, 3)
            .await
            .unwrap();
        let b = meta.repository_blob(&r, &layer).await.unwrap().unwrap();
        assert!(
            b.unreferenced_since.is_some(),
            "an unreferenced upload is under review"
        );
        // Uploaded after the cutoff: not collected.
        let (none, _) = meta.collect_blobs(now_ms() - 60_000, 10).await.unwrap();
        assert!(none.is_empty());
        // A client checking it restarts the clock.
        let before = now_ms();
        while now_ms() <= before {
            tokio::task::yield_now().await;
        }
        assert!(meta.touch_blob(&layer).await.unwrap());
        let (none, _) = meta.collect_blobs(before, 10).await.unwrap();
        assert!(none.is_empty(), "touched after the cutoff");
        let plan = meta
            .plan_collection(&CollectRules::default(), 0)
            .await
            .unwrap();
        assert_eq!(plan.blobs, vec![(layer.clone(), 3)]);
        assert!(
            meta.repository_blob(&r, &layer).await.unwrap().is_some(),
            "a plan removes nothing"
        );
        let (gone, _) = meta.collect_blobs(now_ms(), 10).await.unwrap();
        assert_eq!(gone, vec![(layer.clone(), 3)]);
        assert!(!meta.touch_blob(&layer).await.unwrap(), "collected");
        assert_eq!(
            meta.link_existing_blob(&repo("b"), &layer).await.unwrap(),
            None,
            "no mount of a collected blob"
        );
        // A manifest naming it now fails instead of pointing at nothing.
        let err = meta
            .put_manifest(&r, &record("{}", vec![layer.clone()], None), &[])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::MissingReference {
                    manifest: false,
                    ..
                }
            ),
            "{err}"
        );
    }
}

/// Garbage collection in one process and pushes in others, at once: each push either
/// lands with its layer kept, or is refused because the layer went first; never a
/// manifest whose layer is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collection_racing_pushes_never_loses_a_layer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const PUSHERS: usize = 6;
    const ROUNDS: usize = 30;
    for store in stores().await {
        let done = Arc::new(AtomicBool::new(false));
        let collector: Arc<dyn MetaStore> = store.another().await.into();
        let collecting = {
            let done = done.clone();
            tokio::spawn(async move {
                let mut taken = 0;
                while !done.load(Ordering::Relaxed) {
                    // Everything under review is past its grace period.
                    taken += collector
                        .collect_blobs(now_ms() + 60_000, 100)
                        .await
                        .unwrap()
                        .0
                        .len();
                }
                taken
            })
        };
        let mut pushers = Vec::new();
        for p in 0..PUSHERS {
            let meta: Arc<dyn MetaStore> = store.another().await.into();
            pushers.push(tokio::spawn(async move {
                let r = repo(&format!("race/p{p}"));
                let mut landed = Vec::new();
                for round in 0..ROUNDS {
                    let layer = Digest::sha256(format!("layer-{p}-{round}").as_bytes());
                    meta.complete_upload("race-upload", &r, &layer, 7)
                        .await
                        .unwrap();
                    let m = record(
                        &format!("{{\"p\":{p},\"r\":{round}}}"),
                        vec![layer.clone()],
                        None,
                    );
                    match meta.put_manifest(&r, &m, &[]).await {
                        Ok(()) => landed.push(layer),
                        Err(MetaError::MissingReference { digest, .. }) => {
                            assert_eq!(digest, layer)
                        }
                        Err(e) => panic!("pusher {p}, round {round}: {e}"),
                    }
                }
                (r, landed)
            }));
        }
        let mut results = Vec::new();
        for pusher in pushers {
            results.push(pusher.await.unwrap());
        }
        done.store(true, Ordering::Relaxed);
        let taken = collecting.await.unwrap();
        let mut landed_total = 0;
        for (r, landed) in results {
            for layer in landed {
                landed_total += 1;
                assert!(
                    store
                        .meta()
                        .repository_blob(&r, &layer)
                        .await
                        .unwrap()
                        .is_some(),
                    "{}: a manifest in {r} landed but its layer {layer} is gone",
                    store.name()
                );
            }
        }
        // Layers taken first were refused, not lost: every push is one or the other. (How
        // many land depends on the engine's scheduling: on PostgreSQL a collector in a
        // tight loop may take every layer first. The PostgreSQL test in `postgres/tests.rs`
        // makes the race happen on purpose.)
        assert!(
            landed_total + taken >= PUSHERS * ROUNDS,
            "{}: landed {landed_total}, collected {taken}",
            store.name()
        );
    }
}

/// A tag moved back to its old manifest while another process reviews that manifest:
/// whatever the order, a manifest a tag points to is never collected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_during_review_keeps_its_manifest() {
    let rules = CollectRules {
        delete_untagged: true,
        orphan_referrers: true,
    };
    for store in stores().await {
        let writer = store.meta();
        let collector = store.another().await;
        let r = repo("race/tags");
        let tag: Tag = "latest".parse().unwrap();
        for round in 0..40 {
            let old = record(&format!("{{\"old\":{round}}}"), vec![], None);
            let new = record(&format!("{{\"new\":{round}}}"), vec![], None);
            writer
                .put_manifest(&r, &old, std::slice::from_ref(&tag))
                .await
                .unwrap();
            // Moving the tag away puts the old manifest under review.
            writer
                .put_manifest(&r, &new, std::slice::from_ref(&tag))
                .await
                .unwrap();
            let (back, collect) = tokio::join!(
                writer.put_manifest(&r, &old, std::slice::from_ref(&tag)),
                collector.collect_manifests(&rules, now_ms() + 60_000, 100)
            );
            collect.unwrap();
            // Collected first or not, the push stores the manifest (again) with its tag.
            back.unwrap();
            let tagged = writer.manifest_by_tag(&r, &tag).await.unwrap();
            assert_eq!(
                tagged.map(|m| (m.digest, m.content)),
                Some((old.digest.clone(), old.content.clone())),
                "{}: round {round}: the tag points at a collected manifest",
                store.name()
            );
        }
    }
}

/// Two requests appending to one upload at once (a client's retry reaching another
/// process): exactly one moves it on; the other changes nothing and learns the offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_racing_on_one_upload() {
    for store in stores().await {
        let a = store.meta();
        let b = store.another().await;
        let session = crate::UploadSession {
            id: "0123abcd-0000-4000-8000-00000000race".into(),
            repository: repo("race/upload"),
            algorithm: berth_oci::Algorithm::Sha256,
            size: 0,
            hash_state: vec![0],
            started_at_ms: now_ms(),
            parts: vec![],
        };
        a.create_upload(&session).await.unwrap();
        for round in 0..20u64 {
            let from = a.upload(&session.id).await.unwrap().unwrap().size;
            let (state_a, state_b) = ([1, round as u8], [2, round as u8]);
            let before = a.upload(&session.id).await.unwrap().unwrap().parts;
            let with = |part: String| [before.clone(), vec![part]].concat();
            let (parts_a, parts_b) = (with(format!("a{round}")), with(format!("b{round}")));
            let (x, y) = tokio::join!(
                a.update_upload(&session.id, from, from + 10, &state_a, &parts_a),
                b.update_upload(&session.id, from, from + 20, &state_b, &parts_b)
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(
                x ^ y,
                "{}: round {round}: exactly one wins ({x}, {y})",
                store.name()
            );
            let now = a.upload(&session.id).await.unwrap().unwrap();
            let (size, state, parts) = if x {
                (from + 10, 1, parts_a)
            } else {
                (from + 20, 2, parts_b)
            };
            assert_eq!(
                (now.size, now.hash_state[0], now.parts),
                (size, state, parts),
                "{}: the winner's parts are the upload's",
                store.name()
            );
        }
        // A stale offset changes nothing.
        let now = a.upload(&session.id).await.unwrap().unwrap();
        assert!(
            !a.update_upload(&session.id, 0, 1, &[9], &["stale".into()])
                .await
                .unwrap()
        );
        let after = a.upload(&session.id).await.unwrap().unwrap();
        assert_eq!(
            (after.size, after.hash_state, after.parts),
            (now.size, now.hash_state, now.parts)
        );
    }
}

/// A claim of `name` for `holder` at `now_ms` until `lease_until_ms`, of a job first due
/// at once and never too late.
fn ask<'a>(name: &'a str, holder: &'a str, now_ms: i64, lease_until_ms: i64) -> ClaimRequest<'a> {
    ClaimRequest {
        name,
        holder,
        now_ms,
        lease_until_ms,
        first_due_ms: now_ms,
        latest_due_ms: i64::MAX,
        dead_holder: None,
    }
}

/// Job leases: of two processes claiming a due job at once exactly one wins; nobody else
/// gets it while the lease runs; a finished job waits for its next due time; a lease that
/// ran out, or whose holder is known to be gone, passes on; a lost holder cannot renew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_leases_pass_one_holder_at_a_time() {
    for store in stores().await {
        let (a, b) = (store.meta(), store.another().await);
        let name = store.name();
        let now = now_ms();
        let lease = now + 30_000;
        for round in 0..10 {
            let job = format!("race-{round}");
            let (ask_a, ask_b) = (ask(&job, "a", now, lease), ask(&job, "b", now, lease));
            let (x, y) = tokio::join!(a.claim_job(&ask_a), b.claim_job(&ask_b));
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(
                x.won ^ y.won,
                "{name}: round {round}: one wins ({x:?}, {y:?})"
            );
            let winner = if x.won { "a" } else { "b" };
            assert_eq!(x.holder.as_deref(), Some(winner), "{name}");
            assert_eq!(y.holder.as_deref(), Some(winner), "{name}");
            assert_eq!(y.lease_until_ms, lease, "{name}");
        }
        // Held: nobody else, not even once the job is due.
        let held = a
            .claim_job(&ask("race-0", "c", now + 1000, now + 60_000))
            .await;
        let held = held.unwrap();
        assert!(!held.won, "{name}");
        // The holder finishes: not due again until its next time.
        let holder = held.holder.unwrap();
        assert!(
            a.finish_job("race-0", &holder, now + 10_000).await.unwrap(),
            "{name}"
        );
        let early = ClaimRequest {
            latest_due_ms: now + 20_000,
            ..ask("race-0", "c", now + 5000, now + 60_000)
        };
        let early = a.claim_job(&early).await.unwrap();
        assert!(
            !early.won && early.due_at_ms == now + 10_000,
            "{name}: {early:?}"
        );
        // A schedule shortened since (due later than it could be now) is due at once.
        let short = ClaimRequest {
            latest_due_ms: now + 6000,
            ..ask("race-0", "c", now + 5000, now + 60_000)
        };
        assert!(a.claim_job(&short).await.unwrap().won, "{name}");
        assert!(
            !a.finish_job("race-0", &holder, 0).await.unwrap(),
            "{name}: not the holder"
        );
        // A lease that ran out passes on; the old holder can no longer renew.
        let late = now + 61_000;
        let d = b.claim_job(&ask("race-0", "d", late, late + 30_000)).await;
        assert!(d.unwrap().won, "{name}");
        assert!(
            !a.renew_job("race-0", "c", late + 90_000).await.unwrap(),
            "{name}"
        );
        assert!(
            b.renew_job("race-0", "d", late + 90_000).await.unwrap(),
            "{name}"
        );
        // A holder known to be gone passes on at once; one merely named does not.
        let someone = ClaimRequest {
            dead_holder: Some("someone"),
            ..ask("race-0", "e", late, late + 1)
        };
        assert!(!a.claim_job(&someone).await.unwrap().won, "{name}");
        let gone = ClaimRequest {
            dead_holder: Some("d"),
            ..someone
        };
        assert!(a.claim_job(&gone).await.unwrap().won, "{name}");
        // Released: free at once, due as it was.
        a.release_job("race-0", "e").await.unwrap();
        let f = b.claim_job(&ask("race-0", "f", late, late + 1)).await;
        assert!(f.unwrap().won, "{name}");
    }
}

/// The placement lock: placements in two processes share it; a sweep waits for every
/// placement, and placements wait for a sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_lock_excludes_sweeps_across_processes() {
    use std::time::Duration;
    let short = Duration::from_millis(300);
    for store in stores().await {
        let (a, b) = (store.meta(), store.another().await);
        let name = store.name();
        let placing_a = a.placing().await.unwrap();
        let placing_b = tokio::time::timeout(Duration::from_secs(10), b.placing())
            .await
            .unwrap_or_else(|_| panic!("{name}: placements share the lock"))
            .unwrap();
        assert!(
            tokio::time::timeout(short, b.sweeping()).await.is_err(),
            "{name}: a sweep waits for placements"
        );
        drop(placing_a);
        assert!(
            tokio::time::timeout(short, b.sweeping()).await.is_err(),
            "{name}: a sweep waits for the last placement"
        );
        drop(placing_b);
        let sweeping = tokio::time::timeout(Duration::from_secs(10), b.sweeping())
            .await
            .unwrap_or_else(|_| panic!("{name}: a sweep goes once placements are done"))
            .unwrap();
        assert!(
            tokio::time::timeout(short, a.placing()).await.is_err(),
            "{name}: placements wait for a sweep"
        );
        drop(sweeping);
        tokio::time::timeout(Duration::from_secs(10), a.placing())
            .await
            .unwrap_or_else(|_| panic!("{name}: placements go on after the sweep"))
            .unwrap();
    }
}

fn user(name: &str, admin: bool) -> UserRecord {
    UserRecord {
        id: 0,
        name: name.into(),
        password_hash: "$argon2id$x".into(),
        admin,
        email: None,
        realname: None,
        comment: None,
        created_at_ms: 1,
        updated_at_ms: 1,
        origin: crate::UserOrigin::Local,
        directory_groups: Vec::new(),
        directory_admin: false,
        external_id: None,
    }
}

#[tokio::test]
async fn projects_members_and_what_each_viewer_sees() {
    use crate::{
        MemberAdded, MemberEntity, NewMember, NewProject, ProjectDeletion, ProjectQuery, Viewer,
        Visibility,
    };
    for store in stores().await {
        let meta = store.meta();
        meta.create_user(&user("root", true)).await.unwrap();
        meta.create_user(&user("dev", false)).await.unwrap();
        let new = |name, public| NewProject {
            name,
            public,
            owner: Some("dev"),
            metadata: [("auto_scan".to_string(), "false".to_string())].into(),
            first_member: Some(("dev", 1)),
        };
        let team = meta
            .create_project(&new("team", false))
            .await
            .unwrap()
            .unwrap();
        assert!(
            meta.create_project(&new("team", true))
                .await
                .unwrap()
                .is_none(),
            "{}",
            store.name()
        );
        let open = meta
            .create_project(&NewProject {
                first_member: None,
                ..new("open", true)
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(meta.project("team").await.unwrap().unwrap(), team);
        assert_eq!(
            meta.project_by_id(open.id).await.unwrap().unwrap().name,
            "open"
        );

        // Who sees what: a member sees their project and public ones; nobody, public ones.
        let dev = Viewer {
            user: Some("dev".into()),
            groups: vec![],
        };
        let names = |q: ProjectQuery| async move {
            let (page, total) = meta
                .projects(&ProjectQuery { limit: 10, ..q })
                .await
                .unwrap();
            (page.into_iter().map(|p| p.name).collect::<Vec<_>>(), total)
        };
        assert_eq!(
            names(ProjectQuery::default()).await,
            (vec!["open".into(), "team".into()], 2)
        );
        let anonymous = ProjectQuery {
            visible: Some(Visibility::of(Viewer::default())),
            ..Default::default()
        };
        assert_eq!(names(anonymous).await.0, vec!["open"]);
        let mine = ProjectQuery {
            visible: Some(Visibility {
                member_only: true,
                ..Visibility::of(dev.clone())
            }),
            ..Default::default()
        };
        assert_eq!(names(mine).await.0, vec!["team"]);
        let fuzzy = ProjectQuery {
            name_contains: Some("EA".to_lowercase()),
            ..Default::default()
        };
        assert_eq!(names(fuzzy).await.0, vec!["team"]);
        let literal = ProjectQuery {
            name_contains: Some("t_a".into()),
            ..Default::default()
        };
        assert!(names(literal).await.0.is_empty(), "_ is no wildcard");
        let paged = ProjectQuery {
            offset: 1,
            limit: 1,
            ..Default::default()
        };
        let (page, total) = meta.projects(&paged).await.unwrap();
        assert_eq!((page[0].name.as_str(), total), ("team", 2));

        // Roles, directly and through a group.
        let access = meta.project_access("team", &dev).await.unwrap().unwrap();
        assert_eq!((access.public, access.roles), (false, vec![1]));
        let testers = meta
            .ensure_group(1, "testers", Some("cn=testers,dc=x"))
            .await
            .unwrap();
        assert_eq!(
            meta.ensure_group(1, "testers", None).await.unwrap(),
            testers
        );
        let added = meta
            .add_member(open.id, &NewMember::Group(testers.id), 3)
            .await
            .unwrap();
        let MemberAdded::Added(group_member) = added else {
            panic!("{added:?}")
        };
        assert_eq!(
            meta.add_member(open.id, &NewMember::Group(testers.id), 2)
                .await
                .unwrap(),
            MemberAdded::Exists
        );
        assert_eq!(
            meta.add_member(open.id, &NewMember::User("nobody"), 2)
                .await
                .unwrap(),
            MemberAdded::NoSuchEntity
        );
        assert_eq!(
            meta.add_member(9999, &NewMember::User("dev"), 2)
                .await
                .unwrap(),
            MemberAdded::NoSuchProject
        );
        let tester = Viewer {
            user: Some("tess".into()),
            groups: vec![testers.id],
        };
        assert_eq!(
            meta.project_access("open", &tester)
                .await
                .unwrap()
                .unwrap()
                .roles,
            vec![3]
        );
        assert!(
            meta.project_access("team", &tester)
                .await
                .unwrap()
                .unwrap()
                .roles
                .is_empty()
        );
        assert!(
            meta.project_access("missing", &tester)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            meta.set_member_role(open.id, group_member, 5)
                .await
                .unwrap()
        );
        assert!(
            !meta
                .set_member_role(team.id, group_member, 5)
                .await
                .unwrap(),
            "another project's"
        );
        let (members, total) = meta.members(open.id, Some("testers"), 0, 10).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(members[0].role, 5);
        assert_eq!(
            members[0].entity,
            MemberEntity::Group {
                id: testers.id,
                name: "testers".into()
            }
        );
        let (members, _) = meta.members(team.id, None, 0, 10).await.unwrap();
        assert_eq!(
            members[0].entity,
            MemberEntity::User {
                id: 2,
                name: "dev".into()
            }
        );

        // A repository brings its project; a project holding one (with a manifest) is
        // not deleted.
        let layer = Digest::sha256(b"layer");
        let api = repo("pushed/app/api");
        meta.complete_upload("u1", &api, &layer, 5).await.unwrap();
        let pushed = meta
            .project("pushed")
            .await
            .unwrap()
            .expect("created with its repository");
        assert_eq!((pushed.public, pushed.owner.as_deref()), (false, None));
        assert_eq!(
            meta.project_repository_count("pushed").await.unwrap(),
            0,
            "no manifest yet"
        );
        let m = record("{\"p\":1}", vec![layer.clone()], None);
        meta.put_manifest(&api, &m, &[]).await.unwrap();
        meta.complete_upload("u2", &repo("pushedx"), &layer, 5)
            .await
            .unwrap();
        meta.put_manifest(&repo("pushedx"), &m, &[]).await.unwrap();
        assert_eq!(
            meta.project_repository_count("pushed").await.unwrap(),
            1,
            "pushedx is another"
        );
        assert_eq!(
            meta.delete_project(pushed.id).await.unwrap(),
            ProjectDeletion::HoldsRepositories(1)
        );
        // Emptied, it goes; the repository's next push brings it back.
        assert!(meta.delete_manifest(&api, &m.digest).await.unwrap());
        assert_eq!(
            meta.delete_project(pushed.id).await.unwrap(),
            ProjectDeletion::Deleted
        );
        assert!(meta.project("pushed").await.unwrap().is_none());
        meta.put_manifest(&api, &m, &[]).await.unwrap();
        assert!(meta.project("pushed").await.unwrap().is_some());
        assert_eq!(
            meta.delete_project(team.id).await.unwrap(),
            ProjectDeletion::Deleted
        );
        assert_eq!(
            meta.delete_project(team.id).await.unwrap(),
            ProjectDeletion::NoSuchProject
        );
        assert!(
            meta.members(team.id, None, 0, 10)
                .await
                .unwrap()
                .0
                .is_empty()
        );

        // Metadata merges; visibility changes.
        let more = [("prevent_vul".to_string(), "true".to_string())].into();
        assert!(
            meta.update_project(open.id, Some(false), &more)
                .await
                .unwrap()
        );
        let open = meta.project("open").await.unwrap().unwrap();
        assert!(!open.public);
        assert_eq!(open.metadata.len(), 2);

        // Removing a user removes their memberships.
        meta.add_member(open.id, &NewMember::User("dev"), 2)
            .await
            .unwrap();
        assert_eq!(meta.delete_user("dev").await.unwrap(), UserChange::Done);
        assert!(
            meta.project_access("open", &dev)
                .await
                .unwrap()
                .unwrap()
                .roles
                .is_empty()
        );
    }
}

#[tokio::test]
async fn robots_are_named_once_paged_by_level_and_go_with_their_project() {
    use crate::{NewProject, ProjectDeletion, RobotQuery, RobotRecord};
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let project = |name| NewProject {
            name,
            public: false,
            owner: None,
            metadata: Default::default(),
            first_member: None,
        };
        let team = meta
            .create_project(&project("team"))
            .await
            .unwrap()
            .unwrap();
        let robot = |name: &str, project_id| RobotRecord {
            id: 0,
            name: name.into(),
            description: "ci".into(),
            project_id,
            secret_hash: "$argon2id$x".into(),
            duration_days: -1,
            expires_at: -1,
            disabled: false,
            permissions: "[]".into(),
            creator_type: "local".into(),
            creator_ref: 1,
            created_at_ms: 5,
            updated_at_ms: 5,
        };
        let system = meta
            .create_robot(&robot("robot$sys", None))
            .await
            .unwrap()
            .expect("created");
        assert_eq!(
            meta.create_robot(&robot("robot$sys", None)).await.unwrap(),
            None,
            "{engine}: a name is taken once"
        );
        let ci = meta
            .create_robot(&robot("robot$team+ci", Some(team.id)))
            .await
            .unwrap()
            .expect("created");
        meta.create_robot(&robot("robot$team+deploy", Some(team.id)))
            .await
            .unwrap()
            .expect("created");
        assert_eq!(
            meta.create_robot(&robot("robot$gone+x", Some(team.id + 100)))
                .await
                .unwrap(),
            None,
            "{engine}: no robot for a project that does not exist"
        );

        let page = |project_id, name_contains: Option<&str>, offset| RobotQuery {
            project_id,
            name_contains: name_contains.map(String::from),
            offset,
            limit: 1,
        };
        let (first, total) = meta.robots(&page(Some(team.id), None, 0)).await.unwrap();
        assert_eq!((first[0].id, total), (ci, 2), "{engine}");
        let (second, _) = meta.robots(&page(Some(team.id), None, 1)).await.unwrap();
        assert_eq!(second[0].name, "robot$team+deploy", "{engine}");
        let (systems, total) = meta.robots(&page(None, None, 0)).await.unwrap();
        assert_eq!((systems[0].id, total), (system, 1), "{engine}");
        let (_, matching) = meta
            .robots(&page(Some(team.id), Some("dep"), 0))
            .await
            .unwrap();
        assert_eq!(matching, 1, "{engine}");
        let (_, literal) = meta
            .robots(&page(Some(team.id), Some("%"), 0))
            .await
            .unwrap();
        assert_eq!(literal, 0, "{engine}: LIKE wildcards are literal");

        let mut changed = meta.robot(ci).await.unwrap().unwrap();
        assert_eq!(
            meta.robot_by_name("robot$team+ci").await.unwrap(),
            Some(changed.clone())
        );
        changed.disabled = true;
        changed.permissions = r#"[{"kind":"project"}]"#.into();
        changed.expires_at = 99;
        changed.name = "robot$renamed".into();
        assert!(meta.update_robot(&changed).await.unwrap());
        let stored = meta.robot(ci).await.unwrap().unwrap();
        assert!(stored.disabled && stored.expires_at == 99, "{engine}");
        assert_eq!(stored.name, "robot$team+ci", "{engine}: names never change");

        // Deleting the project takes its robots; system robots stay, ids are not reused.
        assert_eq!(
            meta.delete_project(team.id).await.unwrap(),
            ProjectDeletion::Deleted
        );
        assert_eq!(meta.robot(ci).await.unwrap(), None, "{engine}");
        assert!(meta.robot(system).await.unwrap().is_some(), "{engine}");
        let again = meta
            .create_project(&project("team"))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(again.id, team.id, "{engine}: project ids are never reused");
        assert!(meta.delete_robot(system).await.unwrap());
        assert!(!meta.delete_robot(system).await.unwrap(), "{engine}");
        let next = meta
            .create_robot(&robot("robot$sys", None))
            .await
            .unwrap()
            .unwrap();
        assert!(next > ci, "{engine}: robot ids are never reused");
    }
}

#[tokio::test]
async fn the_audit_log_lists_newest_first_filters_and_purges() {
    use crate::{AuditEntry, AuditQuery};
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let entry =
            |at_ms, username: &str, operation: &str, resource: &str, project: Option<&str>| {
                AuditEntry {
                    id: 0,
                    at_ms,
                    username: username.into(),
                    operation: operation.into(),
                    resource_type: "artifact".into(),
                    resource: resource.into(),
                    description: format!("{operation} {resource}"),
                    success: operation != "delete",
                    project: project.map(String::from),
                    client_ip: Some("127.0.0.1".into()),
                }
            };
        meta.append_audit(&[
            entry(1_000, "ann", "create", "team/app:v1", Some("team")),
            entry(2_000, "bob", "pull", "team/app:v1", Some("team")),
            entry(3_000, "ann", "delete", "other/x_y@sha256:1", Some("other")),
        ])
        .await
        .unwrap();
        let all = |q: AuditQuery| AuditQuery { limit: 10, ..q };
        let (found, total) = meta
            .audit_entries(&all(AuditQuery::default()))
            .await
            .unwrap();
        assert_eq!(total, 3, "{engine}");
        assert_eq!(
            found.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
            vec![3_000, 2_000, 1_000],
            "{engine}: newest first"
        );
        assert!(!found[0].success && found[1].success, "{engine}");
        assert_eq!(found[2].client_ip.as_deref(), Some("127.0.0.1"));
        let count = |q: AuditQuery| async move { meta.audit_entries(&all(q)).await.unwrap().1 };
        assert_eq!(
            count(AuditQuery {
                username: Some("ann".into()),
                ..Default::default()
            })
            .await,
            2
        );
        assert_eq!(
            count(AuditQuery {
                operation: Some("pull".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            count(AuditQuery {
                resource_contains: Some("x_y".into()),
                ..Default::default()
            })
            .await,
            1,
            "{engine}: '_' is literal"
        );
        assert_eq!(
            count(AuditQuery {
                projects: Some(vec!["team".into()]),
                ..Default::default()
            })
            .await,
            2
        );
        assert_eq!(
            count(AuditQuery {
                projects: Some(vec![]),
                ..Default::default()
            })
            .await,
            0
        );
        assert_eq!(
            count(AuditQuery {
                from_ms: Some(1_500),
                to_ms: Some(2_500),
                ..Default::default()
            })
            .await,
            1
        );
        let (page, _) = meta
            .audit_entries(&AuditQuery {
                offset: 1,
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page[0].at_ms, 2_000, "{engine}");
        assert_eq!(meta.purge_audit(2_500).await.unwrap(), 2, "{engine}");
        assert_eq!(count(AuditQuery::default()).await, 1, "{engine}");
    }
}

#[tokio::test]
async fn webhook_policies_keep_their_deliveries_as_history() {
    use crate::{
        NewOutboxEvent, NewProject, OutboxFeed, PolicyWrite, ProjectDeletion, WebhookPolicyRecord,
    };
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let team = meta
            .create_project(&NewProject {
                name: "team",
                public: true,
                owner: None,
                metadata: Default::default(),
                first_member: None,
            })
            .await
            .unwrap()
            .unwrap()
            .id;
        let policy = |name: &str, project_id| WebhookPolicyRecord {
            id: 0,
            project_id,
            name: name.into(),
            description: String::new(),
            enabled: true,
            event_types: r#"["PUSH_ARTIFACT"]"#.into(),
            targets: "[]".into(),
            creator: "admin".into(),
            created_at_ms: 7,
            updated_at_ms: 7,
        };
        let PolicyWrite::Done(ci) = meta
            .create_webhook_policy(&policy("ci", team))
            .await
            .unwrap()
        else {
            panic!("{engine}: the first policy is created")
        };
        assert_eq!(
            meta.create_webhook_policy(&policy("ci", team))
                .await
                .unwrap(),
            PolicyWrite::NameTaken,
            "{engine}"
        );
        assert_eq!(
            meta.create_webhook_policy(&policy("ci", team + 100))
                .await
                .unwrap(),
            PolicyWrite::Missing,
            "{engine}: no policy for a missing project"
        );
        let PolicyWrite::Done(other) = meta
            .create_webhook_policy(&policy("audit", team))
            .await
            .unwrap()
        else {
            panic!("{engine}")
        };
        let mut renamed = policy("audit", team);
        renamed.id = ci;
        assert_eq!(
            meta.update_webhook_policy(&renamed).await.unwrap(),
            PolicyWrite::NameTaken,
            "{engine}: a rename onto another policy's name"
        );
        renamed.enabled = false;
        renamed.name = "ci-off".into();
        assert_eq!(
            meta.update_webhook_policy(&renamed).await.unwrap(),
            PolicyWrite::Done(ci),
            "{engine}"
        );
        let active = meta.active_webhook_policies().await.unwrap();
        assert_eq!(
            active.len(),
            1,
            "{engine}: only enabled policies are active"
        );
        assert_eq!(active[0].policy.id, other);
        assert_eq!(active[0].project_name, "team");
        assert!(active[0].project_public);
        let (page, total) = meta
            .webhook_policies(team, Some("off"), 0, 10)
            .await
            .unwrap();
        assert_eq!((page.len(), total), (1, 1), "{engine}");
        assert_eq!(page[0].name, "ci-off");

        // Deliveries: an endpoint's row goes when delivered, a policy's stays as history.
        let row = |endpoint: &str, policy_id: Option<i64>| NewOutboxEvent {
            endpoint: endpoint.into(),
            payload: "{}".into(),
            policy_id,
            event_type: policy_id.map(|_| "PUSH_ARTIFACT".to_string()),
        };
        meta.enqueue_events(&[
            row("config", None),
            row("policy:a", Some(other)),
            row("policy:b", Some(other)),
        ])
        .await
        .unwrap();
        let now = now_ms() + 1;
        let endpoint = meta
            .due_events(OutboxFeed::Endpoint("config"), now, 10)
            .await
            .unwrap();
        assert_eq!(endpoint.len(), 1, "{engine}");
        let policies = meta
            .due_events(OutboxFeed::Policies, now, 10)
            .await
            .unwrap();
        assert_eq!(policies.len(), 2, "{engine}");
        assert_eq!(meta.outbox_depth().await.unwrap(), 3);
        meta.delivered_events(&[endpoint[0].id, policies[0].id])
            .await
            .unwrap();
        meta.postpone_events(&[policies[1].id], now + 60_000, "503")
            .await
            .unwrap();
        assert!(
            meta.due_events(OutboxFeed::Policies, now, 10)
                .await
                .unwrap()
                .is_empty(),
            "{engine}: delivered and postponed rows are not due"
        );
        meta.abandon_events(&[policies[1].id], "gave up")
            .await
            .unwrap();
        assert_eq!(meta.outbox_depth().await.unwrap(), 0, "{engine}");
        let (history, total) = meta.policy_deliveries(other, 0, 10).await.unwrap();
        assert_eq!(total, 2, "{engine}");
        assert_eq!(history[0].outcome.as_deref(), Some("Error"));
        assert_eq!(history[0].last_error.as_deref(), Some("gave up"));
        assert_eq!(history[0].attempts, 2);
        assert_eq!(history[1].outcome.as_deref(), Some("Success"));
        assert!(history[1].finished_at_ms.is_some());
        assert_eq!(
            meta.policy_delivery(other, history[1].id).await.unwrap(),
            Some(history[1].clone())
        );
        assert_eq!(meta.policy_delivery(ci, history[1].id).await.unwrap(), None);
        assert_eq!(meta.forget_deliveries(0).await.unwrap(), 0, "{engine}");

        // A deleted policy takes its history; a deleted project its policies.
        assert!(meta.delete_webhook_policy(other).await.unwrap());
        assert_eq!(meta.policy_deliveries(other, 0, 10).await.unwrap().1, 0);
        assert!(!meta.delete_webhook_policy(other).await.unwrap());
        assert_eq!(
            meta.delete_project(team).await.unwrap(),
            ProjectDeletion::Deleted
        );
        assert_eq!(meta.webhook_policy(ci).await.unwrap(), None, "{engine}");
    }
}

#[tokio::test]
async fn repositories_and_artifacts_are_listed_with_sizes_tags_and_pulls() {
    use crate::{
        ArtifactQuery, ArtifactScope, Order, RepositoryKey, RepositoryQuery, Viewer, Visibility,
    };
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let app = repo("team/app");
        let layer = Digest::sha256(b"layer");
        meta.complete_upload("u1", &app, &layer, 5).await.unwrap();
        let image = record("{\"image\":1}", vec![layer.clone()], None);
        let v1: Tag = "v1".parse().unwrap();
        meta.put_manifest(&app, &image, std::slice::from_ref(&v1))
            .await
            .unwrap();
        // A signature (a referrer) and an untagged index child are not listed.
        let sig = record("{\"sig\":1}", vec![], Some(image.digest.clone()));
        meta.put_manifest(&app, &sig, &[]).await.unwrap();
        let child = record("{\"child\":1}", vec![layer.clone()], None);
        meta.put_manifest(&app, &child, &[]).await.unwrap();
        let mut index = record("{\"index\":1}", vec![], None);
        index.media_type = "application/vnd.oci.image.index.v1+json".into();
        index.children = vec![child.digest.clone()];
        meta.put_manifest(&app, &index, &["multi".parse().unwrap()])
            .await
            .unwrap();
        meta.complete_upload("u2", &repo("team/web"), &layer, 5)
            .await
            .unwrap();
        meta.put_manifest(&repo("team/web"), &image, &[])
            .await
            .unwrap();
        meta.complete_upload("u3", &repo("teamster/x"), &layer, 5)
            .await
            .unwrap();
        meta.put_manifest(&repo("teamster/x"), &image, &[])
            .await
            .unwrap();

        // Each repository's project came with its first push.
        let team = meta.project("team").await.unwrap().unwrap();
        let teamster = meta.project("teamster").await.unwrap().unwrap();
        let listed = |query: RepositoryQuery| async move {
            let (rows, total) = meta
                .list_repositories(&RepositoryQuery { limit: 10, ..query })
                .await
                .unwrap();
            (rows, total)
        };
        let (repos, total) = listed(RepositoryQuery {
            project: Some("team".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(total, 2, "{engine}: team's repositories, not teamster's");
        assert_eq!(repos[0].name, "team/app");
        assert_eq!(
            (repos[0].project_id, repos[0].project_public),
            (team.id, false)
        );
        assert_eq!(
            repos[0].artifact_count, 2,
            "{engine}: the image and the index"
        );
        assert_eq!(repos[1].artifact_count, 1);
        let (found, total) = listed(RepositoryQuery {
            project: Some("team".into()),
            name_contains: Some("we".into()),
            ..Default::default()
        })
        .await;
        assert_eq!((found.len(), total), (1, 1), "{engine}");

        // Across projects: everything for an unrestricted listing; a stranger sees no
        // private project's.
        let (all, total) = listed(RepositoryQuery {
            order: Order {
                key: RepositoryKey::Name,
                descending: true,
            },
            ..Default::default()
        })
        .await;
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["teamster/x", "team/web", "team/app"], "{engine}");
        assert_eq!((total, all[0].project_id), (3, teamster.id));
        let newest = meta
            .list_repositories(&RepositoryQuery {
                order: Order {
                    key: RepositoryKey::CreationTime,
                    descending: true,
                },
                offset: 1,
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .0;
        assert_eq!(newest[0].name, "team/web", "{engine}: the second newest");
        let (by_update, _) = listed(RepositoryQuery {
            order: Order {
                key: RepositoryKey::UpdateTime,
                descending: false,
            },
            ..Default::default()
        })
        .await;
        assert_eq!(by_update.len(), 3, "{engine}");
        assert!(
            by_update
                .windows(2)
                .all(|w| w[0].updated_at_ms <= w[1].updated_at_ms)
        );
        let stranger = Visibility::of(Viewer {
            user: Some("stranger".into()),
            groups: vec![],
        });
        let (seen, total) = listed(RepositoryQuery {
            visible: Some(stranger.clone()),
            ..Default::default()
        })
        .await;
        assert_eq!((seen.len(), total), (0, 0), "{engine}");
        let (seen, total) = listed(RepositoryQuery {
            visible: Some(Visibility {
                also_ids: vec![team.id],
                ..stranger
            }),
            project_id: Some(team.id),
            name: Some("team/web".into()),
            ..Default::default()
        })
        .await;
        assert_eq!((seen[0].name.as_str(), total), ("team/web", 1), "{engine}");

        assert!(
            meta.set_repository_description(&app, "the app")
                .await
                .unwrap()
        );
        assert!(
            !meta
                .set_repository_description(&repo("team/none"), "x")
                .await
                .unwrap()
        );
        meta.record_pulls(&[
            crate::Pulls {
                repo: app.clone(),
                digest: image.digest.clone(),
                at: 42,
                count: 3,
            },
            crate::Pulls {
                repo: app.clone(),
                digest: index.digest.clone(),
                at: 43,
                count: 2,
            },
        ])
        .await
        .unwrap();
        let row = meta.repository_row(&app).await.unwrap().unwrap();
        assert_eq!(row.description, "the app", "{engine}");
        assert_eq!(row.pull_count, 5, "{engine}");
        assert!(row.updated_at_ms >= row.created_at_ms);

        let (artifacts, total) = meta
            .artifacts(&ArtifactQuery::of_repository(&app, 0, 10))
            .await
            .unwrap();
        assert_eq!(total, 2, "{engine}");
        assert_eq!(artifacts[0].repository_name, "team/app");
        let digests: Vec<&Digest> = artifacts.iter().map(|a| &a.digest).collect();
        assert!(digests.contains(&&image.digest) && digests.contains(&&index.digest));
        let shown = artifacts.iter().find(|a| a.digest == image.digest).unwrap();
        assert_eq!(
            shown.size,
            image.content.len() as i64 + 5,
            "{engine}: manifest + layer"
        );
        assert_eq!(shown.tags.len(), 1);
        assert_eq!(shown.tags[0].0, "v1");
        assert_eq!(shown.pulled_at_ms, Some(42));
        let (page, _) = meta
            .artifacts(&ArtifactQuery::of_repository(&app, 1, 10))
            .await
            .unwrap();
        assert_eq!(page.len(), 1, "{engine}: paged");
        // A project's artifacts span its repositories; the latest of each is one apiece.
        let in_team = ArtifactQuery {
            scope: ArtifactScope::Project("team".into()),
            ..ArtifactQuery::of_repository(&app, 0, 10)
        };
        let (_, total) = meta.artifacts(&in_team).await.unwrap();
        assert_eq!(total, 3, "{engine}: two in team/app, one in team/web");
        let latest = ArtifactQuery {
            latest_in_repository: true,
            ..in_team.clone()
        };
        let (newest, total) = meta.artifacts(&latest).await.unwrap();
        assert_eq!(total, 2, "{engine}");
        let mut repos: Vec<&str> = newest.iter().map(|a| a.repository_name.as_str()).collect();
        repos.sort_unstable();
        assert_eq!(repos, ["team/app", "team/web"]);
        let by_digest = ArtifactQuery {
            digest: Some(image.digest.clone()),
            ..in_team
        };
        let (found, _) = meta.artifacts(&by_digest).await.unwrap();
        assert_eq!(
            found.len(),
            2,
            "{engine}: the image is in both repositories"
        );
        assert!(found.iter().all(|a| a.digest == image.digest));
        let unlisted = meta.artifact(&app, &sig.digest).await.unwrap().unwrap();
        assert!(unlisted.tags.is_empty());
        assert_eq!(
            meta.artifact(&app, &Digest::sha256(b"none")).await.unwrap(),
            None
        );
        assert_eq!(
            meta.artifacts(&ArtifactQuery::of_repository(&repo("team/none"), 0, 10))
                .await
                .unwrap()
                .1,
            0
        );
    }
}

#[tokio::test]
async fn immutable_rules_belong_to_their_project() {
    use crate::{ImmutableRuleRecord, NewProject, ProjectDeletion};
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let team = meta
            .create_project(&NewProject {
                name: "team",
                public: false,
                owner: None,
                metadata: Default::default(),
                first_member: None,
            })
            .await
            .unwrap()
            .unwrap()
            .id;
        let rule = |project_id, pattern: &str| ImmutableRuleRecord {
            id: 0,
            project_id,
            priority: 0,
            disabled: false,
            repository_decoration: "repoMatches".into(),
            repository_pattern: "**".into(),
            tag_decoration: "matches".into(),
            tag_pattern: pattern.into(),
            created_at_ms: 3,
        };
        let id = meta
            .create_immutable_rule(&rule(team, "v*"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            meta.create_immutable_rule(&rule(team + 50, "v*"))
                .await
                .unwrap(),
            None,
            "{engine}: no rule for a missing project"
        );
        let mut changed = rule(team, "release-*");
        changed.id = id;
        changed.disabled = true;
        assert!(meta.update_immutable_rule(&changed).await.unwrap());
        let named = meta.immutable_rules_named("team").await.unwrap();
        assert_eq!(named.len(), 1, "{engine}");
        assert_eq!(named[0].tag_pattern, "release-*");
        assert!(named[0].disabled);
        assert_eq!(meta.immutable_rules(team).await.unwrap(), named);
        assert!(
            meta.immutable_rules_named("other")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            meta.delete_project(team).await.unwrap(),
            ProjectDeletion::Deleted
        );
        assert!(
            meta.immutable_rules(team).await.unwrap().is_empty(),
            "{engine}"
        );
        assert!(!meta.delete_immutable_rule(id).await.unwrap());
    }
}

#[tokio::test]
async fn sessions_expire_extend_and_end() {
    use crate::SessionRecord;
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let session = |id: &str, user: &str, expires_at_ms| SessionRecord {
            id_hash: id.into(),
            user_name: user.into(),
            created_at_ms: 100,
            expires_at_ms,
        };
        meta.create_session(&session("a", "alice", 1_000))
            .await
            .unwrap();
        meta.create_session(&session("b", "alice", 5_000))
            .await
            .unwrap();
        meta.create_session(&session("c", "bob", 5_000))
            .await
            .unwrap();
        assert_eq!(
            meta.session("a", 999).await.unwrap(),
            Some(session("a", "alice", 1_000)),
            "{engine}"
        );
        assert_eq!(
            meta.session("a", 1_000).await.unwrap(),
            None,
            "{engine}: expired"
        );
        assert!(meta.extend_session("a", 2_000).await.unwrap());
        assert!(
            meta.session("a", 1_500).await.unwrap().is_some(),
            "{engine}"
        );
        assert!(!meta.extend_session("missing", 2_000).await.unwrap());
        assert_eq!(meta.purge_sessions(2_000).await.unwrap(), 1, "{engine}");
        assert_eq!(meta.session("a", 0).await.unwrap(), None);
        assert_eq!(meta.delete_user_sessions("alice").await.unwrap(), 1);
        assert_eq!(meta.session("b", 0).await.unwrap(), None, "{engine}");
        assert!(meta.delete_session("c").await.unwrap());
        assert!(!meta.delete_session("c").await.unwrap(), "{engine}");
    }
}

#[tokio::test]
async fn usage_samples_keep_one_row_a_day_the_latest() {
    use crate::UsageSample;
    for store in stores().await {
        let meta = store.meta();
        let engine = store.name();
        let sample = |day, storage_bytes, recorded_at_ms| UsageSample {
            day,
            storage_bytes,
            repositories: storage_bytes / 100,
            recorded_at_ms,
        };
        meta.record_usage(&sample(10, 1_000, 5)).await.unwrap();
        meta.record_usage(&sample(11, 2_000, 6)).await.unwrap();
        meta.record_usage(&sample(11, 2_500, 8)).await.unwrap();
        // A replica whose sample is older than the stored one does not undo it.
        meta.record_usage(&sample(11, 2_100, 7)).await.unwrap();
        meta.record_usage(&sample(12, 3_000, 9)).await.unwrap();
        assert_eq!(
            meta.usage_history(11).await.unwrap(),
            vec![sample(11, 2_500, 8), sample(12, 3_000, 9)],
            "{engine}"
        );
        assert_eq!(meta.usage_history(0).await.unwrap().len(), 3, "{engine}");
    }
}
