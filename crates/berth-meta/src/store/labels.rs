//! Labels (Harbor's): registry-wide or a project's, and the artifacts that carry them.

use async_trait::async_trait;
use berth_oci::{Digest, RepoName};

use crate::Result;

/// Where a label may be used: on every project's artifacts, or on one project's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelScope {
    Global,
    Project,
}

impl LabelScope {
    /// Harbor's letters: `g` and `p`.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelScope::Global => "g",
            LabelScope::Project => "p",
        }
    }

    pub fn parse(text: &str) -> Option<LabelScope> {
        match text {
            "g" => Some(LabelScope::Global),
            "p" => Some(LabelScope::Project),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
    pub scope: LabelScope,
    /// 0 for a registry-wide label.
    pub project_id: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Which labels a listing returns, by name, and which page.
#[derive(Debug, Clone)]
pub struct LabelQuery {
    pub scope: LabelScope,
    /// With [`LabelScope::Project`]: the project's.
    pub project_id: i64,
    pub name_contains: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// What creating or changing a label came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelWrite {
    /// The label's id.
    Done(i64),
    /// Its scope (its project, for a project's) has a label of that name.
    NameTaken,
    /// The project it would belong to does not exist; or, changing, no such label.
    Missing,
}

/// What putting a label on an artifact came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    Done,
    AlreadyThere,
    /// The label or the artifact is gone.
    Missing,
}

#[async_trait]
pub trait Labels: Send + Sync + 'static {
    /// A new label (`label.id` is not used).
    async fn create_label(&self, label: &LabelRecord) -> Result<LabelWrite>;

    async fn label(&self, id: i64) -> Result<Option<LabelRecord>>;

    /// One page by name of the labels `query` picks, and how many it picks.
    async fn labels(&self, query: &LabelQuery) -> Result<(Vec<LabelRecord>, i64)>;

    /// Stores `label.id`'s name, description and colour (scope and project stay).
    async fn update_label(&self, label: &LabelRecord) -> Result<LabelWrite>;

    /// Deletes the label and takes it off every artifact; `false` if there was none.
    async fn delete_label(&self, id: i64) -> Result<bool>;

    /// Puts label `label_id` on manifest `digest` of `repo`.
    async fn attach_label(
        &self,
        label_id: i64,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Attached>;

    /// Takes it off again; `false` if the artifact did not carry it.
    async fn detach_label(&self, label_id: i64, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// The labels manifest `digest` of repository `repository_id` carries, by name.
    async fn artifact_labels(
        &self,
        repository_id: i64,
        digest: &Digest,
    ) -> Result<Vec<LabelRecord>>;
}
