//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::Response;
use berth_oci::RepoName;
use berth_oci::range::{RangeRequest, parse_range};

use super::{Ctx, empty, method_not_allowed, parse_digest};
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
            let body = if ctx.method == Method::HEAD {
                Body::empty()
            } else {
                Body::from_stream(registry.read_blob(&digest, range).await?)
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
            Ok(resp)
        }
        Method::DELETE => {
            registry.delete_blob(&repo, &digest).await?;
            Ok(empty(
                StatusCode::ACCEPTED,
                vec![(DIGEST_HEADER, hv(digest.to_string()))],
            ))
        }
        _ => Err(method_not_allowed()),
    }
}

pub(crate) fn digest_header() -> HeaderName {
    DIGEST_HEADER
}
