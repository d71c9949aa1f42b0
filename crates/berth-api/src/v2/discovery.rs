//! `GET /v2/_catalog`, `GET /v2/<name>/tags/list`, `GET /v2/<name>/referrers/<digest>`.

use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_oci::{RepoName, media};
use serde_json::json;

use super::{Ctx, method_not_allowed, parse_digest};
use crate::response::{ApiError, ApiResult, hv};

/// Catalog pages are capped like Distribution's `catalog.maxentries` default.
const CATALOG_MAX: u32 = 1000;
/// Tag lists are complete unless the client asks for pages, up to this many.
const TAGS_MAX: u32 = 100_000;

struct Page {
    n: u32,
    last: Option<String>,
}

fn page(ctx: &Ctx, default: u32, max: u32) -> Result<Page, ApiError> {
    let n = match ctx.param("n") {
        None => default,
        Some(v) => v.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                format!("n must be a non-negative integer, not {v:?}"),
            )
        })?,
    };
    Ok(Page {
        n: n.min(max),
        last: ctx.param("last").map(str::to_string),
    })
}

/// Fetches one more than asked, to know whether a `Link` to the next page is due.
fn paginate(
    mut items: Vec<String>,
    n: u32,
    next: impl Fn(&str) -> String,
) -> (Vec<String>, Option<String>) {
    if items.len() > n as usize {
        items.truncate(n as usize);
        let link = items
            .last()
            .map(|last| format!("<{}>; rel=\"next\"", next(last)));
        (items, link)
    } else {
        (items, None)
    }
}

fn json_response(body: serde_json::Value, link: Option<String>) -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(link) = link {
        resp.headers_mut().insert(header::LINK, hv(link));
    }
    resp
}

fn encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

pub(super) async fn catalog(ctx: Ctx) -> ApiResult {
    if !matches!(ctx.method, Method::GET | Method::HEAD) {
        return Err(method_not_allowed());
    }
    let p = page(&ctx, CATALOG_MAX, CATALOG_MAX)?;
    // Only the repositories of projects the caller may pull from.
    let who = ctx.state.auth.resolve(ctx.who.clone()).await?;
    let projects = ctx.state.auth.policy().visible_projects(&who).await?;
    let visible = projects
        .as_ref()
        .map(|names| move |repo: &str| names.contains(repo.split('/').next().unwrap_or(repo)));
    let repos = ctx
        .state
        .registry
        .catalog(
            p.last.as_deref(),
            p.n.saturating_add(1),
            visible
                .as_ref()
                .map(|f| f as &(dyn Fn(&str) -> bool + Sync)),
        )
        .await?;
    let prefix = ctx.state.options.prefix.clone();
    let (repos, link) = paginate(repos, p.n, |last| {
        format!("{prefix}/v2/_catalog?last={}&n={}", encode(last), p.n)
    });
    Ok(json_response(json!({ "repositories": repos }), link))
}

pub(super) async fn tags(ctx: Ctx, repo: RepoName) -> ApiResult {
    if !matches!(ctx.method, Method::GET | Method::HEAD) {
        return Err(method_not_allowed());
    }
    let p = page(&ctx, TAGS_MAX, TAGS_MAX)?;
    let tags = ctx
        .state
        .registry
        .tags(&repo, p.last.as_deref(), p.n.saturating_add(1))
        .await?;
    let prefix = ctx.state.options.prefix.clone();
    let (tags, link) = paginate(tags, p.n, |last| {
        format!(
            "{prefix}/v2/{repo}/tags/list?last={}&n={}",
            encode(last),
            p.n
        )
    });
    Ok(json_response(
        json!({ "name": repo.as_str(), "tags": tags }),
        link,
    ))
}

pub(super) async fn referrers(ctx: Ctx, repo: RepoName, digest: &str) -> ApiResult {
    if !matches!(ctx.method, Method::GET | Method::HEAD) {
        return Err(method_not_allowed());
    }
    let digest = parse_digest(digest)?;
    let artifact_type = ctx.param("artifactType");
    let index = ctx
        .state
        .registry
        .referrers(&repo, &digest, artifact_type)
        .await?;
    let mut resp = ([(header::CONTENT_TYPE, media::OCI_INDEX)], index.body).into_response();
    if index.filtered {
        resp.headers_mut().insert(
            HeaderName::from_static("oci-filters-applied"),
            hv("artifactType"),
        );
    }
    Ok(resp)
}
