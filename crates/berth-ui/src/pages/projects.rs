//! The projects the visitor can see (search, paging) and creating one.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{PageError, PageResult, required, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::format::when;
use crate::layout::{page, pager};
use crate::models::{Project, role_name};
use crate::viewer::Viewer;

const PAGE_SIZE: u64 = 25;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Search {
    name: String,
    page: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewProject {
    csrf: String,
    name: String,
    public: Option<String>,
    /// GiB; empty for no limit.
    storage_limit_gib: String,
}

pub(crate) async fn list(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let page_no = search.page.unwrap_or(1).max(1);
    let mut path = format!("/projects?page={page_no}&page_size={PAGE_SIZE}");
    if !search.name.is_empty() {
        path.push_str(&format!("&name={}", encode(&search.name)));
    }
    let (projects, total) = Api::new(&ui, &headers)
        .listing::<Vec<Project>>(&path)
        .await?;
    let total = total.unwrap_or(projects.len() as u64);
    let link = |n: u64| ui.link(&format!("/projects?name={}&page={n}", encode(&search.name)));
    let body = html! {
        div.toolbar {
            form.search role="search" method="get" action=(ui.link("/projects")) {
                label.visually-hidden for="name" { "Project name contains" }
                input #name type="search" name="name" value=(search.name) placeholder="Filter by name";
                button type="submit" { "Search" }
            }
        }
        @if projects.is_empty() {
            p.muted { @if search.name.is_empty() { "No projects you can see yet." } @else { "No project matches." } }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Name" } th { "Access" } th { "Your role" } th.num { "Repositories" } th { "Created" } } }
                    tbody {
                        @for p in &projects {
                            tr {
                                td { a href=(ui.link(&format!("/projects/{}", encode(&p.name)))) { (p.name) } }
                                td { @if p.is_public() { span.badge { "public" } } @else { span.badge.private { "private" } } }
                                td { (p.current_user_role_id.map_or("—", role_name)) }
                                td.num { (p.repo_count) }
                                td { (when(&p.creation_time)) }
                            }
                        }
                    }
                }
            }
            (pager(page_no, PAGE_SIZE, total, link))
        }
        @if viewer.user.is_some() {
            details.card #new-project {
                summary { "New project" }
                form.stack method="post" action=(ui.link("/projects")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="project-name" { "Name" }
                    input #project-name name="name" required pattern="[a-z0-9]+(?:[._\\-][a-z0-9]+)*" maxlength="255"
                        aria-describedby="project-name-help";
                    small #project-name-help { "Lower-case letters, digits and . _ - between them; the first part of every repository name in it." }
                    label.check { input type="checkbox" name="public" value="true"; " Public: anyone may pull, without signing in" }
                    label for="storage-limit" { "Storage limit (GiB, empty for none)" }
                    input #storage-limit name="storage_limit_gib" inputmode="decimal";
                    button.primary type="submit" { "Create project" }
                }
            }
        }
    };
    Ok(page(&ui, &viewer, "Projects", &[], body))
}

/// `GiB` as bytes; empty is no limit (-1, Harbor's).
fn storage_limit(gib: &str) -> Result<i64, PageError> {
    let gib = gib.trim();
    if gib.is_empty() {
        return Ok(-1);
    }
    match gib.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok((v * (1u64 << 30) as f64) as i64),
        _ => Err(PageError(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            format!("the storage limit {gib:?} is not a positive number of GiB"),
        ))),
    }
}

pub(crate) async fn create(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<NewProject>,
) -> PageResult {
    let name = required(&form.name, "the project's name")?;
    let public = form.public.is_some_and(|v| v == "true");
    let body = json!({
        "project_name": name,
        "metadata": {"public": public.to_string()},
        "storage_limit": storage_limit(&form.storage_limit_gib)?,
    });
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(Method::POST, "/projects", Some(body))
        .await?;
    Ok(see_other(&ui.link(&format!("/projects/{}", encode(name)))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn storage_limits_are_gib_or_none() {
        assert_eq!(super::storage_limit("").ok(), Some(-1));
        assert_eq!(super::storage_limit("1").ok(), Some(1 << 30));
        assert_eq!(super::storage_limit("0.5").ok(), Some(1 << 29));
        assert!(super::storage_limit("-2").is_err());
        assert!(super::storage_limit("lots").is_err());
    }
}
