//! TLS for XMPP client sessions: one rustls `ClientConfig` per identity, built once from files
//! and shared by every session that uses it; the XMPP server's certificate checked by a
//! [`ServerVerifier`] whose CA and CRLs a reload re-reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

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

/// A client configuration from files: CA, CRLs, and optionally certificate chain and key
/// (a [`ServerVerifier`] of its own, never reloaded).
pub fn client_config_checked(
    ca_file: &Path,
    crls: &[PathBuf],
    cert_and_key: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    ServerVerifier::load(ca_file, crls)?.client_config_from_files(cert_and_key)
}

/// The XMPP server's certificate check (the CA file's roots; the CRLs, when given, as
/// [`client_config_with_crls`] checks them), built from files and re-read from the same files
/// by [`ServerVerifier::reload`]: connections made after a reload (new sessions, reconnects)
/// are checked against the new CRLs. A reload that fails keeps the check in force before it.
#[derive(Debug)]
pub struct ServerVerifier {
    ca_file: PathBuf,
    crls: Vec<PathBuf>,
    current: RwLock<Arc<WebPkiServerVerifier>>,
}

impl ServerVerifier {
    /// Reads the CA file and the CRLs.
    pub fn load(ca_file: &Path, crls: &[PathBuf]) -> Result<Arc<ServerVerifier>, TlsSetupError> {
        let current = crate::pki::server_verifier(load_roots(ca_file)?, crls)?;
        Ok(Arc::new(ServerVerifier {
            ca_file: ca_file.to_owned(),
            crls: crls.to_vec(),
            current: RwLock::new(current),
        }))
    }

    /// Re-reads the CA file and the CRLs; on an error the check before stays in force.
    pub fn reload(&self) -> Result<(), TlsSetupError> {
        let fresh = crate::pki::server_verifier(load_roots(&self.ca_file)?, &self.crls)?;
        match self.current.write() {
            Ok(mut g) => *g = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The check in force.
    fn now(&self) -> Arc<WebPkiServerVerifier> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A client configuration checking the server with this verifier and presenting
    /// `identity` (or no certificate).
    pub fn client_config(
        self: &Arc<Self>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Arc<ClientConfig>, TlsSetupError> {
        install_crypto_provider();
        let builder = ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(self.clone());
        let config = match identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// [`ServerVerifier::client_config`] with the certificate and key read from files.
    pub fn client_config_from_files(
        self: &Arc<Self>,
        cert_and_key: Option<(&Path, &Path)>,
    ) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let identity = match cert_and_key {
            Some((c, k)) => Some((load_certs(c)?, load_key(k)?)),
            None => None,
        };
        self.client_config(identity)
    }
}

/// Every call goes to the webpki verifier in force (path, name, validity, CRLs, signatures).
impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.now()
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.now().supported_verify_schemes()
    }
}
