//! The access decision: what an identity may do to a resource. It is the one place
//! projects and roles will plug into; everything else asks it.

use std::sync::Arc;

use crate::scope::{Action, Scope};

/// Who is asking. `user: None` is an anonymous request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub user: Option<String>,
    /// May manage users and run lifecycle jobs.
    pub admin: bool,
    /// Signed in with a bearer token: the caller may do what the token grants and no more,
    /// whatever the user behind it could do with a password.
    pub token: Option<Arc<[Scope]>>,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity::default()
    }

    pub fn user(name: impl Into<String>, admin: bool) -> Identity {
        Identity {
            user: Some(name.into()),
            admin,
            token: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }
}

/// Whether one of `granted` allows everything `need` asks.
pub fn grants(granted: &[Scope], need: &Scope) -> bool {
    granted
        .iter()
        .any(|g| g.kind == need.kind && g.name == need.name && need.satisfied_by(&g.actions))
}

/// Until projects and roles arrive: signed-in users may pull, push and delete everywhere
/// and list the catalog; administrators also use the management API
/// ([`Scope::management`]); anonymous users may pull when `berth.access.anonymouspull`
/// says so, and nothing else.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub anonymous_pull: bool,
}

impl AccessPolicy {
    /// The actions `who` may take on the resource `kind:name`.
    pub fn permitted(&self, who: &Identity, kind: &str, name: &str) -> Vec<Action> {
        match (kind, name, who.is_anonymous()) {
            ("repository", _, false) => vec![Action::Pull, Action::Push, Action::Delete],
            ("repository", _, true) if self.anonymous_pull => vec![Action::Pull],
            ("registry", "catalog", false) => vec![Action::All],
            ("registry", "admin", false) if who.admin => vec![Action::All],
            _ => Vec::new(),
        }
    }

    /// Whether `who` may do everything `need` asks: what the policy permits, and for a
    /// token also what it grants.
    pub fn allows(&self, who: &Identity, need: &Scope) -> bool {
        match &who.token {
            // The token's issuer made the access decision when it issued it (for an
            // external issuer, the only one there is).
            Some(granted) => grants(granted, need),
            None => need.satisfied_by(&self.permitted(who, &need.kind, &need.name)),
        }
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

    #[test]
    fn only_administrators_get_the_management_scope() {
        let policy = AccessPolicy::default();
        let asked = vec![Scope::management(), Scope::catalog()];
        assert_eq!(
            policy.grant(&Identity::user("u", false), &asked),
            vec![Scope::catalog()]
        );
        assert_eq!(policy.grant(&Identity::user("root", true), &asked), asked);
    }

    #[test]
    fn a_token_allows_what_it_grants_and_no_more() {
        let policy = AccessPolicy::default();
        let who = Identity {
            token: Some(vec![Scope::repository("a", &[Action::Pull])].into()),
            ..Identity::user("u", true)
        };
        assert!(policy.allows(&who, &Scope::repository("a", &[Action::Pull])));
        assert!(!policy.allows(&who, &Scope::repository("a", &[Action::Push])));
        assert!(!policy.allows(&who, &Scope::repository("b", &[Action::Pull])));
        assert!(!policy.allows(&who, &Scope::management()));
    }
}
