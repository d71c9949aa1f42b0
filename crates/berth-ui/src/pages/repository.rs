//! A repository: its artifacts with tags, platforms and sizes; one artifact's manifest,
//! config and layers; deleting a tag or an artifact after a page that says what goes.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::project::{ProjectView, path_of};
use super::{PageError, PageResult, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode, repository_segment};
use crate::format::{bytes, pretty_json, short_digest, when};
use crate::layout::{Crumb, copyable, crumb, notice, page, pager};
use crate::models::Artifact;
use crate::viewer::Viewer;

const PAGE_SIZE: u64 = 25;

/// Every manifest type a page may show.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.artifact.manifest.v1+json";

/// The largest config blob shown.
const MAX_CONFIG: i64 = 4 << 20;

/// What a path below `/projects/{p}/repositories/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Repository(&'a str),
    Artifact(&'a str, &'a str),
    /// `-/delete`: the confirmation page; `-/delete-tag`, `-/delete-artifact`: the forms.
    Action(&'a str, &'a str),
}

/// Repository names hold slashes, so the interface's own parts follow a `-` segment.
fn target(rest: &str) -> Option<Target<'_>> {
    match rest.split_once("/-/") {
        None => (!rest.is_empty()).then_some(Target::Repository(rest.trim_end_matches('/'))),
        Some((repo, tail)) => match tail.split_once('/') {
            Some(("artifacts", digest)) => Some(Target::Artifact(repo, digest)),
            None => Some(Target::Action(repo, tail)),
            _ => None,
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Listing {
    page: Option<u64>,
    tag: String,
    digest: String,
}

/// A repository's place: its project, names and links.
struct Place<'a> {
    ui: &'a Ui,
    view: ProjectView,
    /// The name inside the project (`app/api`).
    inside: &'a str,
}

impl Place<'_> {
    fn full_name(&self) -> String {
        format!("{}/{}", self.view.project.name, self.inside)
    }

    fn link(&self, rest: &str) -> String {
        self.view.link(
            self.ui,
            &format!("/repositories/{}{rest}", path_of(self.inside)),
        )
    }

    fn api_path(&self, rest: &str) -> String {
        format!(
            "/projects/{}/repositories/{}{rest}",
            encode(&self.view.project.name),
            repository_segment(self.inside)
        )
    }

    fn crumbs(&self, with_repository: bool) -> Vec<Crumb> {
        let mut crumbs = self.view.crumbs(self.ui);
        crumbs.push(crumb(
            self.view.project.name.clone(),
            self.view.link(self.ui, ""),
        ));
        if with_repository {
            crumbs.push(crumb(self.inside.to_string(), self.link("")));
        }
        crumbs
    }
}

fn not_found(what: String) -> PageError {
    PageError(ApiFailure::new(StatusCode::NOT_FOUND, what))
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((project, rest)): Path<(String, String)>,
    Query(listing): Query<Listing>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let api = Api::new(&ui, &headers);
    let target = target(&rest).ok_or_else(|| not_found(format!("no page at {rest}")))?;
    let inside = match target {
        Target::Repository(r) | Target::Artifact(r, _) | Target::Action(r, _) => r,
    };
    let place = Place {
        ui: &ui,
        view: ProjectView::load(&api, &project).await?,
        inside,
    };
    match target {
        Target::Repository(_) => repository(&place, &api, &viewer, &headers, listing.page).await,
        Target::Artifact(_, digest) => artifact(&place, &api, &viewer, digest).await,
        Target::Action(_, "delete") => confirm_delete(&place, &api, &viewer, &listing).await,
        Target::Action(_, other) => Err(not_found(format!("no page {other}"))),
    }
}

/// The host clients pull from, as the browser reached the registry.
fn registry_host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("registry.example")
        .to_string()
}

