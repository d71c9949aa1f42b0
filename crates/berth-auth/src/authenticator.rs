//! The authentication modes behind one interface: given a request's credentials and the
//! scopes it needs, say who it is or why not; issue tokens for the built-in service.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_meta::{MetaStore, UserOrigin, UserRecord};

use crate::access::{AccessPolicy, Identity};
use crate::cache::VerifiedCache;
use crate::checks::PasswordChecks;
use crate::htpasswd::{HtpasswdFile, verify_bcrypt};
use crate::ldap::{Directory, DirectoryUser};
use crate::limiter::{LimiterSettings, LoginLimiter, Verdict};
use crate::scope::Scope;
use crate::sessions::SessionStore;
use crate::token::{TokenError, TokenIssuer, TokenVerifier};
use crate::{AuthError, password, robots};

/// How long a verified password is remembered (Docker sends Basic on every request).
const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(300);

pub enum Mode {
    /// No authentication: every request may do everything.
    Open,
    /// Distribution's `auth.htpasswd`: Basic credentials checked against the file.
    Htpasswd { file: HtpasswdFile, realm: String },
    /// berth's `auth.local`: users in the metadata database and a built-in token service.
    /// Bearer tokens from it, and Basic credentials directly, are accepted.
    Local {
        meta: Arc<dyn MetaStore>,
        issuer: Box<TokenIssuer>,
        verifier: TokenVerifier,
        /// `None`: the token endpoint on the host the client used.
        realm: Option<String>,
        /// `auth.local.refreshtokens`: answer `offline_token`/`access_type=offline` with
        /// a refresh token.
        refresh_tokens: bool,
        /// Where the first start left the generated administrator password: removed when
        /// that password changes, so it never holds a stale secret.
        initial_password_file: PathBuf,
        /// An LDAP directory whose users sign in beside berth's own (`berth.ldap`).
        directory: Option<Arc<Directory>>,
    },
    /// Distribution's `auth.token`: only bearer tokens from an external issuer.
    ExternalToken {
        verifier: TokenVerifier,
        realm: String,
        service: String,
    },
}

/// What a request's `Authorization` header holds.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// The common name of a client certificate the TLS layer verified against
    /// `http.tls.clientcas`.
    Certificate(String),
    /// The id in a browser's session cookie (`Authorization` absent).
    Session(String),
    Malformed,
}

impl std::fmt::Debug for Credentials {
    // Never print secrets, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
            Credentials::Certificate(user) => write!(f, "Certificate({user})"),
            Credentials::Session(_) => f.write_str("Session(***)"),
            Credentials::Malformed => f.write_str("Malformed"),
        }
    }
}

impl Credentials {
    pub fn parse(authorization: Option<&str>) -> Credentials {
        let Some(value) = authorization.map(str::trim) else {
            return Credentials::Anonymous;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|s| s.split_once(':')) {
                Some((user, password)) => Credentials::Basic {
                    user: user.into(),
                    password: password.into(),
                },
                None => Credentials::Malformed,
            }
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest.into())
        } else {
            Credentials::Malformed
        }
    }
}

/// Why a request may not proceed, and so how to answer it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 401 with a challenge: no credentials, or wrong ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// 401, `error="invalid_token"`.
    #[error("{0}")]
    InvalidToken(TokenError),
    /// `error="insufficient_scope"`: the token does not cover the request. For a user's
    /// token 403 (RFC 6750: the client should get a token with more scope, which Python
    /// oras only does on a 403); for an anonymous token 401 (the client should sign in).
    #[error("the token does not grant {needed}")]
    InsufficientScope { needed: String, signed_in: bool },
    /// 403 `DENIED`: signed in, but the access policy says no.
    #[error("{0}")]
    Denied(String),
    /// 429 `TOOMANYREQUESTS`.
    #[error("too many failed logins; try again in {} seconds", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    /// 500: a database or crypto failure.
    #[error(transparent)]
    Internal(#[from] AuthError),
}

/// The token endpoint's answer.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub token: String,
    pub expires_in: u64,
    pub issued_at: u64,
    pub refresh_token: Option<String>,
}

