//! TLS for XMPP client sessions: one rustls `ClientConfig` per identity, built once from files
//! and shared by every session that uses it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no certificate or key, or a malformed one.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Reads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(path)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_slice()).collect();
    let certs = certs.map_err(|e| TlsSetupError::Pem {
        path: path.display().to_string(),
        what: format!("bad PEM: {e}"),
    })?;
    if certs.is_empty() {
        return Err(TlsSetupError::Pem {
            path: path.display().to_string(),
            what: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| TlsSetupError::Pem {
            path: path.display().to_string(),
            what: format!("bad PEM: {e}"),
        })?
        .ok_or_else(|| TlsSetupError::Pem {
            path: path.display().to_string(),
            what: "no private key found".into(),
        })
}

/// A root store from a CA file (the system store is never consulted).
pub fn load_roots(ca_file: &Path) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_file)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// Makes sure one process-wide crypto provider is installed (aws-lc-rs).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A client configuration that trusts `roots` and presents `chain`/`key` (or no certificate).
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    install_crypto_provider();
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client configuration from files: CA, and optionally certificate chain and key.
pub fn client_config_from_files(
    ca_file: &Path,
    cert_and_key: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let roots = load_roots(ca_file)?;
    let identity = match cert_and_key {
        Some((c, k)) => Some((load_certs(c)?, load_key(k)?)),
        None => None,
    };
    client_config(roots, identity)
}
