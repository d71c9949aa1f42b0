//! Users and groups from an LDAP directory (Harbor's `ldap_auth`): a user signs in by
//! binding as their own entry, found with the search account; the entry's membership
//! attribute names their groups, and one group may make them system administrators.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use ldap3::Scope;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, SearchEntry, ldap_escape};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What went wrong talking to the directory (not a wrong password: that is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("LDAP settings: {0}")]
    Settings(String),
    #[error("cannot reach the LDAP server at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the LDAP search account {dn:?} cannot bind: {reason}")]
    SearchBind { dn: String, reason: String },
    #[error("the LDAP search failed: {0}")]
    Search(String),
    #[error("more than one LDAP entry has {attribute}={value}; narrow berth.ldap.filter")]
    Ambiguous { attribute: String, value: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupSettings {
    pub base_dn: String,
    pub filter: Option<String>,
    pub name_attribute: String,
    pub scope: Scope,
    pub membership_attribute: String,
    pub admin_dn: Option<String>,
}

/// `berth.ldap`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LdapSettings {
    pub url: String,
    pub starttls: bool,
    pub verify_cert: bool,
    pub ca_cert: Option<PathBuf>,
    pub search_dn: Option<String>,
    pub search_password: Option<String>,
    pub base_dn: String,
    pub filter: Option<String>,
    pub uid_attribute: String,
    pub scope: Scope,
    pub timeout: Duration,
    pub group: Option<GroupSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub dn: String,
    pub name: String,
}

/// A user as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    pub username: String,
    pub email: Option<String>,
    pub realname: Option<String>,
    pub groups: Vec<DirectoryGroup>,
    /// In the administrators' group (`berth.ldap.group.admindn`).
    pub admin: bool,
}

/// An LDAP directory, connected to per operation (sign-ins are rare next to requests:
/// Docker clients hold tokens, and verified passwords are remembered for a while).
pub struct Directory {
    settings: LdapSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Attributes read from user entries.
const MAIL: &str = "mail";
const DISPLAY_NAMES: [&str; 2] = ["displayName", "cn"];

/// `a` and `b` name the same entry: DNs compare without case and spaces around commas.
fn same_dn(a: &str, b: &str) -> bool {
    let norm = |dn: &str| {
        dn.split(',')
            .map(|part| part.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}

/// `dn` is `base` or below it.
fn under(dn: &str, base: &str) -> bool {
    let (dn, base) = (dn.to_ascii_lowercase(), base.to_ascii_lowercase());
    let parts = |s: &str| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .collect::<Vec<_>>()
    };
    let (dn, base) = (parts(&dn), parts(&base));
    dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..]
}

/// `(&<filter>(<attribute>=<value>))`, the value escaped; `<filter>` may be absent.
fn and_filter(filter: Option<&str>, attribute: &str, value: &str) -> String {
    let term = format!("({attribute}={value})");
    match filter.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) if f.starts_with('(') => format!("(&{f}{term})"),
        Some(f) => format!("(&({f}){term})"),
        None => term,
    }
}

fn first(entry: &SearchEntry, attribute: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
        .and_then(|(_, v)| v.first().cloned())
}

