//! Metadata: the source of truth for repositories, manifests, tags, repository↔blob links,
//! manifest references, referrer subjects, upload sessions, users and the notification
//! outbox. Handlers and registry rules see only the [`MetaStore`] trait, so a PostgreSQL
//! engine can sit beside SQLite.

mod sqlite;

use async_trait::async_trait;
use berth_oci::{Algorithm, Digest, RepoName, Tag};
use bytes::Bytes;

pub use sqlite::SqliteMeta;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database error: {0}")]
    Database(sqlx::Error),
    /// The disk holding the database has no space left (the write was not saved).
    #[error("the metadata database's disk is full: {0}")]
    StorageFull(sqlx::Error),
    #[error("metadata database holds an invalid value in {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
    /// A manifest names a blob or child manifest the repository does not hold (anymore).
    #[error("the manifest references {digest}, which is not in the repository")]
    MissingReference { digest: Digest, manifest: bool },
    #[error(
        "metadata database schema version {found} is newer than this berth understands ({supported}); upgrade berth"
    )]
    TooNew { found: i64, supported: i64 },
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        if sqlite::is_disk_full(&e) {
            MetaError::StorageFull(e)
        } else {
            MetaError::Database(e)
        }
    }
}

impl MetaError {
    /// The write failed for want of disk space: an operator's problem, not a bug.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, MetaError::StorageFull(_))
    }
}

pub type Result<T> = std::result::Result<T, MetaError>;

/// A manifest as the registry stores it: the exact pushed bytes plus what was parsed out.
#[derive(Debug, Clone)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// The manifest's `annotations` as JSON text, kept for the referrers API.
    pub annotations: Option<String>,
    pub content: Bytes,
    /// Blobs (config, layers) it references.
    pub blobs: Vec<Digest>,
    /// Manifests (index children) it references.
    pub children: Vec<Digest>,
}

/// What a manifest read returns.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: Bytes,
    pub subject: Option<Digest>,
}

/// One entry of a referrers listing.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// A blob as a repository holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositoryBlob {
    pub size: u64,
    /// Nothing references it and garbage collection has it under review since this time
    /// (ms): a client that is about to use it should restart its grace period
    /// ([`MetaStore::touch_blob`]) before it runs out. `None` while anything references it.
    pub unreferenced_since: Option<i64>,
}

/// What a garbage collection may remove besides unreferenced blobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectRules {
    /// Manifests no tag points to (unless an index or a present subject needs them).
    pub delete_untagged: bool,
    /// Referrers whose subject is gone.
    pub orphan_referrers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarbageReason {
    Untagged,
    OrphanReferrer,
}

impl GarbageReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GarbageReason::Untagged => "untagged",
            GarbageReason::OrphanReferrer => "orphan referrer",
        }
    }
}

/// A manifest garbage collection deleted (or, in a plan, would delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedManifest {
    pub repository: String,
    pub digest: Digest,
    pub reason: GarbageReason,
}

/// What a garbage collection would remove now (a dry run).
#[derive(Debug, Clone, Default)]
pub struct CollectionPlan {
    pub manifests: Vec<CollectedManifest>,
    /// Blobs and their sizes.
    pub blobs: Vec<(Digest, u64)>,
}

/// Review-queue entries still inside the grace period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcWaiting {
    pub manifests: u64,
    pub blobs: u64,
    /// When the oldest of them was queued (ms).
    pub oldest_since: Option<i64>,
}

/// One garbage collection or retention run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRun {
    pub id: i64,
    /// `gc` or `retention`.
    pub kind: String,
    /// `cli`, `api`, `schedule`.
    pub trigger: String,
    pub dry_run: bool,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// The report as JSON, once finished.
    pub summary: Option<String>,
    pub error: Option<String>,
    /// The process that ran it (`None` for runs recorded before owners were).
    pub owner: Option<String>,
    /// When that process last said it was still at it.
    pub heartbeat_at_ms: Option<i64>,
}

/// A tag as retention rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub tag: String,
    pub digest: Digest,
    /// When the tag was last pushed (pointed at its manifest), ms.
    pub pushed_at: i64,
    /// When its manifest was last pulled, ms; `None` if never (since pulls are recorded).
    pub pulled_at: Option<i64>,
}

/// A resumable upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: String,
    pub repository: RepoName,
    pub algorithm: Algorithm,
    /// Bytes received and made durable so far.
    pub size: u64,
    /// The hasher state after `size` bytes.
    pub hash_state: Vec<u8>,
    pub started_at_ms: i64,
}