pub struct Authenticator {
    mode: Mode,
    policy: AccessPolicy,
    cache: VerifiedCache,
    limiter: Arc<LoginLimiter>,
    /// At most one password check per core at once: a login flood queues, it does not
    /// take memory.
    checks: PasswordChecks,
    /// Browser sessions, where the web UI is served.
    sessions: Option<SessionStore>,
}

/// A login's account, looked up before its password is checked.
#[derive(Clone)]
struct Account {
    proof: Proof,
    who: Identity,
    unusable: Option<String>,
}

/// What proves a login's password.
#[derive(Clone)]
enum Proof {
    /// A hash of it (htpasswd's bcrypt, berth's argon2id).
    Hash(String),
    /// A bind to the directory as the user.
    Directory(Arc<Directory>),
}

impl Proof {
    /// What a remembered success is tied to: a new hash forgets it.
    fn cache_key(&self) -> &str {
        match self {
            Proof::Hash(hash) => hash,
            Proof::Directory(_) => "ldap",
        }
    }
}

impl Account {
    /// Who the login signs in as, once the secret is proven; a disabled or expired robot
    /// is told so (only to someone who holds its secret).
    fn admit(self) -> Result<Identity, Refusal> {
        match self.unusable {
            Some(why) => Err(Refusal::Unauthenticated(why)),
            None => Ok(self.who),
        }
    }
}

/// A stored user as an identity: for a directory's user, with the groups and
/// administration it reported at the last sign-in.
fn user_identity(u: &UserRecord) -> Identity {
    Identity {
        groups: u.directory_groups.clone(),
        ..Identity::user(u.name.clone(), u.admin || u.directory_admin)
    }
}

/// Why a management request is refused when it brings a `/v2` token.
const NOT_A_MANAGEMENT_TOKEN: &str = "this token was issued for the registry API (/v2); the \
    management API takes a user name and password, or a token issued with scope registry:admin:*";

impl Authenticator {
    pub fn new(mode: Mode, policy: AccessPolicy) -> Authenticator {
        Authenticator::with_limits(mode, policy, LimiterSettings::default())
    }

    pub fn with_limits(mode: Mode, policy: AccessPolicy, limits: LimiterSettings) -> Authenticator {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Authenticator {
            mode,
            policy,
            cache: VerifiedCache::new(CREDENTIAL_CACHE_TTL),
            limiter: LoginLimiter::new(limits),
            checks: PasswordChecks::new(cores),
            sessions: None,
        }
    }

    /// Accepts browser sessions kept in `store` (the web UI's sign-in).
    pub fn with_sessions(mut self, store: SessionStore) -> Authenticator {
        self.sessions = Some(store);
        self
    }

    pub fn sessions(&self) -> Option<&SessionStore> {
        self.sessions.as_ref()
    }

