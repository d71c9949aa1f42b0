//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::Response;
use berth_core::RegistryError;
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{Reference, RepoName, Tag, media};

use super::blobs::digest_header;
use super::{Ctx, emit, empty, method_not_allowed};
use crate::response::{ApiResult, hv};
use berth_notify::{Action, Target};

fn tag_of(reference: &Reference) -> Option<String> {
    match reference {
        Reference::Tag(t) => Some(t.as_str().to_string()),
        Reference::Digest(_) => None,
    }
}

/// A manifest as an event target.
fn manifest_target(
    repo: &RepoName,
    media_type: &str,
    digest: &berth_oci::Digest,
    size: usize,
    reference: &Reference,
) -> Target {
    Target {
        media_type: media_type.to_string(),
        size: Some(size as u64),
        length: Some(size as u64),
        digest: digest.to_string(),
        repository: repo.to_string(),
        url: format!("/v2/{repo}/manifests/{digest}"),
        tag: tag_of(reference),
        from_repository: None,
        references: vec![],
    }
}

const SUBJECT_HEADER: HeaderName = HeaderName::from_static("oci-subject");
const TAG_HEADER: HeaderName = HeaderName::from_static("oci-tag");

pub(super) async fn handle(mut ctx: Ctx, repo: RepoName, reference: &str) -> ApiResult {
    let reference: Reference = match reference.parse() {
        Ok(r) => r,
        // Only a push can be wrong about a tag; a manifest nobody can have pushed is
        // simply not there (the spec and Distribution answer 404 to reads and deletes).
        Err(_) if ctx.method != Method::PUT => {
            return Err(RegistryError::ManifestUnknown(format!(
                "{reference:?} is neither a valid tag nor a digest"
            ))
            .into());
        }
        Err(e) => return Err(RegistryError::from(e).into()),
    };
    let registry = ctx.state.registry.clone();
    match ctx.method {
        Method::GET | Method::HEAD => {
            let accept: Vec<&str> = ctx
                .headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(media::essence)
                .filter(|v| !v.is_empty())
                .collect();
            let m = registry.get_manifest(&repo, &reference, &accept).await?;
            let length = m.content.len();
            let is_get = ctx.method == Method::GET;
            let body = if is_get {
                Body::from(m.content)
            } else {
                Body::empty()
            };
            let mut resp = Response::new(body);
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, hv(&m.media_type));
            h.insert(header::CONTENT_LENGTH, hv(length.to_string()));
            h.insert(digest_header(), hv(m.digest.to_string()));
            h.insert(header::ETAG, hv(format!("\"{}\"", m.digest)));
            // Distribution reports GETs as pulls, not HEADs; retention counts them alike.
            if is_get {
                registry.note_pull(&repo, &m.digest);
            }
            Ok(if is_get {
                emit(&ctx, resp, Action::Pull, || {
                    manifest_target(&repo, &m.media_type, &m.digest, length, &reference)
                })
            } else {
                resp
            })
        }
        Method::PUT => {
            let tags = ctx
                .params("tag")
                .map(|t| t.parse::<Tag>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(RegistryError::from)?;
            let content_type = ctx.header(header::CONTENT_TYPE).map(str::to_string);
            let body = std::mem::take(&mut ctx.body);
            let content = axum::body::to_bytes(body, MAX_MANIFEST_SIZE)
                .await
                .map_err(|_| {
                    RegistryError::ManifestTooLarge(format!(
                        "the body exceeds {MAX_MANIFEST_SIZE} bytes, or could not be read"
                    ))
                })?;
            let pushed = registry
                .put_manifest(&repo, &reference, &tags, content_type.as_deref(), content)
                .await?;
            let mut headers = vec![
                (
                    header::LOCATION,
                    ctx.url(&format!("/v2/{repo}/manifests/{}", pushed.digest)),
                ),
                (digest_header(), hv(pushed.digest.to_string())),
            ];
            if let Some(subject) = pushed.subject {
                headers.push((SUBJECT_HEADER, hv(subject.to_string())));
            }
            let mut resp = emit(
                &ctx,
                empty(StatusCode::CREATED, headers),
                Action::Push,
                || {
                    let mut target = manifest_target(
                        &repo,
                        &pushed.media_type,
                        &pushed.digest,
                        pushed.size as usize,
                        &reference,
                    );
                    target.tag = target
                        .tag
                        .or_else(|| tags.first().map(|t| t.as_str().to_string()));
                    target.references = pushed
                        .references
                        .iter()
                        .map(|d| berth_notify::Reference {
                            media_type: d.media_type.clone(),
                            size: d.size,
                            digest: d.digest.to_string(),
                        })
                        .collect();
                    target
                },
            );
            // OCI 1.1: one `OCI-Tag` per `?tag=` accepted (all are, or none: the push is
            // one transaction).
            for tag in &tags {
                resp.headers_mut().append(TAG_HEADER, hv(tag.as_str()));
            }
            Ok(resp)
        }
        Method::DELETE => {
            registry.delete_manifest(&repo, &reference).await?;
            Ok(emit(
                &ctx,
                empty(StatusCode::ACCEPTED, vec![]),
                Action::Delete,
                || Target {
                    digest: match &reference {
                        Reference::Digest(d) => d.to_string(),
                        Reference::Tag(_) => String::new(),
                    },
                    repository: repo.to_string(),
                    tag: tag_of(&reference),
                    ..Target::default()
                },
            ))
        }
        _ => Err(method_not_allowed()),
    }
}
