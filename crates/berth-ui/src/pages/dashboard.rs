//! The first page after signing in: what the registry holds, where the space goes, what
//! happened lately.

use axum::extract::State;
use axum::http::HeaderMap;
use futures_util::future::{join, join3};
use maud::{Markup, html};

use super::{PageResult, see_other};
use crate::Ui;
use crate::api::{Api, encode};
use crate::format::{bytes, count, short_reference, when};
use crate::layout::page;
use crate::models::{AuditLog, GcRun, Project, Quota, Statistic};
use crate::viewer::Viewer;

pub(crate) async fn show(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let api = Api::new(&ui, &headers);
    // The panels' calls go out together (each is the API's own work; the page only
    // waits for the slowest). What a panel shows depends on what the viewer may read: a
    // refusal leaves it out rather than failing the page — the administrators' panels
    // are asked for by everyone and refused to the others.
    let pushes = format!(
        "/audit-logs?page=1&page_size=8&q={}",
        encode("operation=create,resource_type=artifact")
    );
    let ((viewer, stats, projects), (activity, quotas, runs)) = join(
        join3(
            Viewer::of(&ui, &headers),
            api.get::<Statistic>("/statistics"),
            api.listing::<Vec<Project>>("/projects?page=1&page_size=8"),
        ),
        join3(
            api.get::<Vec<AuditLog>>(&pushes),
            // The projects the Projects panel lists: a quota's usage is computed when
            // asked for, so the dashboard asks for eight, not every project's.
            api.get::<Vec<Quota>>("/quotas?page=1&page_size=8"),
            api.get::<Vec<GcRun>>("/system/gc?page=1&page_size=5"),
        ),
    )
    .await;
    let viewer = viewer?;
    if viewer.user.is_none() {
        return Ok(see_other(&ui.link("/sign-in")));
    }
    let (stats, (projects, _)) = (stats?, projects?);
    let activity = activity.ok();
    let (quotas, runs) = if viewer.is_admin() {
        (quotas.unwrap_or_default(), runs.unwrap_or_default())
    } else {
        (Vec::new(), Vec::new())
    };
    let body = html! {
        section.stats aria-label="Totals" {
            div.stat { span.value { (stats.total_project_count) } span.label { "projects" } }
            div.stat { span.value { (stats.total_repo_count) } span.label { "repositories" } }
            div.stat { span.value { (bytes(stats.total_storage_consumption)) } span.label { "stored (each layer once)" } }
            div.stat { span.value { (stats.public_project_count) } span.label { "public projects" } }
        }
        div.grid {
            section.card {
                h2 { "Projects" }
                @if projects.is_empty() {
                    p.muted { "No projects yet. " a href=(ui.link("/projects")) { "Create one" } "." }
                } @else {
                    ul.plain {
                        @for p in &projects {
                            li {
                                a href=(ui.link(&format!("/projects/{}", encode(&p.name)))) { (p.name) }
                                " "
                                span.muted { (count(p.repo_count, "repository", "repositories")) }
                                @if p.is_public() { " " span.badge { "public" } }
                            }
                        }
                    }
                    p { a href=(ui.link("/projects")) { "All projects →" } }
                }
            }
            @if !quotas.is_empty() {
                section.card {
                    h2 { "Storage by project" }
                    (storage_plot(&quotas))
                    p { a href=(ui.link("/admin/storage")) { "Every project's storage →" } }
                }
            }
            @if let Some(activity) = &activity {
            section.card #recent-pushes {
                h2 { "Recent pushes" }
                @if activity.is_empty() {
                    p.muted { "Nothing pushed yet." }
                } @else {
                    ul.plain.activity {
                        @for a in activity {
                            li {
                                code { (short_reference(&a.resource)) } " "
                                span.muted { "by " (a.username) ", " (when(&a.op_time)) }
                            }
                        }
                    }
                }
            }
            }
            @if viewer.is_admin() {
                section.card {
                    h2 { "Garbage collection" }
                    (super::admin::runs_table(&runs))
                    p { a href=(ui.link("/admin")) { "Run or schedule →" } }
                }
            }
        }
    };
    Ok(page(&ui, &viewer, "Dashboard", &[], body))
}

/// Horizontal bars of the storage each project uses, the largest first.
pub(crate) fn storage_plot(quotas: &[Quota]) -> Markup {
    let used = |q: &Quota| q.used.get("storage").copied().unwrap_or(0);
    let mut shown: Vec<&Quota> = quotas.iter().collect();
    shown.sort_by_key(|q| std::cmp::Reverse(used(q)));
    let largest = shown.first().map_or(1, |q| used(q).max(1));
    let row_height = 28;
    let height = row_height * shown.len().max(1);
    html! {
        svg.plot viewBox={ "0 0 400 " (height) } role="img" aria-label="Storage used by each project" {
            @for (i, q) in shown.iter().enumerate() {
                @let y = i * row_height;
                @let width = (used(q) as f64 / largest as f64 * 220.0).max(2.0);
                text x="0" y=(y + 18) class="plot-label" { (q.reference.name) }
                rect x="120" y=(y + 6) width=(format!("{width:.1}")) height="16" rx="3" class="plot-bar" {}
                text x=(format!("{:.1}", 126.0 + width)) y=(y + 18) class="plot-value" { (bytes(used(q))) }
            }
        }
    }
}