/// A user of the built-in token service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// argon2id in PHC string form.
    pub password_hash: String,
    /// May manage users (and, until roles arrive, nothing more than others).
    pub admin: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// How a change to a user that could leave the registry without administrators went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NoSuchUser,
    /// Refused: the user is the last administrator.
    LastAdmin,
}

/// Totals for the metrics: what the registry holds, each blob counted once however many
/// repositories link it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub repositories: u64,
    pub manifests: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub uploads: u64,
}

/// A notification waiting in the outbox for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    /// The event as JSON.
    pub payload: String,
    /// Failed deliveries so far.
    pub attempts: u32,
}

/// Everything one repository of a Distribution tree contributes, written in one go.
#[derive(Debug, Clone)]
pub struct ImportedRepository {
    pub name: RepoName,
    pub layers: Vec<(Digest, u64)>,
    pub manifests: Vec<ManifestRecord>,
    pub tags: Vec<(Tag, Digest)>,
}

#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Proves the database answers and takes writes now (readiness).
    async fn ping(&self) -> Result<()>;

    /// A count that rises after every write committed by this process or another berth
    /// process on the same metadata; a load from memory, no query. Caches of reads
    /// compare it before trusting what they kept.
    fn write_count(&self) -> u64;

    /// A number that changes whenever a commit (of any connection or process, berth's or
    /// not) happened since the previous call: a slower catch-all beside `write_count`.
    async fn data_version(&self) -> Result<i64>;

    /// True when the database has no repositories at all (first start, import decision).
    async fn is_empty(&self) -> Result<bool>;

    async fn repository_exists(&self, repo: &RepoName) -> Result<bool>;

    /// Records that `repo` holds the blob an upload produced (creating the repository if
    /// needed) and forgets the upload session, in one transaction.
    async fn complete_upload(
        &self,
        upload_id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()>;

    /// The blob if `repo` holds it.
    async fn repository_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<RepositoryBlob>>;

    /// Links a blob that is stored (for another repository) into `repo`; its size, or
    /// `None` when it is not stored (anymore).
    async fn link_existing_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Restarts the grace period of a blob under review (a client is about to reference
    /// it); `false` when it is no longer stored.
    async fn touch_blob(&self, digest: &Digest) -> Result<bool>;

    /// Repositories holding the blob, by name, at most `limit` (sources for a mount that
    /// names none).
    async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<String>>;

    /// Forgets the link; `false` when there was none.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Of `digests`, those `repo` does not hold as blobs.
    async fn missing_blobs(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Of `digests`, those `repo` does not hold as manifests.
    async fn missing_manifests(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Stores a manifest and points `tags` at it, in one transaction. Fails with
    /// [`MetaError::MissingReference`] if a blob or child it names is not in `repo`.
    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tags: &[Tag],
    ) -> Result<()>;

    async fn manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<StoredManifest>>;

    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<StoredManifest>>;

    /// Deletes a manifest and every tag pointing at it; `false` when absent.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Deletes a tag only; `false` when absent.
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool>;

    /// Tags in lexical order after `last`, at most `limit`; `None` for an unknown repository.
    async fn tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>>;

    /// Repositories holding at least one manifest, in lexical order after `last`.
    async fn repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    /// Manifests in `repo` whose subject is `subject`.
    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>>;

    async fn create_upload(&self, session: &UploadSession) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<UploadSession>>;
    async fn update_upload(&self, id: &str, size: u64, hash_state: &[u8]) -> Result<()>;
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Upload sessions not touched since `before` (ms): abandoned, for purging.
    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>>;
    /// Forgets the session only if it is still untouched since `before`; `true` if it did.
    async fn delete_upload_if_stale(&self, id: &str, before: i64) -> Result<bool>;

    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// `false` when a user of that name exists already, in any mix of case (`Admin`
    /// beside `admin` would be a look-alike).
    async fn create_user(&self, user: &UserRecord) -> Result<bool>;
    /// `false` when there is no such user.
    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool>;
    /// Grants or revokes administration; never revokes the last administrator's, checked
    /// in the same transaction as the change.
    async fn set_user_admin(&self, name: &str, admin: bool) -> Result<UserChange>;
    /// Removes a user; never the last administrator, checked in the same transaction as
    /// the delete (two administrators removing each other at once leave one).
    async fn delete_user(&self, name: &str) -> Result<UserChange>;

    /// Queues `(endpoint, payload)` notifications, all in one transaction.
    async fn enqueue_events(&self, events: &[(String, String)]) -> Result<()>;
    /// The oldest notifications for `endpoint` due at `now` (ms), at most `limit`.
    async fn due_events(&self, endpoint: &str, now: i64, limit: u32) -> Result<Vec<OutboxEvent>>;
    /// Forgets delivered notifications.
    async fn delivered_events(&self, ids: &[i64]) -> Result<()>;
    /// Counts a failed delivery and sets when to try again.
    async fn postpone_events(&self, ids: &[i64], next_attempt_at: i64, error: &str) -> Result<()>;
    /// Notifications not yet delivered, over all endpoints.
    async fn outbox_depth(&self) -> Result<u64>;

    async fn storage_stats(&self) -> Result<StorageStats>;

    /// One garbage-collection step over manifests under review since `cutoff` (ms) or
    /// earlier, at most `limit`, in one transaction: those garbage under `rules` are
    /// deleted (their references go under review). Returns them and how many were looked at.
    async fn collect_manifests(
        &self,
        rules: &CollectRules,
        cutoff: i64,
        limit: u32,
    ) -> Result<(Vec<CollectedManifest>, usize)>;

    /// One garbage-collection step over blobs under review since `cutoff` or earlier: those
    /// no manifest references are forgotten. Returns them with their sizes (the caller
    /// removes the bytes) and how many were looked at.
    async fn collect_blobs(&self, cutoff: i64, limit: u32) -> Result<(Vec<(Digest, u64)>, usize)>;

    /// What a collection with `rules` and a grace of `grace_ms` would remove now, without
    /// removing anything.
    async fn plan_collection(&self, rules: &CollectRules, grace_ms: i64) -> Result<CollectionPlan>;

    /// Of `digests`, those the metadata knows nothing of: not listed as stored blobs and
    /// named by no manifest.
    async fn unknown_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Manifests and blobs waiting in the review queues.
    async fn gc_backlog(&self) -> Result<(u64, u64)>;

    /// What in the review queues is younger than `cutoff` (ms) and not in use now (an
    /// untagged manifest, a blob no manifest names): waiting out the grace period.
    async fn gc_waiting(&self, cutoff: i64) -> Result<GcWaiting>;

    /// The tags of `repo` pointing at `digest`.
    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>>;

    /// Every tag of `repo` with its push and pull times.
    async fn tag_records(&self, repo: &RepoName) -> Result<Vec<TagRecord>>;
    /// Manifests of `repo` stored before `before` (ms) that no tag points to and nothing
    /// needs (see `manifest_referenced`).
    async fn untagged_manifests(&self, repo: &RepoName, before: i64) -> Result<Vec<Digest>>;
    /// Whether an index in `repo` lists the manifest, or it is a referrer whose subject is
    /// present.
    async fn manifest_referenced(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Records manifest pulls `(repository, digest, when)`, for retention rules.
    async fn record_pulls(&self, pulls: &[(RepoName, Digest, i64)]) -> Result<()>;

    /// Records that a lifecycle run (`kind`: gc, retention) started in the process `owner`;
    /// its id.
    async fn start_run(&self, kind: &str, trigger: &str, dry_run: bool, owner: &str)
    -> Result<i64>;
    /// The running run's process is alive.
    async fn heartbeat_run(&self, id: i64) -> Result<()>;
    /// Runs not finished (running, or their process died), oldest first.
    async fn unfinished_runs(&self) -> Result<Vec<LifecycleRun>>;
    /// Ends an unfinished run with `error`, as of its last heartbeat; `false` if it had
    /// finished meanwhile.
    async fn abandon_run(&self, id: i64, error: &str) -> Result<bool>;
    /// Records how a run ended; `keep: false` forgets it instead (a scheduled run that
    /// found nothing to do). Old runs beyond a fixed history are forgotten.
    async fn finish_run(
        &self,
        id: i64,
        summary: Option<&str>,
        error: Option<&str>,
        keep: bool,
    ) -> Result<()>;
    /// The newest runs of `kind` first.
    async fn runs(&self, kind: &str, limit: u32) -> Result<Vec<LifecycleRun>>;
    /// Runs of every kind with an id above `id`, oldest first, at most `limit`.
    async fn runs_after(&self, id: i64, limit: u32) -> Result<Vec<LifecycleRun>>;
    /// The highest run id so far (0 for none).
    async fn last_run_id(&self) -> Result<i64>;

    /// Writes imported repositories in a single transaction; re-importing is harmless.
    async fn import_repositories(&self, repos: &[ImportedRepository]) -> Result<()>;
}

/// `(year, month, day)` of a day count since 1970-01-01, in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm): for timestamps and schedules without a
/// date-time dependency.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A duration in the metadata's unit (ms), saturating.
pub fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
