//! The server certificate, re-read from disk when its files change, so a rotated
//! certificate (certbot, cert-manager, a CA's renewal job) is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::server::{TlsError, certs};

/// How often a handshake may look at the files (a `stat` of each).
const CHECK_EVERY: Duration = Duration::from_secs(1);

type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(paths: [&Path; 2]) -> Option<Stamp> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    Some([one(paths[0])?, one(paths[1])?])
}

struct Current {
    key: Arc<CertifiedKey>,
    stamp: Option<Stamp>,
    checked: Instant,
}

pub struct ReloadingCert {
    certificate: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("certificate", &self.certificate)
            .field("key", &self.key)
            .finish()
    }
}

fn load(
    certificate: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = certs(certificate)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(CertifiedKey::from_der(chain, key_der, provider)?)
}

impl ReloadingCert {
    /// Loads the pair now; a broken pair is an error at start-up.
    pub fn new(
        certificate: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, TlsError> {
        let loaded = load(certificate, key, &provider)?;
        Ok(ReloadingCert {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Current {
                key: Arc::new(loaded),
                stamp: stamp([certificate, key]),
                checked: Instant::now(),
            }),
            provider,
        })
    }

    fn refresh_if_changed(&self) {
        let due = self
            .current
            .read()
            .map(|c| c.checked.elapsed() >= CHECK_EVERY)
            .unwrap_or(false);
        if !due {
            return;
        }
        let Ok(mut current) = self.current.write() else {
            return;
        };
        current.checked = Instant::now();
        let now = stamp([&self.certificate, &self.key]);
        if now.is_none() || now == current.stamp {
            return;
        }
        // A rotation may be half done (new certificate, old key): keep serving the old
        // pair until both files fit together.
        match load(&self.certificate, &self.key, &self.provider) {
            Ok(loaded) => {
                current.key = Arc::new(loaded);
                current.stamp = now;
                tracing::info!(certificate = %self.certificate.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate changed but cannot be used yet; still serving the previous one")
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh_if_changed();
        self.current.read().ok().map(|c| c.key.clone())
    }
}