    /// Checks a user's password and starts a browser session: the identity and the
    /// session id for the cookie. Robots have no sessions: they sign in where they work.
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        addr: IpAddr,
    ) -> Result<(Identity, String), Refusal> {
        let Some(store) = &self.sessions else {
            return Err(Refusal::Denied(
                "this registry keeps no browser sessions".into(),
            ));
        };
        if matches!(self.mode, Mode::Open | Mode::ExternalToken { .. }) {
            return Err(Refusal::Denied(format!(
                "with authentication mode {}, berth checks no passwords",
                self.mode_name()
            )));
        }
        if robots::is_robot_name(user) {
            return Err(Refusal::Denied(
                "robot accounts cannot sign in to the web interface; they use their secret with the registry and API".into(),
            ));
        }
        let who = self.login(user, password, addr).await?;
        let who = match self.mode {
            Mode::Htpasswd { .. } => Identity { admin: true, ..who },
            _ => who,
        };
        let name = who.user.clone().unwrap_or_else(|| user.to_string());
        let id = store.start(&name).await?;
        Ok((who, id))
    }

    /// Starts a browser session for `user`, whose sign-in was checked elsewhere (an
    /// OpenID Connect provider's).
    pub async fn start_session(&self, user: &str) -> Result<Option<String>, AuthError> {
        match &self.sessions {
            Some(store) => Ok(Some(store.start(user).await?)),
            None => Ok(None),
        }
    }

    /// Who a session id signs in, as the user database says now.
    async fn session_identity(&self, id: &str) -> Result<Identity, Refusal> {
        let ended = || Refusal::Unauthenticated("your session has ended; sign in again".into());
        let Some(store) = &self.sessions else {
            return Err(ended());
        };
        let Some(name) = store.user(id).await? else {
            return Err(ended());
        };
        match &self.mode {
            Mode::Local { meta, .. } => match meta.user(&name).await.map_err(AuthError::from)? {
                Some(u) => Ok(user_identity(&u)),
                None => Err(ended()),
            },
            Mode::Htpasswd { file, .. } if file.hash_of(&name).is_some() => {
                Ok(Identity::user(name, true))
            }
            _ => Err(ended()),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }

    /// The built-in token service, when this mode has one.
    pub fn issuer(&self) -> Option<&TokenIssuer> {
        match &self.mode {
            Mode::Local { issuer, .. } => Some(issuer),
            _ => None,
        }
    }

    /// The first administrator's password file, when users are berth's own.
    pub fn initial_password_file(&self) -> Option<&std::path::Path> {
        match &self.mode {
            Mode::Local {
                initial_password_file,
                ..
            } => Some(initial_password_file),
            _ => None,
        }
    }

    /// The LDAP directory, when one is configured.
    pub fn directory(&self) -> Option<&Arc<Directory>> {
        match &self.mode {
            Mode::Local { directory, .. } => directory.as_ref(),
            _ => None,
        }
    }

    /// The user database, when users are berth's own.
    pub fn user_store(&self) -> Option<&Arc<dyn MetaStore>> {
        match &self.mode {
            Mode::Local { meta, .. } => Some(meta),
            _ => None,
        }
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Open => "none",
            Mode::Htpasswd { .. } => "htpasswd",
            Mode::Local { .. } => "local",
            Mode::ExternalToken { .. } => "token",
        }
    }

    /// Whether `who` (as [`Authenticator::authorize`] returned it) may do what `need`
    /// asks: for checks a handler makes beyond the route's own scopes.
    pub async fn allows(&self, who: &Identity, need: &Scope) -> Result<bool, AuthError> {
        Ok(self.is_open() || self.policy.allows(who, need).await?.is_ok())
    }

    /// The access decision, for checks beyond registry scopes (the management API).
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// `who` with `admin` as the user database says now: a bearer token's identity does
    /// not carry it (the token's grants decide `/v2`; listings and the management API
    /// need to know).
    pub async fn resolve(&self, who: Identity) -> Result<Identity, AuthError> {
        match (&self.mode, &who.user) {
            (Mode::Open, _) => Ok(Identity { admin: true, ..who }),
            (Mode::Local { meta, .. }, Some(name))
                if who.token.is_some() && robots::is_robot_name(name) =>
            {
                let robot = robots::Robots::new(meta.clone()).usable(name).await?;
                Ok(match robot {
                    Some(r) => Identity {
                        token: who.token,
                        ..robots::identity(&r)
                    },
                    None => Identity::anonymous(),
                })
            }
            (Mode::Local { meta, .. }, Some(name)) if who.token.is_some() => {
                Ok(match meta.user(name).await? {
                    Some(u) => Identity {
                        token: who.token,
                        ..user_identity(&u)
                    },
                    None => Identity {
                        admin: false,
                        ..who
                    },
                })
            }
            (Mode::Htpasswd { .. }, Some(_)) => Ok(Identity { admin: true, ..who }),
            _ => Ok(who),
        }
    }

    /// Who the request is, if it may do everything in `needs`. An empty `needs` (the
    /// `/v2/` base) only asks that the caller be signed in.
    pub async fn authorize(
        &self,
        credentials: &Credentials,
        addr: IpAddr,
        needs: &[Scope],
    ) -> Result<Identity, Refusal> {
        if self.is_open() {
            return Ok(Identity::anonymous());
        }
        if let Some(wrong) = self.unacceptable(credentials) {
            return Err(wrong);
        }
        let who = match (&self.mode, credentials) {
            (
                Mode::Local { verifier, .. } | Mode::ExternalToken { verifier, .. },
                Credentials::Bearer(t),
            ) => {
                let grant = verifier.verify(t).map_err(Refusal::InvalidToken)?;
                if let Some(missing) = needs.iter().find(|n| !grant.covers(n)) {
                    return Err(Refusal::InsufficientScope {
                        needed: missing.to_string(),
                        signed_in: !grant.subject.is_empty(),
                    });
                }
                let who = Identity {
                    user: (!grant.subject.is_empty()).then_some(grant.subject),
                    token: Some(grant.access.into()),
                    ..Identity::anonymous()
                };
                // A token of berth's own keeps working for its short life when its user
                // is removed; writes check that the user is still there (reads are not
                // worth a lookup each: they stop when the token expires, `tokenttl`).
                if let Some(name) = who.user.as_deref()
                    && needs.iter().any(Scope::changes_something)
                {
                    self.token_user(name).await?;
                }
                who
            }
            (_, Credentials::Basic { user, password }) => self.login(user, password, addr).await?,
            (_, Credentials::Certificate(user)) => Identity::user(user.clone(), false),
            (_, Credentials::Session(id)) => self.session_identity(id).await?,
            _ => Identity::anonymous(),
        };
        if who.is_anonymous() && needs.is_empty() {
            return Err(Refusal::Unauthenticated("authentication required".into()));
        }
        for need in needs {
            if let Err(why) = self.policy.allows(&who, need).await? {
                return Err(if who.is_anonymous() {
                    Refusal::Unauthenticated(format!("authentication required: {why}"))
                } else {
                    Refusal::Denied(why)
                });
            }
        }
        Ok(who)
    }

    /// Refuses credentials of a kind this mode does not take at all.
    fn unacceptable(&self, credentials: &Credentials) -> Option<Refusal> {
        let why = match (&self.mode, credentials) {
            (_, Credentials::Malformed) => "the Authorization header is malformed".to_string(),
            (Mode::Htpasswd { .. }, Credentials::Bearer(_)) => {
                "this registry takes a user name and password (Basic), not a token".to_string()
            }
            (Mode::ExternalToken { realm, .. }, Credentials::Basic { .. }) => {
                format!("this registry takes tokens from {realm}, not passwords")
            }
            _ => return None,
        };
        Some(Refusal::Unauthenticated(why))
    }

    /// The local user a token of berth's own was issued to, refused once that user is
    /// gone; `None` in modes whose users live elsewhere.
    async fn token_user(&self, name: &str) -> Result<Option<UserRecord>, Refusal> {
        let Mode::Local { meta, .. } = &self.mode else {
            return Ok(None);
        };
        if robots::is_robot_name(name) {
            return match robots::Robots::new(meta.clone()).usable(name).await? {
                Some(_) => Ok(None),
                None => Err(Refusal::InvalidToken(TokenError::RobotUnusable)),
            };
        }
        match meta.user(name).await.map_err(AuthError::from)? {
            Some(user) => Ok(Some(user)),
            None => Err(Refusal::InvalidToken(TokenError::UserRemoved)),
        }
    }

    /// Who may use the management API (users, lifecycle runs): a password login or a
    /// client certificate, or a bearer token issued with [`Scope::management`]. A token
    /// issued for `/v2` never qualifies, so one leaked from a pull cannot manage the
    /// registry. `admin` is resolved here: from the user database with `auth.local`; true
    /// for every htpasswd user (that mode has no roles: each may delete anything on
    /// `/v2` already); from the token's scope with an external issuer; true for everyone
    /// when authentication is off.
    pub async fn authorize_management(
        &self,
        credentials: &Credentials,
        addr: IpAddr,
    ) -> Result<Identity, Refusal> {
        if self.is_open() {
            return Ok(Identity {
                admin: true,
                ..Identity::anonymous()
            });
        }
        if let Some(wrong) = self.unacceptable(credentials) {
            return Err(wrong);
        }
        match (&self.mode, credentials) {
            (_, Credentials::Anonymous) => Err(Refusal::Unauthenticated(
                "sign in with a user name and password".into(),
            )),
            (Mode::Htpasswd { .. }, Credentials::Basic { user, password }) => {
                let who = self.login(user, password, addr).await?;
                Ok(Identity { admin: true, ..who })
            }
            (Mode::Htpasswd { .. }, Credentials::Certificate(user)) => {
                Ok(Identity::user(user.clone(), true))
            }
            (_, Credentials::Session(id)) => self.session_identity(id).await,
            (Mode::Local { .. }, Credentials::Basic { user, password }) => {
                self.login(user, password, addr).await
            }
            (Mode::Local { meta, .. }, Credentials::Certificate(user)) => {
                Ok(match meta.user(user).await.map_err(AuthError::from)? {
                    Some(u) => user_identity(&u),
                    None => Identity::user(user.clone(), false),
                })
            }
            (
                Mode::Local { verifier, .. } | Mode::ExternalToken { verifier, .. },
                Credentials::Bearer(t),
            ) => {
                let grant = verifier.verify(t).map_err(Refusal::InvalidToken)?;
                // Robots never hold `registry:admin`; they sign in to the management API
                // with their secret.
                if !grant.covers(&Scope::management())
                    || grant.subject.is_empty()
                    || robots::is_robot_name(&grant.subject)
                {
                    return Err(Refusal::Denied(NOT_A_MANAGEMENT_TOKEN.into()));
                }
                // berth's own tokens: the user database says (now) whether an
                // administrator; an external issuer's scope is its word.
                let admin = self
                    .token_user(&grant.subject)
                    .await?
                    .is_none_or(|u| u.admin);
                Ok(Identity {
                    user: Some(grant.subject),
                    admin,
                    token: Some(grant.access.into()),
                    ..Identity::anonymous()
                })
            }
            // An external issuer's world: a certificate names a user, never an
            // administrator. (What is left was refused as unacceptable above.)
            (_, Credentials::Certificate(user)) => Ok(Identity::user(user.clone(), false)),
            _ => Err(Refusal::Unauthenticated("authentication required".into())),
        }
    }

    /// The account a login names: what proves its password, who it signs in as, and (a
    /// robot) why it may not sign in even with the right secret.
    async fn account(&self, user: &str) -> Result<Option<Account>, Refusal> {
        let account = |proof, who| Account {
            proof,
            who,
            unusable: None,
        };
        Ok(match &self.mode {
            Mode::Htpasswd { file, .. } => file
                .hash_of(user)
                .map(|hash| account(Proof::Hash(hash), Identity::user(user, false))),
            Mode::Local { meta, .. } if robots::is_robot_name(user) => meta
                .robot_by_name(user)
                .await
                .map_err(AuthError::from)?
                .map(|r| Account {
                    proof: Proof::Hash(r.secret_hash.clone()),
                    unusable: robots::unusable(&r, berth_meta::now_ms() / 1000),
                    who: robots::identity(&r),
                }),
            Mode::Local {
                meta, directory, ..
            } => {
                let stored = meta.user(user).await.map_err(AuthError::from)?;
                match (stored, directory) {
                    // berth's own users sign in with berth's password, directory or not;
                    // an identity provider's users with their CLI secret.
                    (Some(u), _) if matches!(u.origin, UserOrigin::Local | UserOrigin::Oidc) => {
                        Some(account(
                            Proof::Hash(u.password_hash.clone()),
                            user_identity(&u),
                        ))
                    }
                    (stored, Some(directory)) => Some(account(
                        Proof::Directory(directory.clone()),
                        stored
                            .as_ref()
                            .map_or_else(|| Identity::user(user, false), user_identity),
                    )),
                    // A directory's user while no directory is configured: nothing
                    // proves their password.
                    (_, None) => None,
                }
            }
            Mode::Open | Mode::ExternalToken { .. } => None,
        })
    }

    /// Checks a user name and password (htpasswd, local or directory users, or a robot's
    /// secret), with failed-login limits and a cache of recent successes.
    pub async fn login(&self, user: &str, plain: &str, addr: IpAddr) -> Result<Identity, Refusal> {
        let stored = self.account(user).await?;
        // A password that verified a moment ago is not a guess: it passes even while the
        // limiter holds back guesses for this user from the same address.
        let cached = |stored: &Option<Account>| {
            stored
                .as_ref()
                .filter(|a| self.cache.contains(user, plain, a.proof.cache_key()))
                .cloned()
        };
        if let Some(account) = cached(&stored) {
            return account.admit();
        }
        // Parallel requests with the same credentials (a client's many connections) are
        // one attempt: the first checks, the others find its success cached.
        let _turn = match &stored {
            Some(account) => Some(
                self.cache
                    .turn(user, plain, account.proof.cache_key())
                    .await,
            ),
            None => None,
        };
        if let Some(account) = cached(&stored) {
            return account.admit();
        }
        let mut attempt = self
            .limiter
            .begin(addr, user)
            .map_err(|retry_after| Refusal::TooManyAttempts { retry_after })?;
        if let Verdict::Slow(pause) = attempt.verdict {
            tokio::time::sleep(pause).await;
        }
        attempt.checking();
        let proven = match &stored {
            Some(account) => match &account.proof {
                Proof::Hash(hash) => self.verify(plain, hash).await.then(|| account.who.clone()),
                Proof::Directory(directory) => match directory.authenticate(user, plain).await {
                    Ok(Some(found)) => Some(self.onboard(found).await?),
                    Ok(None) => None,
                    Err(e) => return Err(Refusal::Internal(e.into())),
                },
            },
            None => None,
        };
        match (stored, proven) {
            (Some(account), Some(who)) => {
                self.cache.insert(user, plain, account.proof.cache_key());
                attempt.succeeded();
                Account { who, ..account }.admit()
            }
            _ => {
                attempt.failed();
                tracing::warn!(target: "berth::auth", user, %addr, "failed login");
                Err(Refusal::Unauthenticated(
                    "incorrect user name or password".into(),
                ))
            }
        }
    }

    /// A directory's user who just proved their password: recorded as a user of berth's
    /// (created at the first sign-in, as Harbor does), with the groups it is in now.
    async fn onboard(&self, found: DirectoryUser) -> Result<Identity, AuthError> {
        let Mode::Local { meta, .. } = &self.mode else {
            return Ok(Identity::user(found.username, false));
        };
        let (who, _) = crate::users::adopt(meta.as_ref(), &(&found).into()).await?;
        Ok(who)
    }

    /// One password check, on the password-check threads.
    async fn verify(&self, plain: &str, hash: &str) -> bool {
        let (plain, hash) = (plain.to_string(), hash.to_string());
        let bcrypt = matches!(self.mode, Mode::Htpasswd { .. });
        self.checks
            .run(move || {
                if bcrypt {
                    verify_bcrypt(&plain, &hash)
                } else {
                    password::verify(&plain, &hash)
                }
            })
            .await
    }

    /// Changes `target`'s password for `who`: their own with the current one (checked as a
    /// login: the same limits), or anyone's by an administrator. Removes the first start's
    /// password file when that password is the one changed.
    pub async fn change_password(
        &self,
        who: &Identity,
        target: &str,
        old: Option<&str>,
        new: &str,
        addr: IpAddr,
    ) -> Result<(), Refusal> {
        let Some(meta) = self.user_store() else {
            return Err(Refusal::Denied(
                "passwords are kept elsewhere in this authentication mode".into(),
            ));
        };
        let own = who.user.as_deref() == Some(target);
        if !own && !who.admin {
            return Err(Refusal::Denied(format!(
                "only administrators change other users' passwords; {} is not one",
                who.describe()
            )));
        }
        if own && !who.admin {
            let Some(old) = old else {
                return Err(AuthError::from(crate::users::UserError::OldPasswordMissing).into());
            };
            match self.login(target, old, addr).await {
                Ok(_) => {}
                Err(Refusal::Unauthenticated(_)) => {
                    return Err(AuthError::from(crate::users::UserError::WrongPassword).into());
                }
                Err(refusal) => return Err(refusal),
            }
        }
        crate::users::set_password(meta.as_ref(), target, new).await?;
        tracing::info!(target: "berth::audit", by = who.user.as_deref().unwrap_or(""), user = target, "password changed");
        if let Some(file) = self.initial_password_file() {
            match crate::users::forget_initial_password(file, target) {
                Ok(true) => {
                    tracing::info!(file = %file.display(), "removed the initial administrator password file: that password was changed")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove the initial administrator password file")
                }
            }
        }
        Ok(())
    }

    /// The `WWW-Authenticate` value for a refused request (`None` when open).
    pub fn challenge(
        &self,
        default_realm: &str,
        needs: &[Scope],
        error: Option<&str>,
    ) -> Option<String> {
        let bearer = |realm: &str, service: &str| {
            let mut v = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
            if !needs.is_empty() {
                let scopes: Vec<String> = needs.iter().map(Scope::to_string).collect();
                v.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
            }
            if let Some(e) = error {
                v.push_str(&format!(",error=\"{e}\""));
            }
            v
        };
        match &self.mode {
            Mode::Open => None,
            Mode::Htpasswd { realm, .. } => Some(format!("Basic realm=\"{realm}\"")),
            Mode::Local { issuer, realm, .. } => Some(bearer(
                realm.as_deref().unwrap_or(default_realm),
                &issuer.service,
            )),
            Mode::ExternalToken { realm, service, .. } => Some(bearer(realm, service)),
        }
    }

    /// An access token for `who` with what the policy grants of `asked`, and a refresh
    /// token when `offline` and a user signed in with a password.
    pub async fn issue(
        &self,
        who: &Identity,
        asked: &[Scope],
        offline: bool,
    ) -> Result<TokenResponse, Refusal> {
        let Mode::Local {
            issuer,
            meta,
            refresh_tokens,
            ..
        } = &self.mode
        else {
            return Err(Refusal::Denied(
                "this registry does not issue tokens".into(),
            ));
        };
        let offline = offline && *refresh_tokens;
        let granted = self.policy.grant(who, asked).await?;
        let subject = who.user.as_deref().unwrap_or("");
        let access = issuer.access_token(subject, &granted)?;
        let refresh_token = match (&who.user, offline) {
            (Some(name), true) => {
                let user = meta.user(name).await.map_err(AuthError::from)?;
                match user {
                    // A directory's password is checked by the directory at each sign-in; a
                    // refresh token would outlive its changes, so its users get none.
                    Some(u) if u.origin == UserOrigin::Ldap => None,
                    Some(u) => Some(issuer.refresh_token(name, &u.password_hash)?),
                    None => None,
                }
            }
            _ => None,
        };
        Ok(TokenResponse {
            token: access.token,
            expires_in: access.expires_in,
            issued_at: access.issued_at,
            refresh_token,
        })
    }

    /// The OAuth2 `refresh_token` grant: who the refresh token belongs to, if it is still
    /// valid for that user's current password.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Identity, Refusal> {
        let Mode::Local { issuer, meta, .. } = &self.mode else {
            return Err(Refusal::Denied(
                "this registry does not issue tokens".into(),
            ));
        };
        // Look the user up first (async), then check the token against that record.
        let unverified_sub =
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(refresh_token)
                .ok()
                .and_then(|d| {
                    d.claims
                        .get("sub")
                        .and_then(|s| s.as_str())
                        .map(String::from)
                })
                .ok_or(Refusal::InvalidToken(TokenError::Malformed))?;
        let user = meta.user(&unverified_sub).await.map_err(AuthError::from)?;
        let name = issuer
            .check_refresh_token(refresh_token, |sub| {
                user.as_ref()
                    .filter(|u| u.name == sub)
                    .map(|u| u.password_hash.clone())
            })
            .map_err(Refusal::InvalidToken)?;
        // A directory's or provider's user keeps the groups of their last sign-in.
        Ok(match user {
            Some(u) => user_identity(&u),
            None => Identity::user(name, false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_headers() {
        let basic = format!("Basic {}", STANDARD.encode("alice:pa:ss"));
        assert_eq!(
            Credentials::parse(Some(&basic)),
            Credentials::Basic {
                user: "alice".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(
            Credentials::parse(Some("Bearer abc.def.ghi")),
            Credentials::Bearer("abc.def.ghi".into())
        );
        assert_eq!(Credentials::parse(None), Credentials::Anonymous);
        assert_eq!(
            Credentials::parse(Some("Basic !!!")),
            Credentials::Malformed
        );
        assert_eq!(Credentials::parse(Some("Digest x")), Credentials::Malformed);
        assert_eq!(
            format!("{:?}", Credentials::parse(Some(&basic))),
            "Basic(alice, ***)"
        );
    }
}
