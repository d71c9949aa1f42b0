//! A project: its repositories (search, sort, paging), members and roles.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{Csrf, PageResult, required, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::format::{bytes, count, when};
use crate::layout::{Crumb, crumb, notice, page, pager, tabs};
use crate::models::{
    Member, PROJECT_ITSELF, Permission, Project, Repository, Rights, Summary, role_name,
};
use crate::viewer::Viewer;

const PAGE_SIZE: u64 = 25;

/// A project as its pages show it: the record, what the viewer may do in it, its
/// header (name, access, usage) and tabs.
pub(crate) struct ProjectView {
    pub project: Project,
    pub rights: Rights,
    pub summary: Summary,
}

/// The sections of a project's page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Repositories,
    Members,
    Robots,
    Policies,
    Activity,
    Settings,
}

/// What every project page starts from: who is looking, the API as them, the project.
/// The viewer and the project are asked for at once.
pub(crate) async fn open<'a>(
    ui: &'a Ui,
    headers: &'a HeaderMap,
    name: &str,
) -> Result<(Viewer, Api<'a>, ProjectView), ApiFailure> {
    let api = Api::new(ui, headers);
    let (viewer, view) =
        futures_util::future::join(Viewer::of(ui, headers), ProjectView::load(&api, name)).await;
    Ok((viewer?, api, view?))
}

impl ProjectView {
    pub(crate) async fn load(api: &Api<'_>, name: &str) -> Result<ProjectView, ApiFailure> {
        let summary_path = format!("/projects/{}/summary", encode(name));
        let (project, summary) = futures_util::future::join(
            api.get::<Project>(&format!("/projects/{}", encode(name))),
            api.get::<Summary>(&summary_path),
        )
        .await;
        let project = project?;
        let rights: Vec<Permission> = api
            .get(&format!(
                "/users/current/permissions?scope=/project/{}&relative=true",
                project.project_id
            ))
            .await
            .unwrap_or_default();
        Ok(ProjectView {
            project,
            rights: Rights(rights),
            summary: summary.unwrap_or_default(),
        })
    }

    pub(crate) fn link(&self, ui: &Ui, rest: &str) -> String {
        ui.link(&format!("/projects/{}{rest}", encode(&self.project.name)))
    }

    pub(crate) fn crumbs(&self, ui: &Ui) -> Vec<Crumb> {
        vec![crumb("Projects", ui.link("/projects"))]
    }

