//! Immutable-tag rules: the list, a form for a new rule, switching one off and on,
//! deleting one.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Rule, Scope, Switch, back, refused, section_of, state_badge};
use crate::Ui;
use crate::api::{Api, encode};
use crate::pages::project::ProjectView;
use crate::pages::{Csrf, PageResult, delete_then};

fn rules_path(project: &str) -> String {
    format!("/projects/{}/immutabletagrules", encode(project))
}

pub(super) async fn section(ui: &Ui, api: &Api<'_>, view: &ProjectView, csrf: &str) -> Markup {
    let name = &view.project.name;
    let rules: Vec<Rule> = api.get(&rules_path(name)).await.unwrap_or_default();
    let may_change = view.rights.may("immutable-tag", "update");
    let may_delete = view.rights.may("immutable-tag", "delete");
    html! {
        section.card #immutable {
            h2 { "Immutable tags" }
            p.muted { "A tag these rules cover can be pushed once; it never moves to another manifest and is never deleted." }
            @if rules.is_empty() {
                p.muted { "No rules: every tag can be moved and deleted by those whose role allows it." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Repositories" } th { "Tags" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for r in &rules { tr {
                        td { (r.repositories()) } td { (r.tags()) }
                        td { (state_badge(!r.disabled)) }
                        td.actions {
                            @let what = format!("the rule for {}", r.covers());
                            @if may_change {
                                form method="post" action=(view.link(ui, &format!("/immutable/{}/switch", r.id))) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    @if r.disabled {
                                        button.small type="submit" name="on" value="true" aria-label={ "Enable " (what) } { "Enable" }
                                    } @else {
                                        button.small type="submit" name="on" value="false" aria-label={ "Disable " (what) } { "Disable" }
                                    }
                                }
                                " "
                            }
                            @if may_delete {
                                form method="post" action=(view.link(ui, &format!("/immutable/{}/delete", r.id))) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.danger.small type="submit" aria-label={ "Delete " (what) } { "Delete" }
                                }
                            }
                        }
                    } } }
                } }
            }
            @if view.rights.may("immutable-tag", "create") {
                details #new-immutable-rule {
                    summary { "New rule" }
                    form.stack method="post" action=(view.link(ui, "/immutable")) {
                        input type="hidden" name="csrf" value=(csrf);
                        (Scope::inputs("immutable"))
                        button.primary type="submit" { "Add the rule" }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewRule {
    csrf: String,
    #[serde(flatten)]
    scope: Scope,
}

pub(crate) async fn add(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<NewRule>,
) -> PageResult {
    let (tag_selectors, scope_selectors) = form.scope.selectors();
    let rule = json!({
        "disabled": false,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": tag_selectors,
        "scope_selectors": scope_selectors,
    });
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(Method::POST, &rules_path(&name), Some(rule))
        .await?;
    Ok(back(&ui, &name, "immutable"))
}

pub(crate) async fn switch(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<Switch>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    // The API takes the whole rule back; only `disabled` changes.
    let rules: Vec<Value> = api.get(&rules_path(&name)).await?;
    let mut rule = rules
        .into_iter()
        .find(|r| r["id"].as_i64() == Some(id))
        .ok_or_else(|| refused(StatusCode::NOT_FOUND, format!("{name} has no rule {id}")))?;
    rule["disabled"] = Value::Bool(!form.on());
    api.change(
        Method::PUT,
        &format!("{}/{id}", rules_path(&name)),
        Some(rule),
    )
    .await?;
    Ok(back(&ui, &name, "immutable"))
}

pub(crate) async fn delete(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let rule = format!("{}/{id}", rules_path(&name));
    delete_then(
        &ui,
        &headers,
        &form.csrf,
        &rule,
        &section_of(&name, "immutable"),
    )
    .await
}
