//! TLS for XMPP client sessions: one rustls `ClientConfig` per identity, built once from files
//! and shared by every session that uses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

pub use crate::pki::{TlsSetupError, install_crypto_provider, load_certs, load_key, load_roots};

/// A client configuration that trusts `roots` and presents `chain`/`key` (or no certificate).
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    client_config_with_crls(roots, &[], identity)
}

/// [`client_config`], with the server's certificate also checked against `crls` (an issuer
/// without a CRL among them, a revoked certificate or an out-of-date CRL refuses the server).
pub fn client_config_with_crls(
    roots: RootCertStore,
    crls: &[PathBuf],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    install_crypto_provider();
    let builder = if crls.is_empty() {
        ClientConfig::builder().with_root_certificates(roots)
    } else {
        ClientConfig::builder().with_webpki_verifier(crate::pki::server_verifier(roots, crls)?)
    };
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
    client_config_checked(ca_file, &[], cert_and_key)
}

/// A client configuration from files: CA, CRLs, and optionally certificate chain and key.
pub fn client_config_checked(
    ca_file: &Path,
    crls: &[PathBuf],
    cert_and_key: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let roots = load_roots(ca_file)?;
    let identity = match cert_and_key {
        Some((c, k)) => Some((load_certs(c)?, load_key(k)?)),
        None => None,
    };
    client_config_with_crls(roots, crls, identity)
}
