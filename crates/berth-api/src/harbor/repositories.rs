//! `/projects/{p}/repositories/...`: a project's repositories, their artifacts and tags,
//! and copying an artifact between repositories (Harbor's `from=`).

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use berth_auth::{Identity, Permission, ProjectRecord, ProjectRef, Resource, Verb};
use berth_core::artifacts::ArtifactView;
use berth_core::policy::Immutability;
use berth_meta::{
    ArtifactQuery, ArtifactScope, Order, RepositoryKey, RepositoryQuery, RepositoryRow,
};
use berth_notify::{Action, Actor, Event, RequestInfo, Target};
use berth_oci::{Reference, RepoName, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::labels::{Label, label_view};
use super::models::Errors;
use super::paging::{self, Page};
use super::{Caller, JsonBody, Params, named_project, project_for, q, timestamp};
use crate::AppState;
use crate::response::{ApiError, ApiResult, hv};

/// Harbor's `Repository`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Repository {
    id: i64,
    project_id: i64,
    /// The full name, project first.
    name: String,
    description: String,
    artifact_count: i64,
    pull_count: i64,
    creation_time: String,
    update_time: String,
}

fn repository(row: &RepositoryRow) -> Repository {
    Repository {
        id: row.id,
        project_id: row.project_id,
        name: row.name.clone(),
        description: row.description.clone(),
        artifact_count: row.artifact_count,
        pull_count: row.pull_count,
        creation_time: timestamp(row.created_at_ms),
        update_time: timestamp(row.updated_at_ms),
    }
}

/// Harbor's `Repository` as a `PUT` body: only the description changes.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RepositoryChange {
    #[serde(default)]
    description: String,
}

/// Harbor's `Tag` (berth has no tag ids).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TagView {
    repository_id: i64,
    name: String,
    push_time: String,
    pull_time: String,
    immutable: bool,
}

/// Harbor's `Tag` as a request body: its name.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewTag {
    #[serde(default)]
    name: String,
}

/// Harbor's `Platform` of an index child.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Platform {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

/// Harbor's `Reference`: one child of an index.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChildReference {
    child_digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    annotations: Option<Map<String, Value>>,
    urls: Vec<String>,
}

/// Harbor's `Artifact` (berth has no artifact ids; labels, scans and accessories are not
/// reported).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Artifact {
    #[serde(rename = "type")]
    kind: String,
    /// The config's media type, as Harbor reports it.
    media_type: String,
    manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    project_id: i64,
    repository_id: i64,
    repository_name: String,
    digest: String,
    size: i64,
    push_time: String,
    pull_time: String,
    #[schema(value_type = Object)]
    extra_attrs: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    annotations: Option<Map<String, Value>>,
    references: Vec<ChildReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<TagView>>,
    /// With `with_label=true`: the labels it carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<Label>>,
}

fn pull_time(ms: Option<i64>) -> String {
    // Harbor's zero time for "never".
    ms.map_or_else(|| "0001-01-01T00:00:00.000Z".into(), timestamp)
}

fn tags_of(view: &ArtifactView, rules: &Immutability) -> Vec<TagView> {
    view.row
        .tags
        .iter()
        .map(|(name, pushed)| TagView {
            repository_id: view.row.repository_id,
            name: name.clone(),
            push_time: timestamp(*pushed),
            pull_time: pull_time(view.row.pulled_at_ms),
            immutable: rules.covering(name).is_some(),
        })
        .collect()
}

fn artifact(
    view: &ArtifactView,
    repo: &RepoName,
    project_id: i64,
    tags: Option<&Immutability>,
) -> Artifact {
    let row = &view.row;
    let config_type = berth_oci::ParsedManifest::parse_stored(&row.content)
        .ok()
        .and_then(|p| p.config.map(|c| c.media_type))
        .unwrap_or_else(|| row.media_type.clone());
    Artifact {
        kind: view.kind.into(),
        media_type: config_type,
        manifest_media_type: row.media_type.clone(),
        artifact_type: row.artifact_type.clone(),
        project_id,
        repository_id: row.repository_id,
        repository_name: repo.to_string(),
        digest: row.digest.to_string(),
        size: row.size,
        push_time: timestamp(row.pushed_at_ms),
        pull_time: pull_time(row.pulled_at_ms),
        extra_attrs: view.extra_attrs.clone(),
        annotations: view.annotations.clone(),
        references: view
            .children
            .iter()
            .map(|c| ChildReference {
                child_digest: c.digest.to_string(),
                platform: c.platform.as_ref().map(|p| Platform {
                    architecture: p.architecture.clone(),
                    os: p.os.clone(),
                    variant: p.variant.clone(),
                }),
                annotations: c.annotations.clone(),
                urls: c.urls.clone(),
            })
            .collect(),
        tags: tags.map(|rules| tags_of(view, rules)),
        labels: None,
    }
}

