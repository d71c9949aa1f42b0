//! Docker-style bearer tokens: the built-in service issues short-lived ES256 JWTs with an
//! `access` claim, plus refresh tokens for `docker login`; the verifier checks tokens from
//! this service or from an external issuer.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::keys::SigningKey;
use crate::scope::{Action, Scope};
use crate::{AuthError, password};

/// Clock skew tolerated between the issuer and this registry.
const LEEWAY_SECS: u64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaim {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    #[serde(default)]
    sub: String,
    aud: serde_json::Value,
    exp: u64,
    // Other issuers may leave these out; `nbf` is checked when present.
    #[serde(default)]
    nbf: u64,
    #[serde(default)]
    iat: u64,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    access: Vec<AccessClaim>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    jti: String,
    /// Fingerprint of the user's stored credential: a password change revokes the token.
    cred: String,
}

/// Why a token was refused (all answered with 401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token is not signed by a trusted key")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    Issuer,
    #[error("the token is meant for another service")]
    Audience,
    #[error(
        "the refresh token was revoked: its user's password changed or the user was removed; log in again (docker login)"
    )]
    Revoked,
    #[error("the token's user no longer exists")]
    UserRemoved,
    #[error("the token's robot account was removed, disabled or has expired")]
    RobotUnusable,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature
            | K::InvalidEcdsaKey
            | K::InvalidRsaKey(_)
            | K::InvalidKeyFormat => TokenError::Signature,
            K::ExpiredSignature => TokenError::Expired,
            K::ImmatureSignature => TokenError::NotYetValid,
            K::InvalidIssuer => TokenError::Issuer,
            K::InvalidAudience => TokenError::Audience,
            K::InvalidAlgorithm | K::InvalidAlgorithmName => TokenError::Algorithm,
            _ => TokenError::Malformed,
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The `sub` claim; empty for an anonymous token.
    pub subject: String,
    pub access: Vec<Scope>,
}

impl Grant {
    /// Whether the token allows everything `need` asks for.
    pub fn covers(&self, need: &Scope) -> bool {
        crate::access::grants(&self.access, need)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn token_id() -> Result<String, AuthError> {
    let mut id = [0u8; 16];
    password::random_bytes(&mut id)?;
    Ok(hex::encode(id))
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    /// Unix seconds.
    pub issued_at: u64,
}

/// The built-in token service's issuing side.
pub struct TokenIssuer {
    key: SigningKey,
    pub issuer: String,
    pub service: String,
    ttl: Duration,
    refresh_ttl: Duration,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, issuer: &str, service: &str, ttl: Duration) -> TokenIssuer {
        TokenIssuer {
            key,
            issuer: issuer.into(),
            service: service.into(),
            ttl,
            // `docker login` keeps a refresh token in the client's config; a password
            // change revokes it earlier.
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }

    fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key.kid.clone());
        header
    }

    /// An access token for `subject` ("" for anonymous) carrying `granted`.
    pub fn access_token(&self, subject: &str, granted: &[Scope]) -> Result<IssuedToken, AuthError> {
        let iat = now();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.into(),
            aud: serde_json::Value::String(self.service.clone()),
            exp: iat + self.ttl.as_secs(),
            nbf: iat.saturating_sub(1),
            iat,
            jti: token_id()?,
            access: granted
                .iter()
                .map(|s| AccessClaim {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions: s.actions.iter().map(|a| a.as_str().to_string()).collect(),
                })
                .collect(),
        };
        let token = encode(&self.header(), &claims, &self.key.encoding)
            .map_err(|e| AuthError::Crypto(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl.as_secs(),
            issued_at: iat,
        })
    }

    fn refresh_audience(&self) -> String {
        format!("{}#refresh", self.service)
    }

    /// A long-lived refresh token (`docker login`'s identity token) bound to the user's
    /// current credential.
    pub fn refresh_token(&self, subject: &str, credential: &str) -> Result<String, AuthError> {
        let iat = now();
        let claims = RefreshClaims {
            iss: self.issuer.clone(),
            sub: subject.into(),
            aud: self.refresh_audience(),
            exp: iat + self.refresh_ttl.as_secs(),
            iat,
            jti: token_id()?,
            cred: credential_fingerprint(credential),
        };
        encode(&self.header(), &claims, &self.key.encoding)
            .map_err(|e| AuthError::Crypto(e.to_string()))
    }

    /// The subject of a valid refresh token, if `credential` is still the user's.
    pub fn check_refresh_token(
        &self,
        token: &str,
        current_credential: impl FnOnce(&str) -> Option<String>,
    ) -> Result<String, TokenError> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[self.refresh_audience()]);
        v.leeway = LEEWAY_SECS;
        let data = decode::<RefreshClaims>(token, &self.key.decoding, &v)?;
        let claims = data.claims;
        match current_credential(&claims.sub) {
            Some(c) if credential_fingerprint(&c) == claims.cred => Ok(claims.sub),
            _ => Err(TokenError::Revoked),
        }
    }

    /// A verifier for tokens this service issued.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier {
            keys: vec![VerifyKey {
                kid: Some(self.key.kid.clone()),
                key: self.key.decoding.clone(),
            }],
            issuer: self.issuer.clone(),
            audience: self.service.clone(),
            algorithms: vec![Algorithm::ES256],
        }
    }

    /// The public keys, as served at the JWKS endpoint.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.key.jwk()] })
    }
}

