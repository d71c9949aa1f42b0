//! The signed-in user's own page: who they are, their password, and — for users of the
//! OIDC provider — the CLI secret `docker login` takes in place of a password.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{PageError, PageResult, required};
use crate::Ui;
use crate::api::{Api, ApiFailure};
use crate::format::when;
use crate::layout::{copyable, notice, page};
use crate::models::SystemInfo;
use crate::viewer::{CurrentUser, Viewer};

/// The signed-in user, or the way to the sign-in page.
fn signed_in(viewer: &Viewer) -> Result<&CurrentUser, PageError> {
    viewer.user.as_ref().ok_or_else(|| {
        PageError(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "sign in to see your profile",
        ))
    })
}

pub(crate) async fn show(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let user = signed_in(&viewer)?;
    let info: SystemInfo = Api::new(&ui, &headers)
        .get("/systeminfo")
        .await
        .unwrap_or_default();
    let body = profile_body(&ui, &viewer, user, &info, None);
    Ok(page(&ui, &viewer, "Your profile", &[], body))
}

fn profile_body(
    ui: &Ui,
    viewer: &Viewer,
    user: &CurrentUser,
    info: &SystemInfo,
    new_secret: Option<&str>,
) -> maud::Markup {
    let oidc = user.oidc_user_meta.is_some();
    // Passwords are berth's own only in database mode; a directory keeps its own.
    let own_password = !oidc && info.auth_mode == "db_auth" && user.user_id > 0;
    html! {
        section.card {
            h2 { "Account" }
            dl.facts {
                dt { "User name" } dd { (user.username) }
                @if !user.realname.is_empty() { dt { "Name" } dd { (user.realname) } }
                @if !user.email.is_empty() { dt { "E-mail" } dd { (user.email) } }
                dt { "Role" } dd { @if user.sysadmin_flag { "System administrator" } @else { "User" } }
                dt { "Signs in with" } dd { @if oidc { "the identity provider (SSO)" } @else if info.auth_mode == "ldap_auth" { "the directory (LDAP)" } @else { "a password" } }
                @if !user.creation_time.is_empty() { dt { "Since" } dd { (when(&user.creation_time)) } }
            }
        }
        @if own_password {
            section.card {
                h2 { "Change password" }
                form.stack method="post" action=(ui.link("/profile/password")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="old-password" { "Current password" }
                    input #old-password name="old_password" type="password" autocomplete="current-password" required;
                    label for="new-password" { "New password" }
                    input #new-password name="new_password" type="password" autocomplete="new-password" required minlength="8"
                        aria-describedby="password-rule";
                    p.muted #password-rule { "At least 8 characters." }
                    button.primary type="submit" { "Change password" }
                }
            }
        }
        @if oidc {
            section.card {
                h2 { "CLI secret" }
                p { "Command-line clients cannot sign in through the identity provider: they use this secret as the password, e.g. " code { "docker login -u " (user.username) } "." }
                @if let Some(secret) = new_secret {
                    (notice("ok", "Your new CLI secret. It is shown this once: copy it now. The previous one no longer works."))
                    p #cli-secret-shown { (copyable(secret, "Copy the CLI secret")) }
                } @else {
                    p.muted { "berth keeps only a hash of the secret, so it cannot show it again. Make a new one if it is lost." }
                }
                form.inline method="post" action=(ui.link("/profile/cli-secret")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    button.primary type="submit" { "Make a new CLI secret" }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct NewPassword {
    csrf: String,
    old_password: String,
    new_password: String,
}

pub(crate) async fn change_password(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<NewPassword>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let user = signed_in(&viewer)?;
    let new_password = required(&form.new_password, "the new password")?;
    Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .change(
            Method::PUT,
            &format!("/users/{}/password", user.user_id),
            Some(json!({"old_password": form.old_password, "new_password": new_password})),
        )
        .await?;
    let body = html! {
        (notice("ok", "Your password was changed."))
        p { a href=(ui.link("/profile")) { "Back to your profile" } }
    };
    Ok(page(&ui, &viewer, "Password changed", &[], body))
}

pub(crate) async fn new_cli_secret(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<super::Csrf>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    let user = signed_in(&viewer)?;
    let secret = berth_auth::robots::generate_secret()
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let api = Api::new(&ui, &headers).with_csrf(&form.csrf);
    api.change(
        Method::PUT,
        &format!("/users/{}/cli_secret", user.user_id),
        Some(json!({"secret": secret})),
    )
    .await?;
    let info: SystemInfo = api.get("/systeminfo").await.unwrap_or_default();
    // Shown in the answer to the POST itself, never in a page a reload or the history
    // would bring back.
    let body = profile_body(&ui, &viewer, user, &info, Some(&secret));
    Ok(page(&ui, &viewer, "Your profile", &[], body))
}
