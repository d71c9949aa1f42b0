//! Signing in (a password, or the OpenID Connect provider) and out.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Csrf, PageResult, see_other};
use crate::Ui;
use crate::api::{Api, ApiFailure};
use crate::layout::{self, notice};
use crate::models::SystemInfo;
use crate::viewer::{Viewer, cookie};

/// The cookie that pairs the sign-in form with its submission (the form carries the
/// same random value): another site cannot sign a browser in to its own account.
const SIGN_IN_COOKIE: &str = "berth_signin";

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Next {
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignIn {
    principal: String,
    password: String,
    csrf: String,
    next: String,
}

/// Where to go after signing in: a path of this site only (never `//other.example`).
fn destination(ui: &Ui, next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        ui.link("/")
    }
}

/// Why nobody can sign in, in authentication modes where berth checks no passwords.
fn no_passwords(auth_mode: &str) -> Option<&'static str> {
    match auth_mode {
        "none" => Some(
            "This registry runs without authentication, so there is nobody to sign in as. To use the web interface, give it users: add `auth: {local: {}}` to config.yml (berth's own users; the first administrator's password is written to the state directory), or `auth: {htpasswd: …}`.",
        ),
        "token" => Some(
            "This registry trusts tokens from an external service and checks no passwords itself, so the web interface cannot sign anyone in. Use `auth: {local: …}` to manage users in berth.",
        ),
        _ => None,
    }
}

async fn sign_in_page(
    ui: &Ui,
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let info: SystemInfo = Api::new(ui, headers)
        .get("/systeminfo")
        .await
        .unwrap_or_default();
    let token = berth_auth::password::generate(32)
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let body: Markup = html! {
        section.card.narrow {
            h1 { "Sign in to berth" }
            @if let Some(why) = no_passwords(&info.auth_mode) {
                (notice("info", why))
                p.muted { a href=(ui.link("/projects")) { "Browse public projects" } " without signing in." }
            } @else {
            @if let Some(error) = error { (notice("error", error)) }
            form.stack method="post" action=(ui.link("/sign-in")) {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="principal" { "User name" }
                input #principal name="principal" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.primary type="submit" { "Sign in" }
            }
            @if info.auth_mode == "oidc_auth" {
                p.or { "or" }
                a.button.wide #sso href=(ui.link("/c/oidc/login")) { "Sign in with SSO" }
            }
            p.muted { a href=(ui.link("/projects")) { "Browse public projects" } " without signing in." }
            }
        }
    };
    let mut resp = layout::respond(
        status,
        layout::shell_without_heading(ui, &Viewer::anonymous(), "Sign in", body),
    );
    let secure = if headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes() == b"https")
    {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{SIGN_IN_COOKIE}={token}; Path={}/sign-in; Max-Age=3600; HttpOnly; SameSite=Strict{secure}",
        ui.prefix
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(resp)
}

pub(crate) async fn form(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> PageResult {
    let viewer = Viewer::of(&ui, &headers).await?;
    if viewer.user.is_some() {
        return Ok(see_other(&destination(&ui, &next.next)));
    }
    sign_in_page(&ui, &headers, &next.next, None, StatusCode::OK).await
}

pub(crate) async fn submit(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> PageResult {
    let paired = cookie(&headers, SIGN_IN_COOKIE).is_some_and(|c| c == form.csrf);
    if !paired {
        let why = "the sign-in form expired or came from another site; please sign in again";
        return sign_in_page(&ui, &headers, &form.next, Some(why), StatusCode::FORBIDDEN).await;
    }
    let answer = Api::new(&ui, &headers)
        .browser_form(
            "/c/login",
            &[("principal", &form.principal), ("password", &form.password)],
        )
        .await?;
    if !answer.status.is_success() {
        let why = match answer.status {
            StatusCode::UNAUTHORIZED => "Wrong user name or password.".to_string(),
            _ => answer.ok().err().map_or_else(String::new, |e| e.message),
        };
        return sign_in_page(
            &ui,
            &headers,
            &form.next,
            Some(&why),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let mut resp = see_other(&destination(&ui, &form.next));
    pass_cookies(&answer.headers, &mut resp);
    Ok(resp)
}

/// The session cookies an API answer set, passed on to the browser.
fn pass_cookies(from: &HeaderMap, to: &mut Response) {
    for value in from.get_all(header::SET_COOKIE) {
        to.headers_mut().append(header::SET_COOKIE, value.clone());
    }
}

pub(crate) async fn sign_out(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> PageResult {
    let answer = Api::new(&ui, &headers)
        .with_csrf(&form.csrf)
        .browser_form("/c/log_out", &[])
        .await?
        .ok()?;
    let mut resp = see_other(&ui.link("/sign-in"));
    pass_cookies(&answer.headers, &mut resp);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sign_in_returns_only_to_this_site() {
        let ui = crate::Ui::new(std::sync::Arc::new(super::tests_backend::Nothing), "");
        assert_eq!(super::destination(&ui, "/projects/a"), "/projects/a");
        assert_eq!(super::destination(&ui, "//evil.example/x"), "/");
        assert_eq!(super::destination(&ui, "https://evil.example"), "/");
        assert_eq!(super::destination(&ui, "/\\evil.example"), "/");
    }
}

#[cfg(test)]
mod tests_backend {
    pub(super) struct Nothing;

    #[async_trait::async_trait]
    impl crate::Backend for Nothing {
        async fn call(&self, _: axum::http::Request<axum::body::Body>) -> axum::response::Response {
            axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND)
        }
    }
}