async fn repository(
    place: &Place<'_>,
    api: &Api<'_>,
    viewer: &Viewer,
    headers: &HeaderMap,
    page_no: Option<u64>,
) -> PageResult {
    let ui = place.ui;
    let page_no = page_no.unwrap_or(1).max(1);
    let (artifacts, total) = api
        .listing::<Vec<Artifact>>(&place.api_path(&format!(
            "/artifacts?page={page_no}&page_size={PAGE_SIZE}&with_tag=true"
        )))
        .await?;
    let total = total.unwrap_or(artifacts.len() as u64);
    let full = place.full_name();
    let host = registry_host(headers);
    let first_tag = artifacts
        .iter()
        .find_map(|a| {
            a.tags
                .as_ref()
                .and_then(|t| t.first())
                .map(|t| t.name.clone())
        })
        .unwrap_or_else(|| "latest".into());
    let rights = &place.view.rights;
    let (may_delete_tag, may_delete_artifact) = (
        rights.may("tag", "delete"),
        rights.may("artifact", "delete"),
    );
    let body = html! {
        div.pull {
            span.label { "Pull" }
            (copyable(&format!("docker pull {host}/{full}:{first_tag}"), "Copy the pull command"))
        }
        @if artifacts.is_empty() {
            p.muted { "This repository holds no artifacts." }
        } @else {
            div.table-wrap {
                table.artifacts {
                    thead { tr { th { "Artifact" } th { "Tags" } th { "Type" } th.num { "Size" } th { "Pushed" } th { "Pulled" } } }
                    tbody {
                        @for a in &artifacts {
                            tr {
                                td {
                                    a href=(place.link(&format!("/-/artifacts/{}", a.digest))) { code { (short_digest(&a.digest)) } }
                                    button.copy type="button" data-copy=(a.digest) aria-label="Copy the digest" { "Copy" }
                                    @if !a.references.is_empty() {
                                        details.platforms {
                                            summary { (a.references.len()) " platforms" }
                                            ul.plain {
                                                @for r in &a.references {
                                                    li {
                                                        a href=(place.link(&format!("/-/artifacts/{}", r.child_digest))) {
                                                            (r.platform.as_ref().map_or_else(|| "unknown".to_string(), |p| p.label()))
                                                        }
                                                        " " code.muted { (short_digest(&r.child_digest)) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                                td.tags {
                                    @for t in a.tags.iter().flatten() {
                                        span.tag {
                                            (t.name)
                                            @if t.immutable { " " span title="Immutable: a rule protects this tag" aria-label="immutable" { "🔒" } }
                                            @if may_delete_tag && !t.immutable {
                                                " "
                                                a.remove href=(place.link(&format!("/-/delete?tag={}", encode(&t.name))))
                                                    aria-label={ "Delete tag " (t.name) } title="Delete this tag" { "×" }
                                            }
                                        }
                                    }
                                }
                                td { (kind_of(a)) }
                                td.num { (bytes(a.size)) }
                                td { (when(&a.push_time)) }
                                td { (when(&a.pull_time)) }
                            }
                        }
                    }
                }
            }
            (pager(page_no, PAGE_SIZE, total, |n| place.link(&format!("?page={n}"))))
        }
        @if !may_delete_artifact && !may_delete_tag && viewer.user.is_some() {
            p.muted { "Your role here lets you pull, not delete." }
        }
    };
    Ok(page(ui, viewer, place.inside, &place.crumbs(false), body))
}

/// What an artifact is, in a word.
fn kind_of(a: &Artifact) -> String {
    if !a.references.is_empty() {
        return "image index".into();
    }
    match a.artifact_type.as_deref() {
        Some(t) if t.contains("sbom") || t.contains("spdx") || t.contains("cyclonedx") => {
            "SBOM".into()
        }
        Some(t) if t.contains("signature") || t.contains("cosign") || t.contains("notary") => {
            "signature".into()
        }
        // Harbor reports an image's config type as its artifact type.
        Some(t)
            if t.ends_with("image.config.v1+json") || t.ends_with("container.image.v1+json") =>
        {
            "image".into()
        }
        Some(t) => t.to_string(),
        None => a.kind.to_lowercase(),
    }
}

async fn artifact(place: &Place<'_>, api: &Api<'_>, viewer: &Viewer, digest: &str) -> PageResult {
    let ui = place.ui;
    let full = place.full_name();
    let found: Artifact = api
        .get(&place.api_path(&format!("/artifacts/{}?with_tag=true", encode(digest))))
        .await?;
    let manifest = api
        .registry(&format!("{full}/manifests/{digest}"), MANIFEST_TYPES)
        .await?;
    let raw = String::from_utf8_lossy(&manifest.body).to_string();
    let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let config = config_of(api, &full, &parsed).await;
    let referrers = api
        .registry(
            &format!("{full}/referrers/{digest}"),
            "application/vnd.oci.image.index.v1+json",
        )
        .await
        .ok()
        .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
        .and_then(|v| v.get("manifests").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let layers = parsed
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let children = parsed
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let may_delete = place.view.rights.may("artifact", "delete");
    let body = html! {
        section.card #facts {
        dl.facts {
            dt { "Digest" } dd { (copyable(&found.digest, "Copy the digest")) }
            dt { "Type" } dd { (kind_of(&found)) " · " code { (found.manifest_media_type) } }
            dt { "Size" } dd { (bytes(found.size)) }
            dt { "Tags" } dd { @for t in found.tags.iter().flatten() { span.tag { (t.name) } " " } @if found.tags.as_ref().is_none_or(|t| t.is_empty()) { span.muted { "none" } } }
            dt { "Pushed" } dd { (when(&found.push_time)) }
            dt { "Pulled" } dd { (when(&found.pull_time)) }
            @if let Some(os) = found.extra_attrs.get("os").and_then(Value::as_str) {
                dt { "Platform" } dd { (os) "/" (found.extra_attrs.get("architecture").and_then(Value::as_str).unwrap_or("?")) }
            }
        }
        }
        @if let Some(config) = &config { (config_section(config)) }
        @if !layers.is_empty() {
            section.card #layers {
                h2 { "Layers" }
                div.table-wrap {
                    table {
                        thead { tr { th { "#" } th { "Digest" } th { "Media type" } th.num { "Size" } } }
                        tbody {
                            @for (i, l) in layers.iter().enumerate() {
                                tr {
                                    td { (i + 1) }
                                    td { code { (short_digest(text(l, "digest"))) } }
                                    td { code.muted { (text(l, "mediaType")) } }
                                    td.num { (bytes(l.get("size").and_then(Value::as_i64).unwrap_or(0))) }
                                }
                            }
                        }
                    }
                }
                p.muted { (layers.len()) " layers, " (bytes(layers.iter().filter_map(|l| l.get("size").and_then(Value::as_i64)).sum())) " compressed" }
            }
        }
        @if !children.is_empty() {
            section.card #platforms {
                h2 { "Platforms" }
                ul.plain {
                    @for c in &children {
                        @let platform = c.get("platform");
                        li {
                            a href=(place.link(&format!("/-/artifacts/{}", text(c, "digest")))) {
                                (platform.map(|p| format!("{}/{}", text(p, "os"), text(p, "architecture"))).unwrap_or_else(|| "unknown".into()))
                            }
                            " " code.muted { (short_digest(text(c, "digest"))) }
                        }
                    }
                }
            }
        }
        section.card #referrers {
            h2 { "Referrers" }
            @if referrers.is_empty() {
                p.muted { "No signatures, SBOMs or attestations refer to this artifact." }
            } @else {
                ul.plain {
                    @for r in &referrers {
                        li {
                            span.badge.soft { (text(r, "artifactType")) }
                            " "
                            a href=(place.link(&format!("/-/artifacts/{}", text(r, "digest")))) { code { (short_digest(text(r, "digest"))) } }
                        }
                    }
                }
            }
        }
        details.card {
            summary { "Manifest" }
            pre.json { code { (pretty_json(&raw)) } }
        }
        @if may_delete {
            p { a.button.danger href=(place.link(&format!("/-/delete?digest={}", encode(&found.digest)))) { "Delete this artifact…" } }
        }
    };
    Ok(page(
        ui,
        viewer,
        short_digest(&found.digest),
        &place.crumbs(true),
        body,
    ))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The image config of a manifest, when it is one and not too large to show.
async fn config_of(api: &Api<'_>, repository: &str, manifest: &Value) -> Option<Value> {
    let config = manifest.get("config")?;
    let media_type = text(config, "mediaType");
    let is_image_config = media_type.ends_with("container.image.v1+json")
        || media_type == "application/vnd.oci.image.config.v1+json";
    let size = config
        .get("size")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    if !is_image_config || size > MAX_CONFIG {
        return None;
    }
    let blob = api
        .registry(
            &format!("{repository}/blobs/{}", text(config, "digest")),
            "*/*",
        )
        .await
        .ok()?;
    serde_json::from_slice(&blob.body).ok()
}

fn config_section(config: &Value) -> Markup {
    let inner = config.get("config").cloned().unwrap_or(Value::Null);
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let entrypoint = list(inner.get("Entrypoint").unwrap_or(&Value::Null));
    let cmd = list(inner.get("Cmd").unwrap_or(&Value::Null));
    let env = list(inner.get("Env").unwrap_or(&Value::Null));
    let labels = inner
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let history = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        section.card #configuration {
            h2 { "Configuration" }
            dl.facts {
                dt { "Created" } dd { (crate::format::when(text(config, "created"))) }
                @if !entrypoint.is_empty() { dt { "Entrypoint" } dd { code { (entrypoint.join(" ")) } } }
                @if !cmd.is_empty() { dt { "Command" } dd { code { (cmd.join(" ")) } } }
                @if let Some(dir) = inner.get("WorkingDir").and_then(Value::as_str).filter(|d| !d.is_empty()) { dt { "Working directory" } dd { code { (dir) } } }
                @if let Some(user) = inner.get("User").and_then(Value::as_str).filter(|u| !u.is_empty()) { dt { "User" } dd { code { (user) } } }
            }
            @if !env.is_empty() {
                h3 { "Environment" }
                ul.plain.mono { @for e in &env { li { (e) } } }
            }
            @if !labels.is_empty() {
                h3 { "Labels" }
                dl.facts { @for (k, v) in &labels { dt { (k) } dd { (v.as_str().unwrap_or_default()) } } }
            }
            @if !history.is_empty() {
                h3 { "History" }
                ol.history {
                    @for h in &history {
                        li {
                            code { (text(h, "created_by")) }
                            @if h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false) { " " span.muted { "(no layer)" } }
                        }
                    }
                }
            }
        }
    }
}

/// The page that says what a deletion does, with the form that does it.
async fn confirm_delete(
    place: &Place<'_>,
    api: &Api<'_>,
    viewer: &Viewer,
    what: &Listing,
) -> PageResult {
    let ui = place.ui;
    let reference = if what.tag.is_empty() {
        &what.digest
    } else {
        &what.tag
    };
    if reference.is_empty() {
        return Err(not_found("say which tag or artifact to delete".into()));
    }
    let found: Artifact = api
        .get(&place.api_path(&format!("/artifacts/{}?with_tag=true", encode(reference))))
        .await?;
    let tags: Vec<String> = found
        .tags
        .iter()
        .flatten()
        .map(|t| t.name.clone())
        .collect();
    let body = html! {
        section.card.confirm {
            (notice("info", "Deleting cannot be undone."))
            @if !what.tag.is_empty() {
                p { "The tag " code { (what.tag) } " of " code { (place.full_name()) } " goes; pulls of it fail from then on." }
                @let others: Vec<&String> = tags.iter().filter(|t| **t != what.tag).collect();
                @if others.is_empty() {
                    p { "It is the artifact's last tag: the artifact " code { (short_digest(&found.digest)) } " stays, untagged, until it is deleted or a garbage collection that removes untagged artifacts runs." }
                } @else {
                    p { "The artifact stays, with its other tags: " @for t in others { span.tag { (t) } " " } }
                }
                form method="post" action=(place.link("/-/delete-tag")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="tag" value=(what.tag);
                    button.danger type="submit" #confirm-delete { "Delete tag " (what.tag) }
                    " " a href=(place.link("")) { "Cancel" }
                }
            } @else {
                p { "The artifact goes, with "
                    @if tags.is_empty() { "no tags" } @else { "its tags " @for t in &tags { span.tag { (t) } " " } }
                    ". Pulls of it by digest or tag fail from then on." }
                p { "The next garbage collection returns up to " strong { (bytes(found.size)) } ": its layers that no other artifact uses." }
                form method="post" action=(place.link("/-/delete-artifact")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="digest" value=(found.digest);
                    button.danger type="submit" #confirm-delete { "Delete artifact" }
                    " " a href=(place.link("")) { "Cancel" }
                }
            }
        }
    };
    let title = if what.tag.is_empty() {
        format!("Delete artifact {}?", short_digest(&found.digest))
    } else {
        format!("Delete tag {}?", what.tag)
    };
    Ok(page(ui, viewer, &title, &place.crumbs(true), body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Deletion {
    csrf: String,
    tag: String,
    digest: String,
}

/// The forms: `-/delete-tag` and `-/delete-artifact`.
pub(crate) async fn act(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((project, rest)): Path<(String, String)>,
    axum::extract::Form(form): axum::extract::Form<Deletion>,
) -> PageResult {
    let Some(Target::Action(inside, action)) = target(&rest) else {
        return Err(not_found(format!("nothing to do at {rest}")));
    };
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let repo = format!(
        "/projects/{}/repositories/{}",
        encode(&project),
        repository_segment(inside)
    );
    match action {
        "delete-tag" => {
            let tag = super::required(&form.tag, "the tag")?;
            // The artifact the tag names, then the tag (Harbor's path takes both).
            let found: Artifact = api
                .get(&format!("{repo}/artifacts/{}", encode(tag)))
                .await?;
            api.change(
                Method::DELETE,
                &format!(
                    "{repo}/artifacts/{}/tags/{}",
                    encode(&found.digest),
                    encode(tag)
                ),
                None,
            )
            .await?;
        }
        "delete-artifact" => {
            let digest = super::required(&form.digest, "the digest")?;
            api.change(
                Method::DELETE,
                &format!("{repo}/artifacts/{}", encode(digest)),
                None,
            )
            .await?;
        }
        other => return Err(not_found(format!("no action {other}"))),
    }
    Ok(see_other(&ui.link(&format!(
        "/projects/{}/repositories/{}",
        encode(&project),
        path_of(inside)
    ))))
}

#[cfg(test)]
mod tests {
    use super::{Target, target};

    #[test]
    fn paths_name_repositories_artifacts_and_actions() {
        assert_eq!(target("app"), Some(Target::Repository("app")));
        assert_eq!(target("a/b/c"), Some(Target::Repository("a/b/c")));
        assert_eq!(
            target("a/b/-/artifacts/sha256:00"),
            Some(Target::Artifact("a/b", "sha256:00"))
        );
        assert_eq!(
            target("app/-/delete"),
            Some(Target::Action("app", "delete"))
        );
        assert_eq!(target("app/-/x/y"), None);
        assert_eq!(target(""), None);
    }
}
