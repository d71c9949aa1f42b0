//! Calls into the management API (and `/v2` for reads) in process, as the visitor: the
//! browser's cookie goes along, and a form's CSRF token goes in the header the API
//! checks for changes made with a session.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::Ui;

/// The registry's front door, as the interface sees it: a request in, a response out.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn call(&self, request: Request<Body>) -> Response;
}

/// Why an API call did not give the page what it needed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub message: String,
}

impl ApiFailure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status,
            message: message.into(),
        }
    }
}

/// The largest API answer a page reads (a manifest or config blob included).
const MAX_ANSWER: usize = 16 << 20;

/// Headers of the browser's request that the API's answer depends on.
const PASSED_ON: [header::HeaderName; 4] = [
    header::COOKIE,
    header::HOST,
    header::USER_AGENT,
    header::HeaderName::from_static("x-forwarded-proto"),
];

/// What an API call answered.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as `T`, or why not.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiFailure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiFailure::new(
                StatusCode::BAD_GATEWAY,
                format!("the API's answer could not be read: {e}"),
            )
        })
    }

    /// Harbor's `X-Total-Count` of a listing.
    pub(crate) fn total(&self) -> Option<u64> {
        self.headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// The message of Harbor's error body (`{"errors":[{"message":…}]}`).
    fn error_message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<ErrorItem>,
        }
        #[derive(serde::Deserialize)]
        struct ErrorItem {
            message: String,
        }
        serde_json::from_slice::<Errors>(&self.body)
            .ok()
            .and_then(|e| e.errors.into_iter().next())
            .map(|e| e.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }

    /// `self` when it succeeded; else its status and message.
    pub(crate) fn ok(self) -> Result<Answer, ApiFailure> {
        if self.status.is_success() {
            Ok(self)
        } else {
            let message = self.error_message();
            Err(ApiFailure::new(self.status, message))
        }
    }
}

/// The API as one visitor calls it.
pub(crate) struct Api<'a> {
    ui: &'a Ui,
    browser: &'a HeaderMap,
    /// The CSRF token the submitted form carried, sent with changes.
    csrf: Option<String>,
}

impl<'a> Api<'a> {
    pub(crate) fn new(ui: &'a Ui, browser: &'a HeaderMap) -> Api<'a> {
        Api {
            ui,
            browser,
            csrf: None,
        }
    }

    /// The same visitor, submitting a form that carried `token`.
    pub(crate) fn with_csrf(mut self, token: &str) -> Api<'a> {
        self.csrf = Some(token.to_string());
        self
    }

    /// A management API path (`/projects`) as a URL below the prefix.
    fn api_url(&self, path: &str) -> String {
        self.ui.link(&format!("/api/v2.0{path}"))
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, ApiFailure> {
        let mut builder = Request::builder().method(method).uri(url);
        for name in PASSED_ON {
            if let Some(value) = self.browser.get(&name) {
                builder = builder.header(name, value.clone());
            }
        }
        if let Some(token) = &self.csrf
            && let Ok(value) = HeaderValue::from_str(token)
        {
            builder = builder.header(berth_auth::sessions::CSRF_HEADER, value);
        }
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        let request = match body {
            Some((content_type, bytes)) => builder
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(bytes)),
            None => builder.body(Body::empty()),
        }
        .map_err(|e| ApiFailure::new(StatusCode::BAD_REQUEST, format!("bad request: {e}")))?;
        let response = self.ui.backend.call(request).await;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, MAX_ANSWER).await.map_err(|e| {
            ApiFailure::new(
                StatusCode::BAD_GATEWAY,
                format!("the API's answer was cut off: {e}"),
            )
        })?;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// `GET` a management API path; its answer as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiFailure> {
        self.listing(path).await.map(|(value, _)| value)
    }

    /// `GET` a listing: its page as `T` and the total count.
    pub(crate) async fn listing<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, Option<u64>), ApiFailure> {
        let answer = self
            .call(Method::GET, &self.api_url(path), None, None)
            .await?
            .ok()?;
        Ok((answer.json()?, answer.total()))
    }

    /// A change (`POST`, `PUT`, `DELETE`) with a JSON body, or none.
    pub(crate) async fn change(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, ApiFailure> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.call(method, &self.api_url(path), None, body)
            .await?
            .ok()
    }

    /// A form to one of the browser paths (`/c/login`): the whole answer, success or not.
    pub(crate) async fn browser_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, ApiFailure> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| ApiFailure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        self.call(
            Method::POST,
            &self.ui.link(path),
            None,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    /// `GET` from the registry API (`/v2/...`): a manifest or blob the visitor may pull.
    pub(crate) async fn registry(&self, path: &str, accept: &str) -> Result<Answer, ApiFailure> {
        self.call(
            Method::GET,
            &self.ui.link(&format!("/v2/{path}")),
            Some(accept),
            None,
        )
        .await?
        .ok()
    }
}

/// A repository's name inside its project, as Harbor's paths take it (slashes encoded
/// twice: `a/b` is `a%252Fb`).
pub(crate) fn repository_segment(name_in_project: &str) -> String {
    encode(name_in_project).replace("%2F", "%252F")
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_names_are_encoded_as_harbor_takes_them() {
        assert_eq!(super::repository_segment("app"), "app");
        assert_eq!(super::repository_segment("a/b c"), "a%252Fb%20c");
        assert_eq!(super::encode("name=~x"), "name%3D~x");
    }
}
