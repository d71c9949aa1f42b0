//! Webhook policies: which of the project's events go where. The list, a form for a new
//! policy (the event types offered are the API's), switching one off and on, deleting one.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Switch, back, refused, section_of, state_badge};
use crate::Ui;
use crate::api::{Api, encode};
use crate::pages::project::ProjectView;
use crate::pages::{Csrf, PageResult, RepeatedForm, delete_then};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Webhook {
    id: i64,
    name: String,
    description: String,
    targets: Vec<WebhookTarget>,
    event_types: Vec<String>,
    enabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebhookTarget {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

/// Harbor's `SupportedWebhookEventTypes`, as far as the form needs it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Supported {
    event_type: Vec<String>,
    payload_formats: Vec<Formats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Formats {
    formats: Vec<String>,
}

fn policies_path(project: &str) -> String {
    format!("/projects/{}/webhook/policies", encode(project))
}

/// `PUSH_ARTIFACT` as people say it: "push artifact".
fn event_words(event: &str) -> String {
    event.to_lowercase().replace('_', " ")
}

pub(super) async fn section(ui: &Ui, api: &Api<'_>, view: &ProjectView, csrf: &str) -> Markup {
    let name = &view.project.name;
    let list = format!("{}?page=1&page_size=100", policies_path(name));
    let events = format!("/projects/{}/webhook/events", encode(name));
    let may_create = view.rights.may("notification-policy", "create");
    let (webhooks, supported) = futures_util::future::join(api.get::<Vec<Webhook>>(&list), async {
        if may_create {
            api.get::<Supported>(&events).await.unwrap_or_default()
        } else {
            Supported::default()
        }
    })
    .await;
    let webhooks = webhooks.unwrap_or_default();
    let may_change = view.rights.may("notification-policy", "update");
    let may_delete = view.rights.may("notification-policy", "delete");
    let formats: Vec<&String> = supported
        .payload_formats
        .iter()
        .flat_map(|f| &f.formats)
        .collect();
    html! {
        section.card #webhooks {
            h2 { "Webhooks" }
            @if webhooks.is_empty() {
                p.muted { "No webhook policies: nothing is told about this project's events." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Name" } th { "Sends to" } th { "Events" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for w in &webhooks { tr {
                        td { (w.name) @if !w.description.is_empty() { br; span.muted { (w.description) } } }
                        td { @for t in &w.targets { code { (t.address) } " " span.muted { (t.kind) } br; } }
                        td { @for e in &w.event_types { span.badge.soft { (event_words(e)) } " " } }
                        td { (state_badge(w.enabled)) }
                        td.actions {
                            @if may_change {
                                form method="post" action=(view.link(ui, &format!("/webhooks/{}/switch", w.id))) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    @if w.enabled {
                                        button.small type="submit" name="on" value="false" aria-label={ "Disable the webhook " (w.name) } { "Disable" }
                                    } @else {
                                        button.small type="submit" name="on" value="true" aria-label={ "Enable the webhook " (w.name) } { "Enable" }
                                    }
                                }
                                " "
                            }
                            @if may_delete {
                                form method="post" action=(view.link(ui, &format!("/webhooks/{}/delete", w.id))) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.danger.small type="submit" aria-label={ "Delete the webhook " (w.name) } { "Delete" }
                                }
                            }
                        }
                    } } }
                } }
            }
            @if may_create {
                details #new-webhook {
                    summary { "New webhook" }
                    form.stack method="post" action=(view.link(ui, "/webhooks")) {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="webhook-name" { "Name" }
                        input #webhook-name name="name" required maxlength="256";
                        label for="webhook-description" { "Description" }
                        input #webhook-description name="description";
                        label for="webhook-address" { "Endpoint URL" }
                        input #webhook-address name="address" type="url" required placeholder="https://ci.example/hooks/registry";
                        label for="webhook-auth" { "Authorization header (optional)" }
                        input #webhook-auth name="auth_header" autocomplete="off" placeholder="Bearer …";
                        @if !formats.is_empty() {
                            label for="webhook-format" { "Payload format" }
                            select #webhook-format name="payload_format" {
                                @for f in &formats { option value=(f) { (f) } }
                            }
                        }
                        label.check {
                            input type="checkbox" name="skip_cert_verify" value="true";
                            " Accept any TLS certificate from the endpoint"
                        }
                        fieldset.picker.events {
                            legend { "Events" }
                            @for e in &supported.event_type {
                                label.check {
                                    input type="checkbox" name="event_types" value=(e) checked[e == "PUSH_ARTIFACT"];
                                    " " (event_words(e))
                                }
                            }
                        }
                        button.primary type="submit" { "Create the webhook" }
                    }
                }
            }
        }
    }
}

pub(crate) async fn create(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let form = RepeatedForm::read(&body)?;
    let events: Vec<&str> = form.all("event_types").collect();
    if events.is_empty() {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "pick at least one event for the webhook to send".into(),
        ));
    }
    let policy = json!({
        "name": form.one("name").trim(),
        "description": form.one("description"),
        "enabled": true,
        "event_types": events,
        "targets": [{
            "type": "http",
            "address": form.one("address").trim(),
            "auth_header": form.one("auth_header").trim(),
            "skip_cert_verify": form.one("skip_cert_verify") == "true",
            "payload_format": form.one("payload_format"),
        }],
    });
    Api::new(&ui, &headers)
        .with_csrf(form.one("csrf"))
        .change(Method::POST, &policies_path(&name), Some(policy))
        .await?;
    Ok(back(&ui, &name, "webhooks"))
}

pub(crate) async fn switch(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<Switch>,
) -> PageResult {
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    let path = format!("{}/{id}", policies_path(&name));
    // The API takes the whole policy back; only `enabled` changes.
    let mut policy: Value = api.get(&path).await?;
    policy["enabled"] = Value::Bool(form.on());
    api.change(Method::PUT, &path, Some(policy)).await?;
    Ok(back(&ui, &name, "webhooks"))
}

pub(crate) async fn delete(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, i64)>,
    Form(form): Form<Csrf>,
) -> PageResult {
    let policy = format!("{}/{id}", policies_path(&name));
    delete_then(
        &ui,
        &headers,
        &form.csrf,
        &policy,
        &section_of(&name, "webhooks"),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_types_read_as_words() {
        assert_eq!(super::event_words("PUSH_ARTIFACT"), "push artifact");
    }
}
