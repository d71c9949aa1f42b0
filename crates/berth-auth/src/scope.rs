//! What a request needs and what a token grants: Docker's `type:name:actions` scopes.

use std::fmt;

/// An action on a resource, as the Docker token specification names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// `*`: every action (used for `registry:catalog:*`).
    All,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
            "*" => Action::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }
}

/// One `type:name:actions` scope, e.g. `repository:team/app:pull,push`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `repository` or `registry` (anything else is kept and never granted).
    pub kind: String,
    pub name: String,
    pub actions: Vec<Action>,
}

impl Scope {
    pub fn repository(name: &str, actions: &[Action]) -> Scope {
        Scope {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.to_vec(),
        }
    }

    pub fn catalog() -> Scope {
        Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec![Action::All],
        }
    }

    /// `registry:admin:*`: the management API (users, garbage collection, retention).
    /// Password logins of administrators have it; a bearer token only if issued with it,
    /// so a token obtained for a pull can never manage the registry.
    pub fn management() -> Scope {
        Scope {
            kind: "registry".into(),
            name: "admin".into(),
            actions: vec![Action::All],
        }
    }

    /// Parses `type[(class)]:name:actions`. The name may itself hold `:` (a host with a
    /// port), so the type ends at the first `:` and the actions start after the last.
    /// Unknown actions are dropped; `None` when the shape is wrong.
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        // `repository(plugin)` is Docker's resource class; the class does not matter here.
        let kind = kind.split('(').next().unwrap_or(kind);
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let mut actions: Vec<Action> = actions.split(',').filter_map(Action::parse).collect();
        actions.sort();
        actions.dedup();
        Some(Scope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions,
        })
    }

    /// Whether the scope asks to change something (push or delete), not only to read.
    pub fn changes_something(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Push | Action::Delete | Action::All))
    }

    /// Whether every action of `self` is in `granted` (same resource assumed).
    pub fn satisfied_by(&self, granted: &[Action]) -> bool {
        granted.contains(&Action::All) || self.actions.iter().all(|a| granted.contains(a))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        write!(f, "{}:{}:{}", self.kind, self.name, actions.join(","))
    }
}

/// Space-separated scopes as in a challenge or a token request (several `scope`
/// parameters are also allowed there; callers pass each).
pub fn parse_scopes<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
    values
        .into_iter()
        .flat_map(|v| v.split_whitespace())
        .filter_map(Scope::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_scopes() {
        let s = Scope::parse("repository:team/app:push,pull").unwrap();
        assert_eq!(s.kind, "repository");
        assert_eq!(s.name, "team/app");
        assert_eq!(s.actions, vec![Action::Pull, Action::Push]);
        assert_eq!(s.to_string(), "repository:team/app:pull,push");

        let s = Scope::parse("repository:localhost:5000/app:pull").unwrap();
        assert_eq!(s.name, "localhost:5000/app");

        let s = Scope::parse("repository(plugin):vieux/sshfs:pull").unwrap();
        assert_eq!(s.kind, "repository");

        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap(),
            Scope::catalog()
        );
        assert_eq!(Scope::parse("nonsense"), None);
        assert_eq!(Scope::parse("repository::pull"), None);
        let s = Scope::parse("repository:a:pull,fly").unwrap();
        assert_eq!(s.actions, vec![Action::Pull], "unknown actions are dropped");
    }

    #[test]
    fn satisfaction() {
        let need = Scope::repository("a", &[Action::Pull, Action::Push]);
        assert!(need.satisfied_by(&[Action::Push, Action::Pull]));
        assert!(!need.satisfied_by(&[Action::Pull]));
        assert!(need.satisfied_by(&[Action::All]));
    }

    #[test]
    fn several_scopes_in_one_value() {
        let scopes = parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"]);
        assert_eq!(scopes.len(), 3);
    }
}
