//! Who is calling the management API: the one principal extractor every handler takes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_auth::{Credentials, Identity};

use crate::AppState;
use crate::access::{self, Peer};

/// Where the caller's name goes for the access log (the front door reads it back).
#[derive(Clone, Default)]
pub(crate) struct SignedInSlot(Arc<std::sync::Mutex<Option<String>>>);

impl SignedInSlot {
    pub(crate) fn set(&self, user: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(user.to_string());
        }
    }

    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// A change asked for with a session cookie must carry the session's CSRF token: the
/// cookie alone could come from a form on another site. The refusal when it does not.
fn csrf_refusal(session_id: &str, headers: &axum::http::HeaderMap) -> Option<Response> {
    let given = headers
        .get(berth_auth::sessions::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if berth_auth::sessions::csrf_matches(session_id, given) {
        return None;
    }
    Some(crate::response::ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "FORBIDDEN",
        format!(
            "a change made with a session cookie needs the session's CSRF token in {}; reload the page and try again",
            berth_auth::sessions::CSRF_HEADER
        ),
    )
    .into_response())
}

/// The caller: anonymous, a user signed in with a password or client certificate, or the
/// holder of a management token. Handlers decide what each may do.
pub(crate) struct Caller(pub Identity);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<Peer>().cloned();
        let credentials = access::credentials_or_session(&parts.headers, peer.as_ref());
        if let Credentials::Session(id) = &credentials
            && !parts.method.is_safe()
            && let Some(refusal) = csrf_refusal(id, &parts.headers)
        {
            return Err(refusal);
        }
        let auth = &state.auth;
        if credentials == Credentials::Anonymous && !auth.is_open() {
            return Ok(Caller(Identity::anonymous()));
        }
        match auth
            .authorize_management(&credentials, Peer::ip(peer.as_ref()))
            .await
        {
            Ok(who) => {
                if let (Some(user), Some(slot)) =
                    (&who.user, parts.extensions.get::<SignedInSlot>())
                {
                    slot.set(user);
                }
                Ok(Caller(who))
            }
            // No challenge: a browser would answer it with a password dialog.
            Err(refusal) => Err(access::refusal_response(refusal, |_| None).into_response()),
        }
    }
}
