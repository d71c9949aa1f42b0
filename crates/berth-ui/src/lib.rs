//! The web interface: server-rendered pages (maud), plain CSS and a few lines of script,
//! all compiled into the binary. Every page is a client of the management API, called in
//! process with the visitor's own session: the interface can show and do exactly what
//! the API lets that visitor see and do, audited the same way, and never more.

mod api;
mod format;
mod layout;
mod models;
mod pages;
mod viewer;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use api::Backend;

/// What every page handler gets: the way to the API and where the interface lives.
#[derive(Clone)]
pub struct Ui {
    backend: Arc<dyn Backend>,
    /// `http.prefix` (no trailing slash).
    prefix: String,
}

impl Ui {
    pub fn new(backend: Arc<dyn Backend>, prefix: &str) -> Ui {
        Ui {
            backend,
            prefix: prefix.to_string(),
        }
    }

    /// The interface's URL for `path` (which starts with `/`).
    pub(crate) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// The first path segments the interface answers (below `http.prefix`); `/` as well.
const SECTIONS: [&str; 6] = [
    "sign-in", "sign-out", "profile", "projects", "admin", "static",
];

/// Whether `local` (a path below `http.prefix`) is one of the interface's.
pub fn matches(local: &str) -> bool {
    if local.is_empty() || local == "/" {
        return true;
    }
    let Some(rest) = local.strip_prefix('/') else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    SECTIONS.contains(&first)
}

/// The interface's routes, built on first use.
#[derive(Default)]
pub struct Interface(std::sync::OnceLock<Router<Ui>>);

impl Interface {
    /// Answers a request for one of the interface's paths ([`matches`]).
    pub async fn serve(&self, ui: Ui, request: axum::extract::Request) -> axum::response::Response {
        use tower::ServiceExt;
        let routes = self.0.get_or_init(|| router(&ui.prefix)).clone();
        let headers = request.headers().clone();
        let back_to = (request.method() == axum::http::Method::GET)
            .then(|| request.uri().path_and_query().map(|p| p.to_string()))
            .flatten();
        let resp = match routes.with_state(ui.clone()).oneshot(request).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        pages::finish(&ui, &headers, back_to, resp).await
    }
}

/// The interface's routes below `prefix`.
fn router(prefix: &str) -> Router<Ui> {
    let routes = Router::new()
        .route("/", get(pages::dashboard::show))
        .route(
            "/sign-in",
            get(pages::sign_in::form).post(pages::sign_in::submit),
        )
        .route("/sign-out", post(pages::sign_in::sign_out))
        .route("/profile", get(pages::profile::show))
        .route("/profile/password", post(pages::profile::change_password))
        .route("/profile/cli-secret", post(pages::profile::new_cli_secret))
        .route(
            "/projects",
            get(pages::projects::list).post(pages::projects::create),
        )
        .route("/projects/{project}", get(pages::project::repositories))
        .route(
            "/projects/{project}/members",
            get(pages::project::members).post(pages::project::add_member),
        )
        .route(
            "/projects/{project}/members/{id}/remove",
            post(pages::project::remove_member),
        )
        .route(
            "/projects/{project}/members/{id}/role",
            post(pages::project::change_role),
        )
        .route(
            "/projects/{project}/robots",
            get(pages::robots::list).post(pages::robots::create),
        )
        .route(
            "/projects/{project}/robots/{id}/delete",
            post(pages::robots::delete),
        )
        .route("/projects/{project}/policies", get(pages::policies::show))
        .route(
            "/projects/{project}/immutable",
            post(pages::policies::immutable::add),
        )
        .route(
            "/projects/{project}/immutable/{id}/switch",
            post(pages::policies::immutable::switch),
        )
        .route(
            "/projects/{project}/immutable/{id}/delete",
            post(pages::policies::immutable::delete),
        )
        .route(
            "/projects/{project}/retention/dry-run",
            post(pages::policies::retention::dry_run),
        )
        .route(
            "/projects/{project}/retention/rules",
            post(pages::policies::retention::add_rule),
        )
        .route(
            "/projects/{project}/retention/rules/{n}/delete",
            post(pages::policies::retention::remove_rule),
        )
        .route(
            "/projects/{project}/retention/schedule",
            post(pages::policies::retention::schedule),
        )
        .route(
            "/projects/{project}/retention/{run}",
            get(pages::policies::retention::execution),
        )
        .route(
            "/projects/{project}/webhooks",
            post(pages::policies::webhooks::create),
        )
        .route(
            "/projects/{project}/webhooks/{id}/switch",
            post(pages::policies::webhooks::switch),
        )
        .route(
            "/projects/{project}/webhooks/{id}/delete",
            post(pages::policies::webhooks::delete),
        )
        .route("/projects/{project}/settings", get(pages::settings::show))
        .route(
            "/projects/{project}/settings/visibility",
            post(pages::settings::visibility),
        )
        .route(
            "/projects/{project}/settings/quota",
            post(pages::settings::quota),
        )
        .route(
            "/projects/{project}/settings/delete",
            post(pages::settings::delete),
        )
        .route("/projects/{project}/activity", get(pages::activity::show))
        .route(
            "/projects/{project}/repositories/{*rest}",
            get(pages::repository::show).post(pages::repository::act),
        )
        .route("/admin", get(pages::admin::show))
        .route("/admin/gc", post(pages::admin::run_gc))
        .route("/admin/storage", get(pages::admin::storage))
        .route("/admin/test-sign-in", post(pages::admin::test_sign_in))
        .route("/admin/users", post(pages::admin::create_user))
        .route("/admin/groups", post(pages::system_access::add_group))
        .route(
            "/admin/groups/{id}/delete",
            post(pages::system_access::delete_group),
        )
        .route("/admin/robots", post(pages::system_access::create_robot))
        .route(
            "/admin/robots/{id}/delete",
            post(pages::system_access::delete_robot),
        )
        .route("/admin/users/{id}/admin", post(pages::admin::set_admin))
        .route("/admin/users/{id}/delete", post(pages::admin::delete_user))
        .route("/static/{file}", get(pages::assets::serve))
        .fallback(pages::not_found);
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(prefix, routes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interface_owns_its_sections_only() {
        assert!(super::matches("/"));
        assert!(super::matches(""));
        assert!(super::matches("/projects/team/repositories/app"));
        assert!(super::matches("/static/style.css"));
        assert!(!super::matches("/v2/"));
        assert!(!super::matches("/api/v2.0/projects"));
        assert!(!super::matches("/projectsx"));
        assert!(!super::matches("/c/login"));
    }
}
