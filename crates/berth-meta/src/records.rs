//! What the metadata holds, as the registry sees it: plain records, no engine in them.

use berth_oci::{Algorithm, Digest, RepoName, Tag};
use bytes::Bytes;

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
    /// `gc`, `retention` (the configuration's policies) or `project-retention`.
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
    /// The retention policy it applies; 0 for none.
    pub policy_id: i64,
    /// Someone asked it to stop.
    pub stop_requested: bool,
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

/// Pulls of one manifest since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulls {
    pub repo: RepoName,
    pub digest: Digest,
    /// The latest, ms.
    pub at: i64,
    pub count: u64,
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
    /// The store's names of the accepted chunks, in order (stores that keep each chunk as
    /// an object of its own; empty for the others).
    pub parts: Vec<String>,
}

/// A user of the built-in token service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Harbor's `user_id`: given when the user is created (0 in a record to create).
    pub id: i64,
    pub name: String,
    /// argon2id in PHC string form.
    pub password_hash: String,
    /// A system administrator: may do everything, in every project.
    pub admin: bool,
    /// Harbor's profile fields.
    pub email: Option<String>,
    pub realname: Option<String>,
    pub comment: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Where the user signs in: berth's password, or a directory.
    pub origin: UserOrigin,
    /// For a directory's user: the groups (ids) it said the user is in at the last
    /// sign-in, and whether one of them makes them an administrator.
    pub directory_groups: Vec<i64>,
    pub directory_admin: bool,
    /// Who the identity provider says the user is (OIDC: issuer and subject), so a
    /// user of the same name from elsewhere is not taken for them.
    pub external_id: Option<String>,
}

/// Where a user's password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserOrigin {
    /// berth's own (argon2id hash here).
    #[default]
    Local,
    /// An LDAP directory: the password is checked by binding as the user.
    Ldap,
    /// An OpenID Connect provider: people sign in in the browser; `docker login` takes
    /// their CLI secret (its hash is the password hash).
    Oidc,
}

impl UserOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            UserOrigin::Local => "local",
            UserOrigin::Ldap => "ldap",
            UserOrigin::Oidc => "oidc",
        }
    }

    pub fn parse(value: &str) -> Option<UserOrigin> {
        [UserOrigin::Local, UserOrigin::Ldap, UserOrigin::Oidc]
            .into_iter()
            .find(|o| o.as_str() == value)
    }
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

/// A notification in the outbox for one endpoint or webhook policy target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxEvent {
    pub id: i64,
    pub endpoint: String,
    /// The event as JSON.
    pub payload: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    pub policy_id: Option<i64>,
    pub event_type: Option<String>,
    /// `None` while due; `Success` or `Error` once finished.
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// Everything one repository of a Distribution tree contributes, written in one go.
#[derive(Debug, Clone)]
pub struct ImportedRepository {
    pub name: RepoName,
    pub layers: Vec<(Digest, u64)>,
    pub manifests: Vec<ManifestRecord>,
    pub tags: Vec<(Tag, Digest)>,
}
