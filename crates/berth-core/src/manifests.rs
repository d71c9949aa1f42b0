//! Manifest push, pull (with `Accept` negotiation) and delete.

use berth_meta::{ManifestRecord, StoredManifest};
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{Digest, ParsedManifest, Reference, RepoName, Tag, media};
use bytes::Bytes;

use crate::policy::{Glob, Immutability, ProjectImmutableRule};
use crate::{Registry, RegistryError, Result};

/// The outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
    pub media_type: String,
    pub size: u64,
    /// What the manifest points to: config, layers, index children (for events).
    pub references: Vec<berth_oci::manifest::Descriptor>,
}

/// What the metadata store keeps of a parsed manifest.
pub(crate) fn manifest_record(
    digest: Digest,
    parsed: &ParsedManifest,
    content: Bytes,
) -> ManifestRecord {
    ManifestRecord {
        digest,
        media_type: parsed.media_type.clone(),
        artifact_type: parsed.artifact_type.clone(),
        subject: parsed.subject.as_ref().map(|s| s.digest.clone()),
        annotations: parsed
            .annotations
            .as_ref()
            .map(|a| serde_json::Value::Object(a.clone()).to_string()),
        blobs: parsed.required_blobs().map(|d| d.digest.clone()).collect(),
        children: parsed.manifests.iter().map(|d| d.digest.clone()).collect(),
        content,
    }
}

