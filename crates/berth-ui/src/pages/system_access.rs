//! The administration page's access sections: user groups (added from the directory or
//! the identity provider, removed) and system robot accounts (robots for many projects
//! or all of them: created with the permission picker, deleted).

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::robots::{access, expiry, identity_inputs, picker, submit};
use super::{Csrf, PageError, PageResult, RepeatedForm, delete_then, required, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::models::Robot;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Group {
    id: i64,
    group_name: String,
    group_type: i64,
    ldap_group_dn: String,
}

/// Harbor's group types.
const GROUP_LDAP: i64 = 1;
const GROUP_OIDC: i64 = 3;

fn group_kind(kind: i64) -> &'static str {
    match kind {
        GROUP_LDAP => "LDAP",
        2 => "HTTP",
        GROUP_OIDC => "OIDC",
        _ => "—",
    }
}

/// The groups section; `auth_mode` decides which kind of group can be added.
pub(crate) async fn groups(ui: &Ui, api: &Api<'_>, auth_mode: &str, csrf: &str) -> Markup {
    let groups: Vec<Group> = api
        .get("/usergroups?page=1&page_size=100")
        .await
        .unwrap_or_default();
    html! {
        section.card #groups {
            h2 { "Groups" }
            @if groups.is_empty() {
                p.muted { "No user groups. Directory and identity-provider groups appear here once they are added, given a project role, or their members sign in." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Group" } th { "From" } th { "Directory name" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for g in &groups { tr {
                        td { (g.group_name) }
                        td { (group_kind(g.group_type)) }
                        td { @if !g.ldap_group_dn.is_empty() { code { (g.ldap_group_dn) } } }
                        td.actions {
                            form method="post" action=(ui.link(&format!("/admin/groups/{}/delete", g.id))) {
                                input type="hidden" name="csrf" value=(csrf);
                                button.danger.small type="submit" aria-label={ "Remove the group " (g.group_name) } { "Remove" }
                            }
                        }
                    } } }
                } }
            }
            @match auth_mode {
                "ldap_auth" => {
                    form.inline method="post" action=(ui.link("/admin/groups")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="group_type" value=(GROUP_LDAP);
                        label for="group-dn" { "LDAP group DN" }
                        input #group-dn name="ldap_group_dn" required placeholder="cn=developers,ou=groups,dc=example,dc=org";
                        button type="submit" { "Add the group" }
                    }
                }
                "oidc_auth" => {
                    form.inline method="post" action=(ui.link("/admin/groups")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="group_type" value=(GROUP_OIDC);
                        label for="group-name" { "Group, as the provider's groups claim names it" }
                        input #group-name name="group_name" required;
                        button type="submit" { "Add the group" }
                    }
                }
                _ => { p.muted { "Groups come from an LDAP directory or an OIDC provider; this registry signs people in with neither." } }
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewGroup {
    csrf: String,
    group_type: i64,
    group_name: String,
    ldap_group_dn: String,
}

pub(crate) async fn add_group(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<NewGroup>,
) -> PageResult {
    let body = match form.group_type {
        GROUP_LDAP => json!({
            "group_type": GROUP_LDAP,
            "ldap_group_dn": required(&form.ldap_group_dn, "the group's DN")?,
        }),
        _ => json!({
            "group_type": form.group_type,
            "group_name": required(&form.group_name, "the group's name")?,
        }),
    };
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(Method::POST, "/usergroups", Some(body))
        .await?;
    Ok(see_other(&ui.link("/admin#groups")))
}

pub(crate) async fn delete_group(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let group = format!("/usergroups/{id}");
    delete_then(&ui, &headers, &form.csrf, &group, "/admin#groups").await
}

pub(crate) async fn robots(ui: &Ui, api: &Api<'_>, csrf: &str) -> Markup {
    let robots: Vec<Robot> = api
        .get(&format!(
            "/robots?page=1&page_size=100&q={}",
            encode("Level=system")
        ))
        .await
        .unwrap_or_default();
    html! {
        section.card #system-robots {
            h2 { "System robot accounts" }
            p.muted { "A system robot works in several projects, or in every project, with the same permissions in each." }
            @if robots.is_empty() {
                p.muted { "None yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Projects" } th { "Permissions" } th { "Expires" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for r in &robots { tr {
                        td { code { (r.name) } @if !r.description.is_empty() { br; span.muted { (r.description) } } }
                        td { @for p in &r.permissions { span.badge.soft { @if p.namespace == "*" { "all projects" } @else { (p.namespace) } } " " } }
                        td { @for a in r.permissions.first().map(|p| &p.access[..]).unwrap_or_default() { span.badge.soft { (a.resource) ":" (a.action) } " " } }
                        td { @if r.expires_at <= 0 { "never" } @else { (expiry(r.expires_at)) } }
                        td { @if r.disable { span.badge.private { "disabled" } } @else { span.badge { "enabled" } } }
                        td.actions {
                            form method="post" action=(ui.link(&format!("/admin/robots/{}/delete", r.id))) {
                                input type="hidden" name="csrf" value=(csrf);
                                button.danger.small type="submit" aria-label={ "Delete " (r.name) } { "Delete" }
                            }
                        }
                    } } }
                } }
            }
            details #new-system-robot {
                summary { "New system robot account" }
                form.stack method="post" action=(ui.link("/admin/robots")) {
                    input type="hidden" name="csrf" value=(csrf);
                    (identity_inputs())
                    label for="robot-projects" { "Projects (names separated by commas; * for every project, present and future)" }
                    input #robot-projects name="projects" required placeholder="team-a, team-b";
                    (picker())
                    button.primary type="submit" { "Create robot account" }
                }
            }
        }
    }
}

/// The projects a system robot's form names: `*` alone, or distinct names.
fn projects(text: &str) -> Result<Vec<String>, PageError> {
    let mut names: Vec<String> = Vec::new();
    for name in text.split([',', ' ', '\n']).map(str::trim) {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() || (names.len() > 1 && names.iter().any(|n| n == "*")) {
        return Err(PageError(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "name the robot's projects, or give * alone for all of them",
        )));
    }
    Ok(names)
}

pub(crate) async fn create_robot(
    State(ui): State<Ui>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PageResult {
    let form = RepeatedForm::read(&body)?;
    let access = access(&form)?;
    let permissions: Vec<_> = projects(form.one("projects"))?
        .into_iter()
        .map(|namespace| json!({"kind": "project", "namespace": namespace, "access": access}))
        .collect();
    let back = ui.link("/admin#system-robots");
    submit(&ui, &headers, &form, "system", json!(permissions), &back).await
}

pub(crate) async fn delete_robot(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let robot = format!("/robots/{id}");
    delete_then(&ui, &headers, &form.csrf, &robot, "/admin#system-robots").await
}

#[cfg(test)]
mod tests {
    #[test]
    fn robot_projects_are_names_or_all() {
        let names = |t: &str| super::projects(t).map_err(|e| e.0.message);
        assert_eq!(names("a, b,a"), Ok(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(names(" * "), Ok(vec!["*".to_string()]));
        assert!(names("*, a").is_err());
        assert!(names(" , ").is_err());
    }
}
