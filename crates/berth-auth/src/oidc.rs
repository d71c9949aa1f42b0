//! Signing in through an OpenID Connect provider (Harbor's `oidc_auth`): the browser is
//! sent to the provider with a state and a nonce, comes back with a code, and berth
//! exchanges the code for an ID token whose signature (the provider's JWKS), issuer,
//! audience, expiry and nonce it checks. Docker clients cannot do this dance, so each such
//! user has a CLI secret for `docker login`, as in Harbor.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

/// What went wrong with the provider or its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("OIDC settings: {0}")]
    Settings(String),
    #[error("the OIDC provider at {url} cannot be used: {reason}")]
    Provider { url: String, reason: String },
    #[error("the OIDC provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("the ID token has no {0:?} claim to name the user by; set berth.oidc.userclaim")]
    NoUserClaim(String),
}

/// `berth.oidc`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub user_claim: String,
    pub groups_claim: String,
    pub admin_group: Option<String>,
    pub verify_cert: bool,
    pub redirect_url: Option<String>,
}

/// The provider's discovery document, the parts berth uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    /// `<issuer> <subject>`: the provider's own name for them.
    pub external_id: String,
    pub username: String,
    pub email: Option<String>,
    pub realname: Option<String>,
    pub groups: Vec<String>,
    /// In `berth.oidc.admingroup`.
    pub admin: bool,
}

pub struct Provider {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::OnceCell<Discovery>,
}

/// Whether an OpenID Connect provider answers at `url` (see [`Provider::check`]), before
/// any client is configured for it.
pub async fn ping(url: &str, verify_cert: bool) -> Result<(), OidcError> {
    let probe = Provider::new(OidcSettings {
        issuer: url.trim().to_string(),
        // A probe signs nobody in; the provider never sees this.
        client_id: "berth-ping".into(),
        client_secret: String::new(),
        scopes: Vec::new(),
        user_claim: String::new(),
        groups_claim: String::new(),
        admin_group: None,
        verify_cert,
        redirect_url: None,
    })?;
    probe.check().await
}

impl Provider {
    pub fn new(settings: OidcSettings) -> Result<Provider, OidcError> {
        if !(settings.issuer.starts_with("https://") || settings.issuer.starts_with("http://")) {
            return Err(OidcError::Settings(format!(
                "endpoint {:?} must be the provider's http(s) URL",
                settings.issuer
            )));
        }
        if settings.client_id.is_empty() {
            return Err(OidcError::Settings("clientid is required".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .danger_accept_invalid_certs(!settings.verify_cert)
            .build()
            .map_err(|e| OidcError::Settings(e.to_string()))?;
        Ok(Provider {
            settings,
            http,
            discovery: tokio::sync::OnceCell::new(),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn unusable(&self, reason: impl ToString) -> OidcError {
        OidcError::Provider {
            url: self.settings.issuer.clone(),
            reason: reason.to_string(),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.unusable(e))?;
        if !resp.status().is_success() {
            return Err(self.unusable(format!("{url} answered {}", resp.status())));
        }
        let body = resp.bytes().await.map_err(|e| self.unusable(e))?;
        serde_json::from_slice(&body).map_err(|e| self.unusable(format!("{url}: {e}")))
    }

    /// The discovery document, read once.
    async fn discovery(&self) -> Result<&Discovery, OidcError> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                self.get_json::<Discovery>(&url).await
            })
            .await
    }

    /// Whether the provider is usable: its discovery document reads, names the
    /// configured URL as its issuer (OpenID Connect Discovery, section 4.3), and its keys
    /// read.
    pub async fn check(&self) -> Result<(), OidcError> {
        let d = self.discovery().await?;
        if d.issuer.trim_end_matches('/') != self.settings.issuer.trim_end_matches('/') {
            return Err(self.unusable(format!(
                "its discovery document names the issuer {:?}; use that as the endpoint",
                d.issuer
            )));
        }
        self.get_json::<serde_json::Value>(&d.jwks_uri).await?;
        Ok(())
    }

    /// Where to send the browser to sign in.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
    ) -> Result<String, OidcError> {
        let d = self.discovery().await?;
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(
            self.settings
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .cloned(),
        );
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", scopes.join(" ").as_str()),
            ("state", state),
            ("nonce", nonce),
        ])
        .map_err(|e| OidcError::Settings(e.to_string()))?;
        let separator = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{separator}{query}", d.authorization_endpoint))
    }

    /// Exchanges the code the browser brought back for a checked ID token, and reads who
    /// signed in from it.
    pub async fn sign_in(
        &self,
        code: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<OidcUser, OidcError> {
        let d = self.discovery().await?;
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])
        .map_err(|e| OidcError::Settings(e.to_string()))?;
        let resp = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| self.unusable(e))?;
        let body = resp.bytes().await.map_err(|e| self.unusable(e))?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| self.unusable(format!("the token endpoint's answer: {e}")))?;
        let Some(id_token) = answer.id_token else {
            return Err(OidcError::Refused(format!(
                "{}: {}",
                answer.error.unwrap_or_else(|| "no ID token".into()),
                answer.error_description.unwrap_or_default()
            )));
        };
        let claims = self.verified_claims(d, &id_token, nonce).await?;
        self.user(d, &claims)
    }

    /// The ID token's claims, once its signature, issuer, audience, expiry and nonce hold.
    async fn verified_claims(
        &self,
        d: &Discovery,
        token: &str,
        nonce: &str,
    ) -> Result<Value, OidcError> {
        let invalid = |e: &dyn std::fmt::Display| OidcError::InvalidToken(e.to_string());
        let header = decode_header(token).map_err(|e| invalid(&e))?;
        let keys: JwkSet = self.get_json(&d.jwks_uri).await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or_else(|| invalid(&"no key of the provider's JWKS signed it"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_issuer(&[&d.issuer]);
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| invalid(&e))?
            .claims;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(invalid(&"its nonce is not the one this sign-in sent"));
        }
        Ok(claims)
    }

    fn user(&self, d: &Discovery, claims: &Value) -> Result<OidcUser, OidcError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(String::from);
        let s = &self.settings;
        let subject = text("sub").ok_or_else(|| OidcError::InvalidToken("no sub".into()))?;
        let username =
            text(&s.user_claim).ok_or_else(|| OidcError::NoUserClaim(s.user_claim.clone()))?;
        let groups: Vec<String> = match claims.get(&s.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(OidcUser {
            external_id: format!("{} {subject}", d.issuer),
            admin: s
                .admin_group
                .as_ref()
                .is_some_and(|a| groups.iter().any(|g| g == a)),
            username,
            email: text("email"),
            realname: text("name"),
            groups,
        })
    }
}
