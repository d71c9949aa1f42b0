//! Password hashing for local users (argon2id) and generated passwords.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::AuthError;

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Crypto(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Crypto(e.to_string()))?
        .to_string())
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash matches
/// nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

pub fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| AuthError::Crypto("the system random source failed".into()))
}

/// A password of `len` letters and digits (no look-alikes), for generated credentials.
pub fn generate(len: usize) -> Result<String, AuthError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random_bytes(&mut buf)?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret!", &h));
        assert!(!verify("s3cret", "not a hash"));
        assert_ne!(h, hash("s3cret").unwrap(), "salts differ");
    }

    #[test]
    fn generated_passwords() {
        let p = generate(24).unwrap();
        assert_eq!(p.len(), 24);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, generate(24).unwrap());
    }
}
