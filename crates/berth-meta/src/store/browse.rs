//! What the management API lists of repositories and their artifacts: rows with counts,
//! sizes and times, one page at a time.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};
use bytes::Bytes;

use crate::{Result, Visibility};

/// A repository that holds at least one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    pub id: i64,
    pub name: String,
    pub project_id: i64,
    pub project_public: bool,
    pub description: String,
    /// Its artifacts (see [`Browse::artifacts`]).
    pub artifact_count: i64,
    pub pull_count: i64,
    pub created_at_ms: i64,
    /// The latest push of a manifest or tag.
    pub updated_at_ms: i64,
}

/// Which repositories a listing returns, in which order, and which page.
#[derive(Debug, Clone, Default)]
pub struct RepositoryQuery {
    /// Only this project's repositories (by the project's name).
    pub project: Option<String>,
    pub project_id: Option<i64>,
    /// Exactly this name.
    pub name: Option<String>,
    /// Names containing this text.
    pub name_contains: Option<String>,
    /// Only repositories of projects this caller sees. `None`: all.
    pub visible: Option<Visibility>,
    pub order: Order<RepositoryKey>,
    pub offset: i64,
    pub limit: i64,
}

/// What repositories sort by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepositoryKey {
    #[default]
    Name,
    CreationTime,
    UpdateTime,
    PullCount,
}

/// A listing's order: a key, and whether it runs from the largest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order<K> {
    pub key: K,
    pub descending: bool,
}

/// Where an artifact listing looks.
#[derive(Debug, Clone)]
pub enum ArtifactScope {
    Repository(RepoName),
    /// Every repository of the project of this name.
    Project(String),
}

/// Which artifacts a listing returns (newest push first, or oldest with `oldest_first`),
/// and which page.
#[derive(Debug, Clone)]
pub struct ArtifactQuery {
    pub scope: ArtifactScope,
    pub digest: Option<Digest>,
    /// The manifest's own `artifactType` (OCI artifacts declare one; images mostly don't).
    pub artifact_type: Option<String>,
    /// Only each repository's latest push.
    pub latest_in_repository: bool,
    pub oldest_first: bool,
    pub offset: i64,
    pub limit: i64,
}

impl ArtifactQuery {
    /// One page of a repository's artifacts, newest first.
    pub fn of_repository(repo: &RepoName, offset: i64, limit: i64) -> ArtifactQuery {
        ArtifactQuery {
            scope: ArtifactScope::Repository(repo.clone()),
            digest: None,
            artifact_type: None,
            latest_in_repository: false,
            oldest_first: false,
            offset,
            limit,
        }
    }
}

/// A manifest as an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    pub repository_id: i64,
    pub repository_name: String,
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
    /// One page of the repositories `query` picks, and how many it picks in all.
    async fn list_repositories(&self, query: &RepositoryQuery)
    -> Result<(Vec<RepositoryRow>, i64)>;

    async fn repository_row(&self, repo: &RepoName) -> Result<Option<RepositoryRow>>;

    /// `false` when the repository holds nothing.
    async fn set_repository_description(&self, repo: &RepoName, description: &str) -> Result<bool>;

    /// One page of the artifacts `query` picks among manifests, except index children and
    /// referrers (signatures, SBOMs) that no tag names — Harbor shows those under their
    /// index or subject. And how many it picks in all.
    async fn artifacts(&self, query: &ArtifactQuery) -> Result<(Vec<ArtifactRow>, i64)>;

    /// One manifest of the repository as an artifact, listed or not.
    async fn artifact(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ArtifactRow>>;
}