fn all(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

impl Directory {
    pub fn new(settings: LdapSettings) -> Result<Directory, LdapError> {
        if !(settings.url.starts_with("ldap://") || settings.url.starts_with("ldaps://")) {
            return Err(LdapError::Settings(format!(
                "url {:?} must start with ldap:// or ldaps://",
                settings.url
            )));
        }
        if settings.base_dn.is_empty() {
            return Err(LdapError::Settings(
                "basedn is required: where the users are".into(),
            ));
        }
        let tls = match &settings.ca_cert {
            Some(path) if settings.verify_cert => Some(Arc::new(client_config(path)?)),
            _ => None,
        };
        Ok(Directory { settings, tls })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// A connection bound as the search account (or anonymously without one).
    async fn connect(&self) -> Result<Ldap, LdapError> {
        let s = &self.settings;
        let mut ldap = self.open().await?;
        let dn = s.search_dn.clone().unwrap_or_default();
        let password = s.search_password.clone().unwrap_or_default();
        ldap.simple_bind(&dn, &password)
            .await
            .and_then(|r| r.success())
            .map_err(|e| LdapError::SearchBind {
                dn,
                reason: e.to_string(),
            })?;
        Ok(ldap)
    }

    /// A connection not bound yet (StartTLS done when configured).
    async fn open(&self) -> Result<Ldap, LdapError> {
        let s = &self.settings;
        let mut conn = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls)
            .set_no_tls_verify(!s.verify_cert);
        if let Some(config) = &self.tls {
            conn = conn.set_config(config.clone());
        }
        let (driver, mut ldap) = LdapConnAsync::with_settings(conn, &s.url)
            .await
            .map_err(|e| LdapError::Connect {
                url: s.url.clone(),
                reason: e.to_string(),
            })?;
        ldap3::drive!(driver);
        ldap.with_timeout(s.timeout);
        Ok(ldap)
    }

    /// Connects and binds as the search account: what Harbor's "test LDAP" does.
    pub async fn ping(&self) -> Result<(), LdapError> {
        let mut ldap = self.connect().await?;
        let _ = ldap.unbind().await;
        Ok(())
    }

    async fn search(
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<&str>,
    ) -> Result<Vec<SearchEntry>, LdapError> {
        let (entries, _) = ldap
            .search(base, scope, filter, attrs)
            .await
            .and_then(|r| r.success())
            .map_err(|e| LdapError::Search(e.to_string()))?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    fn user_attributes(&self) -> Vec<&str> {
        let s = &self.settings;
        let mut attrs = vec![s.uid_attribute.as_str(), MAIL];
        attrs.extend(DISPLAY_NAMES);
        if let Some(g) = &s.group {
            attrs.push(g.membership_attribute.as_str());
        }
        attrs
    }

    /// The entries whose uid matches `value` (already a filter value: escaped, or a
    /// pattern with `*`).
    async fn users_matching(
        &self,
        ldap: &mut Ldap,
        value: &str,
    ) -> Result<Vec<SearchEntry>, LdapError> {
        let s = &self.settings;
        let filter = and_filter(s.filter.as_deref(), &s.uid_attribute, value);
        Directory::search(ldap, &s.base_dn, s.scope, &filter, self.user_attributes()).await
    }

    /// The one entry of user `uid`, if there is one.
    async fn user_entry(
        &self,
        ldap: &mut Ldap,
        uid: &str,
    ) -> Result<Option<SearchEntry>, LdapError> {
        let mut entries = self.users_matching(ldap, &ldap_escape(uid)).await?;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(entries.pop()),
            _ => Err(LdapError::Ambiguous {
                attribute: self.settings.uid_attribute.clone(),
                value: uid.into(),
            }),
        }
    }

    /// The user `uid` described (with groups), without checking a password.
    async fn describe(
        &self,
        ldap: &mut Ldap,
        entry: SearchEntry,
    ) -> Result<DirectoryUser, LdapError> {
        let s = &self.settings;
        let mut groups = Vec::new();
        let mut admin = false;
        if let Some(g) = &s.group {
            for dn in all(&entry, &g.membership_attribute) {
                if g.admin_dn.as_deref().is_some_and(|a| same_dn(a, &dn)) {
                    admin = true;
                }
                if !under(&dn, &g.base_dn) {
                    continue;
                }
                let filter = g.filter.clone().unwrap_or_else(|| "(objectClass=*)".into());
                let found = Directory::search(
                    ldap,
                    &dn,
                    Scope::Base,
                    &filter,
                    vec![g.name_attribute.as_str()],
                )
                .await;
                // A group the search account may not read, or that the group filter
                // leaves out, is not one of berth's.
                if let Some(name) = found
                    .ok()
                    .and_then(|e| e.into_iter().next())
                    .and_then(|e| first(&e, &g.name_attribute))
                {
                    groups.push(DirectoryGroup { dn, name });
                }
            }
        }
        Ok(DirectoryUser {
            username: first(&entry, &s.uid_attribute).unwrap_or_default(),
            email: first(&entry, MAIL),
            realname: DISPLAY_NAMES.iter().find_map(|a| first(&entry, a)),
            dn: entry.dn,
            groups,
            admin,
        })
    }

    /// The user `uid` if `password` is theirs: found with the search account, then bound
    /// as. `Ok(None)`: no such user, or the wrong password.
    pub async fn authenticate(
        &self,
        uid: &str,
        password: &str,
    ) -> Result<Option<DirectoryUser>, LdapError> {
        // An empty password makes a simple bind anonymous, which most servers allow:
        // it proves nothing.
        if password.is_empty() {
            return Ok(None);
        }
        let mut ldap = self.connect().await?;
        let Some(entry) = self.user_entry(&mut ldap, uid).await? else {
            return Ok(None);
        };
        let dn = entry.dn.clone();
        let user = self.describe(&mut ldap, entry).await?;
        let _ = ldap.unbind().await;
        let mut own = self.open().await?;
        let proven = own
            .simple_bind(&dn, password)
            .await
            .and_then(|r| r.success())
            .is_ok();
        let _ = own.unbind().await;
        Ok(proven.then_some(user))
    }

    /// The user `uid`, described, if the directory has them.
    pub async fn find_user(&self, uid: &str) -> Result<Option<DirectoryUser>, LdapError> {
        let mut ldap = self.connect().await?;
        let found = match self.user_entry(&mut ldap, uid).await? {
            Some(entry) => Some(self.describe(&mut ldap, entry).await?),
            None => None,
        };
        let _ = ldap.unbind().await;
        Ok(found)
    }

    /// Users whose uid contains `part` (every user when `None`), without their groups.
    pub async fn search_users(&self, part: Option<&str>) -> Result<Vec<DirectoryUser>, LdapError> {
        let mut ldap = self.connect().await?;
        let pattern = match part.filter(|p| !p.is_empty()) {
            Some(p) => format!("*{}*", ldap_escape(p)),
            None => "*".into(),
        };
        let entries = self.users_matching(&mut ldap, &pattern).await?;
        let _ = ldap.unbind().await;
        let s = &self.settings;
        Ok(entries
            .into_iter()
            .map(|e| DirectoryUser {
                username: first(&e, &s.uid_attribute).unwrap_or_default(),
                email: first(&e, MAIL),
                realname: DISPLAY_NAMES.iter().find_map(|a| first(&e, a)),
                dn: e.dn,
                groups: Vec::new(),
                admin: false,
            })
            .collect())
    }

    /// Groups by name (contains) or by DN (exact).
    pub async fn search_groups(
        &self,
        name: Option<&str>,
        dn: Option<&str>,
    ) -> Result<Vec<DirectoryGroup>, LdapError> {
        let Some(g) = &self.settings.group else {
            return Err(LdapError::Settings(
                "groups are not configured: set berth.ldap.group.basedn".into(),
            ));
        };
        let mut ldap = self.connect().await?;
        let attrs = vec![g.name_attribute.as_str()];
        let entries = match dn.filter(|d| !d.is_empty()) {
            Some(dn) => {
                let filter = g.filter.clone().unwrap_or_else(|| "(objectClass=*)".into());
                if under(dn, &g.base_dn) {
                    Directory::search(&mut ldap, dn, Scope::Base, &filter, attrs)
                        .await
                        .unwrap_or_default()
                } else {
                    Vec::new()
                }
            }
            None => {
                let value = match name.filter(|n| !n.is_empty()) {
                    Some(n) => format!("*{}*", ldap_escape(n)),
                    None => "*".into(),
                };
                let filter = and_filter(g.filter.as_deref(), &g.name_attribute, &value);
                Directory::search(&mut ldap, &g.base_dn, g.scope, &filter, attrs).await?
            }
        };
        let _ = ldap.unbind().await;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                first(&e, &g.name_attribute).map(|name| DirectoryGroup { dn: e.dn, name })
            })
            .collect())
    }
}

/// A TLS client configuration trusting the CA certificates in `path`.
fn client_config(path: &std::path::Path) -> Result<rustls::ClientConfig, LdapError> {
    let bad = |reason: String| LdapError::Settings(format!("cacert {}: {reason}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_and_filters() {
        assert!(same_dn(
            "CN=Admins, OU=groups,DC=x",
            "cn=admins,ou=groups,dc=x"
        ));
        assert!(under("cn=devs,ou=groups,dc=x", "ou=groups,dc=x"));
        assert!(!under("cn=devs,ou=other,dc=x", "ou=groups,dc=x"));
        assert_eq!(
            and_filter(Some("(objectClass=person)"), "uid", "ann"),
            "(&(objectClass=person)(uid=ann))"
        );
        assert_eq!(
            and_filter(Some("objectClass=person"), "uid", "a"),
            "(&(objectClass=person)(uid=a))"
        );
        assert_eq!(and_filter(None, "uid", "a"), "(uid=a)");
        assert_eq!(ldap_escape("a*(b)"), "a\\2a\\28b\\29");
    }
}