/// `shown`, the artifacts of `views`, with the labels each carries when `wanted`.
async fn with_labels(
    state: &AppState,
    views: &[ArtifactView],
    shown: &mut [Artifact],
    wanted: Option<bool>,
) -> Result<(), ApiError> {
    if wanted != Some(true) {
        return Ok(());
    }
    for (view, artifact) in views.iter().zip(shown.iter_mut()) {
        let labels = state
            .registry
            .artifact_labels(view.row.repository_id, &view.row.digest)
            .await?;
        artifact.labels = Some(labels.iter().map(label_view).collect());
    }
    Ok(())
}

/// The immutability rules to mark tags with, when tags are shown (`with_tag`, default on).
async fn tag_rules(
    state: &AppState,
    repo: &RepoName,
    with_tag: Option<bool>,
) -> Result<Option<Immutability>, ApiError> {
    if with_tag == Some(false) {
        return Ok(None);
    }
    Ok(Some(state.registry.immutability(repo).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    /// Repositories: `name=~part` or `name=full/name`, and `project_id=N`. Accepted and
    /// ignored for tags.
    q: Option<String>,
    /// Repositories: `name`, `creation_time` (the default: `-creation_time`, newest
    /// first), `update_time` or `pull_count`, `-` first for descending. Tags are listed by
    /// name.
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ArtifactParams {
    /// `digest=sha256:…` and `artifact_type=…` (an OCI artifact's declared type); other
    /// keys are ignored.
    q: Option<String>,
    /// `push_time` or `-push_time` (the default, newest first).
    sort: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
    /// Include the tags (default `true`).
    with_tag: Option<bool>,
    /// Include the labels each artifact carries (default `false`).
    with_label: Option<bool>,
    /// Accepted and ignored: berth has no scans or signature checks yet.
    with_scan_overview: Option<bool>,
    with_signature: Option<bool>,
    with_immutable_status: Option<bool>,
    with_accessory: Option<bool>,
    /// Only each repository's latest push (for a project's artifacts).
    latest_in_repository: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CopyParams {
    /// The artifact to copy: `project/repository:tag` or `project/repository@digest`.
    from: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// Harbor answers a change that an immutable tag forbids with 412 (the registry API,
/// with the spec's 403 `DENIED`).
fn precondition(err: berth_core::RegistryError) -> ApiError {
    match err {
        berth_core::RegistryError::Immutable(message) => {
            ApiError::new(StatusCode::PRECONDITION_FAILED, "PRECONDITION", message)
        }
        other => other.into(),
    }
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
}

/// The project, if `who` may do `verb` on `resource` in it.
async fn project(
    state: &AppState,
    who: &Identity,
    name: &str,
    resource: Resource,
    verb: Verb,
) -> Result<ProjectRecord, ApiError> {
    project_for(
        state,
        who,
        &ProjectRef::Name(name.to_string()),
        Permission::new(resource, verb),
    )
    .await
}

/// The project and repository a path names, if `who` may do `verb` on `resource` there.
async fn repository_for(
    state: &AppState,
    who: &Identity,
    (project_name, name): (&str, &str),
    resource: Resource,
    verb: Verb,
) -> Result<(ProjectRecord, RepoName), ApiError> {
    let p = project(state, who, project_name, resource, verb).await?;
    let repo = full_name(&p.name, name)?;
    Ok((p, repo))
}

/// The artifact a path names (by tag or digest), with its project and repository, if
/// `who` may do `verb` on `resource` there.
async fn artifact_for(
    state: &AppState,
    who: &Identity,
    (project_name, name, reference_text): (&str, &str, &str),
    (resource, verb): (Resource, Verb),
) -> Result<(ProjectRecord, RepoName, ArtifactView), ApiError> {
    let (p, repo) = repository_for(state, who, (project_name, name), resource, verb).await?;
    let view = state
        .registry
        .artifact(&repo, &reference(reference_text)?)
        .await?;
    Ok((p, repo, view))
}

/// A repository's full name from the path: Harbor's clients encode the slashes of a
/// repository name twice (`a%252Fb`), so one `%2F` is left after routing.
fn full_name(project: &str, repository: &str) -> Result<RepoName, ApiError> {
    let relative = repository.replace("%2F", "/").replace("%2f", "/");
    format!("{project}/{relative}").parse().map_err(|e| {
        bad(format!(
            "{project}/{relative} is not a repository name: {e}"
        ))
    })
}

fn reference(text: &str) -> Result<Reference, ApiError> {
    text.parse()
        .map_err(|e| bad(format!("{text:?} is neither a tag nor a digest: {e}")))
}

/// Tells webhooks and receivers what a management request did to an artifact, as the
/// registry API's own requests do.
fn announce(
    state: &AppState,
    headers: &HeaderMap,
    who: &Identity,
    action: Action,
    repo: &RepoName,
    artifact: &berth_meta::ArtifactRow,
    tag: Option<&str>,
) {
    let notifier = &state.events.notifier;
    if !notifier.listening() {
        return;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    notifier.publish(Event::new(
        action,
        Target {
            media_type: artifact.media_type.clone(),
            digest: artifact.digest.to_string(),
            repository: repo.to_string(),
            tag: tag.map(String::from),
            ..Target::default()
        },
        RequestInfo {
            host,
            ..RequestInfo::default()
        },
        Actor {
            name: who.user.clone().unwrap_or_default(),
        },
        state.events.source.clone(),
    ));
}

/// A project's repositories that hold something, by name.
#[utoipa::path(get, path = "/projects/{project_name}/repositories", tag = "repository",
    operation_id = "ListRepositories",
    params(("project_name" = String, Path, description = "The project's name"), ListParams),
    responses((status = 200, body = [Repository], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_repositories(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(project_name): Path<String>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let p = project(
        &state,
        &who,
        &project_name,
        Resource::Repository,
        Verb::List,
    )
    .await?;
    let query = RepositoryQuery {
        project: Some(p.name),
        ..repository_query(&params, page)?
    };
    let (rows, total) = state.registry.repositories(&query).await?;
    let shown: Vec<Repository> = rows.iter().map(repository).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// The repositories of every project the caller sees (public ones, their own; all for
/// system administrators).
#[utoipa::path(get, path = "/repositories", tag = "repository",
    operation_id = "listAllRepositories", params(ListParams),
    responses((status = 200, body = [Repository], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors)))]
pub(super) async fn list_all_repositories(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let query = RepositoryQuery {
        visible: berth_auth::Teams::visibility(&who),
        ..repository_query(&params, page)?
    };
    let (rows, total) = state.registry.repositories(&query).await?;
    let shown: Vec<Repository> = rows.iter().map(repository).collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// What repositories sort by, as Harbor names it.
const REPOSITORY_SORTS: [(&str, RepositoryKey); 4] = [
    ("name", RepositoryKey::Name),
    ("creation_time", RepositoryKey::CreationTime),
    ("update_time", RepositoryKey::UpdateTime),
    ("pull_count", RepositoryKey::PullCount),
];

/// The listing `q`, `sort` and the page ask for (Harbor lists the newest first).
fn repository_query(params: &ListParams, page: Page) -> Result<RepositoryQuery, ApiError> {
    let terms = q::parse(params.q.as_deref())?;
    let newest = Order {
        key: RepositoryKey::CreationTime,
        descending: true,
    };
    let mut query = RepositoryQuery {
        order: q::sort(params.sort.as_deref(), &REPOSITORY_SORTS, newest)?,
        offset: page.offset(),
        limit: page.limit(),
        ..RepositoryQuery::default()
    };
    match terms.get("name") {
        Some(q::Term::Fuzzy(part)) => query.name_contains = Some(part.clone()),
        Some(term) => query.name = term.exact().map(String::from),
        None => {}
    }
    if let Some(id) = terms.get("project_id").and_then(q::Term::exact) {
        query.project_id = Some(
            id.parse()
                .map_err(|_| bad(format!("project_id must be a number, not {id:?}")))?,
        );
    }
    Ok(query)
}

/// The artifacts `q`, `sort` and the page ask for in `scope`.
fn artifact_query(
    params: &ArtifactParams,
    page: Page,
    scope: ArtifactScope,
) -> Result<ArtifactQuery, ApiError> {
    let terms = q::parse(params.q.as_deref())?;
    let digest = match terms.get("digest").and_then(q::Term::exact) {
        Some(text) => Some(
            text.parse()
                .map_err(|e| bad(format!("{text:?} is not a digest: {e}")))?,
        ),
        None => None,
    };
    let newest = Order {
        key: (),
        descending: true,
    };
    let order = q::sort(params.sort.as_deref(), &[("push_time", ())], newest)?;
    Ok(ArtifactQuery {
        scope,
        digest,
        artifact_type: terms
            .get("artifact_type")
            .and_then(q::Term::exact)
            .map(String::from),
        latest_in_repository: params.latest_in_repository == Some(true),
        oldest_first: !order.descending,
        offset: page.offset(),
        limit: page.limit(),
    })
}

/// The artifacts of every repository of a project, newest push first.
#[utoipa::path(get, path = "/projects/{project_name_or_id}/artifacts", tag = "project",
    operation_id = "listArtifactsOfProject",
    params(("project_name_or_id" = String, Path, description = "The project's name or id"),
        ArtifactParams),
    responses((status = 200, body = [Artifact], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_project_artifacts(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path(name_or_id): Path<String>,
    Params(params): Params<ArtifactParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let p = named_project(
        &state,
        &who,
        &headers,
        &name_or_id,
        (Resource::Artifact, Verb::List),
    )
    .await?;
    let query = artifact_query(&params, page, ArtifactScope::Project(p.name.clone()))?;
    let (views, total) = state.registry.artifacts(&query).await?;
    let mut shown = Vec::with_capacity(views.len());
    // A page holds several artifacts of one repository: its rules are read once.
    let mut rules_of: std::collections::HashMap<String, Option<Immutability>> =
        std::collections::HashMap::new();
    for view in &views {
        let repo = view
            .row
            .repository_name
            .parse::<RepoName>()
            .map_err(|e| crate::response::internal(&e))?;
        if !rules_of.contains_key(repo.as_str()) {
            let rules = tag_rules(&state, &repo, params.with_tag).await?;
            rules_of.insert(repo.to_string(), rules);
        }
        let rules = rules_of.get(repo.as_str()).and_then(Option::as_ref);
        shown.push(artifact(view, &repo, p.id, rules));
    }
    with_labels(&state, &views, &mut shown, params.with_label).await?;
    Ok(paging::list(&uri, &shown, total, page))
}

/// One repository.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}",
    tag = "repository", operation_id = "GetRepository",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project; slashes encoded twice (a%252Fb)")),
    responses((status = 200, body = Repository), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_repository(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name)): Path<(String, String)>,
) -> ApiResult {
    let (_, repo) = repository_for(
        &state,
        &who,
        (&project_name, &name),
        Resource::Repository,
        Verb::Read,
    )
    .await?;
    let row = state.registry.repository(&repo).await?;
    Ok(axum::Json(repository(&row)).into_response())
}

/// Change a repository's description.
#[utoipa::path(put, path = "/projects/{project_name}/repositories/{repository_name}",
    tag = "repository", operation_id = "UpdateRepository",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project")),
    request_body = RepositoryChange,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn update_repository(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name)): Path<(String, String)>,
    JsonBody(change): JsonBody<RepositoryChange>,
) -> ApiResult {
    let (_, repo) = repository_for(
        &state,
        &who,
        (&project_name, &name),
        Resource::Repository,
        Verb::Update,
    )
    .await?;
    state
        .registry
        .describe_repository(&repo, &change.description)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete a repository: every artifact in it (their blobs go with the next collection).
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}",
    tag = "repository", operation_id = "DeleteRepository",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_repository(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name)): Path<(String, String)>,
) -> ApiResult {
    let (_, repo) = repository_for(
        &state,
        &who,
        (&project_name, &name),
        Resource::Repository,
        Verb::Delete,
    )
    .await?;
    state
        .registry
        .delete_repository(&repo)
        .await
        .map_err(precondition)?;
    Ok(StatusCode::OK.into_response())
}

/// A repository's artifacts, newest push first.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts",
    tag = "artifact", operation_id = "ListArtifacts",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"), ArtifactParams),
    responses((status = 200, body = [Artifact], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn list_artifacts(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name)): Path<(String, String)>,
    Params(params): Params<ArtifactParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let _ = params.with_scan_overview;
    let _ = (
        params.with_signature,
        params.with_immutable_status,
        params.with_accessory,
    );
    let (p, repo) = repository_for(
        &state,
        &who,
        (&project_name, &name),
        Resource::Artifact,
        Verb::List,
    )
    .await?;
    let query = artifact_query(&params, page, ArtifactScope::Repository(repo.clone()))?;
    let (views, total) = state.registry.artifacts(&query).await?;
    let rules = tag_rules(&state, &repo, params.with_tag).await?;
    let mut shown: Vec<Artifact> = views
        .iter()
        .map(|v| artifact(v, &repo, p.id, rules.as_ref()))
        .collect();
    with_labels(&state, &views, &mut shown, params.with_label).await?;
    Ok(paging::list(&uri, &shown, total, page))
}

/// One artifact, by tag or digest.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
    tag = "artifact", operation_id = "GetArtifact",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest"), ArtifactParams),
    responses((status = 200, body = Artifact), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn get_artifact(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name, reference_text)): Path<(String, String, String)>,
    Params(params): Params<ArtifactParams>,
) -> ApiResult {
    let (p, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::Artifact, Verb::Read),
    )
    .await?;
    let rules = tag_rules(&state, &repo, params.with_tag).await?;
    let mut shown = [artifact(&view, &repo, p.id, rules.as_ref())];
    with_labels(
        &state,
        std::slice::from_ref(&view),
        &mut shown,
        params.with_label,
    )
    .await?;
    let [shown] = shown;
    Ok(axum::Json(shown).into_response())
}

/// Put a label on an artifact: a registry-wide one, or one of the artifact's project.
#[utoipa::path(post, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels",
    tag = "artifact", operation_id = "AddLabel",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest")),
    request_body = Label,
    responses((status = 200, description = "Labelled"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub(super) async fn add_artifact_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name, reference_text)): Path<(String, String, String)>,
    JsonBody(label): JsonBody<Label>,
) -> ApiResult {
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::ArtifactLabel, Verb::Create),
    )
    .await?;
    state
        .registry
        .label_artifact(&repo, &view.row.digest, label.id)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Take a label off an artifact.
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels/{label_id}",
    tag = "artifact", operation_id = "RemoveLabel",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest"),
        ("label_id" = i64, Path, description = "The label's id")),
    responses((status = 200, description = "Removed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn remove_artifact_label(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name, reference_text, label_id)): Path<(String, String, String, i64)>,
) -> ApiResult {
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::ArtifactLabel, Verb::Delete),
    )
    .await?;
    state
        .registry
        .unlabel_artifact(&repo, &view.row.digest, label_id)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Delete an artifact with its tags, its signatures and SBOMs, and the index children
