//! A project's audit log: who pushed, pulled, deleted and changed what, newest first.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use maud::html;
use serde::Deserialize;

use super::PageResult;
use super::project::{Tab, open};
use crate::Ui;
use crate::api::encode;
use crate::format::when;
use crate::layout::{page, pager};
use crate::models::AuditLog;

const PAGE_SIZE: u64 = 25;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Paging {
    page: Option<u64>,
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(paging): Query<Paging>,
) -> PageResult {
    let (viewer, api, view) = open(&ui, &headers, &name).await?;
    let page_no = paging.page.unwrap_or(1).max(1);
    let (entries, total) = api
        .listing::<Vec<AuditLog>>(&format!(
            "/projects/{}/logs?page={page_no}&page_size={PAGE_SIZE}",
            encode(&name)
        ))
        .await?;
    let total = total.unwrap_or(entries.len() as u64);
    let body = html! {
        (view.header(&ui, Tab::Activity))
        @if entries.is_empty() {
            p.muted { "Nothing recorded in this project yet." }
        } @else {
            div.table-wrap {
                table #activity {
                    thead { tr { th { "When" } th { "Who" } th { "Did" } th { "To" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (when(&e.op_time)) }
                                td { (e.username) }
                                td { (e.operation) " " span.muted { (e.resource_type) } }
                                td { code { (e.resource) } }
                            }
                        }
                    }
                }
            }
            (pager(page_no, PAGE_SIZE, total, |n| view.link(&ui, &format!("/activity?page={n}"))))
        }
    };
    Ok(page(
        &ui,
        &viewer,
        &format!("{name} · activity"),
        &view.crumbs(&ui),
        body,
    ))
}
