//! Labels in Harbor's shape: registry-wide ones any project's artifacts may carry, and a
//! project's own. Checked here, stored in the metadata; who may manage them is the
//! management API's access check.

use berth_meta::{Attached, LabelQuery, LabelRecord, LabelScope, LabelWrite, MetaError, now_ms};
use berth_oci::{Digest, RepoName};

use crate::{Registry, RegistryError};

/// Longest name, description and colour kept.
const MAX_NAME: usize = 128;
const MAX_DESCRIPTION: usize = 1024;
const MAX_COLOR: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{0}")]
    Invalid(String),
    #[error("a label named {0:?} exists already where this one would be")]
    NameTaken(String),
    #[error("there is no label {0}")]
    NoSuchLabel(i64),
    #[error("there is no project {0} for the label to belong to")]
    NoSuchProject(i64),
    #[error("label {label} belongs to another project; use one of {project}'s or a global label")]
    OtherProject { label: i64, project: String },
    #[error("the artifact carries label {0} already")]
    AlreadyThere(i64),
    #[error("the artifact does not carry label {0}")]
    NotCarried(i64),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<MetaError> for LabelError {
    fn from(err: MetaError) -> Self {
        LabelError::Registry(err.into())
    }
}

/// A label as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    pub name: String,
    pub description: String,
    pub color: String,
}

fn checked(spec: &LabelSpec) -> Result<(), LabelError> {
    let invalid = |m: String| Err(LabelError::Invalid(m));
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return invalid(format!("a label's name is 1 to {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) || spec.color.chars().any(char::is_control) {
        return invalid("a label's name and colour hold no control characters".into());
    }
    if spec.description.chars().count() > MAX_DESCRIPTION {
        return invalid(format!(
            "a label's description is at most {MAX_DESCRIPTION} characters"
        ));
    }
    if spec.color.chars().count() > MAX_COLOR {
        return invalid(format!(
            "a label's colour is at most {MAX_COLOR} characters, e.g. #0095D3"
        ));
    }
    Ok(())
}

impl Registry {
    /// A new label: registry-wide (`project_id` `None`) or project `project_id`'s.
    pub async fn create_label(
        &self,
        spec: &LabelSpec,
        project_id: Option<i64>,
    ) -> Result<LabelRecord, LabelError> {
        checked(spec)?;
        let now = now_ms();
        let mut label = LabelRecord {
            id: 0,
            name: spec.name.trim().to_string(),
            description: spec.description.clone(),
            color: spec.color.clone(),
            scope: project_id.map_or(LabelScope::Global, |_| LabelScope::Project),
            project_id: project_id.unwrap_or(0),
            created_at_ms: now,
            updated_at_ms: now,
        };
        match self.meta.create_label(&label).await? {
            LabelWrite::Done(id) => {
                label.id = id;
                Ok(label)
            }
            LabelWrite::NameTaken => Err(LabelError::NameTaken(label.name)),
            LabelWrite::Missing => Err(LabelError::NoSuchProject(label.project_id)),
        }
    }

    pub async fn label(&self, id: i64) -> Result<LabelRecord, LabelError> {
        self.meta
            .label(id)
            .await?
            .ok_or(LabelError::NoSuchLabel(id))
    }

    pub async fn labels(&self, query: &LabelQuery) -> Result<(Vec<LabelRecord>, i64), LabelError> {
        Ok(self.meta.labels(query).await?)
    }

    /// New name, description and colour (scope and project stay).
    pub async fn update_label(&self, id: i64, spec: &LabelSpec) -> Result<(), LabelError> {
        checked(spec)?;
        let mut label = self.label(id).await?;
        label.name = spec.name.trim().to_string();
        label.description = spec.description.clone();
        label.color = spec.color.clone();
        match self.meta.update_label(&label).await? {
            LabelWrite::Done(_) => Ok(()),
            LabelWrite::NameTaken => Err(LabelError::NameTaken(label.name)),
            LabelWrite::Missing => Err(LabelError::NoSuchLabel(id)),
        }
    }

    /// Deletes a label, taking it off every artifact.
    pub async fn delete_label(&self, id: i64) -> Result<(), LabelError> {
        if self.meta.delete_label(id).await? {
            Ok(())
        } else {
            Err(LabelError::NoSuchLabel(id))
        }
    }

    /// Puts a label on an artifact: a global one, or one of the artifact's project.
    pub async fn label_artifact(
        &self,
        repo: &RepoName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<(), LabelError> {
        let label = self.label(label_id).await?;
        if label.scope == LabelScope::Project {
            let project = self.meta.project(repo.project()).await?;
            if project.is_none_or(|p| p.id != label.project_id) {
                return Err(LabelError::OtherProject {
                    label: label_id,
                    project: repo.project().to_string(),
                });
            }
        }
        match self.meta.attach_label(label_id, repo, digest).await? {
            Attached::Done => Ok(()),
            Attached::AlreadyThere => Err(LabelError::AlreadyThere(label_id)),
            Attached::Missing => {
                Err(RegistryError::ManifestUnknown(format!("{digest} is not in {repo}")).into())
            }
        }
    }

    pub async fn unlabel_artifact(
        &self,
        repo: &RepoName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<(), LabelError> {
        if self.meta.detach_label(label_id, repo, digest).await? {
            Ok(())
        } else {
            Err(LabelError::NotCarried(label_id))
        }
    }

    /// The labels an artifact carries, by name.
    pub async fn artifact_labels(
        &self,
        repository_id: i64,
        digest: &Digest,
    ) -> Result<Vec<LabelRecord>, LabelError> {
        Ok(self.meta.artifact_labels(repository_id, digest).await?)
    }
}