/// nothing else needs.
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
    tag = "artifact", operation_id = "DeleteArtifact",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest")),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_artifact(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project_name, name, reference_text)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::Artifact, Verb::Delete),
    )
    .await?;
    state
        .registry
        .delete_artifact(&repo, &view.row.digest)
        .await
        .map_err(precondition)?;
    announce(
        &state,
        &headers,
        &who,
        Action::Delete,
        &repo,
        &view.row,
        None,
    );
    Ok(StatusCode::OK.into_response())
}

/// Copy an artifact from another repository (`from=project/repository:tag` or
/// `@digest`), with its tags, children and blobs; its digest stays the same.
#[utoipa::path(post, path = "/projects/{project_name}/repositories/{repository_name}/artifacts",
    tag = "artifact", operation_id = "CopyArtifact",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"), CopyParams),
    responses((status = 201, description = "Copied", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub(super) async fn copy_artifact(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project_name, name)): Path<(String, String)>,
    Params(params): Params<CopyParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let from = params
        .from
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad("say what to copy: from=project/repository:tag or @digest"))?;
    let (source, source_ref) = match from.split_once('@') {
        Some((repo, digest)) => (repo, digest),
        None => from
            .rsplit_once(':')
            .filter(|(repo, _)| !repo.is_empty())
            .ok_or_else(|| bad(format!("from={from} names no tag or digest")))?,
    };
    let source: RepoName = source
        .parse()
        .map_err(|e| bad(format!("{source} is not a repository name: {e}")))?;
    let source_ref = reference(source_ref)?;
    let (_, target) = repository_for(
        &state,
        &who,
        (&project_name, &name),
        Resource::Artifact,
        Verb::Create,
    )
    .await?;
    project(
        &state,
        &who,
        source.project(),
        Resource::Repository,
        Verb::Pull,
    )
    .await?;
    let digest = state
        .registry
        .copy_artifact(&source, &source_ref, &target)
        .await
        .map_err(precondition)?;
    let view = state
        .registry
        .artifact(&target, &Reference::Digest(digest.clone()))
        .await?;
    for (tag, _) in &view.row.tags {
        announce(
            &state,
            &headers,
            &who,
            Action::Push,
            &target,
            &view.row,
            Some(tag),
        );
    }
    if view.row.tags.is_empty() {
        announce(
            &state,
            &headers,
            &who,
            Action::Push,
            &target,
            &view.row,
            None,
        );
    }
    let location = format!("{}/{digest}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// An artifact's tags.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
    tag = "artifact", operation_id = "ListTags",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest"), ListParams),
    responses((status = 200, body = [TagView], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn list_tags(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name, reference_text)): Path<(String, String, String)>,
    Params(params): Params<ListParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult {
    let page = Page::at(params.page, params.page_size)?;
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::Tag, Verb::List),
    )
    .await?;
    let tags = tags_of(&view, &state.registry.immutability(&repo).await?);
    let total = tags.len() as i64;
    let shown: Vec<&TagView> = tags
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .collect();
    Ok(paging::list(&uri, &shown, total, page))
}

