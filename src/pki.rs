//! Certificates, keys, CRLs and path validation, for both sides: PEM loading (the system store
//! is never consulted), RFC 5280 path validation with CRLs for IRC client certificates and for
//! the XMPP server's certificate, and a refusal in words a user can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

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

/// Reads every CRL in a PEM file.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsSetupError> {
    let pem = read(path)?;
    let crls: Result<Vec<_>, _> = rustls_pemfile::crls(&mut pem.as_slice()).collect();
    let crls = crls.map_err(|e| TlsSetupError::Pem {
        path: path.display().to_string(),
        what: format!("bad PEM: {e}"),
    })?;
    if crls.is_empty() {
        return Err(TlsSetupError::Pem {
            path: path.display().to_string(),
            what: "no CRL found".into(),
        });
    }
    Ok(crls)
}

fn all_crls(
    files: &[PathBuf],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsSetupError> {
    let mut out = Vec::new();
    for f in files {
        out.extend(load_crls(f)?);
    }
    Ok(out)
}

/// Path validation for IRC client certificates: chains to `ca_file`, within their validity,
/// and — when `crls` are given — not revoked, with a CRL from each issuer that is itself not
/// past its next update (no CRL for an issuer, or an out-of-date one, refuses: fail closed).
pub fn client_path_verifier(
    ca_file: &Path,
    crls: &[PathBuf],
) -> Result<Arc<dyn ClientCertVerifier>, TlsSetupError> {
    install_crypto_provider();
    let roots = Arc::new(load_roots(ca_file)?);
    let mut b = WebPkiClientVerifier::builder(roots).allow_unauthenticated();
    if !crls.is_empty() {
        b = b.with_crls(all_crls(crls)?).enforce_revocation_expiration();
    }
    b.build()
        .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))
}

/// Checks a client certificate (DER, with the intermediates the client sent) against `v`;
/// the refusal in words.
pub fn check_client(
    v: &dyn ClientCertVerifier,
    cert: &[u8],
    intermediates: &[Vec<u8>],
) -> Result<(), String> {
    let end = CertificateDer::from(cert.to_vec());
    let mids: Vec<CertificateDer<'static>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    v.verify_client_cert(&end, &mids, UnixTime::now())
        .map(|_| ())
        .map_err(|e| refusal(&e))
}

/// The XMPP server's certificate verifier: the CA file's roots, and `crls` checked as for
/// client certificates.
pub fn server_verifier(
    roots: RootCertStore,
    crls: &[PathBuf],
) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
    install_crypto_provider();
    let mut b = WebPkiServerVerifier::builder(Arc::new(roots));
    if !crls.is_empty() {
        b = b.with_crls(all_crls(crls)?).enforce_revocation_expiration();
    }
    b.build()
        .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))
}

/// A certificate refusal in words.
pub fn refusal(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Revoked => "the certificate has been revoked".into(),
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            C::UnknownIssuer => "the certificate is not issued by a CA the gateway trusts".into(),
            C::UnknownRevocationStatus => {
                "the certificate's revocation status is unknown (no CRL from its issuer)".into()
            }
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
                "the CRL for the certificate is out of date".into()
            }
            other => format!("the certificate is not valid ({other:?})"),
        },
        other => other.to_string(),
    }
}