fn credential_fingerprint(credential: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(credential.as_bytes());
    hex::encode(&d[..12])
}

struct VerifyKey {
    /// `None` for keys from a certificate bundle: tried for any `kid`.
    kid: Option<String>,
    key: DecodingKey,
}

/// Checks bearer tokens: signature by a trusted key, issuer, audience, time window.
pub struct TokenVerifier {
    keys: Vec<VerifyKey>,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
}

/// What an external issuer's tokens may be signed with when the config does not say.
/// Never HMAC: the registry holds no shared secret.
const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

impl TokenVerifier {
    /// Distribution's `auth.token`: trust the certificates in `rootcertbundle` and/or the
    /// keys in the `jwks` file, for tokens from `issuer` meant for `service`.
    pub fn external(
        issuer: &str,
        service: &str,
        rootcertbundle: Option<&Path>,
        jwks: Option<&Path>,
        algorithms: &[String],
    ) -> Result<TokenVerifier, AuthError> {
        let mut keys = Vec::new();
        if let Some(path) = rootcertbundle {
            keys.extend(certificate_keys(path)?);
        }
        if let Some(path) = jwks {
            keys.extend(jwks_keys(path)?);
        }
        if keys.is_empty() {
            return Err(AuthError::Config(
                "auth.token needs rootcertbundle or jwks with at least one public key".into(),
            ));
        }
        let algorithms = if algorithms.is_empty() {
            DEFAULT_ALGORITHMS.to_vec()
        } else {
            algorithms
                .iter()
                .map(|a| {
                    a.parse::<Algorithm>()
                        .ok()
                        .filter(|alg| DEFAULT_ALGORITHMS.contains(alg))
                        .ok_or_else(|| {
                            AuthError::Config(format!(
                                "auth.token.signingalgorithms: {a} is not an accepted asymmetric algorithm"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        Ok(TokenVerifier {
            keys,
            issuer: issuer.into(),
            audience: service.into(),
            algorithms,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Grant, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::Algorithm);
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        let candidates = self.keys.iter().filter(|k| match (&k.kid, &header.kid) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        });
        let mut last = TokenError::Signature;
        for k in candidates {
            match decode::<AccessClaims>(token, &k.key, &v) {
                Ok(data) => return Ok(grant_of(data.claims)),
                // A wrong key fails the signature; anything else is final.
                Err(e) => match TokenError::from(e) {
                    TokenError::Signature => continue,
                    other => {
                        last = other;
                        break;
                    }
                },
            }
        }
        Err(last)
    }
}

fn grant_of(claims: AccessClaims) -> Grant {
    Grant {
        subject: claims.sub,
        access: claims
            .access
            .into_iter()
            .map(|a| {
                let mut actions: Vec<Action> =
                    a.actions.iter().filter_map(|s| Action::parse(s)).collect();
                actions.sort();
                actions.dedup();
                Scope {
                    kind: a.kind,
                    name: a.name,
                    actions,
                }
            })
            .collect(),
    }
}

fn read_file(path: &Path) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|e| AuthError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Public keys of every certificate in a PEM bundle.
fn certificate_keys(path: &Path) -> Result<Vec<VerifyKey>, AuthError> {
    let text = read_file(path)?;
    const END: &str = "-----END CERTIFICATE-----";
    let mut keys = Vec::new();
    for block in text.split_inclusive(END).filter(|b| b.contains(END)) {
        let pem = block.as_bytes();
        let key = DecodingKey::from_ec_pem(pem)
            .or_else(|_| DecodingKey::from_rsa_pem(pem))
            .or_else(|_| DecodingKey::from_ed_pem(pem))
            .map_err(|e| AuthError::File {
                path: path.to_path_buf(),
                reason: format!("a certificate's public key cannot be used: {e}"),
            })?;
        keys.push(VerifyKey { kid: None, key });
    }
    if keys.is_empty() {
        return Err(AuthError::File {
            path: path.to_path_buf(),
            reason: "no PEM certificate in the bundle".into(),
        });
    }
    Ok(keys)
}

fn jwks_keys(path: &Path) -> Result<Vec<VerifyKey>, AuthError> {
    let set: JwkSet = serde_json::from_str(&read_file(path)?).map_err(|e| AuthError::File {
        path: path.to_path_buf(),
        reason: format!("not a JWK set: {e}"),
    })?;
    set.keys
        .iter()
        .filter(|jwk| !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)))
        .map(|jwk| {
            Ok(VerifyKey {
                kid: jwk.common.key_id.clone(),
                key: DecodingKey::from_jwk(jwk).map_err(|e| AuthError::File {
                    path: path.to_path_buf(),
                    reason: format!("unusable key: {e}"),
                })?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(dir: &str) -> TokenIssuer {
        let path = std::env::temp_dir()
            .join(format!("berth-token-{dir}-{}", std::process::id()))
            .join("key.pem");
        let key = SigningKey::load_or_generate(&path).unwrap();
        TokenIssuer::new(key, "berth", "registry", Duration::from_secs(300))
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_access() {
        let iss = issuer("ok");
        let scope = Scope::repository("team/app", &[Action::Pull, Action::Push]);
        let t = iss
            .access_token("alice", std::slice::from_ref(&scope))
            .unwrap();
        let grant = iss.verifier().verify(&t.token).unwrap();
        assert_eq!(grant.subject, "alice");
        assert!(grant.covers(&Scope::repository("team/app", &[Action::Push])));
        assert!(!grant.covers(&Scope::repository("team/other", &[Action::Pull])));
        assert!(!grant.covers(&Scope::repository("team/app", &[Action::Delete])));
    }

    #[test]
    fn foreign_forged_and_unsigned_tokens_are_refused() {
        let a = issuer("a");
        let b = issuer("b");
        let t = b.access_token("mallory", &[]).unwrap().token;
        assert_eq!(a.verifier().verify(&t), Err(TokenError::Signature));

        // alg: none, with the claims of a real token.
        let real = a.access_token("alice", &[]).unwrap().token;
        let claims = real.split('.').nth(1).unwrap();
        use base64::Engine;
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(a.verifier().verify(&format!("{none}.{claims}.")).is_err());

        // HS256 "signed" with the public key (the classic confusion attack).
        let hs = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(
            a.verifier().verify(&format!("{hs}.{claims}.AAAA")),
            Err(TokenError::Algorithm)
        );
        assert_eq!(a.verifier().verify("garbage"), Err(TokenError::Malformed));
    }

    #[test]
    fn expired_tokens_and_other_audiences_are_refused() {
        let mut iss = issuer("exp");
        iss.ttl = Duration::ZERO;
        // exp = now; with the leeway it is still valid: step past it by forging time.
        let mut claims = AccessClaims {
            iss: "berth".into(),
            sub: "alice".into(),
            aud: serde_json::Value::String("registry".into()),
            exp: now() - 3600,
            nbf: now() - 7200,
            iat: now() - 7200,
            jti: "x".into(),
            access: vec![],
        };
        let old = encode(&iss.header(), &claims, &iss.key.encoding).unwrap();
        assert_eq!(iss.verifier().verify(&old), Err(TokenError::Expired));
        claims.exp = now() + 600;
        claims.aud = serde_json::Value::String("elsewhere".into());
        let other = encode(&iss.header(), &claims, &iss.key.encoding).unwrap();
        assert_eq!(iss.verifier().verify(&other), Err(TokenError::Audience));
        claims.aud = serde_json::json!(["elsewhere", "registry"]);
        let both = encode(&iss.header(), &claims, &iss.key.encoding).unwrap();
        assert!(iss.verifier().verify(&both).is_ok(), "aud may be a list");
        claims.iss = "someone-else".into();
        let foreign = encode(&iss.header(), &claims, &iss.key.encoding).unwrap();
        assert_eq!(iss.verifier().verify(&foreign), Err(TokenError::Issuer));
        claims.iss = "berth".into();
        claims.nbf = now() + 3600;
        let early = encode(&iss.header(), &claims, &iss.key.encoding).unwrap();
        assert_eq!(iss.verifier().verify(&early), Err(TokenError::NotYetValid));
    }

    #[test]
    fn refresh_tokens_are_bound_to_the_credential() {
        let iss = issuer("refresh");
        let r = iss.refresh_token("alice", "hash-1").unwrap();
        assert_eq!(
            iss.check_refresh_token(&r, |_| Some("hash-1".into())),
            Ok("alice".into())
        );
        assert_eq!(
            iss.check_refresh_token(&r, |_| Some("hash-2".into())),
            Err(TokenError::Revoked),
            "a password change revokes it"
        );
        assert_eq!(
            iss.check_refresh_token(&r, |_| None),
            Err(TokenError::Revoked)
        );
        // A refresh token is not an access token, and the other way round.
        assert_eq!(iss.verifier().verify(&r), Err(TokenError::Audience));
        let access = iss.access_token("alice", &[]).unwrap().token;
        assert!(
            iss.check_refresh_token(&access, |_| Some("hash-1".into()))
                .is_err()
        );
    }
}