/// Tag an artifact.
#[utoipa::path(post, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
    tag = "artifact", operation_id = "CreateTag",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest")),
    request_body = NewTag,
    responses((status = 201, description = "Tagged", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub(super) async fn create_tag(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    Path((project_name, name, reference_text)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    JsonBody(new): JsonBody<NewTag>,
) -> ApiResult {
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::Tag, Verb::Create),
    )
    .await?;
    let tag: Tag = new
        .name
        .parse()
        .map_err(|e| bad(format!("{:?} is not a tag: {e}", new.name)))?;
    if view.row.tags.iter().any(|(t, _)| t == tag.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("the artifact has the tag {tag} already"),
        ));
    }
    state
        .registry
        .tag_artifact(&repo, &view.row.digest, &tag)
        .await
        .map_err(precondition)?;
    announce(
        &state,
        &headers,
        &who,
        Action::Push,
        &repo,
        &view.row,
        Some(tag.as_str()),
    );
    let location = format!("{}/{tag}", uri.path().trim_end_matches('/'));
    Ok((StatusCode::CREATED, [(header::LOCATION, hv(location))]).into_response())
}

/// Remove a tag (the artifact stays).
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
    tag = "artifact", operation_id = "DeleteTag",
    params(("project_name" = String, Path, description = "The project's name"),
        ("repository_name" = String, Path, description = "The name below the project"),
        ("reference" = String, Path, description = "A tag or a digest"),
        ("tag_name" = String, Path, description = "The tag to remove")),
    responses((status = 200, description = "Removed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub(super) async fn delete_tag(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((project_name, name, reference_text, tag_name)): Path<(String, String, String, String)>,
) -> ApiResult {
    let (_, repo, view) = artifact_for(
        &state,
        &who,
        (&project_name, &name, &reference_text),
        (Resource::Tag, Verb::Delete),
    )
    .await?;
    let Some((tag, _)) = view.row.tags.iter().find(|(t, _)| *t == tag_name) else {
        return Err(not_found(format!("the artifact has no tag {tag_name}")));
    };
    let tag: Tag = tag
        .parse()
        .map_err(|e| bad(format!("{tag:?} is not a tag: {e}")))?;
    state
        .registry
        .delete_manifest(&repo, &Reference::Tag(tag))
        .await
        .map_err(precondition)?;
    Ok(StatusCode::OK.into_response())
}
