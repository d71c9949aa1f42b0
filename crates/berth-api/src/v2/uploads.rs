//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic, mount) and
//! `GET`/`PATCH`/`PUT`/`DELETE /v2/<name>/blobs/uploads/<id>`.

use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use berth_core::{RegistryError, UploadStatus};
use berth_oci::range::parse_content_range;
use berth_oci::{Algorithm, RepoName};

use super::blobs::{blob_target, digest_header};
use super::{Ctx, emit, empty, method_not_allowed, parse_digest, repo_name};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};
use berth_auth::Action::Pull;
use berth_auth::{Identity, Scope};
use berth_notify::{Action, Target};

const UUID_HEADER: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// `Range` as the spec writes an upload's progress: `0-<last byte>`.
fn range_value(size: u64) -> HeaderValue {
    hv(format!("0-{}", size.saturating_sub(1)))
}

fn progress_headers(
    ctx: &Ctx,
    repo: &RepoName,
    status: &UploadStatus,
) -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            header::LOCATION,
            ctx.url(&format!("/v2/{repo}/blobs/uploads/{}", status.id)),
        ),
        (header::RANGE, range_value(status.size)),
        (UUID_HEADER, hv(&status.id)),
    ]
}

fn created(ctx: &Ctx, repo: &RepoName, digest: &berth_oci::Digest) -> axum::response::Response {
    empty(
        StatusCode::CREATED,
        vec![
            (
                header::LOCATION,
                ctx.url(&format!("/v2/{repo}/blobs/{digest}")),
            ),
            (digest_header(), hv(digest.to_string())),
        ],
    )
}

/// Marks the response of a finished upload: its size for the metrics, a push event for
/// notifications.
fn accepted(
    ctx: &Ctx,
    repo: &RepoName,
    digest: &berth_oci::Digest,
    size: u64,
) -> axum::response::Response {
    let mut resp = created(ctx, repo, digest);
    resp.extensions_mut().insert(super::BlobAccepted(size));
    emit(ctx, resp, Action::Push, || {
        blob_target(repo, digest, Some(size))
    })
}

pub(super) async fn start(mut ctx: Ctx, repo: RepoName) -> ApiResult {
    if ctx.method != Method::POST {
        return Err(method_not_allowed());
    }
    let registry = ctx.state.registry.clone();
    if let Some(mount) = ctx.param("mount") {
        let digest = parse_digest(mount)?;
        let from = ctx.param("from").map(repo_name).transpose()?;
        if let Some(from) = mount_source(&ctx.state, &ctx.who, &digest, from).await?
            && let Some(size) = registry.mount_blob(&repo, &digest, &from).await?
        {
            let resp = created(&ctx, &repo, &digest);
            return Ok(emit(&ctx, resp, Action::Mount, || Target {
                from_repository: Some(from.to_string()),
                ..blob_target(&repo, &digest, Some(size))
            }));
        }
        // Not mountable: the client uploads it instead, in the session we open below.
    } else if let Some(digest) = ctx.param("digest") {
        let digest = parse_digest(digest)?;
        let body = ctx.take_body();
        let size = registry.put_blob(&repo, &digest, body).await?;
        return Ok(accepted(&ctx, &repo, &digest, size));
    }
    let algorithm = match ctx.param("digest-algorithm") {
        Some(a) => Algorithm::parse(a).map_err(RegistryError::from)?,
        None => Algorithm::Sha256,
    };
    let status = registry.start_upload(&repo, algorithm).await?;
    Ok(empty(
        StatusCode::ACCEPTED,
        progress_headers(&ctx, &repo, &status),
    ))
}

/// Repositories looked at for a mount that names no source.
const MOUNT_CANDIDATES: u32 = 50;

/// Where a blob may be mounted from for this caller: the named source if the caller may
/// pull from it, else (no source named) the first repository holding the blob that the
/// caller may pull from. A mount must never reveal bytes the caller could not read.
async fn mount_source(
    state: &AppState,
    who: &Identity,
    digest: &berth_oci::Digest,
    from: Option<RepoName>,
) -> Result<Option<RepoName>, ApiError> {
    let readable = async |repo: &RepoName| {
        state
            .auth
            .allows(who, &Scope::repository(repo.as_str(), &[Pull]))
            .await
    };
    if let Some(from) = from {
        return Ok(readable(&from).await?.then_some(from));
    }
    for candidate in state
        .registry
        .mount_sources(digest, MOUNT_CANDIDATES)
        .await?
    {
        if readable(&candidate).await? {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

pub(super) async fn handle(mut ctx: Ctx, repo: RepoName, id: &str) -> ApiResult {
    let registry = ctx.state.registry.clone();
    match ctx.method {
        Method::GET => {
            let status = registry.upload_status(&repo, id).await?;
            Ok(empty(
                StatusCode::NO_CONTENT,
                progress_headers(&ctx, &repo, &status),
            ))
        }
        Method::PATCH => {
            let range = match ctx.header(header::CONTENT_RANGE) {
                None => None,
                Some(v) => Some(parse_content_range(v).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "BLOB_UPLOAD_INVALID",
                        format!("malformed Content-Range {v:?}; expected <start>-<end>"),
                    )
                })?),
            };
            if let (Some(r), Some(len)) = (range, ctx.header(header::CONTENT_LENGTH))
                && len.trim().parse::<u64>().ok() != Some(r.len())
            {
                return Err(RegistryError::BlobUploadInvalid(format!(
                    "Content-Length {len} does not match Content-Range {}-{}",
                    r.start, r.end
                ))
                .into());
            }
            let body = ctx.take_body();
            let claim = berth_core::ChunkClaim { range };
            match registry.append_chunk(&repo, id, claim, body).await {
                Ok(status) => Ok(empty(
                    StatusCode::ACCEPTED,
                    progress_headers(&ctx, &repo, &status),
                )),
                Err(RegistryError::ChunkOutOfOrder { size }) => {
                    let status = UploadStatus {
                        id: id.to_string(),
                        size,
                    };
                    let mut err: ApiError = RegistryError::ChunkOutOfOrder { size }.into();
                    err.headers = progress_headers(&ctx, &repo, &status);
                    Err(err)
                }
                Err(e) => Err(e.into()),
            }
        }
        Method::PUT => {
            let digest = ctx.param("digest").ok_or_else(|| {
                RegistryError::DigestInvalid(
                    "the digest query parameter is required to finish an upload".into(),
                )
            })?;
            let digest = parse_digest(digest)?;
            let body = ctx.has_body().then(|| ctx.take_body());
            let size = registry.finish_upload(&repo, id, &digest, body).await?;
            Ok(accepted(&ctx, &repo, &digest, size))
        }
        Method::DELETE => {
            registry.cancel_upload(&repo, id).await?;
            Ok(empty(StatusCode::NO_CONTENT, vec![]))
        }
        _ => Err(method_not_allowed()),
    }
}
