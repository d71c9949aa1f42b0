//! Repositories and artifacts for the management API: listing with what a person wants
//! to see (platforms of an index, an image's config), deleting an artifact with what
//! hangs off it, tagging, and copying an artifact between repositories without moving
//! bytes.

use berth_meta::{ArtifactQuery, ArtifactRow, ArtifactScope, RepositoryQuery, RepositoryRow};
use berth_oci::manifest::{ParsedManifest, Platform};
use berth_oci::{Digest, Reference, RepoName, Tag, media};
use serde_json::{Map, Value};

use crate::{Registry, RegistryError, Result};

/// Configs larger than this are not read for an artifact's details.
const MAX_CONFIG: u64 = 1 << 20;
/// An index nests indexes at most this deep when copied (OCI allows nesting; cycles
/// cannot exist, digests being content).
const MAX_DEPTH: usize = 8;

/// One child of an index, as Harbor's `Reference`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRef {
    pub digest: Digest,
    pub media_type: String,
    pub platform: Option<Platform>,
    pub annotations: Option<Map<String, Value>>,
    pub urls: Vec<String>,
}

/// An artifact with what is read from its manifest and config.
#[derive(Debug, Clone)]
pub struct ArtifactView {
    pub row: ArtifactRow,
    /// Harbor's kind: `IMAGE`, `CHART`, `CNAB` or `UNKNOWN`.
    pub kind: &'static str,
    pub children: Vec<ChildRef>,
    /// From an image's config: `architecture`, `os`, `created`, `author`, `config`.
    pub extra_attrs: Map<String, Value>,
    /// The manifest's own annotations.
    pub annotations: Option<Map<String, Value>>,
}

fn kind_of(parsed: &ParsedManifest) -> &'static str {
    let config = parsed.config.as_ref().map(|c| c.media_type.as_str());
    match config {
        Some("application/vnd.cncf.helm.config.v1+json") => "CHART",
        Some("application/vnd.cnab.config.v1+json") => "CNAB",
        Some(media::OCI_CONFIG | media::DOCKER_CONFIG) => "IMAGE",
        None if !parsed.manifests.is_empty() => "IMAGE",
        _ => "UNKNOWN",
    }
}

impl Registry {
    /// One page of the repositories `query` picks, and how many it picks.
    pub async fn repositories(&self, query: &RepositoryQuery) -> Result<(Vec<RepositoryRow>, i64)> {
        Ok(self.meta.list_repositories(query).await?)
    }

    /// The repository, if it holds anything.
    pub async fn repository(&self, repo: &RepoName) -> Result<RepositoryRow> {
        self.meta
            .repository_row(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)
    }

    pub async fn describe_repository(&self, repo: &RepoName, description: &str) -> Result<()> {
        if self
            .meta
            .set_repository_description(repo, description)
            .await?
        {
            Ok(())
        } else {
            Err(RegistryError::NameUnknown)
        }
    }

    /// Deletes every artifact of the repository (as Harbor does); how many.
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<u64> {
        self.require_delete()?;
        self.repository(repo).await?;
        // All or nothing: an immutable tag anywhere refuses the whole deletion up front.
        let rules = self.immutability(repo).await?;
        if rules.any() {
            for record in self.meta.tag_records(repo).await? {
                if let Some(rule) = rules.covering(&record.tag) {
                    return Err(RegistryError::Immutable(format!(
                        "{repo} cannot be deleted: its tag {} is immutable ({rule})",
                        record.tag
                    )));
                }
            }
        }
        let mut deleted = 0;
        // Deleting an index lists its children in turn; each round takes a page.
        loop {
            let (page, _) = self
                .meta
                .artifacts(&ArtifactQuery::of_repository(repo, 0, 100))
                .await?;
            if page.is_empty() {
                return Ok(deleted);
            }
            for artifact in page {
                deleted += self.delete_artifact(repo, &artifact.digest).await?;
            }
        }
    }

