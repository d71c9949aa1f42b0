//! Builds the access controller `serve` runs, and gives a fresh installation its first
//! administrator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use berth_auth::htpasswd::HtpasswdFile;
use berth_auth::keys::{SigningKey, write_private};
use berth_auth::ldap::{Directory, GroupSettings, LdapSettings};
use berth_auth::sessions::SessionStore;
use berth_auth::token::{TokenIssuer, TokenVerifier};
use berth_auth::{AccessPolicy, Authenticator, Mode, Roles, password, users};
use berth_meta::MetaStore;

use crate::settings::{AuthSettings, ServeSettings};

pub async fn authenticator(
    s: &ServeSettings,
    meta: Arc<dyn MetaStore>,
) -> anyhow::Result<Authenticator> {
    let mode = match &s.auth {
        AuthSettings::None => Mode::Open,
        AuthSettings::Htpasswd { path, realm } => Mode::Htpasswd {
            file: htpasswd_file(path)?,
            realm: realm.clone(),
        },
        AuthSettings::Local {
            realm,
            service,
            issuer,
            token_ttl,
            signing_key,
            initial_password_file,
            refresh_tokens,
        } => {
            let key = if s.metadata.sqlite_path().is_some() {
                SigningKey::load_or_generate(signing_key).context("auth.local.signingkey")?
            } else {
                shared_signing_key(meta.as_ref(), signing_key).await?
            };
            let issuer = TokenIssuer::new(key, issuer, service, *token_ttl);
            ensure_first_admin(meta.as_ref(), initial_password_file).await?;
            Mode::Local {
                verifier: issuer.verifier(),
                issuer: Box::new(issuer),
                meta: meta.clone(),
                realm: realm.clone(),
                refresh_tokens: *refresh_tokens,
                initial_password_file: initial_password_file.clone(),
                directory: directory(&s.ldap)?,
            }
        }
        AuthSettings::Token {
            realm,
            service,
            issuer,
            rootcertbundle,
            jwks,
            algorithms,
        } => Mode::ExternalToken {
            verifier: external_verifier(issuer, service, rootcertbundle, jwks, algorithms)?,
            realm: realm.clone(),
            service: service.clone(),
        },
    };
    // Roles need berth's own users: htpasswd and external tokens keep registry:2's model.
    let policy = match mode {
        Mode::Local { .. } => AccessPolicy {
            anonymous_pull: s.anonymous_pull,
            roles: Roles::Projects(meta.clone()),
            auto_create: s.projects.autocreate,
        },
        _ => AccessPolicy::everyone(s.anonymous_pull),
    };
    let authenticator = Authenticator::new(mode, policy);
    Ok(if s.ui.enabled {
        authenticator.with_sessions(SessionStore::new(meta, s.ui.sessiontimeout))
    } else {
        authenticator
    })
}

/// The LDAP directory of `berth.ldap`, if one is configured.
pub fn directory(c: &berth_config::LdapConfig) -> anyhow::Result<Option<Arc<Directory>>> {
    let Some(url) = c.url.clone().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let scope = |s: berth_config::LdapScope| match s {
        berth_config::LdapScope::Base => berth_auth::ldap::Scope::Base,
        berth_config::LdapScope::Onelevel => berth_auth::ldap::Scope::OneLevel,
        berth_config::LdapScope::Subtree => berth_auth::ldap::Scope::Subtree,
    };
    let group = c.group.basedn.clone().map(|base_dn| GroupSettings {
        base_dn,
        filter: c.group.filter.clone(),
        name_attribute: c.group.nameattribute.clone(),
        scope: scope(c.group.scope),
        membership_attribute: c.group.membershipattribute.clone(),
        admin_dn: c.group.admindn.clone(),
    });
    let settings = LdapSettings {
        url,
        starttls: c.starttls,
        verify_cert: c.verifycert,
        ca_cert: c.cacert.clone(),
        search_dn: c.searchdn.clone(),
        search_password: c.searchpassword.clone(),
        base_dn: c.basedn.clone(),
        filter: c.filter.clone(),
        uid_attribute: c.uid.clone(),
        scope: scope(c.scope),
        timeout: c.timeout,
        group,
    };
    Ok(Some(Arc::new(
        Directory::new(settings).context("berth.ldap")?,
    )))
}

