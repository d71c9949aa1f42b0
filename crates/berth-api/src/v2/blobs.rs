//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::Response;
use berth_notify::{Action, Target};
use berth_oci::range::{RangeRequest, parse_range};
use berth_oci::{Digest, RepoName};

use super::{BLOB_MEDIA_TYPE, Ctx, emit, empty, method_not_allowed, parse_digest};
use crate::response::{ApiError, ApiResult, hv};

const DIGEST_HEADER: HeaderName = HeaderName::from_static("docker-content-digest");

pub(super) async fn handle(ctx: Ctx, repo: RepoName, digest: &str) -> ApiResult {
    let digest = parse_digest(digest)?;
    let registry = &ctx.state.registry;
    match ctx.method {
        Method::GET | Method::HEAD => {
            let size = registry.blob_size(&repo, &digest).await?;
            let etag = format!("\"{digest}\"");
            if ctx.header(header::IF_NONE_MATCH) == Some(etag.as_str()) {
                return Ok(empty(
                    StatusCode::NOT_MODIFIED,
                    vec![(header::ETAG, hv(&etag))],
                ));
            }
            let range = match ctx.header(header::RANGE) {
                Some(value) => parse_range(value, size),
                None => RangeRequest::Full,
            };
            let (status, range, length) = match range {
                RangeRequest::Full => (StatusCode::OK, None, size),
                RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, Some(r), r.len()),
                RangeRequest::Unsatisfiable => {
                    return Err(ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UNKNOWN",
                        format!("the requested range is outside the blob's {size} bytes"),
                    )
                    .with_header(header::CONTENT_RANGE, hv(format!("bytes */{size}"))));
                }
            };
            let is_get = ctx.method == Method::GET;
            if is_get && let Some(url) = registry.blob_redirect(&digest, size).await? {
                let resp = empty(
                    StatusCode::TEMPORARY_REDIRECT,
                    vec![
                        (header::LOCATION, hv(url)),
                        (DIGEST_HEADER, hv(digest.to_string())),
                    ],
                );
                return Ok(emit(&ctx, resp, Action::Pull, || {
                    blob_target(&repo, &digest, Some(size))
                }));
            }
            let body = if is_get {
                Body::from_stream(registry.read_blob(&digest, range, size).await?)
            } else {
                Body::empty()
            };
            let mut resp = Response::new(body);
            *resp.status_mut() = status;
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, hv(length.to_string()));
            h.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
            h.insert(DIGEST_HEADER, hv(digest.to_string()));
            h.insert(header::ETAG, hv(&etag));
            h.insert(header::ACCEPT_RANGES, hv("bytes"));
            h.insert(header::CACHE_CONTROL, hv("max-age=31536000"));
            if let Some(r) = range {
                h.insert(
                    header::CONTENT_RANGE,
                    hv(format!("bytes {}-{}/{size}", r.start, r.end)),
                );
            }
            Ok(if is_get {
                emit(&ctx, resp, Action::Pull, || {
                    blob_target(&repo, &digest, Some(size))
                })
            } else {
                resp
            })
        }
        Method::DELETE => {
            registry.delete_blob(&repo, &digest).await?;
            let resp = empty(
                StatusCode::ACCEPTED,
                vec![(DIGEST_HEADER, hv(digest.to_string()))],
            );
            Ok(emit(&ctx, resp, Action::Delete, || {
                blob_target(&repo, &digest, None)
            }))
        }
        _ => Err(method_not_allowed()),
    }
}

/// A blob as an event target.
pub(crate) fn blob_target(repo: &RepoName, digest: &Digest, size: Option<u64>) -> Target {
    Target {
        media_type: BLOB_MEDIA_TYPE.into(),
        size,
        length: size,
        digest: digest.to_string(),
        repository: repo.to_string(),
        url: format!("/v2/{repo}/blobs/{digest}"),
        tag: None,
        from_repository: None,
        references: vec![],
    }
}

pub(crate) fn digest_header() -> HeaderName {
    DIGEST_HEADER
}
