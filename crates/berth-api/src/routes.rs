//! Matching `/v2/...` paths. Repository names contain `/`, so routes are recognised by
//! their trailing segments and everything before is the name (validated later).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Base,
    Catalog,
    Tags { name: String },
    Manifest { name: String, reference: &'a str },
    Blob { name: String, digest: &'a str },
    UploadStart { name: String },
    Upload { name: String, id: &'a str },
    Referrers { name: String, digest: &'a str },
}

impl Route<'_> {
    /// The kind of endpoint, for metrics labels (never a name or digest).
    pub fn label(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } | Route::Upload { .. } => "blob_upload",
            Route::Referrers { .. } => "referrers",
        }
    }
}

pub fn parse(path: &str) -> Option<Route<'_>> {
    let rest = match path {
        "/v2" | "/v2/" => return Some(Route::Base),
        "/v2/_catalog" => return Some(Route::Catalog),
        p => p.strip_prefix("/v2/")?,
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..k].join("/");
    if n < 3 {
        return None;
    }
    let (last, second) = (segs[n - 1], segs[n - 2]);
    Some(match (second, last) {
        ("tags", "list") => Route::Tags { name: name(n - 2) },
        ("manifests", reference) => Route::Manifest {
            name: name(n - 2),
            reference,
        },
        ("referrers", digest) => Route::Referrers {
            name: name(n - 2),
            digest,
        },
        ("blobs", "uploads") => Route::UploadStart { name: name(n - 2) },
        ("uploads", "") if n >= 4 && segs[n - 3] == "blobs" => {
            Route::UploadStart { name: name(n - 3) }
        }
        ("uploads", id) if n >= 4 && segs[n - 3] == "blobs" => Route::Upload {
            name: name(n - 3),
            id,
        },
        ("blobs", digest) => Route::Blob {
            name: name(n - 2),
            digest,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_from_the_right() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse("/v2/a/b/tags/list"),
            Some(Route::Tags { name: "a/b".into() })
        );
        assert_eq!(
            parse("/v2/blobs/manifests/x/manifests/v1"),
            Some(Route::Manifest {
                name: "blobs/manifests/x".into(),
                reference: "v1"
            })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/"),
            Some(Route::UploadStart { name: "a".into() })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads"),
            Some(Route::UploadStart { name: "a".into() })
        );
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/123"),
            Some(Route::Upload {
                name: "a/b".into(),
                id: "123"
            })
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:00"),
            Some(Route::Blob {
                name: "a".into(),
                digest: "sha256:00"
            })
        );
        assert_eq!(parse("/v2/a/unknown/x"), None);
        assert_eq!(parse("/v3/a/manifests/x"), None);
        assert_eq!(parse("/v2/manifests/x"), None);
    }
}