/// The OpenID Connect provider of `berth.oidc`, if one is configured.
pub fn oidc_provider(
    c: &berth_config::OidcConfig,
) -> anyhow::Result<Option<Arc<berth_auth::oidc::Provider>>> {
    let Some(issuer) = c.endpoint.clone().filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let settings = berth_auth::oidc::OidcSettings {
        issuer,
        client_id: c.clientid.clone(),
        client_secret: c.clientsecret.clone(),
        scopes: c
            .scope
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        user_claim: c.userclaim.clone(),
        groups_claim: c.groupsclaim.clone(),
        admin_group: c.admingroup.clone(),
        verify_cert: c.verifycert,
        redirect_url: c.redirecturl.clone(),
    };
    let provider = berth_auth::oidc::Provider::new(settings).context("berth.oidc")?;
    Ok(Some(Arc::new(provider)))
}

fn htpasswd_file(path: &Path) -> anyhow::Result<HtpasswdFile> {
    HtpasswdFile::open(path).context("auth.htpasswd.path")
}

fn external_verifier(
    issuer: &str,
    service: &str,
    rootcertbundle: &Option<PathBuf>,
    jwks: &Option<PathBuf>,
    algorithms: &[String],
) -> anyhow::Result<TokenVerifier> {
    TokenVerifier::external(
        issuer,
        service,
        rootcertbundle.as_deref(),
        jwks.as_deref(),
        algorithms,
    )
    .context("auth.token")
}

/// Loads the files the access controller reads, as `serve` would, without starting it:
/// for `berth config check`. (The local token service's key and users are made on first
/// start, so there is nothing to check for it.)
pub fn check_files(s: &ServeSettings) -> anyhow::Result<()> {
    match &s.auth {
        AuthSettings::None | AuthSettings::Local { .. } => {}
        AuthSettings::Htpasswd { path, .. } => {
            htpasswd_file(path)?;
        }
        AuthSettings::Token {
            service,
            issuer,
            rootcertbundle,
            jwks,
            algorithms,
            ..
        } => {
            external_verifier(issuer, service, rootcertbundle, jwks, algorithms)?;
        }
    }
    Ok(())
}

/// The setting that holds the token signing key when the metadata is shared.
const SIGNING_KEY_SETTING: &str = "token_signing_key";

/// The token signing key every replica on a shared (PostgreSQL) metadata database signs
/// and checks with, kept in the database: a token one replica issued is good at every
/// other. The first replica puts it there: the key in `file` if there is one (a registry
/// that moved to PostgreSQL keeps its tokens good), else a new one.
async fn shared_signing_key(meta: &dyn MetaStore, file: &Path) -> anyhow::Result<SigningKey> {
    let from_file = match std::fs::read_to_string(file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let pem = match meta.setting(SIGNING_KEY_SETTING).await? {
        Some(pem) => pem,
        None => {
            let candidate = match &from_file {
                Some(text) => text.clone(),
                None => SigningKey::generate_pem()?,
            };
            meta.setting_or_insert(SIGNING_KEY_SETTING, &candidate)
                .await?
        }
    };
    if from_file.as_ref().is_some_and(|f| f.trim() != pem.trim()) {
        tracing::warn!(
            file = %file.display(),
            "the token signing key file differs from the key in the metadata database; \
             every replica signs with the database's"
        );
    }
    SigningKey::from_pem(&pem).map_err(|reason| {
        anyhow::anyhow!("the token signing key in the metadata database: {reason}")
    })
}

/// On a database without users, creates `admin` with a generated password, prints it
/// once and keeps it in `password_file` (mode 0600) for the operator to pick up.
async fn ensure_first_admin(meta: &dyn MetaStore, password_file: &Path) -> anyhow::Result<()> {
    if !meta.users().await?.is_empty() {
        // Changed by an older berth, which left the file: it must not keep a stale secret.
        if users::initial_password_is_stale(meta, password_file).await? {
            std::fs::remove_file(password_file)
                .with_context(|| format!("removing the stale {}", password_file.display()))?;
            tracing::info!(file = %password_file.display(), "removed the initial administrator password file: that password was changed");
        }
        return Ok(());
    }
    let plain = password::generate(24)?;
    match users::add(meta, "admin", &plain, true, Default::default()).await {
        Ok(_) => {}
        // Another replica starting at the same time created it first: its log has the
        // password.
        Err(berth_auth::AuthError::User(users::UserError::Exists(_))) => {
            tracing::info!("another berth process created the first administrator");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    write_private(password_file, &format!("{plain}\n"))
        .with_context(|| format!("writing {}", password_file.display()))?;
    // Printed to the terminal, not through the logger: log pipelines keep lines forever.
    eprintln!(
        "\n  berth created the first user.\n\n    user:     admin\n    password: {plain}\n\n  \
         The password is also in {} (readable only by you).\n  \
         Log in with: docker login <this host>:<port> -u admin\n  \
         Add users with: berth user add NAME\n",
        password_file.display()
    );
    tracing::info!(file = %password_file.display(), "created user admin; its password was printed once and saved to the file");
    Ok(())
}