impl Registry {
    /// Validates and stores a manifest exactly as pushed, then points the reference's tag
    /// (if it is one) and `extra_tags` at it.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<PushedManifest> {
        if content.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge(format!(
                "{} bytes; the limit is {MAX_MANIFEST_SIZE}",
                content.len()
            )));
        }
        let parsed = ParsedManifest::parse(&content, content_type)?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::compute(expected.algorithm(), &content);
                if &actual != expected {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest digest is {actual}, not {expected} as in the URL"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256(&content),
        };

        let blobs: Vec<Digest> = parsed.required_blobs().map(|d| d.digest.clone()).collect();
        let missing_blobs = self.meta.missing_blobs(repo, &blobs).await?;
        if let Some(missing) = missing_blobs.into_iter().next() {
            return Err(RegistryError::ManifestBlobUnknown(missing));
        }
        let children: Vec<Digest> = parsed.manifests.iter().map(|d| d.digest.clone()).collect();
        if let Some(missing) = self
            .meta
            .missing_manifests(repo, &children)
            .await?
            .into_iter()
            .next()
        {
            return Err(RegistryError::ManifestChildUnknown(missing));
        }

        let mut tags: Vec<Tag> = extra_tags.to_vec();
        if let Reference::Tag(t) = reference
            && !tags.contains(t)
        {
            tags.push(t.clone());
        }
        for tag in &tags {
            self.check_tag_may_move(repo, tag, Some(&digest)).await?;
        }
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let references = parsed
            .config
            .iter()
            .chain(&parsed.layers)
            .chain(&parsed.manifests)
            .cloned()
            .collect();
        let record = manifest_record(digest.clone(), &parsed, content.clone());
        // Bytes first, durably; then the metadata that makes them visible.
        {
            let _placing = self.meta.placing().await?;
            self.blobs.put(&digest, content).await?;
            self.meta
                .put_manifest(repo, &record, &tags)
                .await
                .map_err(|e| match e {
                    // A blob collected between the check above and the write.
                    berth_meta::MetaError::MissingReference {
                        digest,
                        manifest: false,
                    } => RegistryError::ManifestBlobUnknown(digest),
                    berth_meta::MetaError::MissingReference {
                        digest,
                        manifest: true,
                    } => RegistryError::ManifestChildUnknown(digest),
                    e => e.into(),
                })?;
        }
        Ok(PushedManifest {
            digest,
            subject,
            media_type: record.media_type,
            size: record.content.len() as u64,
            references,
        })
    }

    /// Reads a manifest by tag or digest. `accept` lists the media types the client takes
    /// (empty: anything).
    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<StoredManifest> {
        let read = async {
            match reference {
                Reference::Tag(t) => self.meta.manifest_by_tag(repo, t).await,
                Reference::Digest(d) => self.meta.manifest(repo, d).await,
            }
        };
        let key = (repo.clone(), reference.to_string());
        let found = self.cache.through(&self.cache.manifests, key, read).await?;
        let Some(manifest) = found else {
            return Err(if self.meta.repository_exists(repo).await? {
                RegistryError::ManifestUnknown(format!("{reference} is not in {repo}"))
            } else {
                RegistryError::NameUnknown
            });
        };
        self.negotiate(repo, reference, manifest, accept).await
    }

    /// Distribution's rules: a client that sends `Accept` without the stored OCI type gets
    /// 404 (it could not parse it); a Docker manifest list asked for by tag goes to a client
    /// that takes only single manifests as its linux/amd64 entry (by digest it is served as
    /// is: a digest names exact bytes). Docker schema 2 is always served.
    async fn negotiate(
        &self,
        repo: &RepoName,
        reference: &Reference,
        manifest: StoredManifest,
        accept: &[&str],
    ) -> Result<StoredManifest> {
        let accepts = |t: &str| accept.is_empty() || accept.iter().any(|a| *a == t || *a == "*/*");
        if accepts(&manifest.media_type) {
            return Ok(manifest);
        }
        match manifest.media_type.as_str() {
            media::OCI_MANIFEST | media::OCI_INDEX => Err(RegistryError::ManifestUnknown(format!(
                "the manifest is {} but the Accept header does not allow it",
                manifest.media_type
            ))),
            media::DOCKER_MANIFEST_LIST if matches!(reference, Reference::Tag(_)) => {
                let parsed = ParsedManifest::parse_stored(&manifest.content)?;
                let amd64 = parsed.manifests.iter().find(|d| {
                    d.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                });
                let Some(child) = amd64 else {
                    return Err(RegistryError::ManifestUnknown(
                        "the manifest list has no linux/amd64 entry for a client that does not accept lists".into(),
                    ));
                };
                self.meta
                    .manifest(repo, &child.digest)
                    .await?
                    .ok_or_else(|| RegistryError::ManifestUnknown(child.digest.to_string()))
            }
            _ => Ok(manifest),
        }
    }

    /// `DELETE /manifests/<digest>` removes the manifest and its tags; `<tag>` removes the
    /// tag only.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        self.require_delete()?;
        match reference {
            Reference::Tag(t) => self.check_tag_may_move(repo, t, None).await?,
            Reference::Digest(d) => self.check_no_immutable_tag_on(repo, d).await?,
        }
        let deleted = match reference {
            Reference::Digest(d) => self.meta.delete_manifest(repo, d).await?,
            Reference::Tag(t) => self.meta.delete_tag(repo, t).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown(format!(
                "{reference} is not in {repo}"
            )))
        }
    }

    /// The immutability rules over `repo`: the configuration's and its project's
    /// enabled ones.
    pub async fn immutability(&self, repo: &RepoName) -> Result<Immutability> {
        let project = repo.project();
        let relative = repo
            .as_str()
            .strip_prefix(project)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(repo.as_str());
        let stored = self
            .meta
            .immutable_rules_named(project)
            .await?
            .into_iter()
            .filter(|r| !r.disabled)
            .map(|r| ProjectImmutableRule {
                id: r.id,
                repositories: Glob::new(&r.repository_pattern),
                repositories_excluded: r.repository_decoration == "repoExcludes",
                tags: Glob::new(&r.tag_pattern),
                tags_excluded: r.tag_decoration == "excludes",
            })
            .collect();
        Ok(Immutability::new(
            repo.as_str(),
            relative,
            self.options.immutable.clone(),
            stored,
        ))
    }

    /// Refuses to point an existing immutable tag elsewhere (`to`: the new manifest) or to
    /// delete it (`to: None`). Creating it, or pushing the same manifest again, is fine.
    pub(crate) async fn check_tag_may_move(
        &self,
        repo: &RepoName,
        tag: &Tag,
        to: Option<&Digest>,
    ) -> Result<()> {
        let Some(rule) = self.immutability(repo).await?.covering(tag.as_str()) else {
            return Ok(());
        };
        let Some(current) = self.meta.manifest_by_tag(repo, tag).await? else {
            return Ok(());
        };
        if Some(&current.digest) == to {
            return Ok(());
        }
        let what = if to.is_some() {
            "overwritten"
        } else {
            "deleted"
        };
        Err(RegistryError::Immutable(format!(
            "tag {tag} in {repo} is immutable and cannot be {what} ({rule}); it points to {}",
            current.digest
        )))
    }

    /// Deleting a manifest deletes its tags: refused while an immutable one points to it.
    pub(crate) async fn check_no_immutable_tag_on(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<()> {
        let rules = self.immutability(repo).await?;
        if !rules.any() {
            return Ok(());
        }
        for tag in self.meta.tags_of(repo, digest).await? {
            if let Some(rule) = rules.covering(&tag) {
                return Err(RegistryError::Immutable(format!(
                    "{digest} in {repo} cannot be deleted: its tag {tag} is immutable ({rule})"
                )));
            }
        }
        Ok(())
    }
}
