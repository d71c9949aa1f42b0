//! Rules over repositories and tags: glob patterns, and immutable-tag rules (a matching tag
//! may be created but never moved to another manifest or deleted).

/// A glob: `*` matches within one path component (not `/`), `**` matches anything
/// including `/`, `?` one character other than `/`; everything else matches itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        matches(self.0.as_bytes(), text.as_bytes())
    }
}

fn matches(p: &[u8], t: &[u8]) -> bool {
    match p {
        [] => t.is_empty(),
        [b'*', b'*', rest @ ..] => {
            // `**/` also matches nothing at all, so `a/**/b` takes `a/b`.
            let rest_after_slash = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=t.len()).any(|i| matches(rest, &t[i..]) || matches(rest_after_slash, &t[i..]))
        }
        [b'*', rest @ ..] => {
            let stop = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
            (0..=stop).any(|i| matches(rest, &t[i..]))
        }
        [b'?', rest @ ..] => matches!(t.first(), Some(&c) if c != b'/') && matches(rest, &t[1..]),
        [c, rest @ ..] => t.first() == Some(c) && matches(rest, &t[1..]),
    }
}

/// Tags matching `tags` in repositories matching `repositories` are immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableRule {
    pub repositories: Glob,
    pub tags: Glob,
}

impl ImmutableRule {
    pub fn covers(&self, repository: &str, tag: &str) -> bool {
        self.repositories.matches(repository) && self.tags.matches(tag)
    }

    pub fn describe(&self) -> String {
        format!(
            "immutability rule repositories={:?} tags={:?}",
            self.repositories.as_str(),
            self.tags.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("team/*", "team/app"));
        assert!(!g("team/*", "team/app/api"));
        assert!(g("team/**", "team/app/api"));
        assert!(g("**", "anything/at/all"));
        assert!(g("a/**/b", "a/b"));
        assert!(g("a/**/b", "a/x/y/b"));
        assert!(g("v*", "v1.2.3"));
        assert!(!g("v*", "latest"));
        assert!(g("v?", "v1"));
        assert!(!g("v?", "v10"));
        assert!(g("release-*-final", "release-2-final"));
        assert!(!g("team/app", "team/apps"));
    }

    #[test]
    fn rules_cover_repository_and_tag() {
        let rule = ImmutableRule {
            repositories: Glob::new("prod/**"),
            tags: Glob::new("v*"),
        };
        assert!(rule.covers("prod/web/api", "v1"));
        assert!(!rule.covers("dev/web", "v1"));
        assert!(!rule.covers("prod/web", "latest"));
    }
}
