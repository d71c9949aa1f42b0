//! Rules over repositories and tags: glob patterns, and immutable-tag rules (a matching tag
//! may be created but never moved to another manifest or deleted).

/// A glob: `*` matches within one path component (not `/`), `**` matches anything
/// including `/`, `?` one character other than `/`, `{a,b}` either alternative (as in
/// Harbor's doublestar patterns); everything else matches itself.
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
        [b'{', inner @ ..] => match alternatives(inner) {
            Some((choices, rest)) => choices.iter().any(|choice| {
                let mut pattern = choice.to_vec();
                pattern.extend_from_slice(rest);
                matches(&pattern, t)
            }),
            // No closing brace: a plain `{`.
            None => t.first() == Some(&b'{') && matches(inner, &t[1..]),
        },
        [c, rest @ ..] => t.first() == Some(c) && matches(rest, &t[1..]),
    }
}

/// The comma-separated alternatives up to the `}` closing a `{` (nested braces kept
/// whole), and what follows it.
fn alternatives(p: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    let (mut depth, mut start, mut choices) = (0usize, 0usize, Vec::new());
    for (i, &c) in p.iter().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                choices.push(&p[start..i]);
                return Some((choices, &p[i + 1..]));
            }
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                choices.push(&p[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
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

/// A project's immutable-tag rule (Harbor's): its repository pattern is below the
/// project, and each selector takes what it matches or what it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectImmutableRule {
    pub id: i64,
    pub repositories: Glob,
    pub repositories_excluded: bool,
    pub tags: Glob,
    pub tags_excluded: bool,
}

impl ProjectImmutableRule {
    /// `relative`: the repository's name below its project.
    pub fn covers(&self, relative: &str, tag: &str) -> bool {
        self.repositories.matches(relative) != self.repositories_excluded
            && self.tags.matches(tag) != self.tags_excluded
    }

    pub fn describe(&self) -> String {
        format!(
            "the project's immutability rule {} (repositories {} {:?}, tags {} {:?})",
            self.id,
            if self.repositories_excluded {
                "excluding"
            } else {
                "matching"
            },
            self.repositories.as_str(),
            if self.tags_excluded {
                "excluding"
            } else {
                "matching"
            },
            self.tags.as_str()
        )
    }
}

/// The immutability rules over one repository: the configuration's and its project's.
#[derive(Debug, Clone, Default)]
pub struct Immutability {
    repository: String,
    relative: String,
    configured: Vec<ImmutableRule>,
    project: Vec<ProjectImmutableRule>,
}

impl Immutability {
    pub fn new(
        repository: &str,
        relative: &str,
        configured: Vec<ImmutableRule>,
        project: Vec<ProjectImmutableRule>,
    ) -> Immutability {
        Immutability {
            repository: repository.to_string(),
            relative: relative.to_string(),
            configured,
            project,
        }
    }

    /// Whether any rule could take a tag of this repository.
    pub fn any(&self) -> bool {
        !self.configured.is_empty() || !self.project.is_empty()
    }

    /// The rule that makes `tag` immutable, described, if one does.
    pub fn covering(&self, tag: &str) -> Option<String> {
        if let Some(rule) = self
            .configured
            .iter()
            .find(|r| r.covers(&self.repository, tag))
        {
            return Some(rule.describe());
        }
        self.project
            .iter()
            .find(|r| r.covers(&self.relative, tag))
            .map(ProjectImmutableRule::describe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_rules_match_or_exclude_below_the_project() {
        let rule = |repos: &str, rx: bool, tags: &str, tx: bool| ProjectImmutableRule {
            id: 1,
            repositories: Glob::new(repos),
            repositories_excluded: rx,
            tags: Glob::new(tags),
            tags_excluded: tx,
        };
        assert!(rule("**", false, "v*", false).covers("app/api", "v1"));
        assert!(!rule("**", false, "v*", false).covers("app/api", "latest"));
        assert!(rule("**", false, "latest", true).covers("app", "v1"));
        assert!(!rule("app", true, "**", false).covers("app", "v1"));
        assert!(rule("app", true, "**", false).covers("web", "v1"));
        let set = Immutability::new(
            "team/app",
            "app",
            vec![ImmutableRule {
                repositories: Glob::new("team/*"),
                tags: Glob::new("release-*"),
            }],
            vec![rule("app", false, "v*", false)],
        );
        assert!(
            set.covering("release-1")
                .unwrap()
                .contains("repositories=\"team/*\"")
        );
        assert!(set.covering("v2").unwrap().contains("rule 1"));
        assert_eq!(set.covering("latest"), None);
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("team/*", "team/app"));
        assert!(g("{v,release-}*", "release-2"));
        assert!(g("app/{api,web}", "app/web"));
        assert!(!g("app/{api,web}", "app/db"));
        assert!(g("a{b,{c,d}}e", "ade"));
        assert!(g("x{y", "x{y"));
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
