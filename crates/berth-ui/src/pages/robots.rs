//! A project's robot accounts: the list, creating one with a permission picker (its
//! secret shown once), deleting one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::project::{Tab, open};
use super::{PageError, PageResult, RepeatedForm};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::layout::{copyable, notice, page};
use crate::models::Robot;
use crate::viewer::Viewer;

/// What a project robot may be given: each resource with its actions (Harbor's names).
const PICKER: [(&str, &str, &[&str]); 5] = [
    (
        "repository",
        "Repositories",
        &["list", "pull", "push", "delete"],
    ),
    ("artifact", "Artifacts", &["list", "read", "delete"]),
    ("tag", "Tags", &["list", "create", "delete"]),
    ("artifact-label", "Artifact labels", &["create", "delete"]),
    (
        "label",
        "Labels",
        &["list", "read", "create", "update", "delete"],
    ),
];

fn robots_path(project_id: i64) -> String {
    format!(
        "/robots?page=1&page_size=100&q={}",
        encode(&format!("Level=project,ProjectID={project_id}"))
    )
}

pub(crate) async fn list(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let robots: Vec<Robot> = api.get(&robots_path(view.project.project_id)).await?;
    let body = html! {
        (view.header(&ui, Tab::Robots))
        @if robots.is_empty() {
            p.muted { "No robot accounts in this project." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Name" } th { "Permissions" } th { "Expires" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for r in &robots {
                            tr {
                                td { code { (r.name) } @if !r.description.is_empty() { br; span.muted { (r.description) } } }
                                td {
                                    @for p in &r.permissions {
                                        @for a in &p.access { span.badge.soft { (a.resource) ":" (a.action) } " " }
                                    }
                                }
                                td { @if r.expires_at <= 0 { "never" } @else { (expiry(r.expires_at)) } }
                                td { @if r.disable { span.badge.private { "disabled" } } @else { span.badge { "enabled" } } }
                                td.actions {
                                    @if view.rights.may("robot", "delete") {
                                        form method="post" action=(view.link(&ui, &format!("/robots/{}/delete", r.id))) {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button.danger.small type="submit" aria-label={ "Delete " (r.name) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if view.rights.may("robot", "create") {
            section.card #new-robot {
                h2 { "New robot account" }
                form.stack method="post" action=(view.link(&ui, "/robots")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    (identity_inputs())
                    (picker())
                    button.primary type="submit" { "Create robot account" }
                }
            }
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · robot accounts"),
        &view.crumbs(&ui),
        body,
    ))
}

/// Seconds since 1970 as a date.
pub(crate) fn expiry(seconds: i64) -> String {
    crate::format::date(seconds.div_euclid(86_400))
}

pub(crate) async fn create(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let form = RepeatedForm::read(&body)?;
    let access = access(&form)?;
    let permissions = json!([{"kind": "project", "namespace": name, "access": access}]);
    let back = ui.link(&format!("/projects/{}/robots", encode(&name)));
    submit(&ui, &headers, &form, "project", permissions, &back).await
}

/// The permissions ticked in a form's [`picker`], as Harbor's `Access` list.
pub(crate) fn access(form: &RepeatedForm) -> Result<Vec<Value>, PageError> {
    let access: Vec<Value> = form
        .all("access")
        .filter_map(|v| v.split_once(':'))
        .map(|(resource, action)| json!({"resource": resource, "action": action}))
        .collect();
    if access.is_empty() {
        return Err(bad("pick at least one permission".into()));
    }
    Ok(access)
}

fn bad(message: String) -> PageError {
    PageError(ApiFailure::new(StatusCode::BAD_REQUEST, message))
}

/// The fields every new robot's form has: name, description, expiry.
pub(crate) fn identity_inputs() -> Markup {
    html! {
        label for="robot-name" { "Name" }
        input #robot-name name="name" required maxlength="128";
        label for="robot-description" { "Description" }
        input #robot-description name="description";
        label for="robot-days" { "Expires after (days; -1 for never)" }
        input #robot-days name="duration" type="number" min="-1" value="30" required;
    }
}

/// Checkboxes of what a robot may do in a project, each sent as `access=resource:action`.
pub(crate) fn picker() -> Markup {
    html! {
        fieldset.picker {
            legend { "Permissions" }
            @for (resource, label, actions) in PICKER {
                div.picker-row {
                    span.picker-label { (label) }
                    @for action in actions {
                        label.check {
                            input type="checkbox" name="access" value={ (resource) ":" (action) };
                            " " (action)
                        }
                    }
                }
            }
        }
    }
}

/// Creates the robot `form` names at `level` with `permissions`, and shows its secret
/// once; "Done" leads to `back`.
pub(crate) async fn submit(
    ui: &Ui,
    headers: &HeaderMap,
    form: &RepeatedForm,
    level: &str,
    permissions: Value,
    back: &str,
) -> PageResult {
    let duration: i64 = form
        .one("duration")
        .trim()
        .parse()
        .map_err(|_| bad("the expiry is a number of days (-1 for never)".into()))?;
    let request = json!({
        "name": form.one("name").trim(),
        "description": form.one("description"),
        "duration": duration,
        "level": level,
        "disable": false,
        "permissions": permissions,
    });
    let viewer = Viewer::of(ui, headers).await?;
    let created = Api::new(ui, headers)
        .with_csrf(form.one("csrf"))
        .change(Method::POST, "/robots", Some(request))
        .await?;
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Created {
        name: String,
        secret: String,
    }
    let created: Created = created.json()?;
    let body = html! {
        section.card.narrow {
            (notice("ok", "Robot account created. Copy its secret now: it is not shown again."))
            dl.facts {
                dt { "Name" } dd #robot-created-name { (copyable(&created.name, "Copy the robot's name")) }
                dt { "Secret" } dd #robot-created-secret { (copyable(&created.secret, "Copy the secret")) }
            }
            p { "Sign in with it: " code { "docker login -u '" (created.name) "' <registry>" } }
            p { a.button href=(back) { "Done" } }
        }
    };
    Ok(page(ui, &viewer, "Robot account created", &[], body))
}

pub(crate) async fn delete(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, i64)>,
    axum::extract::Form(form): axum::extract::Form<super::Csrf>,
) -> PageResult {
    let to = format!("/projects/{}/robots", encode(&name));
    super::delete_then(&ui, &headers, &form.csrf, &format!("/robots/{id}"), &to).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_dates_read_as_days() {
        assert_eq!(super::expiry(0), "1970-01-01");
        assert_eq!(super::expiry(1_764_633_600), "2025-12-02");
    }
}