    /// One page of the artifacts `query` picks, and how many it picks. A repository that
    /// does not exist is [`RegistryError::NameUnknown`].
    pub async fn artifacts(&self, query: &ArtifactQuery) -> Result<(Vec<ArtifactView>, i64)> {
        let (rows, total) = self.meta.artifacts(query).await?;
        if let ArtifactScope::Repository(repo) = &query.scope
            && total == 0
            && !self.meta.repository_exists(repo).await?
        {
            return Err(RegistryError::NameUnknown);
        }
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.view(row).await?);
        }
        Ok((views, total))
    }

    /// One artifact by tag or digest.
    pub async fn artifact(&self, repo: &RepoName, reference: &Reference) -> Result<ArtifactView> {
        let digest = self.resolve(repo, reference).await?;
        let row = self.meta.artifact(repo, &digest).await?.ok_or_else(|| {
            RegistryError::ManifestUnknown(format!("{reference} is not in {repo}"))
        })?;
        self.view(row).await
    }

    async fn resolve(&self, repo: &RepoName, reference: &Reference) -> Result<Digest> {
        let found = match reference {
            Reference::Tag(t) => self.meta.manifest_by_tag(repo, t).await?,
            Reference::Digest(d) => self.meta.manifest(repo, d).await?,
        };
        match found {
            Some(m) => Ok(m.digest),
            None if self.meta.repository_exists(repo).await? => Err(
                RegistryError::ManifestUnknown(format!("{reference} is not in {repo}")),
            ),
            None => Err(RegistryError::NameUnknown),
        }
    }

    async fn view(&self, row: ArtifactRow) -> Result<ArtifactView> {
        let parsed = ParsedManifest::parse_stored(&row.content)?;
        let children = parsed
            .manifests
            .iter()
            .map(|d| ChildRef {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                platform: d.platform.clone(),
                annotations: d.annotations.clone(),
                urls: d.urls.clone(),
            })
            .collect();
        let mut extra_attrs = Map::new();
        if let Some(config) = &parsed.config
            && matches!(
                config.media_type.as_str(),
                media::OCI_CONFIG | media::DOCKER_CONFIG
            )
            && config.size <= MAX_CONFIG
        {
            // A config that cannot be read or parsed leaves the details out; the
            // artifact is still listed.
            if let Ok(bytes) = self.blobs.get(&config.digest).await
                && let Ok(Value::Object(image)) = serde_json::from_slice::<Value>(&bytes)
            {
                for key in ["architecture", "os", "created", "author", "config"] {
                    if let Some(v) = image.get(key) {
                        extra_attrs.insert(key.into(), v.clone());
                    }
                }
            }
        }
        Ok(ArtifactView {
            kind: kind_of(&parsed),
            children,
            extra_attrs,
            annotations: parsed.annotations.clone(),
            row,
        })
    }

    /// Deletes an artifact with its tags, its referrers (signatures, SBOMs) and the index
    /// children nothing else needs; how many manifests went. Refused while an immutable
    /// tag points to it.
    pub async fn delete_artifact(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        self.require_delete()?;
        self.remove_artifact(repo, digest).await
    }

    /// [`Registry::delete_artifact`] whether or not `/v2` deletes are enabled: for
    /// retention policies, which administrators set apart from that switch.
    pub(crate) async fn remove_artifact(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        let Some(manifest) = self.meta.manifest(repo, digest).await? else {
            return Err(RegistryError::ManifestUnknown(format!(
                "{digest} is not in {repo}"
            )));
        };
        // Before anything goes: an immutable tag keeps the artifact and what hangs off it.
        self.check_no_immutable_tag_on(repo, digest).await?;
        let mut deleted = 0;
        for referrer in self.meta.referrers(repo, digest).await? {
            deleted += Box::pin(self.remove_artifact(repo, &referrer.digest)).await?;
        }
        if !self.meta.delete_manifest(repo, digest).await? {
            return Err(RegistryError::ManifestUnknown(format!(
                "{digest} is not in {repo}"
            )));
        }
        deleted += 1;
        let parsed = ParsedManifest::parse_stored(&manifest.content)?;
        for child in &parsed.manifests {
            let still_needed = self.meta.manifest_referenced(repo, &child.digest).await?
                || !self.meta.tags_of(repo, &child.digest).await?.is_empty();
            if !still_needed && self.meta.manifest(repo, &child.digest).await?.is_some() {
                deleted += Box::pin(self.remove_artifact(repo, &child.digest)).await?;
            }
        }
        Ok(deleted)
    }

    /// Points `tag` at the artifact `digest` (refused if the tag is immutable and points
    /// elsewhere).
    pub async fn tag_artifact(&self, repo: &RepoName, digest: &Digest, tag: &Tag) -> Result<()> {
        let manifest =
            self.meta.manifest(repo, digest).await?.ok_or_else(|| {
                RegistryError::ManifestUnknown(format!("{digest} is not in {repo}"))
            })?;
        self.put_manifest(
            repo,
            &Reference::Tag(tag.clone()),
            &[],
            Some(&manifest.media_type),
            manifest.content,
        )
        .await?;
        Ok(())
    }

    /// Copies the artifact `reference` of `from` into `to` with its tags, children and
    /// blobs linked, not copied: the digest stays the same. The caller checked that it may
    /// read `from` and push to `to`.
    pub async fn copy_artifact(
        &self,
        from: &RepoName,
        reference: &Reference,
        to: &RepoName,
    ) -> Result<Digest> {
        let digest = self.resolve(from, reference).await?;
        let tags: Vec<Tag> = self
            .meta
            .tags_of(from, &digest)
            .await?
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        self.copy_manifest(from, &digest, to, &tags, 0).await?;
        Ok(digest)
    }

    async fn copy_manifest(
        &self,
        from: &RepoName,
        digest: &Digest,
        to: &RepoName,
        tags: &[Tag],
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(RegistryError::ManifestInvalid(format!(
                "indexes nest deeper than {MAX_DEPTH} levels"
            )));
        }
        let manifest =
            self.meta.manifest(from, digest).await?.ok_or_else(|| {
                RegistryError::ManifestUnknown(format!("{digest} is not in {from}"))
            })?;
        let parsed = ParsedManifest::parse_stored(&manifest.content)?;
        for child in &parsed.manifests {
            Box::pin(self.copy_manifest(from, &child.digest, to, &[], depth + 1)).await?;
        }
        for blob in parsed.required_blobs() {
            if self.meta.repository_blob(to, &blob.digest).await?.is_none()
                && self.mount_blob(to, &blob.digest, from).await?.is_none()
            {
                return Err(RegistryError::ManifestBlobUnknown(blob.digest.clone()));
            }
        }
        self.put_manifest(
            to,
            &Reference::Digest(digest.clone()),
            tags,
            Some(&manifest.media_type),
            manifest.content,
        )
        .await?;
        Ok(())
    }
}
