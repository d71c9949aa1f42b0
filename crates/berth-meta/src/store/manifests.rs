//! Repositories, manifests, tags and referrers.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName, Tag};

use crate::{ImportedRepository, ManifestRecord, Referrer, Result, StoredManifest};

#[async_trait]
pub trait Manifests: Send + Sync + 'static {
    async fn repository_exists(&self, repo: &RepoName) -> Result<bool>;

    /// Of `digests`, those `repo` does not hold as manifests.
    async fn missing_manifests(&self, repo: &RepoName, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Stores a manifest and points `tags` at it, in one transaction. Fails with
    /// [`crate::MetaError::MissingReference`] if a blob or child it names is not in `repo`.
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

    /// The tags of `repo` pointing at `digest`.
    async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>>;

    /// Whether an index in `repo` lists the manifest, or it is a referrer whose subject is
    /// present.
    async fn manifest_referenced(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Writes imported repositories in a single transaction; re-importing is harmless.
    async fn import_repositories(&self, repos: &[ImportedRepository]) -> Result<()>;
}
