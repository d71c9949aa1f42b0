//! Harbor's `q` query syntax: `k=v` (exact), `k=~v` (contains), `k=[min~max]` (range),
//! `k={a b}` (any of), `k=(a b)` (all of), terms separated by `,`. Malformed terms are a
//! 400; keys a resource does not filter on are ignored, as Harbor does.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use berth_meta::Order;

use crate::response::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Exact(String),
    Fuzzy(String),
    Range(Option<String>, Option<String>),
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
}

impl Term {
    /// The value of an exact match (a one-item list counts as one).
    pub fn exact(&self) -> Option<&str> {
        match self {
            Term::Exact(v) => Some(v),
            Term::AnyOf(v) | Term::AllOf(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

/// The terms of `q` by key (a later term for a key replaces an earlier one).
pub fn parse(q: Option<&str>) -> Result<BTreeMap<String, Term>, ApiError> {
    let mut terms = BTreeMap::new();
    let Some(q) = q.filter(|q| !q.is_empty()) else {
        return Ok(terms);
    };
    for piece in q.split(',') {
        let Some((key, value)) = piece
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        else {
            return Err(bad(format!(
                "the query term {piece:?} must be key=value with neither empty"
            )));
        };
        terms.insert(key.trim().to_string(), term(value)?);
    }
    Ok(terms)
}

fn term(value: &str) -> Result<Term, ApiError> {
    let invalid = || bad(format!("invalid query value: {value}"));
    let list = |inner: &str| -> Vec<String> {
        inner
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(unquote)
            .collect()
    };
    Ok(match value.as_bytes()[0] {
        b'~' if value.len() > 1 => Term::Fuzzy(value[1..].to_string()),
        b'~' => return Err(invalid()),
        b'[' => {
            let inner = value[1..].strip_suffix(']').ok_or_else(invalid)?;
            let (min, max) = inner.split_once('~').ok_or_else(invalid)?;
            if max.contains('~') {
                return Err(invalid());
            }
            let bound = |s: &str| Some(unquote(s.trim())).filter(|s| !s.is_empty());
            let (min, max) = (bound(min), bound(max));
            if min.is_none() && max.is_none() {
                return Err(invalid());
            }
            Term::Range(min, max)
        }
        b'{' => Term::AnyOf(list(value[1..].strip_suffix('}').ok_or_else(invalid)?)),
        b'(' => Term::AllOf(list(value[1..].strip_suffix(')').ok_or_else(invalid)?)),
        b'\\' => Term::Exact(value[1..].to_string()),
        _ => Term::Exact(value.to_string()),
    })
}

/// Harbor's `sort` (`field` or `-field` for descending; berth orders by the first field
/// given) among `keys`; `default` when none is given.
pub fn sort<K: Copy>(
    text: Option<&str>,
    keys: &[(&str, K)],
    default: Order<K>,
) -> Result<Order<K>, ApiError> {
    let Some(first) = text.and_then(|t| t.split(',').map(str::trim).find(|f| !f.is_empty())) else {
        return Ok(default);
    };
    let (field, descending) = match first.strip_prefix('-') {
        Some(field) => (field, true),
        None => (first, false),
    };
    keys.iter()
        .find(|(name, _)| *name == field)
        .map(|(_, key)| Order {
            key: *key,
            descending,
        })
        .ok_or_else(|| {
            let known: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
            bad(format!(
                "cannot sort by {field:?}: sort by one of {} (a leading - for descending)",
                known.join(", ")
            ))
        })
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches(|c| c == '"' || c == '\'').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_harbors_patterns() {
        let t = parse(Some(
            "name=~te,public=true,id=[1~5],tags={a b},x=\\~lit,r=[~9]",
        ))
        .unwrap();
        assert_eq!(t["name"], Term::Fuzzy("te".into()));
        assert_eq!(t["public"].exact(), Some("true"));
        assert_eq!(t["id"], Term::Range(Some("1".into()), Some("5".into())));
        assert_eq!(t["tags"], Term::AnyOf(vec!["a".into(), "b".into()]));
        assert_eq!(t["x"], Term::Exact("~lit".into()));
        assert_eq!(t["r"], Term::Range(None, Some("9".into())));
        for bad in ["name", "=x", "a=", "a=~", "a=[1]", "a=[~]", "a={x", "a=(y"] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(parse(None).unwrap().is_empty());
    }

    #[test]
    fn sorts_by_the_first_known_field() {
        let keys = [("name", 1), ("creation_time", 2)];
        let default = Order {
            key: 0,
            descending: false,
        };
        let order = |text| sort(text, &keys, default);
        assert_eq!(order(None).unwrap(), default);
        assert_eq!(order(Some("")).unwrap(), default);
        let newest = order(Some("-creation_time,name")).unwrap();
        assert_eq!((newest.key, newest.descending), (2, true));
        assert_eq!(order(Some("name")).unwrap().key, 1);
        assert!(order(Some("size")).is_err());
    }
}
