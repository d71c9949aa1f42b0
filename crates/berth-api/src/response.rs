//! Shared response pieces: the spec's error envelope and the status each error maps to.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::RegistryError;
use serde_json::json;

/// An error as clients see it: a status and the distribution spec's JSON envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra headers (e.g. `Range` on 416 for uploads).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub fn status_of(err: &RegistryError) -> StatusCode {
    use RegistryError::*;
    match err {
        BlobUnknown | BlobUploadUnknown | UploadLost | ManifestUnknown(_) | NameUnknown => {
            StatusCode::NOT_FOUND
        }
        ChunkOutOfOrder { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        ManifestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
        Denied(_) | Immutable(_) => StatusCode::FORBIDDEN,
        Storage(_) | Meta(_) => StatusCode::INTERNAL_SERVER_ERROR,
        // The run stopped for the process (shutdown) or moved to another: ask again.
        Job(_) | Stopped => StatusCode::SERVICE_UNAVAILABLE,
        BlobUploadInvalid(_)
        | Body(_)
        | DigestMismatch
        | DigestInvalid(_)
        | ManifestBlobUnknown(_)
        | ManifestChildUnknown(_)
        | ManifestInvalid(_)
        | NameInvalid(_)
        | SizeInvalid(_)
        | TagInvalid(_) => StatusCode::BAD_REQUEST,
    }
}

/// What clients see when a write failed for want of space: 507, and what to do.
pub fn storage_full(detail: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %detail, "storage is full: the write was refused");
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "UNKNOWN",
        "the registry's storage is full, so nothing was saved; retry once its operator has \
         freed space",
    )
}

/// What clients see while the metadata database is out of reach (PostgreSQL restarting):
/// 503, a hint to retry, and nothing changed.
pub fn metadata_unavailable(detail: &dyn std::fmt::Display) -> ApiError {
    unavailable("metadata database", detail)
}

/// 503 for a part of the registry (`what`) that cannot be reached now.
fn unavailable(what: &str, detail: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %detail, "the {what} is unavailable");
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        format!(
            "the registry's {what} is unavailable, so nothing was read or saved; retry in a \
             few seconds"
        ),
    );
    e.headers
        .push((header::RETRY_AFTER, HeaderValue::from_static("5")));
    e
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        if err.is_storage_full() {
            return storage_full(&err);
        }
        if err.is_unavailable() {
            let what = match &err {
                RegistryError::Storage(_) => "blob storage",
                _ => "metadata database",
            };
            return unavailable(what, &err);
        }
        let message = if err.is_internal() {
            // Details go to the log, not to clients.
            tracing::error!(error = %err, "internal error");
            "internal server error; the registry log has details".to_string()
        } else {
            err.to_string()
        };
        ApiError::new(status_of(&err), err.code(), message)
    }
}

/// A metadata failure: the database full or out of reach (503), or an internal error.
pub(crate) fn meta_error(m: &berth_meta::MetaError) -> ApiError {
    if m.is_storage_full() {
        storage_full(m)
    } else if m.is_unavailable() {
        metadata_unavailable(m)
    } else {
        internal(m)
    }
}

/// A 500 whose details go to the log, not to clients.
pub(crate) fn internal(err: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN",
        "internal server error; the registry log has details",
    )
}

