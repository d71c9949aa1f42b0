//! Harbor's paging: `page` (from 1) and `page_size` (10 by default, at most 100, 0 for
//! everything), answered with `X-Total-Count` and a `Link` header naming the previous and
//! next pages in Harbor's format.

use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::response::ApiError;

const DEFAULT_SIZE: i64 = 10;
const MAX_SIZE: i64 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The page number, from 1.
    pub page: Option<i64>,
    /// Items per page: 10 by default, at most 100.
    pub page_size: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: i64,
    /// 0: everything, on one page.
    pub size: i64,
}

impl Page {
    pub fn of(params: &PageParams) -> Result<Page, ApiError> {
        let number = params.page.unwrap_or(1);
        let size = params.page_size.unwrap_or(DEFAULT_SIZE);
        if number < 1 {
            return Err(unprocessable(format!(
                "page must be 1 or more, not {number}"
            )));
        }
        if !(0..=MAX_SIZE).contains(&size) {
            return Err(unprocessable(format!(
                "page_size must be between 0 and {MAX_SIZE}, not {size}"
            )));
        }
        Ok(Page { number, size })
    }

    /// `page` and `page_size` as a query gave them.
    pub fn at(page: Option<i64>, page_size: Option<i64>) -> Result<Page, ApiError> {
        Page::of(&PageParams { page, page_size })
    }

    pub fn offset(self) -> i64 {
        if self.size == 0 {
            0
        } else {
            (self.number - 1).saturating_mul(self.size)
        }
    }

    pub fn limit(self) -> i64 {
        if self.size == 0 { i64::MAX } else { self.size }
    }
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
        message,
    )
}

/// A page of a list: the items as JSON, `X-Total-Count`, and `Link` when there is a page
/// before or after.
pub fn list<T: Serialize>(uri: &Uri, items: &[T], total: i64, page: Page) -> Response {
    let mut resp = axum::Json(items).into_response();
    let headers = resp.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Some(link) = links(uri, total, page)
        && let Ok(value) = HeaderValue::from_str(&link)
    {
        headers.insert(axum::http::header::LINK, value);
    }
    resp
}

/// Harbor's `Link`: the request's path with its query keys sorted and `page` and
/// `page_size` set, `<url>; rel="prev"` and `<url>; rel="next"` joined by `" , "`.
fn links(uri: &Uri, total: i64, page: Page) -> Option<String> {
    if page.size == 0 {
        return None;
    }
    let pairs: Vec<(String, String)> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let url_for = |number: i64| {
        let mut query: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .cloned()
            .collect();
        query.push(("page".into(), number.to_string()));
        query.push(("page_size".into(), page.size.to_string()));
        query.sort_by(|a, b| a.0.cmp(&b.0));
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("<{}?{}>", uri.path(), query.join("&"))
    };
    let mut links = Vec::new();
    if page.number > 1 && (page.number - 1) * page.size < total {
        links.push(format!("{}; rel=\"prev\"", url_for(page.number - 1)));
    }
    if page.size * page.number < total {
        links.push(format!("{}; rel=\"next\"", url_for(page.number + 1)));
    }
    (!links.is_empty()).then(|| links.join(" , "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_pages_around() {
        let uri: Uri = "/api/v2.0/projects?name=te&page=2&page_size=1"
            .parse()
            .unwrap();
        let page = Page { number: 2, size: 1 };
        assert_eq!(
            links(&uri, 3, page).unwrap(),
            "</api/v2.0/projects?name=te&page=1&page_size=1>; rel=\"prev\" , </api/v2.0/projects?name=te&page=3&page_size=1>; rel=\"next\""
        );
        assert_eq!(
            links(&uri, 2, page).unwrap(),
            "</api/v2.0/projects?name=te&page=1&page_size=1>; rel=\"prev\""
        );
        let first = Page {
            number: 1,
            size: 10,
        };
        assert_eq!(links(&"/p".parse().unwrap(), 5, first), None);
    }

    #[test]
    fn page_sizes_are_bounded() {
        let p = |page, page_size| Page::of(&PageParams { page, page_size });
        assert_eq!(
            p(None, None).unwrap(),
            Page {
                number: 1,
                size: 10
            }
        );
        assert_eq!(p(Some(3), Some(20)).unwrap().offset(), 40);
        assert!(p(None, Some(101)).is_err());
        assert!(p(Some(0), None).is_err());
        assert_eq!(p(None, Some(0)).unwrap().limit(), i64::MAX);
    }
}
