//! The pages, one module per part of the interface, and what they share: the error
//! page, the check of a form's CSRF token, the redirect after a change.

pub(crate) mod activity;
pub(crate) mod admin;
pub(crate) mod assets;
pub(crate) mod dashboard;
pub(crate) mod policies;
pub(crate) mod profile;
pub(crate) mod project;
pub(crate) mod projects;
pub(crate) mod repository;
pub(crate) mod robots;
pub(crate) mod settings;
pub(crate) mod sign_in;
pub(crate) mod system_access;

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::api::ApiFailure;
use crate::viewer::Viewer;
use crate::{Ui, layout};

/// A page that could not be shown, or a change that was refused: the status and the
/// reason, on a page of its own. A 401 becomes a way to the sign-in page (see
/// [`crate::router`]).
#[derive(Debug)]
pub(crate) struct PageError(pub ApiFailure);

impl From<ApiFailure> for PageError {
    fn from(e: ApiFailure) -> PageError {
        PageError(e)
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

fn error_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => {
            "That did not work"
        }
        StatusCode::UNAUTHORIZED => "Sign in first",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "Something went wrong",
    }
}

impl IntoResponse for PageError {
    /// An empty answer that carries the failure: [`finish`] renders it in the page shell.
    fn into_response(self) -> Response {
        let mut resp = self.0.status.into_response();
        resp.extensions_mut().insert(self.0);
        resp
    }
}

/// Every answer passes here: a failure becomes its page, and a 401 (no session, or it
/// ended) the sign-in page, coming back afterwards to the page asked for.
pub(crate) async fn finish(
    ui: &Ui,
    headers: &axum::http::HeaderMap,
    back_to: Option<String>,
    resp: Response,
) -> Response {
    let Some(failure) = resp.extensions().get::<ApiFailure>().cloned() else {
        return resp;
    };
    if failure.status == StatusCode::UNAUTHORIZED {
        let to = match back_to {
            Some(path) => format!("/sign-in?next={}", crate::api::encode(&path)),
            None => "/sign-in".into(),
        };
        return see_other(&ui.link(&to));
    }
    let viewer = Viewer::of(ui, headers)
        .await
        .unwrap_or_else(|_| Viewer::anonymous());
    let title = error_title(failure.status);
    let body = html! {
        (layout::notice("error", &failure.message))
        p.muted { "HTTP " (failure.status.as_u16()) " · " a href=(ui.link("/")) { "Home" } }
    };
    layout::respond(failure.status, layout::shell(ui, &viewer, title, &[], body))
}

pub(crate) async fn not_found(uri: Uri) -> PageError {
    PageError(ApiFailure::new(
        StatusCode::NOT_FOUND,
        format!("there is no page at {}", uri.path()),
    ))
}

/// After a change: back to `to` (Post/Redirect/Get, so a reload does not repeat it).
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// What a delete button's form does: deletes `api_path` as the visitor, then goes to
/// `to` (a path of the interface).
pub(crate) async fn delete_then(
    ui: &Ui,
    headers: &axum::http::HeaderMap,
    csrf: &str,
    api_path: &str,
    to: &str,
) -> PageResult {
    crate::api::Api::new(ui, headers)
        .with_csrf(csrf)
        .change(axum::http::Method::DELETE, api_path, None)
        .await?;
    Ok(see_other(&ui.link(to)))
}

/// A form that carries only the page's CSRF token (a button that changes one thing).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct Csrf {
    pub csrf: String,
}

/// A form field that must be there.
pub(crate) fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, PageError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(PageError(ApiFailure::new(
            StatusCode::BAD_REQUEST,
            format!("{what} is required"),
        )));
    }
    Ok(value)
}

/// A form with repeated fields (checkboxes of one name), read as its pairs.
pub(crate) struct RepeatedForm(Vec<(String, String)>);

impl RepeatedForm {
    pub(crate) fn read(body: &[u8]) -> Result<RepeatedForm, PageError> {
        serde_urlencoded::from_bytes(body)
            .map(RepeatedForm)
            .map_err(|e| {
                PageError(ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    format!("unreadable form: {e}"),
                ))
            })
    }

    /// The first value of `key`, or empty.
    pub(crate) fn one(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key`, in the form's order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
