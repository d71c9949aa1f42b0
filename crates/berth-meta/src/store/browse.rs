//! What the management API lists of repositories and their artifacts: rows with counts,
//! sizes and times, one page at a time.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use bytes::Bytes;

use crate::Result;

/// A repository that holds at least one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Its artifacts (see [`Browse::artifacts`]).
    pub artifact_count: i64,
    pub pull_count: i64,
    pub created_at_ms: i64,
    /// The latest push of a manifest or tag.
    pub updated_at_ms: i64,
}

/// A manifest as an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    pub repository_id: i64,
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    pub content: Bytes,
    /// The manifest's bytes and the blobs it names (config and layers), each once.
    pub size: i64,
    pub pushed_at_ms: i64,
    pub pulled_at_ms: Option<i64>,
    /// Its tags by name, with when each was pushed (ms).
    pub tags: Vec<(String, i64)>,
}

#[async_trait]
pub trait Browse: Send + Sync + 'static {
    /// One page by name of project `project`'s repositories (names containing
    /// `name_contains`), and how many match.
    async fn project_repositories(
        &self,
        project: &str,
        name_contains: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RepositoryRow>, i64)>;

    async fn repository_row(&self, repo: &RepoName) -> Result<Option<RepositoryRow>>;

    /// `false` when the repository holds nothing.
    async fn set_repository_description(&self, repo: &RepoName, description: &str) -> Result<bool>;

    /// One page, newest push first, of the repository's artifacts: its manifests, except
    /// index children and referrers (signatures, SBOMs) that no tag names — Harbor shows
    /// those under their index or subject. And how many there are.
    async fn artifacts(
        &self,
        repo: &RepoName,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ArtifactRow>, i64)>;

    /// One manifest of the repository as an artifact, listed or not.
    async fn artifact(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ArtifactRow>>;
}
