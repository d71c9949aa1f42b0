//! The token service's signing key: ECDSA P-256 (ES256), generated on first start and
//! kept as a PKCS#8 PEM file readable only by its owner.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::AuthError;

/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct SigningKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// Key id in libtrust's format (what Distribution and docker_auth put in `kid`).
    pub kid: String,
    x: String,
    y: String,
}

impl SigningKey {
    /// Reads the key at `path`, or generates one there (mode 0600) when the file does not
    /// exist.
    pub fn load_or_generate(path: &Path) -> Result<SigningKey, AuthError> {
        let err = |e: std::io::Error| AuthError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = SigningKey::generate_pem()?;
                write_private(path, &text).map_err(err)?;
                tracing::info!(file = %path.display(), "generated the token signing key");
                text
            }
            Err(e) => return Err(err(e)),
        };
        SigningKey::from_pem(&text).map_err(|reason| AuthError::File {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// A new key, as PKCS#8 PEM.
    pub fn generate_pem() -> Result<String, AuthError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| AuthError::Crypto("cannot generate a P-256 key".into()))?;
        Ok(to_pem(doc.as_ref(), "PRIVATE KEY"))
    }

    /// The key in a PKCS#8 PEM text; why not, if it is not one.
    pub fn from_pem(text: &str) -> Result<SigningKey, String> {
        let der = pem_body(text, "PRIVATE KEY")
            .ok_or("not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)")?;
        SigningKey::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| "not an ECDSA P-256 private key (berth signs tokens with ES256)")?;
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err("unexpected public key encoding".into());
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..]);
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(point);
        Ok(SigningKey {
            encoding: EncodingKey::from_ec_der(der),
            decoding,
            kid: libtrust_key_id(&spki),
            x,
            y,
        })
    }

    /// The public key as a JWK (for the JWKS endpoint).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": self.x,
            "y": self.y,
        })
    }
}

/// libtrust's key id: the first 240 bits of SHA-256 over the SubjectPublicKeyInfo, in
/// base32, as twelve groups of four joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let encoded = base32(&digest[..30]);
    let groups: Vec<&str> = (0..encoded.len())
        .step_by(4)
        .map(|i| &encoded[i..(i + 4).min(encoded.len())])
        .collect();
    groups.join(":")
}

/// RFC 4648 base32 without padding (the input here is always a multiple of 5 bytes).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn to_pem(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop].split_whitespace().collect();
    STANDARD.decode(body).ok()
}

/// Writes a secret file readable only by its owner, durably, without ever leaving a
/// partial file at `path`.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn key_is_generated_once_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("berth-keys-{}", std::process::id()));
        let path = dir.join("token-key.pem");
        let first = SigningKey::load_or_generate(&path).unwrap();
        let again = SigningKey::load_or_generate(&path).unwrap();
        assert_eq!(first.kid, again.kid);
        assert_eq!(first.kid.len(), 59, "12 groups of 4 and 11 colons");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(SigningKey::load_or_generate(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
