//! Manifest parsing and validation. berth keeps the exact bytes a client pushed; this
//! module only extracts what the registry needs from them (media type, referenced blobs
//! and manifests, subject, artifact type) and refuses documents that are not manifests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media;

/// Registries should refuse manifests larger than this (distribution-spec).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest is larger than {MAX_MANIFEST_SIZE} bytes")]
    TooLarge,
    #[error("manifest has no media type: set mediaType in the body or a Content-Type header")]
    NoMediaType,
    #[error("mediaType {body:?} in the manifest differs from the Content-Type header {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("unsupported manifest media type {0:?}")]
    Unsupported(String),
    #[error("Docker schema 1 manifests are deprecated and not accepted; push schema 2 or OCI")]
    Schema1,
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    #[error("{0}")]
    Inconsistent(&'static str),
    #[error("invalid descriptor in {field}: {reason}")]
    Descriptor { field: &'static str, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor as it appears in manifests and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// `artifactType`, or for image manifests without one the config's media type, as
    /// the referrers API reports it.
    pub artifact_type: Option<String>,
    pub annotations: Option<Map<String, Value>>,
}

/// The fields of every manifest kind, all optional, so one parse serves them all and
/// consistency checks can say exactly what is wrong.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Value>,
    layers: Option<Value>,
    manifests: Option<Value>,
    subject: Option<Value>,
    annotations: Option<Map<String, Value>>,
    fs_layers: Option<Vec<Schema1Layer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema1Layer {
    blob_sum: Digest,
}

fn descriptor(field: &'static str, v: Value) -> Result<Descriptor, ManifestError> {
    let d: Descriptor = serde_json::from_value(v).map_err(|e| ManifestError::Descriptor {
        field,
        reason: e.to_string(),
    })?;
    if d.media_type.is_empty() {
        return Err(ManifestError::Descriptor {
            field,
            reason: "mediaType is empty".into(),
        });
    }
    Ok(d)
}

fn descriptors(field: &'static str, v: Value) -> Result<Vec<Descriptor>, ManifestError> {
    match v {
        Value::Array(items) => items.into_iter().map(|i| descriptor(field, i)).collect(),
        _ => Err(ManifestError::Descriptor {
            field,
            reason: "must be an array".into(),
        }),
    }
}

impl ParsedManifest {
    /// Parses and validates a manifest pushed with the given `Content-Type` header.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        Self::parse_inner(bytes, content_type, false)
    }

    /// Parses a manifest already in storage (import of a registry:2 tree), where old
    /// schema 1 manifests must be indexed rather than refused.
    pub fn parse_stored(bytes: &[u8]) -> Result<Self, ManifestError> {
        Self::parse_inner(bytes, None, true)
    }

    fn parse_inner(
        bytes: &[u8],
        content_type: Option<&str>,
        allow_schema1: bool,
    ) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge);
        }
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let header = content_type.map(media::essence).filter(|h| {
            !h.is_empty() && *h != "application/json" && *h != "application/octet-stream"
        });

        if raw.schema_version == Some(1) || raw.fs_layers.is_some() {
            if !allow_schema1 {
                return Err(ManifestError::Schema1);
            }
            return Ok(Self::schema1(raw));
        }

        let media_type = match (&raw.media_type, header) {
            (Some(body), Some(h)) if body != h => {
                return Err(ManifestError::MediaTypeMismatch {
                    body: body.clone(),
                    header: h.to_string(),
                });
            }
            (Some(body), _) => body.clone(),
            (None, Some(h)) => h.to_string(),
            // OCI manifests may omit mediaType; infer it from the shape, as clients do.
            (None, None) if raw.manifests.is_some() => media::OCI_INDEX.to_string(),
            (None, None) if raw.config.is_some() => media::OCI_MANIFEST.to_string(),
            (None, None) => return Err(ManifestError::NoMediaType),
        };
        if media_type == media::DOCKER_SCHEMA1 || media_type == media::DOCKER_SCHEMA1_SIGNED {
            return Err(ManifestError::Schema1);
        }
        if !media::is_pushable_manifest(&media_type) {
            return Err(ManifestError::Unsupported(media_type));
        }
        if raw.schema_version != Some(2) {
            return Err(ManifestError::SchemaVersion);
        }
        let subject = raw.subject.map(|s| descriptor("subject", s)).transpose()?;

        if media::is_index(&media_type) {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(ManifestError::Inconsistent(
                    "an index must not have config or layers; is the media type right?",
                ));
            }
            let manifests = descriptors(
                "manifests",
                raw.manifests.ok_or(ManifestError::Inconsistent(
                    "an index needs a manifests array",
                ))?,
            )?;
            return Ok(ParsedManifest {
                media_type,
                config: None,
                layers: Vec::new(),
                manifests,
                subject,
                artifact_type: raw.artifact_type,
                annotations: raw.annotations,
            });
        }

        if raw.manifests.is_some() {
            return Err(ManifestError::Inconsistent(
                "an image manifest must not have manifests; is the media type right?",
            ));
        }
        let config = descriptor(
            "config",
            raw.config.ok_or(ManifestError::Inconsistent(
                "an image manifest needs a config descriptor",
            ))?,
        )?;
        let layers = match raw.layers {
            Some(v) => descriptors("layers", v)?,
            None if media_type == media::OCI_MANIFEST => {
                return Err(ManifestError::Inconsistent(
                    "an image manifest needs a layers array",
                ));
            }
            None => Vec::new(),
        };
        if raw.artifact_type.is_some() && media_type != media::OCI_MANIFEST {
            return Err(ManifestError::Inconsistent(
                "artifactType is only allowed in OCI manifests",
            ));
        }
        let artifact_type = raw
            .artifact_type
            .or_else(|| Some(config.media_type.clone()));
        Ok(ParsedManifest {
            media_type,
            config: Some(config),
            layers,
            manifests: Vec::new(),
            subject,
            artifact_type,
            annotations: raw.annotations,
        })
    }

    fn schema1(raw: Raw) -> Self {
        let layers = raw
            .fs_layers
            .unwrap_or_default()
            .into_iter()
            .map(|l| Descriptor {
                media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
                digest: l.blob_sum,
                size: 0,
                urls: Vec::new(),
                artifact_type: None,
                annotations: None,
                platform: None,
            })
            .collect();
        ParsedManifest {
            media_type: media::DOCKER_SCHEMA1_SIGNED.to_string(),
            config: None,
            layers,
            manifests: Vec::new(),
            subject: None,
            artifact_type: None,
            annotations: None,
        }
    }

    /// Blobs that must exist in the repository for this manifest to be accepted. Layers
    /// that carry `urls` are non-distributable (foreign) and live elsewhere.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config
            .iter()
            .chain(self.layers.iter().filter(|l| l.urls.is_empty()))
    }

    pub fn is_index(&self) -> bool {
        media::is_index(&self.media_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    const L1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(media_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{CFG}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{L1}","size":0}}]}}"#
        )
    }

    #[test]
    fn parses_image_manifest() {
        let m = ParsedManifest::parse(
            image(media::OCI_MANIFEST).as_bytes(),
            Some(media::OCI_MANIFEST),
        )
        .unwrap();
        assert_eq!(m.media_type, media::OCI_MANIFEST);
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn header_must_agree_with_body() {
        let err = ParsedManifest::parse(
            image(media::OCI_MANIFEST).as_bytes(),
            Some(media::DOCKER_MANIFEST),
        );
        assert!(matches!(err, Err(ManifestError::MediaTypeMismatch { .. })));
    }

    #[test]
    fn media_type_from_header_when_body_has_none() {
        let body = image(media::OCI_MANIFEST)
            .replace(&format!(r#""mediaType":"{}","#, media::OCI_MANIFEST), "");
        let m = ParsedManifest::parse(body.as_bytes(), Some(media::OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, media::OCI_MANIFEST);
    }

    #[test]
    fn index_with_layers_is_inconsistent() {
        let body = image(media::OCI_INDEX);
        assert!(matches!(
            ParsedManifest::parse(body.as_bytes(), None),
            Err(ManifestError::Inconsistent(_))
        ));
    }

    #[test]
    fn refuses_garbage() {
        assert!(ParsedManifest::parse(b"not json", None).is_err());
        assert!(ParsedManifest::parse(b"{}", None).is_err());
        assert!(ParsedManifest::parse(b"[]", None).is_err());
        let bad_digest = image(media::OCI_MANIFEST).replace(L1, "sha256:zzz");
        assert!(matches!(
            ParsedManifest::parse(bad_digest.as_bytes(), None),
            Err(ManifestError::Descriptor { .. })
        ));
        let v1 = image(media::OCI_MANIFEST).replace(r#""schemaVersion":2"#, r#""schemaVersion":1"#);
        assert_eq!(
            ParsedManifest::parse(v1.as_bytes(), None),
            Err(ManifestError::Schema1)
        );
    }

    #[test]
    fn foreign_layers_are_not_required() {
        let body = image(media::DOCKER_MANIFEST).replace(
            r#""size":0}"#,
            r#""size":0,"urls":["https://example.invalid/layer"]}"#,
        );
        let m = ParsedManifest::parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.required_blobs().count(), 1);
    }
}
