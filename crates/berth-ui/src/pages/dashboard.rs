//! The first page after signing in: what the registry holds, where the space goes, what
//! happened lately.

use axum::extract::State;
use axum::http::HeaderMap;
use futures_util::future::{join, join3};
use maud::{Markup, html};

use super::{PageResult, see_other};
use crate::Ui;
use crate::api::{Api, encode};
use crate::format::{bytes, count, parse_time, short_reference, when};
use crate::layout::page;
use crate::models::{AuditLog, GcRun, Project, Quota, RetentionRun, Statistic, UsageDay};
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
    let (((viewer, stats, projects), (activity, quotas, runs)), history) = join(
        join(
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
        ),
        api.get::<Vec<UsageDay>>("/statistics/history?days=30"),
    )
    .await;
    let viewer = viewer?;
    if viewer.user.is_none() {
        return Ok(see_other(&ui.link("/sign-in")));
    }
    let (stats, (projects, _)) = (stats?, projects?);
    let retention = latest_retention_runs(&api, &projects).await;
    let activity = activity.ok();
    let (quotas, runs, history) = if viewer.is_admin() {
        let history = with_today(history.unwrap_or_default(), &stats);
        (
            quotas.unwrap_or_default(),
            runs.unwrap_or_default(),
            Some(history),
        )
    } else {
        (Vec::new(), Vec::new(), None)
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
            @if let Some(history) = &history {
                section.card #storage-trend {
                    h2 { "Storage, last 30 days" }
                    @if history.len() < 2 {
                        p.muted { "The trend starts here: the registry's size is measured every hour and kept a day at a time." }
                    } @else {
                        (trend_plot(history))
                    }
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
            @if !retention.is_empty() {
                section.card #retention-runs {
                    h2 { "Retention" }
                    ul.plain {
                        @for (project, run) in &retention {
                            li {
                                a href=(ui.link(&format!("/projects/{}/retention/{}", encode(project), run.id))) { (project) " #" (run.id) }
                                @if run.dry_run { " " span.badge { "dry run" } }
                                " " span class={ "status " (run.status.to_lowercase()) } { (run.status) }
                                " " span.muted { (run.trigger.to_lowercase()) ", " (when(&run.start_time)) }
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

/// The latest retention run of each listed project that has a policy, newest first (one
/// small call per such project, made at once).
async fn latest_retention_runs(api: &Api<'_>, projects: &[Project]) -> Vec<(String, RetentionRun)> {
    let asked = projects.iter().filter_map(|p| {
        let id = p.metadata.get("retention_id").filter(|id| !id.is_empty())?;
        let path = format!("/retentions/{}/executions?page=1&page_size=1", encode(id));
        Some(async move {
            let runs: Vec<RetentionRun> = api.get(&path).await.ok()?;
            Some((p.name.clone(), runs.into_iter().next()?))
        })
    });
    let mut runs: Vec<(String, RetentionRun)> = futures_util::future::join_all(asked)
        .await
        .into_iter()
        .flatten()
        .collect();
    runs.sort_by(|a, b| b.1.start_time.cmp(&a.1.start_time));
    runs
}

/// The recorded days, today's point replaced by the live totals (the recorded one may be
/// an hour old).
fn with_today(mut history: Vec<UsageDay>, stats: &Statistic) -> Vec<UsageDay> {
    let today = crate::format::today();
    history.retain(|d| d.date != today);
    history.push(UsageDay {
        date: today,
        total_storage_consumption: stats.total_storage_consumption,
        total_repo_count: stats.total_repo_count,
    });
    history
}

/// The stored bytes day by day as a line over its area, the last value named. Days are
/// placed by date, so a day without a sample shows as a straight stretch.
pub(crate) fn trend_plot(history: &[UsageDay]) -> Markup {
    const DAY_MS: i64 = 86_400_000;
    let day = |d: &UsageDay| parse_time(&format!("{}T00:00:00Z", d.date)).map(|ms| ms / DAY_MS);
    let points: Vec<(i64, i64)> = history
        .iter()
        .filter_map(|d| Some((day(d)?, d.total_storage_consumption)))
        .collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return html! {};
    };
    let (width, height, top) = (400.0, 110.0, 14.0);
    let span = (last.0 - first.0).max(1) as f64;
    let largest = points.iter().map(|p| p.1).max().unwrap_or(1).max(1) as f64;
    let xy = |(d, b): (i64, i64)| {
        let x = (d - first.0) as f64 / span * width;
        let y = top + (1.0 - b as f64 / largest) * (height - top);
        (x, y)
    };
    let line: Vec<String> = points
        .iter()
        .map(|p| {
            let (x, y) = xy(*p);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let area = format!("0,{height} {} {width},{height}", line.join(" "));
    let latest = history.last().map(|d| d.date.as_str()).unwrap_or_default();
    html! {
        svg.plot viewBox={ "0 0 " (width) " " (height + 18.0) } role="img"
            aria-label={ "Stored bytes over the last " (points.len()) " measured days, now " (bytes(last.1)) } {
            polygon.plot-area points=(area) {}
            polyline.plot-line points=(line.join(" ")) {}
            @for (p, d) in points.iter().zip(history) {
                @let (x, y) = xy(*p);
                circle.plot-dot cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2.5" {
                    title { (d.date) ": " (bytes(p.1)) }
                }
            }
            text x="0" y=(height + 15.0) class="plot-value" { (history[0].date) }
            text x=(width) y=(height + 15.0) text-anchor="end" class="plot-value" { (latest) }
            text x="0" y="10" class="plot-value" { "up to " (bytes(largest as i64)) }
        }
        p.muted { "Now " (bytes(last.1)) ", " (count(history.last().map_or(0, |d| d.total_repo_count), "repository", "repositories")) "." }
    }
}

#[cfg(test)]
mod tests {
    use crate::models::UsageDay;

    fn day(date: &str, bytes: i64) -> UsageDay {
        UsageDay {
            date: date.into(),
            total_storage_consumption: bytes,
            total_repo_count: 2,
        }
    }

    #[test]
    fn the_trend_places_days_by_date_and_names_the_latest() {
        let plot = super::trend_plot(&[
            day("2026-11-01", 1 << 20),
            day("2026-11-04", 2 << 20),
            day("2026-11-05", 4 << 20),
        ])
        .into_string();
        assert_eq!(plot.matches("<circle").count(), 3);
        // Four days end to end: the day after two missing ones is three-quarters along;
        // heights are from zero, the largest at the top.
        assert!(
            plot.contains("points=\"0.0,86.0 300.0,62.0 400.0,14.0\""),
            "{plot}"
        );
        assert!(plot.contains("now 4.0 MiB"), "{plot}");
        assert!(super::trend_plot(&[]).into_string().is_empty());
    }
}