impl From<berth_notify::PolicyError> for ApiError {
    fn from(err: berth_notify::PolicyError) -> Self {
        use berth_notify::PolicyError;
        let (status, code) = match &err {
            PolicyError::Meta(m) => return meta_error(m),
            PolicyError::NameTaken(_) => (StatusCode::CONFLICT, "CONFLICT"),
            PolicyError::NoSuchProject | PolicyError::NoSuchPolicy(_) => {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            }
            PolicyError::NoName
            | PolicyError::NameTooLong
            | PolicyError::NoEventTypes
            | PolicyError::UnknownEventType(_)
            | PolicyError::NoTargets
            | PolicyError::UnsupportedTarget(_)
            | PolicyError::UnsupportedFormat(_)
            | PolicyError::BadAddress(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl From<berth_auth::RobotError> for ApiError {
    fn from(err: berth_auth::RobotError) -> Self {
        berth_auth::AuthError::from(err).into()
    }
}

impl From<berth_auth::oidc::OidcError> for ApiError {
    fn from(err: berth_auth::oidc::OidcError) -> Self {
        berth_auth::AuthError::from(err).into()
    }
}

impl From<berth_auth::AuthError> for ApiError {
    fn from(err: berth_auth::AuthError) -> Self {
        use berth_auth::{AuthError, ProjectError, RobotError, users::UserError};
        let (status, code) = match &err {
            AuthError::Meta(m) if m.is_storage_full() => return storage_full(m),
            AuthError::Meta(m) if m.is_unavailable() => return metadata_unavailable(m),
            AuthError::User(u) => match u {
                UserError::NoSuchUser(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
                UserError::Exists(_)
                | UserError::LastAdmin(_)
                | UserError::LocalNotDirectory(_) => (StatusCode::CONFLICT, "CONFLICT"),
                UserError::DirectoryPassword(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
                UserError::WrongPassword | UserError::DeletingSelf => {
                    (StatusCode::FORBIDDEN, "FORBIDDEN")
                }
                UserError::InvalidName(_)
                | UserError::PasswordTooShort
                | UserError::OldPasswordMissing
                | UserError::InvalidProfile(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            },
            AuthError::Project(p) => match p {
                ProjectError::InvalidName(_)
                | ProjectError::InvalidRole(_)
                | ProjectError::InvalidMetadata(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
                ProjectError::Exists(_)
                | ProjectError::MemberExists(_)
                | ProjectError::MetadataExists { .. } => (StatusCode::CONFLICT, "CONFLICT"),
                ProjectError::NoSuchProject(_)
                | ProjectError::NoSuchMember(_)
                | ProjectError::NoSuchEntity(_)
                | ProjectError::NoSuchMetadata { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
                ProjectError::HoldsRepositories { .. } => {
                    (StatusCode::PRECONDITION_FAILED, "PRECONDITION")
                }
                ProjectError::NotAllowed(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            },
            AuthError::Robot(r) => match r {
                RobotError::NoSuchProject(_) | RobotError::NoSuchRobot(_) => {
                    (StatusCode::NOT_FOUND, "NOT_FOUND")
                }
                RobotError::Exists(_) => (StatusCode::CONFLICT, "CONFLICT"),
                RobotError::BeyondCreator(_) => (StatusCode::FORBIDDEN, "DENIED"),
                RobotError::InvalidName(_)
                | RobotError::InvalidDuration(_)
                | RobotError::InvalidLevel(_)
                | RobotError::NoPermissions
                | RobotError::OneProjectOnly
                | RobotError::InvalidKind(_)
                | RobotError::InvalidSystemNamespace(_)
                | RobotError::InvalidAccess { .. }
                | RobotError::InvalidEffect(_)
                | RobotError::Immutable { .. }
                | RobotError::ProjectChanged(_)
                | RobotError::WeakSecret => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            },
            AuthError::Oidc(
                berth_auth::oidc::OidcError::Settings(_)
                | berth_auth::oidc::OidcError::Provider { .. },
            ) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            AuthError::Oidc(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            // The directory is down or refuses the search account: the operator's to fix.
            AuthError::Ldap(e) => {
                tracing::warn!(error = %e, "LDAP directory");
                (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
            }
            AuthError::Meta(_)
            | AuthError::File { .. }
            | AuthError::Config(_)
            | AuthError::Crypto(_) => return internal(&err),
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [{ "code": self.code, "message": self.message }] });
        let mut resp = (self.status, Body::from(body.to_string())).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            h.insert(name, value);
        }
        resp
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// The first value of `key` in decoded query or form pairs.
pub fn first_param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Every value of `key` in decoded query or form pairs, in order.
pub fn all_params<'a>(
    pairs: &'a [(String, String)],
    key: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A JSON response (`body` rendered once, with its content type).
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Marks a response as not to be stored by caches (tokens, health reports).
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A header value built from text we produced ourselves (digests, numbers, our paths).
pub fn hv(s: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(s.as_ref()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
