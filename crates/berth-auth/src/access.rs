//! The access decision: what an identity may do to a resource. It is the one place
//! projects and roles will plug into; everything else asks it.

use crate::scope::{Action, Scope};

/// Who is asking. `user: None` is an anonymous request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub user: Option<String>,
    /// Local-user administrators may manage users.
    pub admin: bool,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity::default()
    }

    pub fn user(name: impl Into<String>, admin: bool) -> Identity {
        Identity {
            user: Some(name.into()),
            admin,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }
}

/// Until projects and roles arrive: signed-in users may do everything, anonymous users
/// may pull when `berth.access.anonymouspull` says so, and nothing else.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub anonymous_pull: bool,
}

impl AccessPolicy {
    /// The actions `who` may take on the resource `kind:name`.
    pub fn permitted(&self, who: &Identity, kind: &str, _name: &str) -> Vec<Action> {
        match (kind, who.is_anonymous()) {
            ("repository", false) => vec![Action::Pull, Action::Push, Action::Delete],
            ("repository", true) if self.anonymous_pull => vec![Action::Pull],
            ("registry", false) => vec![Action::All],
            _ => Vec::new(),
        }
    }

    /// Whether `who` may do everything `need` asks.
    pub fn allows(&self, who: &Identity, need: &Scope) -> bool {
        need.satisfied_by(&self.permitted(who, &need.kind, &need.name))
    }

    /// What a token for `who` carries when `asked` is requested: for each scope, the
    /// actions both asked for and permitted. Scopes with nothing left are dropped (the
    /// token service answers with fewer rights, never with an error, as the spec asks).
    pub fn grant(&self, who: &Identity, asked: &[Scope]) -> Vec<Scope> {
        asked
            .iter()
            .filter_map(|scope| {
                let permitted = self.permitted(who, &scope.kind, &scope.name);
                let actions: Vec<Action> = if permitted.contains(&Action::All) {
                    scope.actions.clone()
                } else {
                    scope
                        .actions
                        .iter()
                        .copied()
                        .filter(|a| permitted.contains(a))
                        .collect()
                };
                (!actions.is_empty()).then(|| Scope {
                    actions,
                    ..scope.clone()
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_get_what_they_ask_anonymous_nothing_by_default() {
        let policy = AccessPolicy::default();
        let asked = vec![
            Scope::repository("a", &[Action::Pull, Action::Push]),
            Scope::catalog(),
        ];
        assert_eq!(policy.grant(&Identity::user("u", false), &asked), asked);
        assert!(policy.grant(&Identity::anonymous(), &asked).is_empty());
    }

    #[test]
    fn anonymous_pull_grants_pull_only() {
        let policy = AccessPolicy {
            anonymous_pull: true,
        };
        let asked = vec![Scope::repository("a", &[Action::Pull, Action::Push])];
        let granted = policy.grant(&Identity::anonymous(), &asked);
        assert_eq!(granted, vec![Scope::repository("a", &[Action::Pull])]);
        assert!(policy.allows(
            &Identity::anonymous(),
            &Scope::repository("a", &[Action::Pull])
        ));
        assert!(!policy.allows(&Identity::anonymous(), &Scope::catalog()));
        assert!(!policy.allows(
            &Identity::anonymous(),
            &Scope::repository("a", &[Action::Delete])
        ));
    }
}
