//! The stylesheet, the script and the icon, compiled into the binary. Their URLs do not
//! change between versions, so browsers revalidate them (by their content's ETag)
//! rather than keeping a stale copy.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// A file's body and content type.
fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "style.css" => Some((STYLE, "text/css; charset=utf-8")),
        "app.js" => Some((SCRIPT, "text/javascript; charset=utf-8")),
        "icon.svg" => Some((ICON, "image/svg+xml")),
        _ => None,
    }
}

/// FNV-1a of the three files: computed while compiling, so the validator changes
/// exactly when an asset does.
const fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    let mut hash = hash;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const HASH: u64 = fnv(
    fnv(
        fnv(0xcbf2_9ce4_8422_2325, STYLE.as_bytes()),
        SCRIPT.as_bytes(),
    ),
    ICON.as_bytes(),
);

fn etag() -> &'static HeaderValue {
    static ETAG: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| {
        HeaderValue::from_str(&format!("\"{HASH:016x}\""))
            .unwrap_or(HeaderValue::from_static("\"0\""))
    })
}

pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((body, content_type)) = asset(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == etag());
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ETAG, etag().clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, must-revalidate"),
    );
    h.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    resp
}
