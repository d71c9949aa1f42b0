//! A project's settings: who may pull (public or private), its storage quota (set by
//! system administrators, as in Harbor), and deleting it once it holds nothing.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::project::{Tab, open};
use super::{PageError, PageResult, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure, encode};
use crate::format::{bytes, size_bytes};
use crate::layout::{notice, page};
use crate::models::PROJECT_ITSELF;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Deletable {
    deletable: bool,
    message: Option<String>,
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let may_update = view.rights.may(PROJECT_ITSELF, "update");
    let may_delete = view.rights.may(PROJECT_ITSELF, "delete");
    if !may_update && !may_delete && !viewer.is_admin() {
        return Err(PageError(ApiFailure::new(
            StatusCode::FORBIDDEN,
            format!("only the administrators of {name} see its settings"),
        )));
    }
    let deletable: Deletable = if may_delete {
        api.get(&format!("/projects/{}/_deletable", encode(&name)))
            .await
            .unwrap_or_default()
    } else {
        Deletable::default()
    };
    let quota = view.summary.quota.clone().unwrap_or_default();
    let used = quota.used.get("storage").copied().unwrap_or(0);
    let hard = quota.hard.get("storage").copied().unwrap_or(-1);
    let public = view.project.is_public();
    let body = html! {
        (view.header(&ui, Tab::Settings))
        @if may_update {
            section.card #visibility {
                h2 { "Access" }
                form.stack method="post" action=(view.link(&ui, "/settings/visibility")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    fieldset {
                        legend { "Who may pull" }
                        label.check {
                            input type="radio" name="public" value="true" checked[public];
                            " Public: anyone, signed in or not, may pull and browse"
                        }
                        label.check {
                            input type="radio" name="public" value="false" checked[!public];
                            " Private: only the project's members (and system administrators)"
                        }
                    }
                    button.primary type="submit" { "Save" }
                }
            }
        }
        section.card #quota {
            h2 { "Storage quota" }
            p {
                (bytes(used)) " used"
                @if hard > 0 { " of " (bytes(hard)) "." } @else { "; no limit." }
                " A push that would go over the limit is refused; layers shared with other repositories of the project count once."
            }
            @if viewer.is_admin() {
                form.inline method="post" action=(view.link(&ui, "/settings/quota")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="quota-limit" { "Limit (e.g. 20 GiB; empty for none)" }
                    input #quota-limit name="limit" value=(if hard > 0 { bytes(hard) } else { String::new() });
                    button type="submit" { "Set the limit" }
                }
            } @else {
                p.muted { "System administrators set quotas." }
            }
        }
        @if may_delete {
            section.card.danger-zone #delete-project {
                h2 { "Delete the project" }
                @if deletable.deletable {
                    form.stack method="post" action=(view.link(&ui, "/settings/delete")) {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        p { "Deleting " strong { (name) } " removes its members, robot accounts, policies and labels. It cannot be undone." }
                        label for="delete-confirm" { "Type the project's name to confirm" }
                        input #delete-confirm name="confirm" required autocomplete="off";
                        button.danger type="submit" { "Delete " (name) }
                    }
                } @else {
                    (notice("info", &format!("{}. Delete its repositories first.", deletable.message.as_deref().unwrap_or("The project cannot be deleted now"))))
                }
            }
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · settings"),
        &view.crumbs(&ui),
        body,
    ))
}

fn settings_page(ui: &Ui, name: &str, section: &str) -> axum::response::Response {
    see_other(&ui.link(&format!("/projects/{}/settings#{section}", encode(name))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Visibility {
    csrf: String,
    public: String,
}

pub(crate) async fn visibility(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Visibility>,
) -> PageResult {
    let public = match form.public.as_str() {
        "true" => "true",
        "false" => "false",
        _ => {
            return Err(PageError(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "choose public or private",
            )));
        }
    };
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(
            Method::PUT,
            &format!("/projects/{}", encode(&name)),
            Some(json!({"metadata": {"public": public}})),
        )
        .await?;
    Ok(settings_page(&ui, &name, "visibility"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Limit {
    csrf: String,
    limit: String,
}

pub(crate) async fn quota(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Limit>,
) -> PageResult {
    let hard = match form.limit.trim() {
        "" | "-1" | "none" => -1,
        text => size_bytes(text).filter(|n| *n > 0).ok_or_else(|| {
            PageError(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                format!("{text:?} is not a size: write it as 500 MiB, 20 GiB or 1 TiB"),
            ))
        })?,
    };
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let project: crate::models::Project = api.get(&format!("/projects/{}", encode(&name))).await?;
    // A project's quota has the project's id (see /quotas?reference_id=).
    api.change(
        Method::PUT,
        &format!("/quotas/{}", project.project_id),
        Some(json!({"hard": {"storage": hard}})),
    )
    .await?;
    Ok(settings_page(&ui, &name, "quota"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Confirm {
    csrf: String,
    confirm: String,
}

pub(crate) async fn delete(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Confirm>,
) -> PageResult {
    if form.confirm.trim() != name {
        return Err(PageError(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            format!("type the project's name, {name}, to delete it"),
        )));
    }
    let project = format!("/projects/{}", encode(&name));
    super::delete_then(&ui, &headers, &form.csrf, &project, "/projects").await
}
