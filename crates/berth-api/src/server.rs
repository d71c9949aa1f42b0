//! The accept loop: plain TCP or rustls, HTTP/1.1 and HTTP/2 on one port (ALPN for TLS,
//! preface detection for cleartext), graceful shutdown with a drain timeout.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::access::Peer;
use crate::cert_reload::ReloadingCert;
use crate::client_cert;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA setup failed: {0}")]
    ClientCa(String),
}

/// `http.tls` as the server needs it.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// `clientcas`: when non-empty, clients must present a certificate signed by one.
    pub client_cas: Vec<PathBuf>,
    /// `minimumtls: tls1.3`; otherwise TLS 1.2 and 1.3 are offered.
    pub tls13_only: bool,
}

pub(crate) fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |e: rustls::pki_types::pem::Error| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(file_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(file_err)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

pub fn tls_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let provider_for_keys = provider.clone();
    let versions: &[&rustls::SupportedProtocolVersion] = if s.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = if s.client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for path in &s.client_cas {
            for cert in certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(format!("{}: {e}", path.display())))?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::ClientCa(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let resolver = ReloadingCert::new(&s.certificate, &s.key, provider_for_keys)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The application for one connection: every request carries who is on the other end.
fn with_peer(
    app: axum::Router,
    peer: Peer,
) -> TowerToHyperService<
    tower::util::MapRequest<
        axum::Router,
        impl FnMut(hyper::Request<hyper::body::Incoming>) -> hyper::Request<hyper::body::Incoming>
        + Clone,
    >,
> {
    TowerToHyperService::new(app.map_request(
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
            req
        },
    ))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish
/// for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        serve_connection(stream, peer, &acceptor, &builder, &graceful, &app);
    }
    // Connections the kernel completed before the listener stopped wait in its backlog,
    // often with a request sent (a load balancer's): serve those too, rather than reset
    // them unanswered when the listener closes.
    while let Ok(Ok((stream, peer))) =
        tokio::time::timeout(Duration::from_millis(5), listener.accept()).await
    {
        serve_connection(stream, peer, &acceptor, &builder, &graceful, &app);
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout reached; closing remaining connections");
    }
    Ok(())
}

/// Serves one accepted connection (TLS first where configured) in a task of its own,
/// watched by `graceful` so a shutdown drains it.
fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    acceptor: &Option<TlsAcceptor>,
    builder: &Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    app: &axum::Router,
) {
    let _ = stream.set_nodelay(true);
    match &acceptor {
        None => {
            let service = with_peer(app.clone(), Peer::plain(peer));
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        Some(acceptor) => {
            let acceptor = acceptor.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let app = app.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(stream).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                // Only certificates that passed `clientcas` verification get here.
                let client_user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| client_cert::common_name(cert));
                let service = with_peer(app, Peer::tls(peer, client_user));
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}
