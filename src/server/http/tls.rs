//! TLS for the HTTP mode: a rustls server configuration from PEM files (KSE's
//! `TlsCertificateFile` and `TlsCertificateKeyFile`). Loaded once at startup; a bad file
//! stops the server with the file named, never the first handshake.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A rustls server configuration for `certificate` (a PEM chain, leaf first) and `key`
/// (PEM, PKCS#8, PKCS#1 or SEC1), offering HTTP/1.1 by ALPN.
pub fn server_config(certificate: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let named = |path: &Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| named(certificate, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| named(certificate, &e))?;
    if chain.is_empty() {
        return Err(named(certificate, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| named(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| named(certificate, &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| named(certificate, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
