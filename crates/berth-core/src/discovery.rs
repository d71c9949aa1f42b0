//! Tag lists, the catalog and the referrers API.

use berth_oci::{Digest, RepoName, media};
use serde_json::{Map, Value, json};

use crate::{Registry, RegistryError, Result};

/// Repository names read at a time when the catalog is filtered.
const CATALOG_BATCH: u32 = 1000;

/// The referrers response: an OCI image index, and whether a filter was applied.
#[derive(Debug, Clone)]
pub struct ReferrersIndex {
    pub body: Vec<u8>,
    pub filtered: bool,
}

impl Registry {
    pub async fn tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.meta
            .tags(repo, last, limit)
            .await?
            .ok_or(RegistryError::NameUnknown)
    }

    /// Up to `limit` repository names after `last`, of those `visible` keeps (`None`:
    /// all): pages of the catalog are read until enough are kept or none are left.
    pub async fn catalog(
        &self,
        last: Option<&str>,
        limit: u32,
        visible: Option<&(dyn Fn(&str) -> bool + Sync)>,
    ) -> Result<Vec<String>> {
        let Some(visible) = visible else {
            return Ok(self.meta.repositories(last, limit).await?);
        };
        let mut kept = Vec::new();
        let mut after = last.map(String::from);
        loop {
            let page = self
                .meta
                .repositories(after.as_deref(), CATALOG_BATCH)
                .await?;
            let full = page.len() as u32 == CATALOG_BATCH;
            after = page.last().cloned();
            kept.extend(page.into_iter().filter(|name| visible(name)));
            if kept.len() as u32 >= limit || !full {
                kept.truncate(limit as usize);
                return Ok(kept);
            }
        }
    }

    /// Manifests in `repo` whose `subject` is `subject`, optionally only those of one
    /// artifact type. An unknown subject or repository yields an empty index, as the spec
    /// requires (never 404).
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ReferrersIndex> {
        let referrers = self.meta.referrers(repo, subject).await?;
        let manifests: Vec<Value> = referrers
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
            .map(|r| {
                let mut d = Map::new();
                d.insert("mediaType".into(), r.media_type.into());
                d.insert("digest".into(), r.digest.to_string().into());
                d.insert("size".into(), r.size.into());
                if let Some(t) = r.artifact_type {
                    d.insert("artifactType".into(), t.into());
                }
                if let Some(a) = r
                    .annotations
                    .and_then(|a| serde_json::from_str::<Value>(&a).ok())
                {
                    d.insert("annotations".into(), a);
                }
                Value::Object(d)
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifests,
        });
        Ok(ReferrersIndex {
            body: serde_json::to_vec(&index).unwrap_or_default(),
            filtered: artifact_type.is_some(),
        })
    }
}
