//! Who is looking at a page: the signed-in user of the session cookie (as the API says),
//! or an anonymous visitor; and the CSRF token the page's forms carry.

use axum::http::{HeaderMap, StatusCode, header};

use crate::Ui;
use crate::api::{Api, ApiFailure};

/// The signed-in user, as `GET /users/current` describes them.
pub(crate) type CurrentUser = crate::models::User;

pub(crate) struct Viewer {
    pub user: Option<CurrentUser>,
    /// The CSRF token of the session (empty when signed out).
    pub csrf: String,
}

/// The value of cookie `name` in the browser's request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let values = headers.get_all(header::COOKIE);
    berth_auth::sessions::cookie_value(values.iter().filter_map(|v| v.to_str().ok()), name)
}

impl Viewer {
    /// Who the browser's session signs in; anonymous without one, or when it has ended.
    pub(crate) async fn of(ui: &Ui, headers: &HeaderMap) -> Result<Viewer, ApiFailure> {
        let Some(session) = cookie(headers, berth_auth::sessions::COOKIE) else {
            return Ok(Viewer::anonymous());
        };
        match Api::new(ui, headers)
            .get::<CurrentUser>("/users/current")
            .await
        {
            Ok(user) => Ok(Viewer {
                user: Some(user),
                csrf: berth_auth::sessions::csrf_token(&session),
            }),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(Viewer::anonymous()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn anonymous() -> Viewer {
        Viewer {
            user: None,
            csrf: String::new(),
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.sysadmin_flag)
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.username.as_str())
    }
}
