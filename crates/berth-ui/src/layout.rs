//! The page shell every page shares: header and navigation, breadcrumbs, the main
//! region, and the answer's headers (no caching of signed-in pages, no framing).

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::Ui;
use crate::viewer::Viewer;

/// One step of the breadcrumb trail: its text and link.
pub(crate) struct Crumb {
    pub text: String,
    pub href: String,
}

pub(crate) fn crumb(text: impl Into<String>, href: String) -> Crumb {
    Crumb {
        text: text.into(),
        href,
    }
}

/// A whole page: `title` in the tab and as the heading, `body` below it.
pub(crate) fn page(
    ui: &Ui,
    viewer: &Viewer,
    title: &str,
    crumbs: &[Crumb],
    body: Markup,
) -> Response {
    respond(StatusCode::OK, shell(ui, viewer, title, crumbs, body))
}

pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, Html(markup.into_string())).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        header::HeaderName::from_static("x-frame-options"),
        header::HeaderValue::from_static("DENY"),
    );
    headers.insert(
        header::HeaderName::from_static("content-security-policy"),
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::HeaderName::from_static("referrer-policy"),
        header::HeaderValue::from_static("same-origin"),
    );
    resp
}

/// The page shell with `title` as the page's heading.
pub(crate) fn shell(
    ui: &Ui,
    viewer: &Viewer,
    title: &str,
    crumbs: &[Crumb],
    body: Markup,
) -> Markup {
    document(ui, viewer, title, crumbs, true, body)
}

/// The page shell for a body that brings its own heading (the sign-in card).
pub(crate) fn shell_without_heading(ui: &Ui, viewer: &Viewer, title: &str, body: Markup) -> Markup {
    document(ui, viewer, title, &[], false, body)
}

fn document(
    ui: &Ui,
    viewer: &Viewer,
    title: &str,
    crumbs: &[Crumb],
    heading: bool,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · berth" }
                link rel="stylesheet" href=(ui.link("/static/style.css"));
                link rel="icon" href=(ui.link("/static/icon.svg")) type="image/svg+xml";
                script src=(ui.link("/static/app.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(ui.link("/")) aria-label="berth home" {
                        img src=(ui.link("/static/icon.svg")) alt="" width="24" height="24";
                        span { "berth" }
                    }
                    nav.main aria-label="Main" {
                        a href=(ui.link("/projects")) { "Projects" }
                        @if viewer.is_admin() {
                            a href=(ui.link("/admin")) { "Administration" }
                        }
                    }
                    div.account {
                        @if let Some(name) = viewer.name() {
                            a.user href=(ui.link("/profile")) title="Your profile" { (name) }
                            form method="post" action=(ui.link("/sign-out")) {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        } @else {
                            a.button href=(ui.link("/sign-in")) { "Sign in" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if !crumbs.is_empty() {
                        nav.crumbs aria-label="Breadcrumb" {
                            ol {
                                @for c in crumbs {
                                    li { a href=(c.href) { (c.text) } }
                                }
                                li aria-current="page" { (title) }
                            }
                        }
                    }
                    @if heading { h1 { (title) } }
                    (body)
                }
                footer.bottom { "berth · a container registry" }
            }
        }
    }
}

/// A message box: `kind` is `info`, `ok` or `error`.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { p class={ "notice " (kind) } role=(role) { (text) } }
}

/// Tabs of a section: (label, href, current).
pub(crate) fn tabs(items: &[(&str, String, bool)]) -> Markup {
    html! {
        nav.tabs aria-label="Sections" {
            @for (label, href, current) in items {
                @if *current {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    }
}

/// Previous/next links of a paged listing; `link(page)` is a page's URL.
pub(crate) fn pager(page: u64, page_size: u64, total: u64, link: impl Fn(u64) -> String) -> Markup {
    let pages = total.div_ceil(page_size.max(1)).max(1);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Previous" } }
                span { "Page " (page) " of " (pages) " · " (total) " in all" }
                @if page < pages { a rel="next" href=(link(page + 1)) { "Next →" } }
            }
        }
    }
}

/// A value with a button that copies it.
pub(crate) fn copyable(value: &str, label: &str) -> Markup {
    html! {
        span.copyable {
            code { (value) }
            button.copy type="button" data-copy=(value) aria-label=(label) { "Copy" }
        }
    }
}