    /// Name, access, usage and the tabs, `current` marked.
    pub(crate) fn header(&self, ui: &Ui, current: Tab) -> Markup {
        let quota = self.summary.quota.clone().unwrap_or_default();
        let used = quota.used.get("storage").copied().unwrap_or(0);
        let hard = quota.hard.get("storage").copied().unwrap_or(-1);
        let mut items = vec![(
            "Repositories",
            self.link(ui, ""),
            current == Tab::Repositories,
        )];
        if self.rights.may("member", "list") {
            items.push((
                "Members",
                self.link(ui, "/members"),
                current == Tab::Members,
            ));
        }
        if self.rights.may("robot", "list") {
            items.push((
                "Robot accounts",
                self.link(ui, "/robots"),
                current == Tab::Robots,
            ));
        }
        if self.rights.may("immutable-tag", "list") || self.rights.may("tag-retention", "read") {
            let here = current == Tab::Policies;
            items.push(("Policies", self.link(ui, "/policies"), here));
        }
        if self.rights.may("log", "list") {
            let here = current == Tab::Activity;
            items.push(("Activity", self.link(ui, "/activity"), here));
        }
        if self.rights.may(PROJECT_ITSELF, "update") || self.rights.may(PROJECT_ITSELF, "delete") {
            let here = current == Tab::Settings;
            items.push(("Settings", self.link(ui, "/settings"), here));
        }
        html! {
            div.project-head {
                p.meta {
                    @if self.project.is_public() { span.badge { "public" } } @else { span.badge.private { "private" } }
                    " " (count(self.summary.repo_count, "repository", "repositories")) " · "
                    @if hard > 0 {
                        (bytes(used)) " of " (bytes(hard)) " used"
                        meter min="0" max=(hard) value=(used) low=(hard / 10 * 7) high=(hard / 10 * 9) optimum="0" aria-label="Storage used" {}
                    } @else {
                        (bytes(used)) " used, no limit"
                    }
                }
            }
            (tabs(&items))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RepoSearch {
    name: String,
    sort: String,
    page: Option<u64>,
}

const SORTS: [(&str, &str); 4] = [
    ("-creation_time", "Newest"),
    ("name", "Name"),
    ("-update_time", "Recently pushed"),
    ("-pull_count", "Most pulled"),
];

pub(crate) async fn repositories(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(search): Query<RepoSearch>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let sort = SORTS
        .iter()
        .find(|(key, _)| *key == search.sort)
        .map_or(SORTS[0].0, |(key, _)| key);
    let page_no = search.page.unwrap_or(1).max(1);
    let mut path = format!(
        "/projects/{}/repositories?page={page_no}&page_size={PAGE_SIZE}&sort={sort}",
        encode(&name)
    );
    if !search.name.is_empty() {
        path.push_str(&format!("&q={}", encode(&format!("name=~{}", search.name))));
    }
    let (repos, total) = api.listing::<Vec<Repository>>(&path).await?;
    let total = total.unwrap_or(repos.len() as u64);
    let link = |n: u64| {
        view.link(
            &ui,
            &format!("?name={}&sort={sort}&page={n}", encode(&search.name)),
        )
    };
    let body = html! {
        (view.header(&ui, Tab::Repositories))
        form.toolbar role="search" method="get" action=(view.link(&ui, "")) {
            label.visually-hidden for="repo-name" { "Repository name contains" }
            input #repo-name type="search" name="name" value=(search.name) placeholder="Filter repositories";
            label.visually-hidden for="repo-sort" { "Order" }
            select #repo-sort name="sort" {
                @for (key, label) in SORTS {
                    option value=(key) selected[key == sort] { (label) }
                }
            }
            button type="submit" { "Apply" }
        }
        @if repos.is_empty() {
            p.muted { "No repositories here yet. Push one with " code { "docker push <registry>/" (name) "/<image>:<tag>" } "." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Repository" } th.num { "Artifacts" } th.num { "Pulls" } th { "Last push" } } }
                    tbody {
                        @for r in &repos {
                            @let inside = r.name.strip_prefix(&format!("{name}/")).unwrap_or(&r.name);
                            tr {
                                td { a href=(view.link(&ui, &format!("/repositories/{}", path_of(inside)))) { (r.name) } }
                                td.num { (r.artifact_count) }
                                td.num { (r.pull_count) }
                                td { (when(&r.update_time)) }
                            }
                        }
                    }
                }
            }
            (pager(page_no, PAGE_SIZE, total, link))
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &view.project.name,
        &view.crumbs(&ui),
        body,
    ))
}

/// A repository name as path segments of the interface's URLs (each encoded, slashes kept).
pub(crate) fn path_of(name_in_project: &str) -> String {
    name_in_project
        .split('/')
        .map(encode)
        .collect::<Vec<_>>()
        .join("/")
}

const ROLES: [(i64, &str); 5] = [
    (1, "Project admin"),
    (4, "Maintainer"),
    (2, "Developer"),
    (3, "Guest"),
    (5, "Limited guest"),
];

pub(crate) async fn members(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let members: Vec<Member> = api
        .get(&format!(
            "/projects/{}/members?page=1&page_size=100",
            encode(&name)
        ))
        .await?;
    let may_manage = view.rights.may("member", "create");
    let body = html! {
        (view.header(&ui, Tab::Members))
        div.table-wrap {
            table {
                thead { tr { th { "Member" } th { "Kind" } th { "Role" } @if may_manage { th { span.visually-hidden { "Actions" } } } } }
                tbody {
                    @for m in &members {
                        tr {
                            td { (m.entity_name) }
                            td { @if m.entity_type == "g" { "group" } @else { "user" } }
                            td {
                                @if may_manage {
                                    form.inline.role method="post" action=(view.link(&ui, &format!("/members/{}/role", m.id))) {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        select name="role_id" aria-label={ "Role of " (m.entity_name) } {
                                            @for (id, label) in ROLES { option value=(id) selected[id == m.role_id] { (label) } }
                                        }
                                        button.small type="submit" aria-label={ "Change the role of " (m.entity_name) } { "Change" }
                                    }
                                } @else {
                                    (role_name(m.role_id))
                                }
                            }
                            @if may_manage {
                                td.actions {
                                    form method="post" action=(view.link(&ui, &format!("/members/{}/remove", m.id))) {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        button.danger.small type="submit" aria-label={ "Remove " (m.entity_name) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_manage {
            section.card {
                h2 { "Add a member" }
                form.inline method="post" action=(view.link(&ui, "/members")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="member-name" { "User or group name" }
                    input #member-name name="name" required;
                    label for="member-kind" { "Kind" }
                    select #member-kind name="kind" { option value="user" { "user" } option value="group" { "group" } }
                    label for="member-role" { "Role" }
                    select #member-role name="role_id" {
                        @for (id, label) in ROLES { option value=(id) selected[id == 2] { (label) } }
                    }
                    button.primary type="submit" { "Add" }
                }
            }
        } @else {
            (notice("info", "Only the project's administrators change its members."))
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · members"),
        &view.crumbs(&ui),
        body,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewMember {
    csrf: String,
    name: String,
    kind: String,
    role_id: i64,
}

pub(crate) async fn add_member(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(form): Form<NewMember>,
) -> PageResult {
    let name = required(&form.name, "the member's name")?;
    let body = if form.kind == "group" {
        json!({"role_id": form.role_id, "member_group": {"group_name": name}})
    } else {
        json!({"role_id": form.role_id, "member_user": {"username": name}})
    };
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(
            Method::POST,
            &format!("/projects/{}/members", encode(&project)),
            Some(body),
        )
        .await?;
    Ok(see_other(
        &ui.link(&format!("/projects/{}/members", encode(&project))),
    ))
}

pub(crate) async fn remove_member(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let members = format!("/projects/{}/members", encode(&project));
    super::delete_then(
        &ui,
        &headers,
        &form.csrf,
        &format!("{members}/{id}"),
        &members,
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewRole {
    csrf: String,
    role_id: i64,
}

pub(crate) async fn change_role(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, i64)>,
    Form(form): Form<NewRole>,
) -> PageResult {
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(
            Method::PUT,
            &format!("/projects/{}/members/{id}", encode(&project)),
            Some(json!({"role_id": form.role_id})),
        )
        .await?;
    Ok(see_other(
        &ui.link(&format!("/projects/{}/members", encode(&project))),
    ))
}
